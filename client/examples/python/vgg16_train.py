#!/usr/bin/env python3
"""torchvision's VGG16 trained on synthetic images, with pccheck checkpoints;
like gpt2_train.py, the same script benchmarks --method none|pccheck|
torch.save|dcp-thread|dcp-process (see baselines.py).

    python3 vgg16_train.py --iters 5                # CPU: 138M parameters, slow-ish
    python3 vgg16_train.py --image 224 --batch 32 --iters 100 --every 10 --json

Checkpointing with pccheck takes three lines (marked "pccheck:" below).
"""
import argparse

import torch
import torchvision
from torch.nn import functional as F

import baselines
from pccheck.torch import Checkpointer


class Images:
    """Synthetic labelled images: batch i depends only on (seed, i)."""

    def __init__(self, seed, batch, image, classes, device):
        self.seed, self.batch, self.image, self.classes = seed, batch, image, classes
        self.device, self.pos = device, 0

    def next(self):
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.pos)
        self.pos += 1
        x = torch.randn(self.batch, 3, self.image, self.image, generator=g)
        y = torch.randint(0, self.classes, (self.batch,), generator=g)
        return x.to(self.device), y.to(self.device)


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--image", type=int, default=32, help="image side in pixels (>= 32)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--lr", type=float, default=1e-4)
    baselines.add_arguments(p)
    args = p.parse_args()
    args.job = args.job or "vgg16"
    return args


def main():
    args = parse()
    torch.manual_seed(args.seed)
    model = torchvision.models.vgg16(num_classes=args.classes).to(args.device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr)
    data = Images(args.seed, args.batch, args.image, args.classes, args.device)
    cuda = str(args.device).startswith("cuda")

    ckpt, start = None, 0
    if args.method == "pccheck":
        # pccheck: one Checkpointer for the model, the optimizer and the data position.
        ckpt = Checkpointer(model, opt, job=args.job, socket=args.socket,
                            snapshot=args.snapshot, extra_state=lambda: {"pos": data.pos})
        if args.resume:
            step, extra = ckpt.restore()  # pccheck: the newest committed checkpoint
            if step is not None:
                start, data.pos = step, extra["pos"]
                print("resumed from step %d" % step)
    baseline = baselines.baseline(args, model, opt)

    def train_step():
        x, y = data.next()
        with baselines.autocast(cuda):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    for _ in range(args.warmup):  # untimed, no checkpoints
        train_step()
        start += 1
    timer = baselines.Timer(args.device)
    durability = baselines.Durability(ckpt, args.every) if ckpt is not None else None
    timer.begin()
    for step in range(start + 1, start + args.iters + 1):
        loss = train_step()
        if step % args.every == 0:
            if ckpt is not None:
                ticket = timer.checkpoint(ckpt.save, step)  # pccheck: returns at once
                durability.saved(step, ticket)
            elif baseline is not None:
                timer.checkpoint(baseline.save, step)
    timer.stop()
    if ckpt is not None:
        timer.until_durable(ckpt.wait_durable)
        ckpt.wait()
    elif baseline is not None:
        timer.until_durable(baseline.finish)
    timer.report(args, args.iters, **(durability.report() if durability else {}),
                 params=sum(p.numel() for p in model.parameters()),
                 state_bytes=baselines.state_bytes(model, opt), final_loss=round(loss.item(), 4),
                 last_step=start + args.iters, device=str(args.device))


if __name__ == "__main__":
    main()
