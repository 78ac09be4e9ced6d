"""restore(group=True): the ranks of a torch.distributed job agree on the
newest step every rank has committed, and all restore it. Two CPU ranks
(gloo) on one daemon; rank 0 has committed one step more than rank 1.

Run with --rank R --world N --init URL --socket PATH, this file is one rank.
"""
import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def test_group_restore_picks_the_newest_step_every_rank_committed():
    with harness.Daemon() as d, tempfile.TemporaryDirectory() as tmp:
        init = "file://" + os.path.join(tmp, "rendezvous")
        ranks = [harness.Trainer.script(__file__, "--rank", r, "--world", 2, "--init", init,
                                        "--socket", d.socket) for r in range(2)]
        outputs = [r.finish() for r in ranks]
        for rank, out in enumerate(outputs):
            assert "RESTORED 4 OK" in out, "rank %d:\n%s" % (rank, out)


def rank_main():
    p = argparse.ArgumentParser()
    for flag in ("--rank", "--world"):
        p.add_argument(flag, type=int)
    p.add_argument("--init")
    p.add_argument("--socket")
    a = p.parse_args()
    import torch
    import torch.distributed as dist
    from pccheck.torch import Checkpointer
    dist.init_process_group("gloo", init_method=a.init, rank=a.rank, world_size=a.world)
    torch.manual_seed(a.rank)
    model = torch.nn.Linear(4, 4)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    ckpt = Checkpointer(model, opt, job="dist", socket=a.socket)
    assert ckpt.rank == a.rank
    saved = {}
    last = 6 if a.rank == 0 else 4
    for step in range(1, 8):
        model(torch.randn(2, 4)).sum().backward()
        opt.step()
        opt.zero_grad()
        if step % 2 == 0 and step <= last:
            ckpt.save(step)
            saved[step] = [t.detach().clone() for t in model.parameters()]
            # Durable before the next save: under the default policy a step
            # superseded while it waits in memory is coalesced, and which
            # steps are depends on the disk's pace, per rank.
            assert ckpt.wait()
    dist.barrier()  # every rank's checkpoints are committed
    step, _ = ckpt.restore(group=True)
    same = all(torch.equal(a, b) for a, b in zip(model.parameters(), saved[step]))
    print("RESTORED %d %s" % (step, "OK" if same else "DIFFERENT"), flush=True)
    ckpt.close()
    dist.destroy_process_group()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        rank_main()
    else:
        harness.main(globals())
