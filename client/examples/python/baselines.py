"""What the example trainers compare pccheck with, and how they report.

    --method none         no checkpoints
    --method pccheck      pccheck.torch.Checkpointer (in the trainers themselves)
    --method torch.save   torch.save of the state dicts, synchronous, fsynced
    --method dcp-thread   torch.distributed.checkpoint.async_save (a thread writes)
    --method dcp-process  the same with AsyncCheckpointerType.PROCESS (torch >= 2.7)

Every method writes under --out-dir (torch.save and DCP) or through pccheckd
(pccheck). The report (--json) has the total time of the timed iterations,
the time the trainer spent inside checkpoint calls, and the time after the
last iteration until the last checkpoint was durable.
"""
import atexit
import contextlib
import json
import shutil
import os
import statistics
import sys
import tempfile
import time

import torch

try:
    import pccheck  # noqa: F401
except ImportError:  # run from a source checkout: use the package beside these examples
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "python"))

METHODS = ("none", "pccheck", "torch.save", "dcp-thread", "dcp-process")


def add_arguments(parser):
    parser.add_argument("--method", choices=METHODS, default="pccheck")
    parser.add_argument("--iters", type=int, default=20, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations first")
    parser.add_argument("--every", type=int, default=5, help="checkpoint every N iterations")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--job", default=None, help="pccheck job name")
    parser.add_argument("--socket", default=None, help="pccheckd's socket")
    parser.add_argument("--snapshot", choices=("direct", "gpu"), default="direct")
    parser.add_argument("--resume", action="store_true", help="restore the newest checkpoint")
    parser.add_argument("--out-dir", default=None, help="where torch.save and DCP write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")


class TorchSave:
    """torch.save of model and optimizer, fsynced and renamed into place."""

    def __init__(self, model, optimizer, out_dir):
        self.model, self.optimizer, self.path = model, optimizer, os.path.join(out_dir, "ckpt.pt")

    def save(self, step):
        tmp = self.path + ".tmp"
        with open(tmp, "wb") as f:
            torch.save({"step": step, "model": self.model.state_dict(),
                        "optimizer": self.optimizer.state_dict()}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def finish(self):
        pass


class DcpAsync:
    """torch.distributed.checkpoint.async_save; one save in flight at a time."""

    def __init__(self, model, optimizer, out_dir, process):
        import torch.distributed as dist
        try:
            import torch.distributed.checkpoint as dcp
        except ImportError:
            dcp = None
        if not hasattr(dcp, "async_save"):
            raise SystemExit("torch %s has no torch.distributed.checkpoint.async_save"
                             % torch.__version__)
        self.kwargs = {}
        if process:
            from torch.distributed.checkpoint import state_dict_saver
            kind = getattr(state_dict_saver, "AsyncCheckpointerType", None)
            if kind is None:
                raise SystemExit("torch %s has no AsyncCheckpointerType.PROCESS"
                                 % torch.__version__)
            self.kwargs["async_checkpointer_type"] = kind.PROCESS
        if not dist.is_initialized():  # async_save needs a process group with a CPU backend
            store = os.path.join(tempfile.mkdtemp(), "store")
            backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
            dist.init_process_group(backend, init_method="file://" + store, rank=0, world_size=1)
            atexit.register(dist.destroy_process_group)
        self.dcp, self.model, self.optimizer = dcp, model, optimizer
        self.out_dir, self.future = out_dir, None

    def _state(self):
        from torch.distributed.checkpoint.state_dict import get_state_dict
        model, optim = get_state_dict(self.model, self.optimizer)
        return {"model": model, "optimizer": optim}

    def save(self, step):
        self.finish()
        # Keep only the newest finished checkpoint on disk, as a ring of slots would.
        if getattr(self, "previous", None):
            shutil.rmtree(self.previous, ignore_errors=True)
        self.previous = getattr(self, "current", None)
        self.current = os.path.join(self.out_dir, "step-%d" % step)
        self.future = self.dcp.async_save(self._state(), checkpoint_id=self.current,
                                          **self.kwargs)

    def finish(self):
        if self.future is not None:
            self.future.result()
            self.future = None


def autocast(cuda):
    """bf16 autocast on CUDA, nothing elsewhere."""
    if cuda:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def baseline(args, model, optimizer):
    """The object whose save(step)/finish() a non-pccheck --method uses, or None."""
    if args.method in ("none", "pccheck"):
        return None
    out_dir = args.out_dir or tempfile.mkdtemp(prefix="ckpt-")
    os.makedirs(out_dir, exist_ok=True)
    if args.method == "torch.save":
        return TorchSave(model, optimizer, out_dir)
    return DcpAsync(model, optimizer, out_dir, process=args.method == "dcp-process")


def state_bytes(model, optimizer):
    n = sum(t.numel() * t.element_size() for t in model.state_dict().values()
            if isinstance(t, torch.Tensor))
    for s in optimizer.state.values():
        n += sum(t.numel() * t.element_size() for t in s.values() if isinstance(t, torch.Tensor))
    return n


class Durability:
    """How far durability lagged behind a pccheck trainer: at each save, the
    steps (and seconds) between the step just requested and the newest
    durable one; at the end, how each request ended."""

    def __init__(self, ckpt, every):
        self.ckpt, self.every = ckpt, every
        self.tickets = []
        self.lag_steps, self.lag_s = [], []
        self.saved_at = {}  # step -> time.perf_counter() when it was requested

    def saved(self, step, ticket):
        now = time.perf_counter()
        self.tickets.append(ticket)
        self.saved_at[step] = now
        durable = self.ckpt.newest_durable_step()
        self.lag_steps.append(step - (durable or 0))
        # Seconds since the oldest request newer than the durable step.
        pending = [t for s, t in self.saved_at.items() if durable is None or s > durable]
        self.lag_s.append(now - min(pending) if pending else 0.0)

    def report(self):
        import pccheck
        ends = [self.ckpt.poll(t) for t in self.tickets]
        n = max(len(ends), 1)
        return {"saves_requested": len(ends),
                "saves_committed": ends.count(pccheck.COMMITTED),
                "saves_coalesced": ends.count(pccheck.COALESCED),
                "saves_failed": ends.count(pccheck.FAILED),
                "durable_share": round(ends.count(pccheck.COMMITTED) / n, 4),
                "durable_lag_steps_max": max(self.lag_steps, default=0),
                "durable_lag_s_max": round(max(self.lag_s, default=0.0), 3)}


class Timer:
    """Wall time of the timed iterations, of the checkpoint calls, and until durable."""

    def __init__(self, device):
        self.cuda = str(device).startswith("cuda")
        self.start = self.end = None
        self.calls = []  # seconds inside each checkpoint call
        self.durable = 0.0

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize()

    def begin(self):
        self.sync()
        self.start = time.perf_counter()

    def checkpoint(self, fn, *args):
        t = time.perf_counter()
        result = fn(*args)
        self.calls.append(time.perf_counter() - t)
        return result

    def stop(self):
        self.sync()
        self.end = time.perf_counter()

    def until_durable(self, fn):
        t = time.perf_counter()
        fn()
        self.durable = time.perf_counter() - t

    def report(self, args, iters, **extra):
        total = self.end - self.start
        out = {"method": args.method, "iters": iters, "every": args.every,
               "total_s": round(total, 4), "iter_s": round(total / max(iters, 1), 5),
               "checkpoints": len(self.calls), "in_checkpoint_calls_s": round(sum(self.calls), 4),
               "checkpoint_call_s_first": round(self.calls[0], 4) if self.calls else 0.0,
               "checkpoint_call_s_median": round(statistics.median(self.calls), 4)
               if self.calls else 0.0,
               "until_durable_s": round(self.durable, 4), "torch": torch.__version__}
        out.update(extra)
        if args.json:
            print(json.dumps(out))
        else:
            for k, v in out.items():
                print("%-26s %s" % (k, v))
        return out
