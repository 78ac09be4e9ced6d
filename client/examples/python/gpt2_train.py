#!/usr/bin/env python3
"""A GPT-2-style decoder-only transformer trained on synthetic tokens, with
pccheck checkpoints. The same script is the benchmark against torch.save and
torch.distributed.checkpoint (see baselines.py):

    python3 gpt2_train.py                                   # tiny, CPU, seconds
    python3 gpt2_train.py --resume                          # continue from pccheck
    python3 gpt2_train.py --preset gpt2-medium --iters 100 --every 10 --json
    python3 gpt2_train.py --preset gpt2-medium --method dcp-thread --json

Checkpointing with pccheck takes three lines (marked "pccheck:" below).
"""
import argparse
import math

import torch
from torch import nn
from torch.nn import functional as F

import baselines
from pccheck.torch import Checkpointer

PRESETS = {
    "gpt2-small": dict(layers=12, d_model=768, heads=12, vocab=50257, seq=1024, batch=8),
    "gpt2-medium": dict(layers=24, d_model=1024, heads=16, vocab=50257, seq=1024, batch=8),
}


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def attend(self, x):
        b, t, d = x.shape
        q, k, v = (y.view(b, t, self.heads, d // self.heads).transpose(1, 2)
                   for y in self.qkv(x).split(d, dim=2))
        if hasattr(F, "scaled_dot_product_attention"):
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # torch < 2.0
            att = (q @ k.transpose(-2, -1)) / math.sqrt(k.shape[-1])
            mask = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
            y = att.masked_fill(~mask, float("-inf")).softmax(dim=-1) @ v
        return self.proj(y.transpose(1, 2).reshape(b, t, d))

    def forward(self, x):
        x = x + self.attend(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, layers, d_model, heads, vocab, seq):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d_model), nn.Embedding(seq, d_model)
        self.blocks = nn.ModuleList(Block(d_model, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab, bias=False)
        self.head.weight = self.wte.weight  # tied, as in GPT-2
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)

    def forward(self, tokens):
        pos = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.wte(tokens) + self.wpe(pos)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


class Tokens:
    """Synthetic batches: batch i depends only on (seed, i), so the position
    is all that a resumed run needs to see the same data."""

    def __init__(self, seed, vocab, seq, batch, device):
        self.seed, self.shape, self.vocab, self.device = seed, (batch, seq + 1), vocab, device
        self.pos = 0

    def next(self):
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.pos)
        self.pos += 1
        t = torch.randint(0, self.vocab, self.shape, generator=g).to(self.device)
        return t[:, :-1], t[:, 1:]


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", choices=sorted(PRESETS))
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--vocab", type=int, default=256)
    p.add_argument("--seq", type=int, default=32)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--lr", type=float, default=3e-4)
    baselines.add_arguments(p)
    args = p.parse_args()
    for k, v in PRESETS.get(args.preset, {}).items():
        setattr(args, k, v)
    args.job = args.job or "gpt2"
    return args


def main():
    args = parse()
    torch.manual_seed(args.seed)
    model = GPT(args.layers, args.d_model, args.heads, args.vocab, args.seq).to(args.device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.1)
    data = Tokens(args.seed, args.vocab, args.seq, args.batch, args.device)
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
            loss = F.cross_entropy(model(x).flatten(0, 1).float(), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    for _ in range(args.warmup):  # untimed, no checkpoints (kernels, allocator, lazy state)
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
    params = sum(p.numel() for p in model.parameters())
    timer.report(args, args.iters, **(durability.report() if durability else {}),
                 params=params, state_bytes=baselines.state_bytes(model, opt),
                 final_loss=round(loss.item(), 4), last_step=start + args.iters,
                 device=str(args.device))


if __name__ == "__main__":
    main()
