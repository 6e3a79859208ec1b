"""The only module that writes output files.

Every file is written to a temporary file beside its target, flushed to disk and then
renamed over the target, so a reader (a web server, a feed reader, a mail client)
sees either the old file or the new one, whole. Paths are built from names the tool
makes (issue ids, fixed names); anything that would land outside the output folder
is refused.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from digest.errors import OutputError
from digest.faults import pause_point
from digest.safety import checked

TEMP_PREFIX = ".digest-tmp-"
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _batches(chunks: Iterable[str], size: int = 1 << 18) -> Iterator[str]:
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


def _encoded(relative: str, content: str | bytes | Iterable[str]) -> Iterator[bytes]:
    """The bytes of one file in large batches, HTML checked on the way."""
    if isinstance(content, bytes):
        yield content
        return
    texts: Iterable[str] = [content] if isinstance(content, str) else _batches(content)
    if relative.endswith(".html"):
        texts = checked(relative, texts)
    for text in texts:
        yield text.encode("utf-8")


class OutputWriter:
    """Writes files under one root folder, atomically, and remembers what it wrote.

    ``write`` only stages a file (a complete temp file beside its target); ``commit``
    renames every staged file into place. A failure while rendering any output thus
    leaves every published file as it was; ``discard`` removes what was staged.
    """

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.written: list[Path] = []
        self.staged: list[tuple[str, Path]] = []

    def path_for(self, relative: str) -> Path:
        parts = relative.split("/")
        if not all(_SAFE_NAME.fullmatch(part) for part in parts):
            raise OutputError(f"refusing to write {relative!r}: not a name digest makes")
        target = self.root.joinpath(*parts)
        if self.root not in target.parents:
            raise OutputError(f"refusing to write outside {self.root}: {relative!r}")
        return target

    def write(self, relative: str, content: str | bytes | Iterable[str]) -> Path:
        """Stage content (text, bytes, or text chunks streamed) for ``relative``."""
        return self.write_all({relative: content})[0]

    def write_all(
        self,
        contents: dict[str, str | bytes | Iterable[str]],
        pace: dict[str, Callable[[], int]] | None = None,
    ) -> list[Path]:
        """Stage several files, taking a batch at a time from their streams.

        Two renderings of one issue can thus share one pass over its papers. ``pace``
        tells how far each stream has got (papers rendered, say); the one furthest behind
        goes next, so what ``itertools.tee`` holds between them stays one batch long."""
        opened: list[tuple[str, Path, BinaryIO, Iterator[bytes]]] = []
        current: Path | None = None
        try:
            for relative, content in contents.items():
                target = self.path_for(relative)
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    fd, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=target.parent)
                except OSError as exc:
                    raise OutputError(
                        f"cannot write to {target.parent}: {exc.strerror}",
                        "check that the output folder exists and is writable; "
                        "nothing was published",
                    ) from exc
                opened.append((temp_name, target, os.fdopen(fd, "wb"), _encoded(relative, content)))
            progress = [pace[name] for name in contents] if pace else None
            pending = list(range(len(opened)))
            while pending:
                index = min(pending, key=lambda i: progress[i]()) if progress else pending[0]
                _temp_name, current, handle, batches = opened[index]
                batch = next(batches, None)
                if batch is None:
                    pending.remove(index)
                else:
                    handle.write(batch)
            for temp_name, target, handle, _batches_left in opened:
                current = target
                handle.flush()
                os.fsync(handle.fileno())
                handle.close()
                os.chmod(temp_name, 0o644)
        except OSError as exc:
            self._abandon(opened)
            raise OutputError(
                f"cannot write {current}: {exc.strerror}",
                "free some disk space or fix the folder's permissions; nothing was published, "
                "the next run publishes the same papers",
            ) from exc
        except BaseException:
            self._abandon(opened)
            raise
        self.staged.extend((temp_name, target) for temp_name, target, _, _ in opened)
        return [target for _, target, _, _ in opened]

    @staticmethod
    def _abandon(opened: list[tuple[str, Path, BinaryIO, Iterator[bytes]]]) -> None:
        for temp_name, _target, handle, _batches in opened:
            with contextlib.suppress(OSError):
                handle.close()
            with contextlib.suppress(OSError):
                os.unlink(temp_name)

    def commit(self) -> None:
        """Rename every staged file over its target, then make the renames durable."""
        for temp_name, target in self.staged:
            try:
                os.replace(temp_name, target)
            except OSError as exc:
                self.discard()
                raise OutputError(
                    f"cannot write {target}: {exc.strerror}",
                    "fix the output folder; the next run publishes the same papers",
                ) from exc
            self.written.append(target)
            pause_point("renaming")
        self.staged = []
        self.sync()

    @contextlib.contextmanager
    def staging(self) -> Iterator[None]:
        """Stage files inside the block; on leaving it, rename them all into place, or,
        if the block failed, remove them and leave every published file as it was."""
        try:
            yield
            self.commit()
        finally:
            self.discard()

    def discard(self) -> None:
        for temp_name, _target in self.staged:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
        self.staged = []

    def sync(self) -> None:
        """Make the renames durable before the state says they happened."""
        for folder in {path.parent for path in self.written}:
            with contextlib.suppress(OSError):
                fd = os.open(folder, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)

    def exists(self, relative: str) -> bool:
        return self.path_for(relative).exists()

    def remove(self, relative: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path_for(relative).unlink()

    def remove_stale_temp_files(self) -> int:
        """Temp files a killed run left behind."""
        if not self.root.is_dir():
            return 0
        removed = 0
        for folder, _dirs, files in os.walk(self.root):
            for name in files:
                if name.startswith(TEMP_PREFIX):
                    with contextlib.suppress(OSError):
                        os.unlink(os.path.join(folder, name))
                        removed += 1
        return removed
