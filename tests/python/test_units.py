"""Unit tests of pccheck's Python parts that need no daemon: the dtype table,
the user blob, tensor names, error classes, the optimizer hook on this torch."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

import pccheck  # noqa: E402
from pccheck import blob, dtypes, errors  # noqa: E402


def test_dtype_table_both_ways():
    import torch
    for name in dtypes.TABLE:
        try:
            dtype = dtypes.to_torch(name)
        except ValueError:
            assert not hasattr(torch, name), name  # absent from this torch only
            continue
        assert dtypes.from_torch(dtype) == name
        assert torch.empty((), dtype=dtype).element_size() == dtypes.itemsize(name), name
    assert dtypes.from_torch(torch.float) == "float32"
    for bad in (lambda: dtypes.itemsize("float31"), lambda: dtypes.from_torch(torch.quint8)):
        try:
            bad()
        except ValueError:
            continue
        raise AssertionError("an unknown dtype was accepted")


def test_blob_round_trip_and_foreign_blob():
    state = {"step": 7, "extra": {"pos": [1, 2]}, "param_groups": [{"lr": 0.1, "params": [0]}]}
    assert blob.unpack(blob.pack(state)) == state
    try:
        blob.unpack(b"\x00not ours")
    except pccheck.CheckpointCorrupt as e:
        assert e.code == errors.ECORRUPT
    else:
        raise AssertionError("a foreign blob was unpacked")


def test_error_classes():
    assert isinstance(errors.error_for(errors.EUNAVAILABLE, "m"), pccheck.DaemonUnavailable)
    assert isinstance(errors.error_for(errors.EBUSY, "m"), pccheck.CheckpointBusy)
    assert isinstance(errors.error_for(errors.ENOTFOUND, "m"), pccheck.CheckpointNotFound)
    assert isinstance(errors.error_for(errors.ECORRUPT, "m"), pccheck.CheckpointCorrupt)
    assert isinstance(errors.error_for(errors.ETIMEOUT, "m"), TimeoutError)
    e = errors.error_for(errors.EIO, "disk on fire")
    assert type(e) is pccheck.PccheckError and e.code == errors.EIO and "disk on fire" in str(e)


def test_native_errptr_is_turned_into_an_exception():
    from pccheck import _native
    try:
        pccheck.Client("job", 0, "/nonexistent-dir/pccheckd.sock")
    except pccheck.DaemonUnavailable as e:
        assert "/nonexistent-dir/pccheckd.sock" in str(e)
    else:
        raise AssertionError("connected to a socket that does not exist")
    try:
        _native.function("pccheck_no_such_function")
    except pccheck.PccheckError as e:
        assert "pccheck_no_such_function" in str(e)
    else:
        raise AssertionError("a missing symbol was returned")


def test_names_aliases_and_optimizer_indices():
    import torch
    from pccheck._state import collect, split_name
    emb = torch.nn.Embedding(10, 4)
    head = torch.nn.Linear(4, 10, bias=False)
    head.weight = emb.weight
    model = torch.nn.ModuleDict({"emb": emb, "head": head, "norm": torch.nn.BatchNorm1d(4)})
    opt = torch.optim.AdamW([{"params": [emb.weight]}, {"params": model["norm"].parameters()}])
    model["norm"](emb(torch.tensor([1, 2]))).sum().backward()
    opt.step()
    c = collect(model, opt)
    names = [s.name for s in c.slots]
    assert c.aliases == {"model/head.weight": "model/emb.weight"}, c.aliases
    assert "model/norm.running_mean" in names and "model/norm.num_batches_tracked" in names
    roles = {s.name: s.role for s in c.slots}
    assert roles["model/norm.running_mean"] == "buffer" and roles["model/emb.weight"] == "param"
    optim = {n for n in names if n.startswith("optim/")}
    expected = {"optim/%d/%s" % (i, k) for i, s in opt.state_dict()["state"].items() for k in s}
    assert optim == expected, (optim, expected)
    assert split_name("optim/2/exp_avg") == ("optim", 2, "exp_avg")
    assert split_name("model/a.b") == ("model", "a.b")


def test_step_hook_runs_before_each_step_and_survives_lr_schedulers():
    import torch
    from pccheck.torch import _install_step_hook
    p = torch.nn.Parameter(torch.ones(2))
    opt = torch.optim.SGD([p], lr=0.1)
    seen = []
    _install_step_hook(opt, lambda: seen.append(p.detach().clone()))
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1)  # wraps step on torch < 2
    for _ in range(2):
        p.grad = torch.ones(2)
        opt.step()
        sched.step()
    assert len(seen) == 2 and torch.equal(seen[0], torch.ones(2)), seen
    assert not torch.equal(seen[1], torch.ones(2))  # taken before the second update


if __name__ == "__main__":
    harness.main(globals())
