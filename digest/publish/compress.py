"""Precompressed siblings: ``page.html.gz`` and ``page.html.br`` beside ``page.html``, for
the servers that send them as they are (nginx ``gzip_static`` and ``brotli_static``,
Caddy's ``precompressed``, ``digest serve``) instead of compressing every request.

A sibling is compressed from the same bytes, in the same pass, as the file it belongs to
(the OutputWriter feeds both), so it is never older than its file, and a 160 MB page is
never read back or held whole. The compressing happens on a helper thread: zlib and
Brotli let go of the interpreter while they work, so on a second core it runs beside
the rendering rather than after it.

The bytes are deterministic: gzip with no file name and a zero time stamp (zlib's own
header), Brotli at a fixed quality. The qualities are chosen for a whole backlog as
much as for a weekly issue, where the compressing thread sets the pace of the import:
on our pages gzip level 4 compresses 88 MB/s to 27.5% of the size, level 6 (zlib's
default) 36 MB/s to 26.0%: 6% more bytes for the few clients without Brotli, and a
100,000-entry import 7% faster (18.3 s against 19.7 s, interleaved runs on 2026-12-03).
Brotli quality 5 compresses about 150 MB/s; its best (11) would take minutes for a large
page, for a tenth fewer bytes.
"""

from __future__ import annotations

import contextlib
import zlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO, Protocol

import brotli

# The files a reader's browser or feed reader fetches: pages, feeds, the search bundle's
# scripts and styles. (Markdown and email files are downloads, not pages.)
COMPRESSIBLE = (".html", ".xml", ".json", ".js", ".css")
GZIP, BROTLI = ".gz", ".br"
SUFFIXES = (GZIP, BROTLI)
GZIP_LEVEL = 4
BROTLI_QUALITY = 5
_AHEAD = 4  # batches handed to the helper thread and not yet compressed


class _Compressor(Protocol):
    def compress(self, data: bytes) -> bytes: ...
    def flush(self) -> bytes: ...


class _Brotli:
    def __init__(self) -> None:
        self.encoder = brotli.Compressor(mode=brotli.MODE_TEXT, quality=BROTLI_QUALITY)

    def compress(self, data: bytes) -> bytes:
        return bytes(self.encoder.process(data))

    def flush(self) -> bytes:
        return bytes(self.encoder.finish())


def compressible(name: str) -> bool:
    return name.endswith(COMPRESSIBLE)


def compressor(suffix: str) -> _Compressor:
    if suffix == GZIP:
        # wbits 31: a gzip header with no name and mtime 0, so the same bytes every time
        return zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    return _Brotli()


class Sibling:
    """One compressed copy being written: its compressor and its (temp) file."""

    def __init__(self, suffix: str, handle: BinaryIO) -> None:
        self.suffix = suffix
        self.handle = handle
        self.compressor: _Compressor | None = compressor(suffix)

    def feed(self, data: bytes) -> None:
        assert self.compressor is not None, "fed after its last bytes"
        self.handle.write(self.compressor.compress(data))

    def finish(self) -> None:
        """The last bytes, and the compressor let go: a Brotli encoder holds megabytes
        (its window and tables), and a paged issue's files all stay staged until they
        are renamed into place, so 1,600 pages kept theirs would hold gigabytes."""
        assert self.compressor is not None, "finished twice"
        compressor, self.compressor = self.compressor, None
        self.handle.write(compressor.flush())


class Helper:
    """Runs the compressing, and the finishing of each staged file (its siblings' last
    bytes, every copy flushed to disk and closed), on one helper thread, in order, a few
    batches ahead at most (so memory stays a few batches). An output writer keeps one
    across its files and waits once, before it renames them into place: the rendering of
    the next page never waits for the last one's compressing or fsync. ``wait`` raises
    what went wrong there."""

    def __init__(self) -> None:
        self.pool: ThreadPoolExecutor | None = None
        self.pending: deque[Future[None]] = deque()

    def submit(self, work: Callable[..., None], *args: object) -> None:
        if self.pool is None:
            self.pool = ThreadPoolExecutor(1, thread_name_prefix="digest-compress")
        self.pending.append(self.pool.submit(work, *args))
        while len(self.pending) > _AHEAD:
            self.pending.popleft().result()

    def wait(self) -> None:
        while self.pending:
            self.pending.popleft().result()

    def close(self) -> None:
        """Stop, dropping what is left (after a failure: nothing of it is kept)."""
        for future in self.pending:
            future.cancel()
        if self.pool is not None:
            self.pool.shutdown(wait=True)
        for future in self.pending:
            with contextlib.suppress(BaseException):
                future.result()
        self.pending.clear()
        self.pool = None


def wanted(precompress: bool, exists: Callable[[str], bool], target: str) -> list[str]:
    """The siblings to write with ``target``: both when precompressing; otherwise those
    already there (an old copy must never be left behind the file it compresses)."""
    if not compressible(target):
        return []
    return [suffix for suffix in SUFFIXES if precompress or exists(target + suffix)]
