"""CSV bytes → COPY text for ``ingest_stage``, in this process or in worker processes.

Reading, normalizing and encrypting a row is Python work, about 20 us a row,
and was most of a million-row ingest on one core. A large upload is
therefore cut into blocks of whole records and staged by a pool of worker
processes, while this process only cuts, numbers and forwards their text to
``COPY``; a small one is staged here, streaming.

Cutting a CSV without parsing it: a record ends at a line break outside
quotes, and a line break is outside quotes when the bytes before it hold an
even number of ``"`` (an escaped quote is two). A stray quote inside an
unquoted field (``O"Brien``) breaks that rule, so a cut is only trusted
after the fact: a worker whose block ends inside an open quote (an
"unmatched quote" verdict), or a stretch with no cut at all, is read here
by the one-process reader from that block on, up to the first record end
past it, which the reader vouches for; cutting resumes there. A real
unmatched quote is rejected on its line and the lines after it are read
again, exactly as in one process (a block is only trusted when its reader
did not end inside a quote, so it never needed a line past its end).
The header is cut the same way and then confirmed by the reader itself
(it must parse as a usable header and nothing more); if it is not, the
whole upload is read here. Every worker reads ``header + block`` with the
same reader, so every rule of :mod:`equity_connect.ingest.csv_reader` holds
in every block; row and line numbers (and the line numbers and byte
offsets inside reject reasons) come back block-relative and are made
absolute here, in order.

Memory stays flat: at most ``2 x workers`` blocks are in flight.

A worker stages its block with :mod:`equity_connect.ingest.columnar` (polars
columns; rows its rules cannot settle go through the same row-wise code)
unless ``StageJob.staging`` is ``"rows"`` (``EC_STAGING=rows``); both give
the same rows, numbers and rejects, which the differential tests check.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import re
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import NamedTuple

from equity_connect.db.ids import Uuid7Sequence
from equity_connect.ingest.csv_reader import (
    CsvFileError,
    CsvRecord,
    CsvReject,
    ReadPosition,
    iter_csv_records,
    utf16_as_utf8,
)
from equity_connect.ingest.rows import stage_record
from equity_connect.security.crypto import Keyring, PiiCipher

#: Rows per batch handed to COPY by the one-process path.
_BATCH_ROWS = 10_000


@dataclass(frozen=True)
class StageJob:
    """What every block of one upload needs to know."""

    upload_id: str
    lead_ids: Uuid7Sequence
    max_field_bytes: int
    max_rows: int | None
    #: How worker blocks are staged: "columnar" (ingest.columnar, the default)
    #: or "rows" (one record at a time, as the one-process path always does).
    staging: str = "columnar"


@dataclass
class FileFacts:
    """What reading the upload found out about the file as a whole."""

    delimiter: str = ","
    transcoded_from: str | None = None  # utf-16-le / utf-16-be
    cp1252: bool = False  # some line was not UTF-8 and was read as cp1252
    utf8: bool = False  # some line held non-ASCII UTF-8

    def saw(self, position: ReadPosition) -> None:
        """Add what one reader saw."""
        self.delimiter = position.delimiter
        self.cp1252 = self.cp1252 or position.cp1252_lines > 0
        self.utf8 = self.utf8 or position.utf8_lines > 0

    def add(self, other: FileFacts) -> None:
        """Add what a worker's reader saw."""
        self.delimiter = other.delimiter
        self.cp1252 = self.cp1252 or other.cp1252
        self.utf8 = self.utf8 or other.utf8

    @property
    def encoding(self) -> str:
        """The encoding the file was read in, as the report names it."""
        if self.transcoded_from is not None:
            return self.transcoded_from
        if self.cp1252:
            return "utf-8 + cp1252" if self.utf8 else "cp1252"
        return "utf-8"


@dataclass(frozen=True)
class StagedBatch:
    """Consecutive rows of an upload: COPY text for the good ones, and the rejects."""

    copy_text: str
    staged: int
    rejects: list[CsvReject]


