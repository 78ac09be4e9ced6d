#!/usr/bin/env bash
# Builds pccheck on a GPU machine and runs the measurements that need one.
#
#   scripts/gpu_machine.sh STAGE...    stages: build test bench daemon gpu python
#
# Results (logs, JSON) go to $OUT when it is set, else build-gpu/results/.
# Each stage keeps going when another failed; the exit code is non-zero when
# any stage failed. Sizes can be lowered with PCC_BENCH_SIZE (default 4G).
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD="$ROOT/build"
RES="${OUT:-$ROOT/build-results}"
SIZE="${PCC_BENCH_SIZE:-4G}"
STORE="${PCC_STORE:-$ROOT/.pcc-store}"
mkdir -p "$RES" "$STORE"
failed=0

stage() {  # stage NAME COMMAND...: runs it, logs to $RES/NAME.log, notes failure
  local name=$1
  shift
  echo "=== $name: $*"
  local t0=$SECONDS
  if "$@" >"$RES/$name.log" 2>&1; then
    echo "=== $name: ok ($((SECONDS - t0)) s)"
  else
    echo "=== $name: FAILED ($((SECONDS - t0)) s); last lines:"
    tail -n 15 "$RES/$name.log"
    failed=1
  fi
}

do_build() {
  if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" -Dgpu=enabled || return 1
  fi
  ninja -C "$BUILD"
}

do_test() { ./scripts/test; }

do_bench() {
  rm -rf "$STORE/bench"
  "$BUILD/daemon/pccheck" bench --root "$STORE/bench" --size "$SIZE" --count 6 --inflight 2 \
    --chunk 64M --writers 4 --json | tail -n 1 | tee "$RES/bench.json"
  rm -rf "$STORE/bench"
}

do_daemon() {
  BENCH_DIR="$STORE" ./scripts/bench_daemon.sh 8G 1G | tee "$RES/bench_daemon.jsonl"
}

do_gpu() {
  TMPDIR="$STORE" "$BUILD/tests/gpu/gpu_bench" | tee "$RES/gpu_bench.json"
}

do_python() {
  PCCHECK_BUILD_DIR="$BUILD" PYTHONPATH="$ROOT/client/python" \
    python3 client/examples/python/benchmark.py --out "$RES/python_bench.json"
}

for s in "$@"; do
  case "$s" in
    build) stage build do_build ;;
    test) stage test do_test ;;
    bench) stage bench do_bench ;;
    daemon) stage daemon do_daemon ;;
    gpu) stage gpu do_gpu ;;
    python) stage python do_python ;;
    *) echo "unknown stage '$s' (build test bench daemon gpu python)"; failed=1 ;;
  esac
done
exit $failed
