#!/usr/bin/env bash
# Checks `pccheck tune` against a small sweep of settings it would have
# rejected: runs `pccheck tune --json` for one checkpoint size against a fresh
# store, then `pccheck bench` (the engine, offline) with tune's recommended
# writers, chunk, max-inflight and pool, and with settings tune would not pick
# (one writer, or eight where it picked one; a 256 KiB chunk, below anything
# it measures; one checkpoint in flight with a pool for one), and prints the
# persist rates side by side with tune's own write rate. A report, not a
# pass/fail test: rates on a shared or virtual disk vary from run to run.
#
#   scripts/tune_check.sh [SIZE [COUNT]]
#
# SIZE: bytes per checkpoint as `pccheck` reads them (default 256M); COUNT:
# checkpoints per bench (default 8). The stores go under $BENCH_DIR (default
# $TMPDIR or /tmp): put it on the disk you want to measure. $TUNE_FLAGS adds
# flags to tune (default --quick); $PCCHECK_BUILD_DIR names the build
# directory (default build/, built first when out of date). Progress goes to
# stderr; the table to stdout.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=lib/setup.sh
source scripts/lib/setup.sh

SIZE=${1:-256M}
COUNT=${2:-8}
BUILD="$ROOT/${PCCHECK_BUILD_DIR:-build}"
read -r -a EXTRA <<<"${TUNE_FLAGS:---quick}"

if ! pccheck_build "$BUILD" >"${TMPDIR:-/tmp}/pccheck-tune-build.log" 2>&1; then
  cat "${TMPDIR:-/tmp}/pccheck-tune-build.log" >&2
  echo "tune_check: the build failed; see above" >&2
  exit 1
fi
PCCHECK="$BUILD/daemon/pccheck"

WORK=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/pccheck-tune.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

echo "tune_check: pccheck tune --size $SIZE ${EXTRA[*]} in $WORK" >&2
# Tune exits 1 when no interval keeps within the budget; its settings still stand.
"$PCCHECK" tune --root "$WORK/store" --size "$SIZE" --iteration-time 1 --json "${EXTRA[@]}" \
  >"$WORK/tune.json" || [ "$?" -eq 1 ]

# One line per setting: label, writers, chunk, in flight, pool.
python3 - "$WORK/tune.json" >"$WORK/settings" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
w, c, n, p = t["writers"], t["chunk_bytes"], t["max_inflight"], t["pool_bytes"]
size = t["checkpoint_bytes"]
one = -(-size // c) * c
rows = [("tune's recommendation", w, c, n, p)]
rows.append(("fewer writers (1)", 1, c, n, p) if w > 1 else ("more writers (8)", 8, c, n, p))
tiny = 256 << 10
rows.append(("tiny chunk (256 KiB)", w, tiny, n, max(2 * tiny, -(-size // tiny) * tiny * n)))
if n > 1:
    rows.append(("one in flight", w, c, 1, max(one, 2 * c)))
for r in rows:
    print("|".join(str(x) for x in r))
PY

printf '%-24s %7s %9s %9s %9s %12s %8s\n' setting writers chunk inflight pool "persist GB/s" "vs tune"
first=""
i=0
while IFS='|' read -r label writers chunk inflight pool; do
  i=$((i + 1))
  echo "tune_check: bench: $label" >&2
  if ! "$PCCHECK" bench --root "$WORK/bench-$i" --size "$SIZE" --count "$COUNT" \
       --writers "$writers" --chunk "$chunk" --inflight "$inflight" --pool "$pool" --json \
       >"$WORK/bench-$i.out" 2>"$WORK/bench-$i.err"; then
    cat "$WORK/bench-$i.err" >&2
    echo "tune_check: the bench with $label failed" >&2
    exit 1
  fi
  rate=$(tail -n 1 "$WORK/bench-$i.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["persist_gbps"])')
  [ -n "$first" ] || first=$rate
  python3 - "$label" "$writers" "$chunk" "$inflight" "$pool" "$rate" "$first" <<'PY'
import sys
label, w, c, n, p, rate, first = sys.argv[1:]
mib = lambda b: f"{int(b) / 2**20:g} MiB"
print(f"{label:<24} {w:>7} {mib(c):>9} {n:>9} {mib(p):>9} {float(rate):>12.3f} "
      f"{float(rate) / float(first):>8.2f}")
PY
  rm -rf "$WORK/bench-$i"
done <"$WORK/settings"

python3 - "$WORK/tune.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
print(f"tune measured: write {t['write_gbps']:.3f} GB/s after checksums "
      f"({t['write_raw_gbps']:.3f} raw, {'O_DIRECT' if t['write_o_direct'] else 'buffered'}), "
      f"copy {t['copy_gbps']:.3f} GB/s ({t['copy_source']}), commit {t['commit_ms']:.1f} ms")
PY
