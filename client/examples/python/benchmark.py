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

Methods: none (the reference), pccheck (pccheckd with its default policy,
coalesce), pccheck-block and pccheck-skip (a pccheckd of that --policy; each
policy gets a daemon of its own), torch.save, dcp-thread, dcp-process. For the
pccheck methods the report also says how far durability lagged (the trainer's
newest snapshot against the newest durable step) and how many requests became
durable, were coalesced or skipped.

Example (GPU machine):
    python3 benchmark.py --build build --store /data/pcc --every 25 --iters 200
    python3 benchmark.py --every 1,2,5,10,25 --iters-for 1:30,2:30,5:50,10:50,25:100 \
        --methods pccheck,pccheck-block,dcp-thread
    python3 benchmark.py --trainer vgg16 --every 10 --iters 100
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
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n", 1)[1])
    p.add_argument("--build", default="build", help="meson build directory")
    p.add_argument("--store", default="/tmp/pccheck-bench", help="directory on the disk to use")
    p.add_argument("--trainer", default="gpt2", choices=sorted(TRAINERS),
                   help="the example trainer: gpt2 (gpt2_train.py) or vgg16 (vgg16_train.py)")
    p.add_argument("--every", default="25", help="checkpoint intervals, comma separated")
    p.add_argument("--iters", type=int, default=200, help="timed iterations per run")
    p.add_argument("--iters-for", default="",
                   help="per-interval iterations, e.g. 1:30,2:30,25:100 (others: --iters)")
    p.add_argument("--methods", default="pccheck,torch.save,dcp-thread,dcp-process",
                   help="methods besides the no-checkpoint reference: " + ", ".join(METHODS))
    p.add_argument("--preset", default="gpt2-medium",
                   help="gpt2_train.py preset; 'small' for its small default model")
    p.add_argument("--trainer-args", default="",
                   help="more arguments for the trainer, e.g. '--image 224 --batch 32'")
    p.add_argument("--snapshot", default="direct", choices=("direct", "gpu"))
    p.add_argument("--pool", default="10GiB", help="pccheckd --pool")
    p.add_argument("--ceiling-size", default="4G",
                   help="the ceiling writes 4 x this per stream count and pass (default 4G: "
                        "16 GiB, 128 GiB in all)")
    p.add_argument("--out", default=None, help="also write the JSON lines here")
    a = p.parse_args()
    for m in a.methods.split(","):
        if m not in METHODS:
            p.error("unknown method %r (known: %s)" % (m, ", ".join(METHODS)))
    return a


TRAINERS = {"gpt2": "gpt2_train.py", "vgg16": "vgg16_train.py"}
METHODS = ("pccheck", "pccheck-block", "pccheck-skip", "torch.save", "dcp-thread", "dcp-process")


def policy_of(method):
    """The pccheckd --policy a pccheck method runs against, or None."""
    if method == "pccheck":
        return "default"
    if method.startswith("pccheck-"):
        return method[len("pccheck-"):]
    return None


