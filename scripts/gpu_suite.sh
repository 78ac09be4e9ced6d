#!/usr/bin/env bash
# The GPU machine's check of pccheck, in one go, from the repository root:
#
#   1. configure build-gpu with -Dgpu=enabled (finding the CUDA toolkit) and build it;
#   2. run tests/gpu/gpu_tests (each case in a process of its own);
#   3. run gpu_bench: one JSON object, to $OUT/gpu_bench.json;
#      (scripts/gpu_ceiling.sh OUTDIR measures `pccheck bench --root` fresh and
#      rewritten and gpu_bench against the disk ceilings, on its own);
#   4. run scripts/test on that build (the whole suite, GPU tests included);
#   5. print a compact summary.
#
# Logs: $OUT/*.log when $OUT is set, else build-gpu/suite-out/. Every step has
# a time limit and a failing step does not stop the next; the whole run keeps
# within PCCHECK_GPU_SUITE_BUDGET seconds (default 500; the build alone gets
# PCCHECK_GPU_SUITE_BUILD_TIMEOUT, default 300). Exits non-zero when the
# build, a GPU test or the benchmark failed.
#
# Sizes (byte counts like 4GiB or 512M) for smaller GPUs or disks:
#   PCCHECK_GPU_TEST_BYTES   bit-exact test checkpoint   (default 4.25 GiB)
#   PCCHECK_GPU_TEST_POOL    its daemon's pinned pool    (default 2 GiB)
#   PCCHECK_GPU_ORDER_BYTES  ordering tests              (default 1 GiB)
#   PCCHECK_GPU_KILL_BYTES   killed-trainer test         (default 2 GiB)
#   PCCHECK_GPU_BENCH_BYTES  benchmark checkpoint        (default 4 GiB)
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2

BUDGET=${PCCHECK_GPU_SUITE_BUDGET:-500}
BUILD=build-gpu
LOGS=${OUT:-$ROOT/$BUILD/suite-out}
mkdir -p "$LOGS" "$BUILD/tmp"
# Scratch space for stores and raw I/O references: on the disk, not tmpfs.
export PCCHECK_TEST_TMPDIR="$ROOT/$BUILD/tmp" TMPDIR="$ROOT/$BUILD/tmp"
SUMMARY=()
FAILED=0

note() { echo "gpu_suite [$(date +%H:%M:%S), ${SECONDS}s]: $*"; }
left() { echo $((BUDGET - SECONDS)); }
# limit WANTED RESERVE: WANTED seconds, or less so that RESERVE are left after.
limit() {
  local l=$(($(left) - $2))
  if [ "$l" -gt "$1" ]; then l=$1; fi
  echo "$l"
}
# run NAME SECONDS CMD...: runs CMD with a time limit, output to $LOGS/NAME.log.
run() {
  local name=$1 secs=$2
  shift 2
  if [ "$secs" -lt 20 ]; then
    note "$name: skipped, the time budget is spent"
    echo "skipped: no time left" >"$LOGS/$name.log"
    return 124
  fi
  note "$name (up to ${secs}s, log $LOGS/$name.log)"
  timeout --kill-after=15 "$secs" "$@" >"$LOGS/$name.log" 2>&1
  local rc=$?
  note "$name: exit status $rc"
  return $rc
}