@dataclass(frozen=True)
class _BlockResult:
    """A block's rows with block-relative numbers: ``(row, line, text)`` and rejects."""

    rows: int
    lines: list[tuple[int, int, str]]
    rejects: list[CsvReject]
    facts: FileFacts

    @property
    def open_quote(self) -> bool:
        """The block ended inside a quoted field (see the module docstring)."""
        return any(r.eof_in_quote for r in self.rejects)


def _stage_rows(
    chunks: Iterable[bytes],
    job: StageJob,
    block: int,
    cipher: PiiCipher,
    max_rows: int | None,
    *,
    position: ReadPosition | None = None,
) -> Iterator[tuple[int, int, str] | CsvReject]:
    """Stage every row of ``chunks`` (a header first), numbering lead ids within ``block``."""
    records = iter_csv_records(
        chunks, max_field_bytes=job.max_field_bytes, max_row_count=max_rows, position=position
    )
    at = job.lead_ids.at
    for item in records:
        if isinstance(item, CsvRecord):
            row = item.row_number
            staged = stage_record(item, at(block, row), cipher)
            yield (row, item.line_number, staged) if isinstance(staged, str) else staged
        else:
            yield item


# --- worker processes ---------------------------------------------------------------------

_worker_cipher: PiiCipher | None = None


def _init_worker(keyring: Keyring) -> None:
    global _worker_cipher  # noqa: PLW0603 - one cipher per worker process, made once
    # One polars thread per worker: the pool already has a process per core
    # (set before the columnar path first imports polars in this process).
    os.environ.setdefault("POLARS_MAX_THREADS", "1")
    _worker_cipher = PiiCipher(keyring)  # its own data keys: nothing shared with the parent


def _stage_block(job: StageJob, block: int, header: bytes, body: bytes) -> _BlockResult:
    assert _worker_cipher is not None, "worker not initialized"
    if job.staging == "columnar":
        # Imported here: it imports this module, and polars only where it runs.
        from equity_connect.ingest.columnar import stage_block_columnar  # noqa: PLC0415

        return stage_block_columnar(job, block, header, body, _worker_cipher)
    return stage_block_rows(job, block, header, body, _worker_cipher)


def stage_block_rows(
    job: StageJob, block: int, header: bytes, body: bytes, cipher: PiiCipher
) -> _BlockResult:
    """One block, one record at a time (the columnar path's fallback for a whole block)."""
    lines: list[tuple[int, int, str]] = []
    rejects: list[CsvReject] = []
    rows = 0
    position = ReadPosition()
    for item in _stage_rows((header, body), job, block, cipher, None, position=position):
        rows += 1
        if isinstance(item, tuple):
            lines.append(item)
        else:
            rejects.append(item)
    facts = FileFacts()
    facts.saw(position)
    return _BlockResult(rows, lines, rejects, facts)


def _process_pool(workers: int, keyring: Keyring) -> Executor:
    context = multiprocessing.get_context("spawn")  # no fork: the caller may have threads
    return ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(keyring,)
    )


#: Makes the pool that stages blocks: ``(workers, keyring) -> Executor``.
ExecutorFactory = Callable[[int, Keyring], Executor]


# --- cutting ------------------------------------------------------------------------------


