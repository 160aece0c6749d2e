#!/usr/bin/env bash
# A Lackey memory trace of a real program: GNU sort over shuffled numbers.
# Usage: benchmarks/make_trace.sh [OUT.lackey] [LINES]   (default /tmp/sort.lackey, 3000 lines)
# Needs valgrind (Debian package `valgrind`). The trace is large: keep it out of the repository.
set -euo pipefail
out=${1:-/tmp/sort.lackey}
lines=${2:-3000}
input=$(mktemp)
trap 'rm -f "$input"' EXIT
# a fixed shuffle, so every run traces the same work
seq "$lines" | shuf --random-source=<(yes npt-explorer) > "$input"
valgrind --tool=lackey --trace-mem=yes --log-file="$out" sort -n "$input" > /dev/null
echo "$out: $(grep -c '^[ I]' "$out") accesses"
