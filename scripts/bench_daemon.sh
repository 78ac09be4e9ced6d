#!/usr/bin/env bash
# Measures pccheckd as its clients see it: `pccheck bench --socket` with 1, 2
# and 4 client processes, each count against a fresh daemon and store, and
# prints one JSON line per client count (the bench's --json summary: persist
# and raw O_DIRECT GB/s and their ratio, save() hold time p50/p99 in µs, ...).
#
#   scripts/bench_daemon.sh [TOTAL [SIZE]]
#
# TOTAL: bytes checkpointed per client count, split evenly over the clients
# (default 1G); SIZE: bytes per checkpoint (default 64M). Sizes as `pccheck`
# reads them (64M, 1G). The store goes under $BENCH_DIR (default $TMPDIR or
# /tmp): put it on the disk you want to measure. $PCCHECKD_FLAGS replaces the
# daemon's settings (default: --pool 1GiB --chunk 16MiB); $PCCHECK_BUILD_DIR
# names the build directory (default build/, built first when out of date).
# BENCH_WARM=1 measures a store whose slots were all written once before
# (the steady state of a long run); each JSON line says "store": "fresh" or
# "warm". Progress and the daemon's log location go to stderr; stdout is JSON only.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=lib/setup.sh
source scripts/lib/setup.sh

TOTAL=${1:-1G}
SIZE=${2:-64M}
BUILD="$ROOT/${PCCHECK_BUILD_DIR:-build}"
read -r -a DAEMON_FLAGS <<<"${PCCHECKD_FLAGS:---pool 1GiB --chunk 16MiB}"

if ! pccheck_build "$BUILD" >"${TMPDIR:-/tmp}/pccheck-bench-build.log" 2>&1; then
  cat "${TMPDIR:-/tmp}/pccheck-bench-build.log" >&2
  echo "bench_daemon: the build failed; see above" >&2
  exit 1
fi
PCCHECK="$BUILD/daemon/pccheck"
PCCHECKD="$BUILD/daemon/pccheckd"

# Bytes from a size as `pccheck` reads it: the CLI parses, we only divide.
bytes_of() {
  python3 - "$1" <<'PY'
import re, sys
m = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)(?:i?B)?\s*", sys.argv[1], re.I)
if not m:
    sys.exit(f"bench_daemon: '{sys.argv[1]}' is not a size (e.g. 64M, 1G)")
print(int(m.group(1)) * 1024 ** " KMGT".index((m.group(2) or " ").upper()))
PY
}
TOTAL_BYTES=$(bytes_of "$TOTAL")
SIZE_BYTES=$(bytes_of "$SIZE")

WORK=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/pccheck-bench.XXXXXX")
DAEMON_PID=""
cleanup() {
  if [ -n "$DAEMON_PID" ]; then kill -9 "$DAEMON_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# BENCH_WARM=1: before each measured run, one unmeasured run writes every
# slot of every rank once (max-inflight + 1 checkpoints per client), so the
# measurement sees the steady state of a long training run instead of a new
# store's first writes (docs/benchmarks.md explains the difference).
WARM_COUNT=${BENCH_WARM_COUNT:-3}
STORE_STATE=fresh
[ "${BENCH_WARM:-0}" = 1 ] && STORE_STATE=warm

for clients in 1 2 4; do
  count=$((TOTAL_BYTES / (clients * SIZE_BYTES)))
  [ "$count" -ge 1 ] || count=1
  run="$WORK/clients-$clients"
  mkdir -p "$run"
  "$PCCHECKD" --root "$run/store" --socket "$run/pccheckd.sock" "${DAEMON_FLAGS[@]}" \
    >"$run/pccheckd.log" 2>&1 &
  DAEMON_PID=$!
  deadline=$((SECONDS + 60))
  until grep -q '\] ready' "$run/pccheckd.log" 2>/dev/null; do
    if ! kill -0 "$DAEMON_PID" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
      echo "bench_daemon: pccheckd did not start:" >&2
      cat "$run/pccheckd.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  if [ "${BENCH_WARM:-0}" = 1 ]; then
    # Steady state: every slot file of every rank written once before measuring.
    echo "bench_daemon: warming $clients client(s)' slots ($WARM_COUNT checkpoints each)" >&2
    if ! "$PCCHECK" bench --socket "$run/pccheckd.sock" --size "$SIZE" --count "$WARM_COUNT" \
         --clients "$clients" --json >"$run/warm.out" 2>"$run/warm.err"; then
      cat "$run/warm.err" >&2
      exit 1
    fi
  fi
  echo "bench_daemon: $clients client(s) x $count checkpoints of $SIZE" >&2
  if ! "$PCCHECK" bench --socket "$run/pccheckd.sock" --size "$SIZE" --count "$count" \
       --clients "$clients" --json >"$run/bench.out" 2>"$run/bench.err"; then
    cat "$run/bench.err" >&2
    echo "bench_daemon: the bench with $clients client(s) failed; pccheckd's log:" >&2
    tail -n 20 "$run/pccheckd.log" >&2
    exit 1
  fi
  tail -n 1 "$run/bench.out" | sed "s/^{/{\"store\": \"$STORE_STATE\", /"
  kill -TERM "$DAEMON_PID"
  wait "$DAEMON_PID" || { echo "bench_daemon: pccheckd exited with status $?" >&2; exit 1; }
  DAEMON_PID=""
  rm -rf "$run/store"
done
