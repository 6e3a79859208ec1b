"""A file being staged by the output writer: its bytes in large batches (HTML checked on
the way), its temp file and its precompressed siblings, and its finishing (the siblings'
last bytes, every copy flushed to disk, closed) on the compressing thread. Kept apart from
``output`` (the writer: where files go, whose folder it is, when they are renamed)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from digest.errors import OutputError
from digest.publish import compress
from digest.publish.safety import checked


def batches(chunks: Iterable[str], size: int = 1 << 18) -> Iterator[str]:
    """Streamed text joined into pieces of at least ``size`` characters for writing."""
    batch: list[str] = []
    length = 0
    for chunk in chunks:
        batch.append(chunk)
        length += len(chunk)
        if length >= size:
            yield "".join(batch)
            batch, length = [], 0
    if batch:
        yield "".join(batch)


def encoded(relative: str, content: str | bytes | Iterable[str]) -> Iterator[bytes]:
    """The bytes of one file in large batches, HTML checked on the way."""
    if isinstance(content, bytes):
        yield content
        return
    texts: Iterable[str] = [content] if isinstance(content, str) else batches(content)
    if relative.endswith(".html"):
        texts = checked(relative, texts)
    for text in texts:
        yield text.encode("utf-8")


@dataclass
class Staged:
    """A file being staged: its temp file, where it goes, its bytes, its siblings."""

    temp_name: str
    target: Path
    handle: BinaryIO
    batches: Iterator[bytes]
    siblings: list[tuple[str, compress.Sibling]] = field(default_factory=list)

    def files(self) -> list[tuple[str, BinaryIO]]:
        return [(self.temp_name, self.handle)] + [(t, s.handle) for t, s in self.siblings]


class Unwritten(Exception):
    """A staged file that the helper thread could not finish, and why."""

    def __init__(self, target: Path, cause: OSError) -> None:
        super().__init__(str(target))
        self.target, self.cause = target, cause

    def error(self) -> OutputError:
        return unwritten_error(self.target, self.cause)


def unwritten_error(target: Path | None, exc: OSError) -> OutputError:
    return OutputError(
        f"cannot write {target or 'the output folder'}: {exc.strerror}",
        "free some disk space or fix the folder's permissions; nothing was published, "
        "the next run publishes the same papers",
    )


def feed(staged: Staged, data: bytes) -> None:
    """On the helper thread: a batch of a staged file into each of its siblings."""
    try:
        for _temp_name, sibling in staged.siblings:
            sibling.feed(data)
    except OSError as exc:
        raise Unwritten(staged.target, exc) from exc


def finish(staged: Staged) -> None:
    """On the helper thread, after its last batch: a staged file and its siblings
    completed, made durable and closed (not yet in place)."""
    try:
        for _temp_name, sibling in staged.siblings:
            sibling.finish()
        for temp_name, handle in staged.files():
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            os.chmod(temp_name, 0o644)
    except OSError as exc:
        raise Unwritten(staged.target, exc) from exc


def abandon(opened: list[Staged]) -> None:
    """Staged files given up on: closed and removed (each may already be closed)."""
    for staged in opened:
        for temp_name, handle in staged.files():
            with contextlib.suppress(OSError):
                handle.close()
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
