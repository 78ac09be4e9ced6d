"""`pccheck export` and `pccheck restore` on a store that a Checkpointer
wrote through pccheckd (still running): the safetensors file loaded by the
`safetensors` package when it is installed, else by a small reader written
here from the format's spec; the raw file and the restored directory read
through their JSON indexes. Everything must equal what was saved, bit for bit."""
import base64
import json
import os
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

import pccheck  # noqa: E402

PCCHECK = os.path.join(harness.BUILD, "daemon", "cli", "pccheck")
# safetensors dtype codes as the spec names them, and torch's names for them.
CODES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
         "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8",
         "BOOL": "bool"}


def _pccheck(*args):
    run = subprocess.run([PCCHECK] + [str(a) for a in args], capture_output=True, text=True)
    assert run.returncode == 0, "pccheck %s failed (%d):\n%s" % (args[0], run.returncode,
                                                                 run.stderr)
    return run.stdout


def _tensor(buf, dtype, shape):
    import torch
    dtype = getattr(torch, dtype)
    if not buf:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(buf), dtype=dtype).reshape(shape)


def _read_safetensors(path):
    """({name: tensor}, metadata): with the safetensors package if installed,
    else by the spec (8-byte little-endian header size, JSON header, data)."""
    try:
        from safetensors import safe_open
    except ImportError:
        with open(path, "rb") as f:
            blob = f.read()
        (n,) = struct.unpack("<Q", blob[:8])
        header = json.loads(blob[8:8 + n].decode("utf-8"))
        data = blob[8 + n:]
        metadata = header.pop("__metadata__", {})
        tensors = {}
        for name, e in header.items():
            begin, end = e["data_offsets"]
            tensors[name] = _tensor(data[begin:end], CODES[e["dtype"]], e["shape"])
        covered = sum(e["data_offsets"][1] - e["data_offsets"][0] for e in header.values())
        assert covered == len(data), "the data section has holes or extra bytes"
        return tensors, metadata
    with safe_open(path, framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()


def _saved_state(d):
    """A Checkpointer's save of step 3 through the running daemon d; returns
    the model's state dict as saved, and pccheck.read's view of the store."""
    import torch
    from pccheck.torch import Checkpointer
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    model = model.to(torch.float32)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    ckpt = Checkpointer(model, opt, job="exp", socket=d.socket, extra_state=lambda: "x")
    for _ in range(3):
        loss = model(torch.randn(5, 8)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    ckpt.save(3)
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    assert ckpt.wait()
    ckpt.close()
    return saved, pccheck.read(d.root, "exp")


def _check_same(got, want):
    import torch
    assert got.keys() == want.keys(), (sorted(got), sorted(want))
    for name in want:
        assert got[name].dtype == want[name].dtype, name
        assert torch.equal(got[name], want[name]), "tensor %s differs" % name


def test_export_safetensors_equals_saved():
    import torch
    from pccheck._state import split_name
    with harness.Daemon() as d, tempfile.TemporaryDirectory() as tmp:
        saved, (step, tensors, blob) = _saved_state(d)
        out = os.path.join(tmp, "exp.safetensors")
        _pccheck("export", "--root", d.root, "--job", "exp", "--format", "safetensors",
                 "--out", out)
        got, metadata = _read_safetensors(out)
        _check_same(got, tensors)
        model = {split_name(n)[1]: t for n, t in got.items() if split_name(n)[0] == "model"}
        assert model.keys() == saved.keys()
        for k in saved:
            assert torch.equal(model[k], saved[k]), "model tensor %s differs" % k
        assert metadata["step"] == str(step) == "3"
        assert metadata["job"] == "exp" and metadata["rank"] == "0"
        assert base64.b64decode(metadata["user_blob_base64"]) == blob


def test_export_raw_and_restore_equal_saved():
    with harness.Daemon() as d, tempfile.TemporaryDirectory() as tmp:
        _, (step, tensors, blob) = _saved_state(d)
        out = os.path.join(tmp, "exp.raw")
        _pccheck("export", "--root", d.root, "--job", "exp", "--step", step,
                 "--format", "raw", "--out", out)
        with open(out + ".json") as f:
            index = json.load(f)
        with open(out, "rb") as f:
            data = f.read()
        assert index["step"] == step and len(data) == index["data_bytes"]
        assert base64.b64decode(index["user_blob_base64"]) == blob
        _check_same({t["name"]: _tensor(data[t["offset"]:t["offset"] + t["bytes"]],
                                         t["dtype"], t["shape"]) for t in index["tensors"]},
                    tensors)

        restored = os.path.join(tmp, "restored")
        _pccheck("restore", "--root", d.root, "--job", "exp", "--out", restored)
        with open(os.path.join(restored, "index.json")) as f:
            index = json.load(f)
        assert index["step"] == step and index["job"] == "exp" and index["rank"] == 0
        got = {}
        for t in index["tensors"]:
            with open(os.path.join(restored, t["file"]), "rb") as f:
                got[t["name"]] = _tensor(f.read(), t["dtype"], t["shape"])
        _check_same(got, tensors)
        with open(os.path.join(restored, "user_blob.bin"), "rb") as f:
            assert f.read() == blob


if __name__ == "__main__":
    harness.main(globals())
