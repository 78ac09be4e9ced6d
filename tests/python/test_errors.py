"""pccheck.torch when things go wrong: no daemon, a daemon killed during
training, tensors that change between saves; and pccheck.load reading back
exactly what was saved."""
import os
import sys
import tempfile
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

import pccheck  # noqa: E402


def _setup(seed=0):
    import torch
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    return model, opt


def _train_step(model, opt):
    import torch
    loss = model(torch.randn(5, 8)).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()


def test_no_daemon_raises_naming_the_socket():
    from pccheck.torch import Checkpointer
    with tempfile.TemporaryDirectory() as tmp:
        socket = os.path.join(tmp, "nobody.sock")
        model, opt = _setup()
        try:
            Checkpointer(model, opt, job="j", socket=socket)
        except pccheck.DaemonUnavailable as e:
            assert isinstance(e, pccheck.PccheckError)
            assert e.code == 8, e.code
            assert socket in str(e) and "pccheckd" in str(e), str(e)
        else:
            raise AssertionError("Checkpointer connected to a socket nobody listens on")


def test_no_daemon_with_warn_trains_on():
    from pccheck.torch import Checkpointer
    with tempfile.TemporaryDirectory() as tmp:
        model, opt = _setup()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ckpt = Checkpointer(model, opt, job="j", socket=os.path.join(tmp, "x.sock"),
                                on_error="warn")
            _train_step(model, opt)
            assert ckpt.save(1) is None
        assert any("x.sock" in str(w.message) for w in caught), [str(w.message) for w in caught]


def test_daemon_killed_during_training_with_warn():
    import torch
    from pccheck.torch import Checkpointer
    with harness.Daemon() as d:
        model, opt = _setup()
        ckpt = Checkpointer(model, opt, job="warn", socket=d.socket, on_error="warn")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for step in range(1, 31):
                _train_step(model, opt)
                if step == 10:
                    assert ckpt.wait(), "checkpoints before the kill did not commit"
                    d.kill()
                if step % 2 == 0:
                    ckpt.save(step)
        assert caught, "no warning after the daemon died"
        d.start()  # same root and socket
        _train_step(model, opt)
        ticket = ckpt.save(100)
        assert ticket is not None, "the save after the daemon restarted failed"
        assert ckpt.wait(), "the save after the daemon restarted did not commit"
        assert ckpt.latest_step() == 100
        saved = {k: v.clone() for k, v in model.state_dict().items()}
        _train_step(model, opt)
        assert ckpt.restore() == (100, None)
        for k, v in model.state_dict().items():
            assert torch.equal(v, saved[k]), "%s differs after the daemon restarted" % k
        ckpt.close()


def test_shape_change_between_saves():
    import torch
    from pccheck.torch import Checkpointer
    with harness.Daemon() as d:
        model, opt = _setup()
        model.register_buffer("history", torch.arange(3.0))
        ckpt = Checkpointer(model, opt, job="shape", socket=d.socket)
        _train_step(model, opt)
        ckpt.save(1)  # optimizer state now exists: registered again
        model.history = torch.arange(5.0)  # a new shape
        _train_step(model, opt)
        ckpt.save(2)
        assert ckpt.wait()
        expected = {k: v.clone() for k, v in model.state_dict().items()}
        _train_step(model, opt)
        step, _ = ckpt.restore()
        assert step == 2
        for k, v in model.state_dict().items():
            assert torch.equal(v, expected[k]), k
        try:
            ckpt.restore(step=1)  # its history buffer has 3 elements, the live one 5
        except pccheck.PccheckError as e:
            assert "history" in str(e), str(e)
        else:
            raise AssertionError("restoring a checkpoint of another shape succeeded")
        ckpt.close()


def test_load_equals_saved():
    from pccheck.torch import Checkpointer
    with harness.Daemon() as d:
        model, opt = _setup()
        ckpt = Checkpointer(model, opt, job="load", socket=d.socket, extra_state=lambda: "x")
        for step in range(1, 4):
            _train_step(model, opt)
        ckpt.save(3)
        saved_model = {k: v.clone() for k, v in model.state_dict().items()}
        saved_opt = opt.state_dict()
        saved_opt = {"state": {i: {k: v.clone() for k, v in s.items()}
                               for i, s in saved_opt["state"].items()},
                     "param_groups": saved_opt["param_groups"]}
        _train_step(model, opt)
        assert ckpt.wait()
        ckpt.close()
        state = pccheck.load(d.root, "load")
        assert state["step"] == 3 and state["extra"] == "x"
        harness.assert_same_state({"model": state["model"], "optim": state["optimizer"]},
                                  {"model": saved_model, "optim": saved_opt})
        fresh, fresh_opt = _setup(seed=5)
        fresh.load_state_dict(pccheck.load_model_state(d.root, "load"))
        fresh_opt.load_state_dict(state["optimizer"])


if __name__ == "__main__":
    harness.main(globals())
