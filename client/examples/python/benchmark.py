#!/usr/bin/env python3
"""Training slowdown of pccheck against torch.save and DCP async_save, same run.

Starts pccheckd on a store directory, measures the disk's write ceiling there
(`pccheck bench --raw-only`: the best of 1, 2, 4 and 8 parallel O_DIRECT streams
in the daemon's 64 MiB chunks over 16 GiB, into fresh files and rewritten, the
same reference `pccheck bench` and gpu_bench use), then trains gpt2_train.py once per method
and checkpoint interval, each in its own process, and prints one JSON object
per run plus a summary: slowdown against the no-checkpoint run of this same
invocation, and the disk-bound floor computed from the ceiling:

    floor = max(1, checkpoints * checkpoint_bytes / ceiling / no_checkpoint_time)

Since the ceiling is the best the disk does, pccheck can at best reach the floor:
a slowdown below it means the ceiling was measured wrong.

Example (GPU machine):
    python3 benchmark.py --build build --store /data/pcc --every 25 --iters 200
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build", default="build", help="meson build directory")
    p.add_argument("--store", default="/tmp/pccheck-bench", help="directory on the disk to use")
    p.add_argument("--every", default="25", help="checkpoint intervals, comma separated")
    p.add_argument("--iters", type=int, default=200)
    p.add_argument("--methods", default="pccheck,torch.save,dcp-thread,dcp-process",
                   help="methods besides the no-checkpoint reference")
    p.add_argument("--preset", default="gpt2-medium",
                   help="gpt2_train.py preset; 'small' for its small default model")
    p.add_argument("--snapshot", default="direct", choices=("direct", "gpu"))
    p.add_argument("--pool", default="10GiB", help="pccheckd --pool")
    p.add_argument("--out", default=None, help="also write the JSON lines here")
    return p.parse_args()


def run_json(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    if r.returncode != 0 or not lines:
        sys.stderr.write(r.stdout[-3000:] + r.stderr[-3000:])
        return {"error": "exit %d" % r.returncode, "cmd": " ".join(cmd)}
    return json.loads(lines[-1])


def start_daemon(build, store, pool):
    sock = os.path.join(store, "pccheckd.sock")
    log = open(os.path.join(store, "pccheckd.log"), "w")
    d = subprocess.Popen([os.path.join(build, "daemon", "pccheckd"), "--root",
                          os.path.join(store, "pccheck"), "--socket", sock, "--pool", pool,
                          "--chunk", "64MiB", "--writers", "4", "--max-inflight", "2"],
                         stdout=log, stderr=subprocess.STDOUT)
    for _ in range(600):
        if os.path.exists(sock):
            return d, sock
        if d.poll() is not None:
            raise SystemExit("pccheckd exited; see %s/pccheckd.log" % store)
        time.sleep(0.1)
    raise SystemExit("pccheckd did not start")


def main():
    a = parse()
    build = os.path.abspath(a.build)
    os.makedirs(a.store, exist_ok=True)
    emit_file = open(a.out, "a") if a.out else None

    def emit(obj):
        line = json.dumps(obj)
        print(line, flush=True)
        if emit_file:
            emit_file.write(line + "\n")
            emit_file.flush()

    # The ceiling over 16 GiB per stream count and pass (128 GiB written in
    # all): long enough that a virtual disk's fast short bursts do not count.
    raw = run_json([os.path.join(build, "daemon", "pccheck"), "bench", "--root",
                    os.path.join(a.store, "raw"), "--raw-only", "--size", "4G", "--count", "4",
                    "--chunk", "64M", "--json"])
    shutil.rmtree(os.path.join(a.store, "raw"), ignore_errors=True)
    raw_gbps = raw.get("raw_direct_gbps", 0.0)
    emit({k: v for k, v in raw.items() if k.startswith("raw_")})
    daemon, sock = start_daemon(build, a.store, a.pool)
    env = dict(os.environ, PCCHECK_BUILD_DIR=build)
    try:
        for every in [int(e) for e in a.every.split(",")]:
            results = {}
            for method in ["none"] + a.methods.split(","):
                out_dir = os.path.join(a.store, "out")
                shutil.rmtree(out_dir, ignore_errors=True)
                cmd = [sys.executable, os.path.join(HERE, "gpt2_train.py"), "--method", method, "--iters", str(a.iters), "--every", str(every),
                       "--json", "--out-dir", out_dir, "--socket", sock, "--job",
                       "bench-%d-%s" % (every, method.replace(".", "-")), "--snapshot",
                       a.snapshot] + (["--preset", a.preset] if a.preset != "small" else [])
                r = run_json(cmd, env)
                r["every"] = every
                results[method] = r
                base = results["none"].get("total_s")
                if base and "total_s" in r:
                    r["slowdown"] = round(r["total_s"] / base, 4)
                emit(r)
            base = results["none"].get("total_s")
            ck = results.get("pccheck", {})
            summary = {"summary_every": every, "iters": a.iters, "raw_direct_gbps": raw_gbps}
            if base and ck.get("state_bytes") and raw_gbps:
                n = a.iters // every
                write_s = n * ck["state_bytes"] / (raw_gbps * 1e9)
                summary["disk_floor"] = round(max(1.0, write_s / base), 4)
            for m, r in results.items():
                if "slowdown" in r:
                    summary[m] = r["slowdown"]
            if "pccheck" in summary and "disk_floor" in summary:
                summary["pccheck_vs_floor"] = round(summary["pccheck"] / summary["disk_floor"], 4)
            for m in ("dcp-thread", "dcp-process"):
                if m in summary and "pccheck" in summary:
                    summary["speedup_vs_" + m] = round(summary[m] / summary["pccheck"], 3)
            emit(summary)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=120)
        shutil.rmtree(os.path.join(a.store, "pccheck"), ignore_errors=True)


if __name__ == "__main__":
    main()
