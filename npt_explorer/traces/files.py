"""Address traces from files, streamed in chunks of numpy arrays (addresses, access kinds).

* ``lackey`` — Valgrind's ``--tool=lackey --trace-mem=yes`` output: ``I  0023C790,2`` (fetch),
  `` L …`` (load), `` S …`` (store), `` M …`` (modify: a load and a store through one
  translation, counted as one write); Valgrind's own ``==pid==`` lines are skipped.
* ``text`` — one hex address per line (``0x`` optional), optionally with ``R``/``W``/``X``
  before or after it; ``#`` starts a comment.
* ``npy`` — a numpy ``.npy`` array: 1-D addresses, 2-D ``(n, 2)`` of (address, kind 0/1/2 =
  read/write/exec), or a structured array with fields ``addr`` and ``kind``; memory-mapped.

Bad input raises `TraceFileError` naming the file and line (for npy: the element).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

FORMATS = ("lackey", "text", "npy")
#: accesses per chunk handed to the engine
CHUNK = 1 << 20
_BLOCK = 1 << 22  # bytes read at a time from a text file
READ, WRITE, EXEC = 0, 1, 2
_HEX = np.full(256, 255, dtype=np.uint8)
for _i, _byte in enumerate(b"0123456789abcdef"):
    _HEX[_byte] = _i
for _i, _byte in enumerate(b"ABCDEF"):
    _HEX[_byte] = 10 + _i
_LACKEY_KIND = {ord("L"): READ, ord("S"): WRITE, ord("M"): WRITE}
_TEXT_KIND = {"R": READ, "W": WRITE, "X": EXEC}
_KIND_OF = np.full(256, 255, dtype=np.uint8)  # a text line's kind letter -> kind (255: none)
for _c, _k in _TEXT_KIND.items():
    _KIND_OF[ord(_c)] = _KIND_OF[ord(_c.lower())] = _k

Chunk = tuple[np.ndarray, np.ndarray]


class TraceFileError(Exception):
    """A trace file that cannot be read: `str()` is ``file:line: message``."""

    def __init__(self, file: str, line: int | None, message: str) -> None:
        self.file, self.line, self.message = file, line, message
        super().__init__(f"{file}:{line}: {message}" if line else f"{file}: {message}")


def guess_format(path: str | Path) -> str:
    """npy by extension or magic; lackey when the first trace line looks like Lackey's."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            head = f.read(4096)
    except (OSError, ValueError) as err:  # ValueError: a NUL in the path
        raise TraceFileError(str(path), None, f"cannot read: {_why(err)}") from None
    if path.suffix == ".npy" or head.startswith(b"\x93NUMPY"):
        return "npy"
    for line in head.splitlines():
        if not line.strip() or line.startswith(b"=="):
            continue
        return "lackey" if line[:3] in (b"I  ", b" L ", b" S ", b" M ") else "text"
    return "text"


def read(path: str | Path, fmt: str | None = None, chunk: int = CHUNK) -> Iterator[Chunk]:
    """The trace's accesses in chunks. Raises `TraceFileError` (possibly after some chunks)."""
    fmt = fmt or guess_format(path)
    if fmt not in FORMATS:
        raise TraceFileError(str(path), None, f"format {fmt!r} (allowed: {', '.join(FORMATS)})")
    reader = {"lackey": _lackey, "text": _text, "npy": _npy}[fmt]
    count = 0
    for addrs, kinds in reader(Path(path), chunk):
        count += len(addrs)
        yield addrs, kinds
    if count == 0:
        raise TraceFileError(str(path), None, f"no accesses in this {fmt} trace (an empty file?)")


def _blocks(path: Path) -> Iterator[tuple[bytes, int]]:
    """Whole lines of the file, a block at a time, with the number of the first line."""
    line = 1
    rest = b""
    try:
        with path.open("rb") as f:
            while True:
                data = f.read(_BLOCK)
                if not data:
                    break
                data = rest + data
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    rest = data
                    continue
                yield data[:cut], line
                line += data.count(b"\n", 0, cut)
                rest = data[cut:]
    except (OSError, ValueError) as err:
        raise TraceFileError(str(path), None, f"cannot read: {_why(err)}") from None
    if rest:
        yield rest + b"\n", line