# ---- the CUDA toolkit ----------------------------------------------------------
# A directory with include/cuda_runtime_api.h and lib64/ or lib/ holding
# libcudart.so; for pip's nvidia wheels (headers and libcudart.so.N only), a
# directory of links made here.
find_cuda() {
  local d
  for d in "${CUDA_HOME:-}" "${CUDA_PATH:-}" /usr/local/cuda /usr/local/cuda-1[0-9]* /usr; do
    [ -n "$d" ] || continue
    [ -f "$d/include/cuda_runtime_api.h" ] || continue
    local lib
    for lib in lib64 lib lib/x86_64-linux-gnu; do
      if [ -e "$d/$lib/libcudart.so" ]; then
        echo "$d"
        return 0
      fi
    done
  done
  if command -v nvcc >/dev/null 2>&1; then
    d=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")
    if [ -f "$d/include/cuda_runtime_api.h" ]; then echo "$d"; return 0; fi
  fi
  local header
  header=$(python3 - <<'EOF' 2>/dev/null
import glob, os, site, sys
roots = site.getsitepackages() + [site.getusersitepackages()]
for r in roots:
    for h in glob.glob(os.path.join(r, "nvidia", "**", "include", "cuda_runtime_api.h"), recursive=True):
        print(h)
        sys.exit(0)
EOF
)
  [ -n "$header" ] || return 1
  local inc so shim="$ROOT/$BUILD-cuda"
  inc=$(dirname "$header")
  so=$(find "$(dirname "$inc")/lib" -maxdepth 1 -name 'libcudart.so.*' 2>/dev/null | sort | head -n 1)
  [ -n "$so" ] || return 1
  rm -rf "$shim"
  mkdir -p "$shim/lib64"
  ln -s "$inc" "$shim/include"
  ln -s "$so" "$shim/lib64/libcudart.so"
  ln -s "$so" "$shim/lib64/$(basename "$so")"
  echo "$shim"
}

# ---- 1. build -------------------------------------------------------------------
CUDA=$(find_cuda)
if [ -z "$CUDA" ]; then
  note "no CUDA toolkit found (looked at \$CUDA_HOME, /usr/local/cuda*, nvcc, pip's nvidia wheels)"
  CUDA=/usr/local/cuda
fi
note "CUDA toolkit: $CUDA"
# Run by `timeout` through a child bash, hence exported.
# shellcheck disable=SC2317
configure_and_build() {
  local opts=(-Dgpu=enabled "-Dcudatoolkit=$CUDA" -Dwerror=false)
  if [ -f "$BUILD/build.ninja" ]; then
    meson setup --reconfigure "$BUILD" "${opts[@]}" || meson setup --wipe "$BUILD" "${opts[@]}"
  else
    meson setup "$BUILD" "${opts[@]}"
  fi && ninja -C "$BUILD"
}
export -f configure_and_build
export BUILD CUDA
if run build "$(limit "${PCCHECK_GPU_SUITE_BUILD_TIMEOUT:-300}" 200)" bash -c configure_and_build; then
  SUMMARY+=("build: ok")
else
  SUMMARY+=("build: FAILED (see $LOGS/build.log)")
  FAILED=1
  tail -n 30 "$LOGS/build.log"
fi

# ---- 2. GPU tests ------------------------------------------------------------------
if [ -x "$BUILD/tests/gpu/gpu_tests" ]; then
  run gpu_tests "$(limit 300 160)" "$BUILD/tests/gpu/gpu_tests"
  rc=$?
  passed=$(grep -c '^PASS ' "$LOGS/gpu_tests.log")
  failed=$(grep -c '^FAIL ' "$LOGS/gpu_tests.log")
  skipped=$(grep -c '^SKIP ' "$LOGS/gpu_tests.log")
  SUMMARY+=("gpu_tests: $passed passed, $failed failed, $skipped skipped (exit status $rc)")
  grep -E '^(PASS|FAIL|SKIP) ' "$LOGS/gpu_tests.log" | sed 's/^/    /'
  if [ "$rc" -ne 0 ] || [ "$failed" -gt 0 ]; then FAILED=1; fi
else
  SUMMARY+=("gpu_tests: not built")
  FAILED=1
fi

# ---- 3. benchmark --------------------------------------------------------------------
BENCH_JSON="$LOGS/gpu_bench.json"
if [ -x "$BUILD/tests/gpu/gpu_bench" ]; then
  run gpu_bench "$(limit 300 70)" bash -c "'$BUILD/tests/gpu/gpu_bench' >'$BENCH_JSON'"
  rc=$?
  if [ "$rc" -ne 0 ]; then FAILED=1; fi
  SUMMARY+=("gpu_bench: exit status $rc, $BENCH_JSON")
  python3 - "$BENCH_JSON" <<'EOF' >"$LOGS/gpu_bench.summary" 2>&1