def _line_count(data: bytes) -> int:
    """Physical lines as the reader counts them (``\\n``, ``\\r\\n``, ``\\r``)."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def _cut(buf: bytes | bytearray, end: int, tries: int = 64) -> int:
    """End of the last whole record in ``buf[:end]``, or -1 if none is found.

    ``buf`` begins at a record boundary; a ``\\n`` with an even number of
    quotes before it ends a record (see the module docstring). Only the last
    ``tries`` line breaks are tried: past a stray quote none qualifies.
    """
    for _ in range(tries):
        pos = buf.rfind(b"\n", 0, end)
        if pos < 0:
            return -1
        if buf.count(b'"', 0, pos) % 2 == 0:
            return pos + 1
        end = pos
    return -1


@dataclass
class _Blocks:
    """Splits a byte stream into the header record and blocks of whole records."""

    chunks: Iterator[bytes]
    block_bytes: int
    header: bytes = b""
    pending: bytearray | None = None

    def read_header(self) -> bool:
        """Find the header record; False when none is found early (the reader judges)."""
        buf = bytearray()
        start = scan = 0
        for chunk in self.chunks:
            buf += chunk
            while (pos := buf.find(b"\n", scan)) >= 0:
                scan = pos + 1
                if buf.count(b'"', 0, pos) % 2:
                    continue  # a line break inside a quoted header cell
                # The reader skips records with no non-blank cell before the header.
                if bytes(buf[start:scan]).strip(b"\r\n\t ,;|\xef\xbb\xbf"):
                    self.header = bytes(buf[:scan])
                    self.pending = buf[scan:]
                    return True
                start = scan
            if len(buf) > 16 * self.block_bytes:
                break
        self.pending = buf
        return False

    def __iter__(self) -> Iterator[bytes | None]:
        """Blocks of whole records; None when no cut is found (see ``_resync``)."""
        assert self.pending is not None
        buf = self.pending
        # Past a stray quote no line break has even parity: hand over soon,
        # so the reader re-finds a record end a block from here.
        limit = 2 * self.block_bytes
        for chunk in itertools.chain([b""], self.chunks):  # what is pending first
            buf += chunk
            while len(buf) >= self.block_bytes:
                cut = _cut(buf, self.block_bytes)
                if cut < 0:  # a record longer than a block, or a stray quote
                    cut = _cut(buf, len(buf))
                if cut < 0:
                    if len(buf) > limit:
                        self.pending = buf
                        yield None
                        return
                    break  # the record goes on in the next chunk
                block = bytes(buf[:cut])
                del buf[:cut]  # before yielding: while suspended, pending is what is left
                yield block
        self.pending = bytearray()
        yield bytes(buf)


# --- the two paths ------------------------------------------------------------------------


class _Offsets(NamedTuple):
    """Where a stream of ``header + block`` sits in the upload: numbers to add."""

    row: int = 0
    line: int = 0
    byte: int = 0


_START = _Offsets()

# Reasons that name a place in the input, which a block only knows relatively.
_PLACE_IN_REASON = re.compile(r"(starting at line |ran to line |byte offset )(\d+)")


def _renumbered(reject: CsvReject, at: _Offsets) -> CsvReject:
    """The same reject, numbered for the whole upload instead of its block."""
    if at == _START:
        return reject

    def shift(match: re.Match[str]) -> str:
        base = at.byte if match.group(1).startswith("byte") else at.line
        return f"{match.group(1)}{int(match.group(2)) + base}"

    return replace(
        reject,
        row_number=reject.row_number + at.row,
        line_number=reject.line_number + at.line,
        reason=_PLACE_IN_REASON.sub(shift, reject.reason),
    )


def _copy_line(upload_id: str, row: int, line: int, text: str, at: _Offsets) -> str:
    """A staged row's line of COPY text, numbered for the whole upload."""
    return f"{upload_id}\t{row + at.row}\t{line + at.line}\t{text}\n"


@dataclass
class _Stop:
    """Where the one-process reader may stop early.

    At the first record end at or past ``offset`` of its input (header
    included), as ``position`` tracks it.
    """

    position: ReadPosition
    offset: int
    rows: int = 0  # rows read when it stopped
    at_boundary: bool = False  # it stopped there (not at the end of the upload)


def _batches_in_process(
    chunks: Iterable[bytes],
    job: StageJob,
    cipher: PiiCipher,
    *,
    block: int = 0,
    at: _Offsets = _START,
    max_rows: int | None,
    stop: _Stop | None = None,
    facts: FileFacts | None = None,
) -> Iterator[StagedBatch]:
    parts: list[str] = []
    rejects: list[CsvReject] = []
    position = stop.position if stop is not None else ReadPosition()
    rows = 0
    try:
        for item in _stage_rows(chunks, job, block, cipher, max_rows, position=position):
            rows += 1
            if isinstance(item, tuple):
                parts.append(_copy_line(job.upload_id, *item, at))
            else:
                rejects.append(_renumbered(item, at))
            if stop is not None and stop.position.end_offset >= stop.offset:
                stop.at_boundary = True
                break
            if len(parts) >= _BATCH_ROWS:
                yield StagedBatch("".join(parts), len(parts), rejects)
                parts, rejects = [], []
    except CsvFileError as exc:
        if at == _START or not exc.reason.startswith("more than "):
            raise
        # Past the start, the header has been read before: this is the row
        # cap, counted from this stream's start. Say it for the whole file.
        raise CsvFileError(
            exc.line_number + at.line, f"more than {job.max_rows} data rows"
        ) from None
    if stop is not None:
        stop.rows = rows
    if facts is not None:
        # (A resync's reader may have read past its stop; what it saw there
        # is seen again by the workers, and the facts are flags, not counts.)
        facts.saw(position)
    if parts or rejects:
        yield StagedBatch("".join(parts), len(parts), rejects)