def _lackey(path: Path, chunk: int) -> Iterator[Chunk]:
    for block, first in _blocks(path):
        buf = np.frombuffer(block, dtype=np.uint8)
        ends = np.flatnonzero(buf == 10)
        starts = np.concatenate(([0], ends[:-1] + 1))
        lengths = ends - starts
        padded = np.concatenate((buf, np.zeros(24, dtype=np.uint8)))
        c0, c1, c2 = padded[starts], padded[starts + 1], padded[starts + 2]
        blank = (lengths == 0) | ((lengths == 1) & (c0 == 13))
        valgrind = (c0 == ord("=")) & (c1 == ord("="))
        fetch = (c0 == ord("I")) & (c1 == 32) & (c2 == 32)
        data = (c0 == 32) & np.isin(c1, list(_LACKEY_KIND)) & (c2 == 32)
        keep = fetch | data
        bad = ~(keep | blank | valgrind)
        rows = np.flatnonzero(keep)
        addr_start = starts[rows] + 3
        # hex digits column by column (Horner), until the comma
        addrs = np.zeros(len(rows), dtype=np.uint64)
        length = np.zeros(len(rows), dtype=np.int64)
        going = np.ones(len(rows), dtype=bool)
        for col in range(17):
            digit = _HEX[padded[addr_start + col]]
            going &= digit != 255
            if not going.any():
                break
            addrs = np.where(going, (addrs << np.uint64(4)) | digit.astype(np.uint64), addrs)
            length += going
        comma = padded[addr_start + length] == ord(",")
        ok = (length >= 1) & (length <= 16) & comma
        if (~ok).any() or bad.any():
            candidates = [int(np.flatnonzero(bad)[0])] if bad.any() else []
            if (~ok).any():
                candidates.append(int(rows[np.flatnonzero(~ok)[0]]))
            where = min(candidates)
            raise TraceFileError(
                str(path),
                first + where,
                "not a Lackey line (expected 'I  ADDR,SIZE' or ' L|S|M ADDR,SIZE')",
            )
        kinds = np.where(c0[rows] == ord("I"), EXEC, 0).astype(np.uint8)
        kinds[np.isin(c1[rows], (ord("S"), ord("M")))] = WRITE
        yield from _split(addrs, kinds, chunk)


def _text(path: Path, chunk: int) -> Iterator[Chunk]:
    """Lines in the plain forms (``[K ]ADDR`` or ``ADDR[ K]``, one space, no comment) are read
    with numpy; the others (comments, blank lines, tabs, commas, bad lines) line by line."""
    for block, first in _blocks(path):
        buf = np.frombuffer(block, dtype=np.uint8)
        ends = np.flatnonzero(buf == 10)
        starts = np.concatenate(([0], ends[:-1] + 1))
        padded = np.concatenate((buf, np.zeros(24, dtype=np.uint8)))
        lengths = ends - starts
        c0, last = padded[starts], padded[np.maximum(ends - 1, 0)]
        prefix = _KIND_OF[c0] != 255
        prefix &= (padded[starts + 1] == 32) & (lengths >= 3)
        suffix = ~prefix & (_KIND_OF[last] != 255)
        suffix &= (padded[np.maximum(ends - 2, 0)] == 32) & (lengths >= 3)
        at = starts + 2 * prefix
        at += 2 * ((padded[at] == ord("0")) & ((padded[at + 1] | 32) == ord("x")))
        width = ends - 2 * suffix - at
        plain = (width >= 1) & (width <= 16)
        addrs, bad = _hex_digits(padded, at, np.where(plain, width, 0))
        plain &= ~bad
        kinds = np.where(prefix, _KIND_OF[c0], np.where(suffix, _KIND_OF[last], READ))
        kinds = kinds.astype(np.uint8)
        if not plain.all():
            for i in np.flatnonzero(~plain).tolist():
                parsed = text_line(block[starts[i] : ends[i]], str(path), first + i)
                if parsed is not None:
                    addrs[i], kinds[i] = parsed
                    plain[i] = True
            addrs, kinds = addrs[plain], kinds[plain]
        yield from _split(addrs, kinds, chunk)


