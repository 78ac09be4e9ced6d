"""Reading checkpoints without a daemon (read-only; libpccheck verifies every
chunk and never changes the store).

    state = pccheck.load("/var/lib/pccheck", "gpt2")      # newest committed
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])

    model.load_state_dict(pccheck.load_model_state(root, "gpt2", step=1000))
"""
import ctypes
from ctypes import POINTER, byref, c_char_p, c_int64, c_size_t, c_uint32, c_uint64, c_void_p

from . import _native, blob, dtypes
from ._state import split_name
from .errors import ECORRUPT, PccheckError, error_for

__all__ = ["default_root", "read", "load", "load_model_state"]


def default_root():
    """pccheckd's default store root for this user (its `root` setting, see
    docs/settings.md), as libpccheck derives it."""
    return _native.take_path("pccheck_default_root")


def _tensor(name, dtype, shape, data, nbytes):
    import torch
    t = torch.empty(shape, dtype=dtypes.to_torch(dtype))
    if t.numel() * t.element_size() != nbytes:
        raise PccheckError(ECORRUPT, "tensor %r: %d bytes for dtype %s and shape %s"
                           % (name, nbytes, dtype, list(shape)))
    if nbytes:
        ctypes.memmove(t.data_ptr(), data, nbytes)
    return t


def read(root, job, rank=0, step=None):
    """(step, {name: tensor}, user blob bytes) of checkpoint `step` (None: the
    newest committed that verifies) of job/rank under root. Tensors are torch
    tensors copied out of the checkpoint, in the recorded dtype and shape."""
    fn = _native.function
    handle = c_void_p()
    _native.call("pccheck_checkpoint_open", (root or default_root()).encode(), job.encode(),
                 rank, -1 if step is None else step, byref(handle))
    try:
        step = fn("pccheck_checkpoint_step")(handle)
        tensors = {}
        for i in range(fn("pccheck_checkpoint_tensor_count")(handle)):
            name, dtype, shape = c_char_p(), c_char_p(), POINTER(c_int64)()
            ndims, data, nbytes = c_uint32(), c_void_p(), c_uint64()
            code = fn("pccheck_checkpoint_tensor")(handle, i, byref(name), byref(dtype),
                                                   byref(shape), byref(ndims), byref(data),
                                                   byref(nbytes))
            if code:
                raise error_for(code, "cannot read tensor %d of step %d of %s/%d under %s"
                                % (i, step, job, rank, root))
            key = name.value.decode()
            dims = tuple(shape[j] for j in range(ndims.value))
            tensors[key] = _tensor(key, dtype.value.decode(), dims, data.value, nbytes.value)
        ptr, size = c_void_p(), c_size_t()
        fn("pccheck_checkpoint_blob")(handle, byref(ptr), byref(size))
        user_blob = ctypes.string_at(ptr.value, size.value) if size.value else b""
    finally:
        fn("pccheck_checkpoint_close")(handle)
    return step, tensors, user_blob


def load(root, job, rank=0, step=None):
    """A checkpoint written by pccheck.torch.Checkpointer as
    {"model": state_dict, "optimizer": optimizer state_dict, "step": step,
     "extra": what extra_state() returned}, ready for load_state_dict.
    root None: pccheckd's default root."""
    step, tensors, data = read(root, job, rank, step)
    state = blob.unpack(data)
    model, optim = {}, {}
    for name, t in tensors.items():
        where = split_name(name)
        if where[0] == "model":
            model[where[1]] = t
        else:
            optim.setdefault(where[1], {})[where[2]] = t
    for alias, target in state["aliases"].items():
        where = split_name(alias)
        if where[0] == "model":
            model[where[1]] = tensors[target]
        else:
            optim.setdefault(where[1], {})[where[2]] = tensors[target]
    model.update(state["model_extra"])
    for index, values in state["optim_extra"].items():
        optim.setdefault(index, {}).update(values)
    optimizer = {"state": dict(sorted(optim.items())), "param_groups": state["param_groups"]}
    return {"model": model, "optimizer": optimizer, "step": step, "extra": state["extra"]}


def load_model_state(root, job, rank=0, step=None):
    """Only the model's state dict of load()."""
    return load(root, job, rank, step)["model"]
