#!/usr/bin/env bash
# A Lackey memory trace of a real program with a working set of tens of MiB: CPython
# (Debian's /usr/bin/python3) running benchmarks/kv_store.py — a dict of N 128 KiB blobs
# (32 MiB), then 64N one-byte reads at scattered blobs and offsets.
# Usage: benchmarks/make_kv_trace.sh [OUT.lackey] [N]   (default /tmp/kv.lackey, N = 256)
# Needs valgrind (Debian package `valgrind`). The trace is large (~1 GB, 73.5 M accesses): keep it out of
# the repository. Interpreter start-up alone (`python3 -S -E -c pass`) is ~28.7 M accesses.
set -euo pipefail
out=${1:-/tmp/kv.lackey}
n=${2:-256}
here=$(cd "$(dirname "$0")" && pwd)
# -S -E: no site module, no environment: the same start-up on every machine
valgrind --tool=lackey --trace-mem=yes --log-file="$out" \
    /usr/bin/python3 -S -E "$here/kv_store.py" "$n" > /dev/null
echo "$out: $(grep -c '^[ I]' "$out") accesses"
