#!/usr/bin/env bash
# pccheck against the disk's ceiling on the GPU machine, in one command:
#
#   scripts/gpu_ceiling.sh OUTDIR
#
# From the repository root (or anywhere), with build-gpu built by
# scripts/gpu_suite.sh (built here when missing). Writes under OUTDIR:
#
#   bench_fresh_<i>.json   `pccheck bench --root` on a fresh store
#   bench_again_<i>.json   the same command again on that store (rewritten slots)
#   gpu_bench.json         gpu_bench (persist / write ceiling, restore / read ceiling)
#   summary.txt            one line per run: persist / ceiling, which stream count won
#
# Every ratio is against the ceiling measured in the same run (io/disk_ceiling.h:
# the best of 1, 2, 4 and 8 parallel O_DIRECT streams at the chunk size, over at
# least the bytes persisted); a ratio above 1.00 means that ceiling is wrong.
# Sizes: PCCHECK_CEILING_SIZE (default 2G) x PCCHECK_CEILING_COUNT (default 6)
# per bench, PCCHECK_CEILING_RUNS pairs (default 2), PCCHECK_GPU_BENCH_BYTES for
# gpu_bench (default 4GiB). About 6-8 minutes with the defaults at 3 GB/s.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUTDIR=${1:?usage: scripts/gpu_ceiling.sh OUTDIR}
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
cd "$ROOT" || exit 2
BUILD=${PCCHECK_BUILD:-build-gpu}
SIZE=${PCCHECK_CEILING_SIZE:-2G}
COUNT=${PCCHECK_CEILING_COUNT:-6}
RUNS=${PCCHECK_CEILING_RUNS:-2}
# Stores and scratch files on the disk to measure, not tmpfs.
SCRATCH="$ROOT/$BUILD/tmp/ceiling"
export PCCHECK_TEST_TMPDIR="$ROOT/$BUILD/tmp" TMPDIR="$ROOT/$BUILD/tmp"

if [ ! -x "$BUILD/daemon/pccheck" ] || [ ! -x "$BUILD/tests/gpu/gpu_bench" ]; then
  if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" -Dgpu=enabled -Dwerror_ci=false || exit 2
  fi
fi
ninja -C "$BUILD" daemon/pccheck tests/gpu/gpu_bench >"$OUTDIR/build.log" 2>&1 || {
  tail -n 30 "$OUTDIR/build.log"
  exit 2
}

summary() {  # summary FILE LABEL
  python3 - "$1" "$2" <<'EOF' >>"$OUTDIR/summary.txt"
import json, sys
try:
    b = json.load(open(sys.argv[1]))
except Exception as e:
    print(f"{sys.argv[2]}: no JSON ({e})")
    sys.exit(0)
if "persist_ratio" in b:  # gpu_bench
    print(f"{sys.argv[2]}: persist {b.get('persist_gbps', 0):.3f} / write ceiling "
          f"{b.get('raw_write_gbps', 0):.3f} GB/s ({b.get('raw_write_streams')} streams) = "
          f"{b.get('persist_ratio', 0):.3f}; restore {b.get('restore_gbps', 0):.3f} / read ceiling "
          f"{b.get('raw_read_gbps', 0):.3f} GB/s ({b.get('raw_read_streams')} streams) = "
          f"{b.get('restore_ratio', 0):.3f}")
else:
    p = b.get("profile", {})
    print(f"{sys.argv[2]}: persist {b['persist_gbps']:.3f} / ceiling {b['raw_direct_gbps']:.3f} GB/s "
          f"({b['raw_streams']} streams) = {b['ratio']:.3f}; fresh-file ceiling "
          f"{b['raw_fresh_gbps']:.3f} ({b['raw_fresh_streams']}), rewrite {b['raw_rewrite_gbps']:.3f} "
          f"({b['raw_rewrite_streams']}); commits {p.get('commit_s', 0):.2f} s of {b['seconds']:.2f} s")
EOF
}

: >"$OUTDIR/summary.txt"
rc=0
for i in $(seq 1 "$RUNS"); do
  rm -rf "$SCRATCH"
  for pass in fresh again; do
    "$BUILD/daemon/pccheck" bench --root "$SCRATCH" --size "$SIZE" --count "$COUNT" --json \
      >"$OUTDIR/bench_${pass}_$i.json" 2>"$OUTDIR/bench_${pass}_$i.log" || rc=1
    summary "$OUTDIR/bench_${pass}_$i.json" "bench $pass $i ($COUNT x $SIZE)"
  done
done
rm -rf "$SCRATCH"
"$BUILD/tests/gpu/gpu_bench" >"$OUTDIR/gpu_bench.json" 2>"$OUTDIR/gpu_bench.log" || rc=1
summary "$OUTDIR/gpu_bench.json" "gpu_bench"
cat "$OUTDIR/summary.txt"
exit $rc
