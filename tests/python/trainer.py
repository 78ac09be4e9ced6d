"""A small, seeded, deterministic training run checkpointed with pccheck,
run as a child process by the Python tests.

It prints, one a line: "RESTORED <step>" after a resume, "SAVED <step>",
"COMMITTED <step>" once that checkpoint is durable, "FAILED <step> <why>", and
"COALESCED <step>" when a newer snapshot superseded it before it was written,
and "DONE" at the end. With --hold-after S it stops at the first step after a
checkpoint of step S or later committed (S itself may be coalesced) and blocks
until killed; --out writes the final model and optimizer state with torch.save.

The model has what makes restoring hard: dropout (the RNG state must come
back), BatchNorm buffers, a weight tied between two layers, AdamW's lazily
created state, an LR scheduler whose state travels in extra_state, and the
data position, which also travels in extra_state.
"""
import argparse
import contextlib
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "client", "python"))
import pccheck  # noqa: E402
from pccheck.torch import Checkpointer  # noqa: E402

VOCAB, WIDTH, BATCH = 64, 32, 16


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, WIDTH)
        self.hidden = nn.Linear(WIDTH, WIDTH)
        self.norm = nn.BatchNorm1d(WIDTH)
        self.drop = nn.Dropout(0.1)
        self.out = nn.Linear(WIDTH, VOCAB, bias=False)
        self.out.weight = self.embed.weight  # tied

    def forward(self, tokens):
        h = self.drop(torch.relu(self.norm(self.hidden(self.embed(tokens)))))
        return self.out(h)


class Data:
    """Batch i is a function of (seed, i): the position is all a resume needs."""

    def __init__(self, seed, device):
        self.seed, self.device, self.pos = seed, device, 0

    def next(self):
        g = torch.Generator().manual_seed(self.seed * 100003 + self.pos)
        self.pos += 1
        x = torch.randint(0, VOCAB, (BATCH,), generator=g)
        return x.to(self.device), ((x * 7 + 3) % VOCAB).to(self.device)


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("--socket")
    p.add_argument("--job", default="trainer")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--every", type=int, default=4)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--amp", action="store_true", help="bf16 autocast")
    p.add_argument("--snapshot", default="direct")
    p.add_argument("--no-ckpt", action="store_true")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--hold-after", type=int)
    p.add_argument("--out")
    return p.parse_args()


def main():
    a = parse()
    torch.set_num_threads(1)
    if a.device.startswith("cuda"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.deterministic = True
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(a.seed)
    model = TinyLM().to(a.device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1.0 + 0.05 * s))
    data = Data(a.seed, a.device)
    ckpt = None
    if not a.no_ckpt:
        ckpt = Checkpointer(model, opt, job=a.job, socket=a.socket, snapshot=a.snapshot,
                            extra_state=lambda: {"pos": data.pos, "sched": sched.state_dict()})
    start = 0
    if a.resume:
        step, extra = ckpt.restore()
        if step is None:
            sys.exit("nothing to resume from")
        data.pos = extra["pos"]
        sched.load_state_dict(extra["sched"])
        start = step
        print("RESTORED %d" % step, flush=True)
    tickets = {}
    hold = False
    for step in range(start + 1, a.steps + 1):
        x, y = data.next()
        amp = (torch.autocast(device_type="cuda", dtype=torch.bfloat16) if a.amp
               else contextlib.nullcontext())
        with amp:
            loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if ckpt is not None and step % a.every == 0:
            tickets[step] = ckpt.save(step)
            print("SAVED %d" % step, flush=True)
        for s, t in sorted(tickets.items()):
            state = ckpt.poll(t)
            if state == pccheck.COMMITTED:
                print("COMMITTED %d" % s, flush=True)
                del tickets[s]
                hold = hold or (a.hold_after is not None and s >= a.hold_after)
            elif state == pccheck.COALESCED:
                print("COALESCED %d" % s, flush=True)
                del tickets[s]
            elif state == pccheck.FAILED:
                print("FAILED %d" % s, flush=True)
                del tickets[s]
        if hold:
            print("HOLDING at step %d" % step, flush=True)
            sys.stdin.read()  # until killed
    if ckpt is not None:
        ckpt.wait()
        for s, t in sorted(tickets.items()):
            state = ckpt.poll(t)
            word = {pccheck.COMMITTED: "COMMITTED", pccheck.COALESCED: "COALESCED"}
            print("%s %d" % (word.get(state, "FAILED"), s), flush=True)
        if a.hold_after is not None:
            print("HOLDING at the end", flush=True)
            sys.stdin.read()
    if a.out:
        torch.save({"model": {k: v.cpu() for k, v in model.state_dict().items()},
                    "optim": opt.state_dict()}, a.out)
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