def _absolute(result: _BlockResult, upload_id: str, at: _Offsets) -> StagedBatch:
    text = "".join([_copy_line(upload_id, row, line, t, at) for row, line, t in result.lines])
    rejects = [_renumbered(r, at) for r in result.rejects]
    return StagedBatch(text, len(result.lines), rejects)


def _is_just_a_header(header: bytes, job: StageJob) -> bool:
    """Whether the reader takes ``header`` as a usable header and nothing more."""
    try:
        records = iter_csv_records([header], max_field_bytes=job.max_field_bytes)
        return next(records, None) is None
    except CsvFileError:
        return False


def _first_line_over(result: _BlockResult, row: int) -> int:
    """The block-relative line on which block-relative ``row`` starts."""
    for r, line, _ in result.lines:
        if r == row:
            return line
    return next(x.line_number for x in result.rejects if x.row_number == row)


def _batches_in_workers(
    chunks: Iterable[bytes],
    job: StageJob,
    cipher: PiiCipher,
    *,
    workers: int,
    block_bytes: int,
    executor: ExecutorFactory | None = None,
    facts: FileFacts,
) -> Iterator[StagedBatch]:
    blocks = _Blocks(iter(chunks), block_bytes)
    if not blocks.read_header():
        # no whole header line: a tiny or odd file, which the reader judges
        assert blocks.pending is not None
        whole = itertools.chain([bytes(blocks.pending)], blocks.chunks)
        yield from _batches_in_process(whole, job, cipher, max_rows=job.max_rows, facts=facts)
        return
    header = blocks.header
    if not _is_just_a_header(header, job):
        # The cut guessed the header wrong (a lone CR ending it, a stray
        # quote in it, a line the reader skips as blank), or the header is
        # bad: the reader alone decides, and says what is wrong.
        whole = itertools.chain([header, bytes(blocks.pending or b"")], blocks.chunks)
        yield from _batches_in_process(whole, job, cipher, max_rows=job.max_rows, facts=facts)
        return
    # Each block is read after a copy of the header, so its numbers start
    # past the header's lines and bytes: the offsets discount them.
    at = _START
    block = 0
    pool = (executor or _process_pool)(workers, cipher.keyring)
    try:
        while True:
            at, block, suspect = yield from _through_workers(
                pool, blocks, job, header, workers=workers, at=at, block=block, facts=facts
            )
            if suspect is None:
                return
            at, more = yield from _resync(
                job, cipher, header, suspect=suspect, blocks=blocks, at=at, block=block, facts=facts
            )
            if not more:
                return
            block += 1
    finally:
        # Also when the caller stops early or a block fails: blocks not yet
        # started are dropped, not staged for nobody.
        pool.shutdown(wait=True, cancel_futures=True)