def _hex_digits(padded: np.ndarray, at: np.ndarray, width: np.ndarray) -> tuple[np.ndarray, ...]:
    """The hex numbers of `width` digits at `at` (uint64), and which have a non-hex digit."""
    values = np.zeros(len(at), dtype=np.uint64)
    bad = np.zeros(len(at), dtype=bool)
    for col in range(int(width.max(initial=0))):
        live = col < width
        digit = _HEX[padded[at + col]]
        bad |= live & (digit == 255)
        values = np.where(live, (values << np.uint64(4)) | digit.astype(np.uint64), values)
    return values, bad


def text_line(raw: bytes, file: str, number: int) -> tuple[int, int] | None:
    """One line of a text trace the vector path did not take: (address, kind), or None."""
    text = raw.decode("utf-8", "replace")
    line = text.split("#", 1)[0].strip()
    if not line:
        return None
    words = line.replace(",", " ").split()
    kind = READ
    if len(words) == 2 and words[0].upper() in _TEXT_KIND:
        kind, word = _TEXT_KIND[words[0].upper()], words[1]
    elif len(words) == 2 and words[1].upper() in _TEXT_KIND:
        word, kind = words[0], _TEXT_KIND[words[1].upper()]
    elif len(words) == 1:
        word = words[0]
    else:
        raise TraceFileError(file, number, f"{text.strip()[:40]!r}: expected ADDR [R|W|X]")
    try:
        value = int(word, 16)
    except ValueError:
        value = -1
    if not 0 <= value < 1 << 64:
        raise TraceFileError(file, number, f"{word[:40]!r} is not a 64-bit hex address")
    return value, kind


def _npy(path: Path, chunk: int) -> Iterator[Chunk]:
    file = str(path)
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise TraceFileError(file, None, f"not a readable .npy array ({err})") from None
    if array.dtype.names is not None:
        if not {"addr", "kind"} <= set(array.dtype.names):
            raise TraceFileError(file, None, "a structured array needs fields addr and kind")
        addr_col, kind_col = array["addr"], array["kind"]
    elif array.ndim == 1:
        addr_col, kind_col = array, None
    elif array.ndim == 2 and array.shape[1] == 2:
        addr_col, kind_col = array[:, 0], array[:, 1]
    else:
        raise TraceFileError(
            file, None, f"shape {array.shape}: expected (n,) addresses or (n, 2) address, kind"
        )
    if addr_col.dtype.kind not in "iu" or (
        kind_col is not None and kind_col.dtype.kind not in "iu"
    ):
        raise TraceFileError(file, None, f"dtype {array.dtype}: addresses must be integers")
    for start in range(0, len(addr_col), chunk):
        addrs = np.asarray(addr_col[start : start + chunk])
        if addrs.dtype.kind == "i" and (addrs < 0).any():
            at = start + int(np.flatnonzero(addrs < 0)[0])
            raise TraceFileError(
                file, at + 1, f"element {at}: negative address {addrs[at - start]}"
            )
        kinds = (
            np.zeros(len(addrs), dtype=np.uint8)
            if kind_col is None
            else np.asarray(kind_col[start : start + chunk])
        )
        if kind_col is not None and ((kinds < 0) | (kinds > 2)).any():
            at = start + int(np.flatnonzero((kinds < 0) | (kinds > 2))[0])
            raise TraceFileError(
                file,
                at + 1,
                f"element {at}: kind {kinds[at - start]} (allowed: 0 read, 1 write, 2 exec)",
            )
        yield addrs.astype(np.uint64), kinds.astype(np.uint8)


def _why(err: Exception) -> str:
    return (err.strerror if isinstance(err, OSError) else None) or str(err)


def _split(addrs: np.ndarray, kinds: np.ndarray, chunk: int) -> Iterator[Chunk]:
    for start in range(0, len(addrs), chunk):
        yield addrs[start : start + chunk], kinds[start : start + chunk]


def prefetch(chunks: Iterable[Chunk]) -> Iterator[Chunk]:
    """`chunks`, read one chunk ahead in a thread: numpy's parsing releases the interpreter
    lock, so reading the next chunk overlaps replaying this one. Errors arrive in order."""
    ahead: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in chunks:
                if not put(("chunk", chunk)):
                    return
            put(("end", None))
        except Exception as err:  # handed to the reader, raised there
            put(("error", err))

    thread = threading.Thread(target=produce, name="trace-reader", daemon=True)
    thread.start()
    try:
        while True:
            tag, item = ahead.get()
            if tag == "end":
                return
            if tag == "error":
                raise item
            yield item
    finally:
        stop.set()
        thread.join()