import json, sys
try:
    b = json.load(open(sys.argv[1]))
except Exception as e:
    print(f"    no JSON: {e}")
    sys.exit(0)
def f(k, fmt="{:.3g}"):
    v = b.get(k)
    return "n/a" if v is None else fmt.format(v) if isinstance(v, (int, float)) else str(v)
print(f"    device {f('device')}, checkpoint {f('checkpoint_bytes')} bytes")
print(f"    snapshot {f('snapshot_gbps')} GB/s / pinned copy {f('pinned_copy_gbps')} GB/s = {f('snapshot_ratio')} (goal >= 0.90)")
print(f"    persist {f('persist_gbps')} GB/s / write ceiling {f('raw_write_gbps')} GB/s ({f('raw_write_streams')} streams) = {f('persist_ratio')} (<= 1.0: else the ceiling is wrong)")
print(f"    save() CPU p50 {f('save_cpu_us_p50')} us, p99 {f('save_cpu_us_p99')} us (goal <= 100 us); wall p50 {f('save_wall_us_p50')} us, p99 {f('save_wall_us_p99')} us")
print(f"    stream held at before_update: direct {f('hold_direct_ms_p50')} ms; staging {f('hold_staging_ms_p50')} ms / D2D copy {f('d2d_copy_ms')} ms = {f('staging_hold_ratio')} (goal <= 1.2)")
print(f"    restore ({f('restore_source')}) {f('restore_gbps')} GB/s / read ceiling {f('raw_read_gbps')} GB/s ({f('raw_read_streams')} streams) = {f('restore_ratio')} (goal >= 0.85)")
print(f"    restore of the newest ({f('restore_newest_source')}) {f('restore_newest_gbps')} GB/s")
print(f"    trainer work slowed by the daemon's copies x{f('slowdown_daemon_context')}, by its own context's copies x{f('slowdown_own_context')}")
if b.get("errors") or b.get("error"):
    print(f"    errors: {b.get('errors') or b.get('error')}")
EOF
  cat "$LOGS/gpu_bench.summary" 2>/dev/null
else
  SUMMARY+=("gpu_bench: not built")
  FAILED=1
fi

# ---- 4. the whole suite ---------------------------------------------------------------
# scripts/test builds ./build: point it at build-gpu when there is none, so
# nothing is built twice. This machine reaches no package registry
# (BENCHMARKS.md): an apt-get that fails at once keeps scripts/test from
# waiting for one.
if [ ! -e build ]; then ln -s "$BUILD" build; fi
SHIM="$ROOT/$BUILD/no-apt"
mkdir -p "$SHIM"
printf '#!/bin/sh\necho "gpu_suite: no package registry here; not running apt-get $*" >&2\nexit 1\n' \
  >"$SHIM/apt-get"
chmod +x "$SHIM/apt-get"
run scripts_test "$(limit 600 10)" env PATH="$SHIM:$PATH" PCCHECK_GPU_CASE_TIMEOUT=240 PCCHECK_SANITIZERS=0 ./scripts/test
rc=$?
last=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$LOGS/scripts_test.log" | tail -n 1)
SUMMARY+=("scripts/test: ${last:-no summary line} (exit status $rc)")
grep -E '^FAIL ' "$LOGS/scripts_test.log" | sed 's/^/    /' | head -n 20
cp -f build/test-logs/results.txt "$LOGS/scripts_test.results.txt" 2>/dev/null

# ---- 5. summary --------------------------------------------------------------------------
echo
echo "==== gpu_suite summary (${SECONDS}s; logs in $LOGS) ===="
for line in "${SUMMARY[@]}"; do echo "$line"; done
cat "$LOGS/gpu_bench.summary" 2>/dev/null
exit $FAILED