def _through_workers(
    pool: Executor,
    blocks: _Blocks,
    job: StageJob,
    header: bytes,
    *,
    workers: int,
    at: _Offsets,
    block: int,
    facts: FileFacts,
) -> Generator[StagedBatch, None, tuple[_Offsets, int, list[bytes] | None]]:
    """Stage blocks in the pool, in order, until the blocks run out or one is suspect.

    Returns the offsets and block number reached, and None when the upload
    is done, else the blocks handed back (the suspect one first; empty when
    no cut was found) for the one-process reader.
    """
    in_flight: deque[tuple[bytes, int, Future[_BlockResult]]] = deque()
    numbered = enumerate(blocks, start=block)
    suspect: list[bytes] | None = None
    while True:
        while suspect is None and len(in_flight) < 2 * workers:
            index, body = next(numbered, (-1, b""))
            if index < 0:
                break
            if body is None:  # no cut found in many blocks' worth of input
                suspect = []
                break
            in_flight.append((body, index, pool.submit(_stage_block, job, index, header, body)))
        if not in_flight:
            return at, block, suspect
        body, index, future = in_flight.popleft()
        result = future.result()
        if result.open_quote:
            # A cut inside a quoted field (a stray quote fooled the parity),
            # or a real unmatched quote still open at the cut: the reader
            # decides from this block on (it may need the lines past the cut).
            for _, _, pending in in_flight:
                pending.cancel()
            suspect = [body] + [b for b, _, _ in in_flight] + (suspect or [])
            return at, index, suspect
        if job.max_rows is not None and at.row + result.rows > job.max_rows:
            line = _first_line_over(result, job.max_rows - at.row + 1) + at.line
            raise CsvFileError(line, f"more than {job.max_rows} data rows")
        facts.add(result.facts)
        yield _absolute(result, job.upload_id, at)
        at = _Offsets(at.row + result.rows, at.line + _line_count(body), at.byte + len(body))
        block = index + 1


def _resync(
    job: StageJob,
    cipher: PiiCipher,
    header: bytes,
    *,
    suspect: list[bytes],
    blocks: _Blocks,
    at: _Offsets,
    block: int,
    facts: FileFacts,
) -> Generator[StagedBatch, None, tuple[_Offsets, bool]]:
    """Read from the suspect block on in this process, to the first record end past it.

    The reader's own record boundary is a true one, so cutting resumes there
    (``blocks.pending`` holds the rest). Returns the offsets reached, and
    whether the upload goes on (False: the reader reached its end).
    """
    held = [*suspect, bytes(blocks.pending or b"")]  # read already, not yet staged
    target = len(header) + min(len(held[0]), blocks.block_bytes)
    read: list[bytes] = [header]

    def feed() -> Iterator[bytes]:
        yield header
        for piece in itertools.chain(held, blocks.chunks):
            read.append(piece)
            yield piece

    stop = _Stop(ReadPosition(), target)
    cap = None if job.max_rows is None else job.max_rows - at.row
    yield from _batches_in_process(
        feed(), job, cipher, block=block, at=at, max_rows=cap, stop=stop, facts=facts
    )
    if not stop.at_boundary:
        return at, False
    boundary = stop.position.end_offset
    data = b"".join(read)
    body = data[len(header) : boundary]
    # The rest: what the reader read past the boundary, and what it never got to.
    unread = held[len(read) - 1 :]
    blocks.pending = bytearray(data[boundary:] + b"".join(unread))
    return _Offsets(at.row + stop.rows, at.line + _line_count(body), at.byte + len(body)), True


def staged_batches(
    chunks: Iterable[bytes],
    job: StageJob,
    cipher: PiiCipher,
    *,
    workers: int = 1,
    byte_size: int = 0,
    block_bytes: int = 1 << 20,
    on_progress: Callable[[int], None] | None = None,
    executor: ExecutorFactory | None = None,
    facts: FileFacts | None = None,
) -> Generator[StagedBatch]:
    """The upload's rows as COPY text batches, in file order, plus its rejects.

    Uses ``workers`` processes when there are several and the upload
    (``byte_size``) spans at least four blocks; otherwise stages here.
    Raises :class:`CsvFileError` as :func:`iter_csv_records` does.
    ``facts``, if given, learns the file's delimiter and encoding.
    """
    facts = facts if facts is not None else FileFacts()
    # UTF-16 becomes UTF-8 before anything cuts the bytes at line breaks.
    facts.transcoded_from, chunks = utf16_as_utf8(chunks)
    if workers > 1 and byte_size >= 4 * block_bytes:
        batches = _batches_in_workers(
            chunks,
            job,
            cipher,
            workers=workers,
            block_bytes=block_bytes,
            executor=executor,
            facts=facts,
        )
    else:
        batches = _batches_in_process(chunks, job, cipher, max_rows=job.max_rows, facts=facts)
    staged = 0
    for batch in batches:
        staged += batch.staged
        if on_progress is not None:
            on_progress(staged)
        yield batch


def default_workers() -> int:
    """One staging process per core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