def run_json(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    if r.returncode != 0 or not lines:
        sys.stderr.write(r.stdout[-3000:] + r.stderr[-3000:])
        return {"error": "exit %d" % r.returncode, "cmd": " ".join(cmd)}
    return json.loads(lines[-1])


def start_daemon(build, store, pool, policy):
    """pccheckd on its own root and socket under store; policy None or
    'default' keeps the daemon's default."""
    name = "pccheck-" + policy
    sock = os.path.join(store, name + ".sock")
    log = open(os.path.join(store, name + ".log"), "w")
    cmd = [os.path.join(build, "daemon", "pccheckd"), "--root", os.path.join(store, name),
           "--socket", sock, "--pool", pool, "--chunk", "64MiB", "--writers", "4",
           "--max-inflight", "2"]
    if policy != "default":
        cmd += ["--policy", policy]
    d = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(600):
        if os.path.exists(sock):
            return d, sock
        if d.poll() is not None:
            raise SystemExit("pccheckd exited; see %s/%s.log" % (store, name))
        time.sleep(0.1)
    raise SystemExit("pccheckd did not start")


def main():
    a = parse()
    build = os.path.abspath(a.build)
    os.makedirs(a.store, exist_ok=True)
    emit_file = open(a.out, "a") if a.out else None
    iters_for = {int(k): int(v) for k, v in
                 (kv.split(":") for kv in a.iters_for.split(",") if kv)}

    def emit(obj):
        line = json.dumps(obj)
        print(line, flush=True)
        if emit_file:
            emit_file.write(line + "\n")
            emit_file.flush()

    # The ceiling over 4 x --ceiling-size per stream count and pass: long
    # enough that a virtual disk's fast short bursts do not count.
    raw = run_json([os.path.join(build, "daemon", "pccheck"), "bench", "--root",
                    os.path.join(a.store, "raw"), "--raw-only", "--size", a.ceiling_size,
                    "--count", "4", "--chunk", "64M", "--json"])
    shutil.rmtree(os.path.join(a.store, "raw"), ignore_errors=True)
    raw_gbps = raw.get("raw_direct_gbps", 0.0)
    emit({k: v for k, v in raw.items() if k.startswith("raw_")})
    daemons = {}  # policy -> (process, socket)
    env = dict(os.environ, PCCHECK_BUILD_DIR=build)
    trainer = os.path.join(HERE, TRAINERS[a.trainer])
    try:
        for every in [int(e) for e in a.every.split(",")]:
            iters = iters_for.get(every, a.iters)
            results = {}
            for method in ["none"] + a.methods.split(","):
                policy = policy_of(method)
                sock = None
                if policy:
                    if policy not in daemons:
                        daemons[policy] = start_daemon(build, a.store, a.pool, policy)
                    sock = daemons[policy][1]
                out_dir = os.path.join(a.store, "out")
                shutil.rmtree(out_dir, ignore_errors=True)
                cmd = [sys.executable, trainer,
                       "--method", "pccheck" if policy else method,
                       "--iters", str(iters), "--every", str(every), "--json",
                       "--out-dir", out_dir, "--job",
                       "bench-%d-%s" % (every, method.replace(".", "-")),
                       "--snapshot", a.snapshot] + (["--socket", sock] if sock else [])
                if a.trainer == "gpt2" and a.preset != "small":
                    cmd += ["--preset", a.preset]
                cmd += a.trainer_args.split()
                r = run_json(cmd, env)
                r["method"] = method
                r["every"] = every
                results[method] = r
                base = results["none"].get("total_s")
                if base and "total_s" in r:
                    r["slowdown"] = round(r["total_s"] / base, 4)
                emit(r)
            base = results["none"].get("total_s")
            summary = {"summary_every": every, "iters": iters, "raw_direct_gbps": raw_gbps}
            state = next((r.get("state_bytes") for r in results.values() if r.get("state_bytes")),
                         None)
            if base and state and raw_gbps:
                n = iters // every
                write_s = n * state / (raw_gbps * 1e9)
                summary["disk_floor"] = round(max(1.0, write_s / base), 4)
            for m, r in results.items():
                if "slowdown" in r:
                    summary[m] = r["slowdown"]
                for k in ("durable_lag_steps_max", "durable_lag_s_max", "durable_share",
                          "copy_floor"):
                    if k in r:
                        summary[m + ":" + k] = r[k]
            for m in ("dcp-thread", "dcp-process"):
                if m in summary and "pccheck" in summary:
                    summary["speedup_vs_" + m] = round(summary[m] / summary["pccheck"], 3)
            emit(summary)
    finally:
        for policy, (d, _) in daemons.items():
            d.send_signal(signal.SIGTERM)
            d.wait(timeout=120)
            shutil.rmtree(os.path.join(a.store, "pccheck-" + policy), ignore_errors=True)


if __name__ == "__main__":
    main()
