"""A small in-memory blob store: the Python workload traced for issue 18's table.

Run under Valgrind Lackey by benchmarks/make_kv_trace.sh (with `python3 -S -E`, so only the
interpreter's own start-up runs before it). It builds a dict of N blobs of 128 KiB (N = 256:
32 MiB), then reads one byte of 64·N of them, each at a scattered (blob, offset) — the access
pattern of a cache or a hash join whose working set (8192 pages of 4 KiB) is far beyond a
64-entry TLB's reach with 4 KiB pages (256 KiB) and within it with 2 MiB pages (128 MiB).

Shaped for Lackey, which traces every instruction fetch, load and store (~50x slower):
* the loops are a comprehension and a generator: every interpreted bytecode costs hundreds of
  traced accesses, so 16384 lookups are already ~2/3 of the trace;
* blobs are 128 KiB, glibc's mmap threshold: CPython's `bytes(n)` asks calloc, which clears
  a heap chunk with `rep stosb` (traced byte by byte: 8192 accesses per 4 KiB) but takes an
  mmap'd chunk as the kernel zeroed it. Smaller records made the build dominate the trace.
"""

import sys

BLOB = 128 * 1024
# odd multipliers: i -> (i * M) mod 2^k is a permutation of range(2^k)
STRIDE = 40503
SPREAD = 2654435761  # Knuth's multiplicative hash: offsets spread over the blob's 32 pages


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    if n <= 0 or n & (n - 1):
        sys.exit(f"kv_store.py: N must be a power of two, got {n}")
    store = {key: bytes(BLOB) for key in range(n)}
    mask = n - 1
    reads = sum(1 + store[(i * STRIDE) & mask][(i * SPREAD) & (BLOB - 1)] for i in range(64 * n))
    print(len(store), reads)


main()
