"""A trainer SIGKILLed after a checkpoint committed, resumed by a new process,
ends bit for bit where a run that was never interrupted ends."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def resume_matches_uninterrupted(*train_args, steps=40, every=4, kill_after=12):
    import torch
    with harness.Daemon() as d, tempfile.TemporaryDirectory() as tmp:
        common = ["--steps", steps, "--every", every, "--socket", d.socket] + list(train_args)
        first = harness.Trainer(*common, "--hold-after", kill_after)
        first.wait_for("HOLDING")  # a checkpoint of step kill_after or later is durable
        first.kill()
        d.wait_idle()  # what the dead trainer's snapshots still commit, commits now
        resumed = os.path.join(tmp, "resumed.pt")
        out = harness.run(*common, "--resume", "--out", resumed)
        restored = int(next(l for l in out.splitlines() if l.startswith("RESTORED")).split()[1])
        assert kill_after <= restored < steps, "restored step %d" % restored
        reference = os.path.join(tmp, "reference.pt")
        harness.run(*common, "--no-ckpt", "--out", reference)
        harness.assert_same_state(torch.load(resumed, map_location="cpu"),
                                  torch.load(reference, map_location="cpu"))


def test_resume_after_sigkill_is_bit_exact():
    resume_matches_uninterrupted()


if __name__ == "__main__":
    harness.main(globals())
