"""What one run is asked to do, and what its phases share while it does it."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from pathlib import Path

from digest.backfill import Period
from digest.config.settings import Config
from digest.intake.take_in import Progress
from digest.publish.notes import NotesFolder
from digest.publish.publisher import Publisher
from digest.report import RunReport
from digest.store import Store


class Mode(enum.Enum):
    PUBLISH = "publish"  # take in, publish an issue of the new papers
    DRY_RUN = "dry-run"  # everything a run would do, rolled back; nothing written
    MARK_SEEN = "mark-seen"  # take in, remember the new papers as seen, publish nothing


@dataclass(frozen=True)
class RunOptions:
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    today: dt.date | None = None
    mode: Mode = Mode.PUBLISH
    wait: float = 0.0  # for the lock, and for inbox files still being written
    send: bool | None = None  # None: the config's send_after_run
    adopt_output: bool = False
    backfill: Period | None = None  # an issue per period of the digests, not one
    progress: Progress | None = None
    year: int | None = None  # the year of dates without one (default: when files were saved)
    preview: Path | None = None  # a dry run writes the would-be issue's files here

    @property
    def day(self) -> dt.date:
        return self.today or self.now.astimezone().date()


@dataclass
class RunContext:
    """What every phase of one run works with."""

    config: Config
    store: Store
    options: RunOptions
    report: RunReport
    deadline: float  # time.monotonic() by which waiting must end
    publisher: Publisher | None = None  # None in a dry run: nothing is written

    @property
    def notes(self) -> NotesFolder:
        return NotesFolder(self.config.notes)
