"""Which tensors of a model and an optimizer a checkpoint holds, under which
names, and how to put a new tensor in each one's place.

Names: "model/<state_dict key>" and "optim/<param index>/<state key>", the
param index being the one optimizer.state_dict() uses. A tensor that is the
same memory as an earlier one (tied weights) is stored once and recorded as
an alias of it.
"""
from collections import namedtuple

import torch

# tensor: the live tensor. role: "param", "buffer" or "optim". rebind: a
# function that puts a new tensor of the same shape and dtype in its place.
Slot = namedtuple("Slot", "name tensor role rebind")


def optimizer_params(optimizer):
    """(index, param) in optimizer.state_dict()'s numbering, first occurrence only."""
    out, seen, start = [], set(), 0
    for group in optimizer.param_groups:
        for i, p in enumerate(group["params"], start):
            if id(p) not in seen:
                seen.add(id(p))
                out.append((i, p))
        start += len(group["params"])
    return out


def _set_data(t):
    def rebind(new):
        t.data = new
    return rebind


def _set_item(d, k):
    def rebind(new):
        d[k] = new
    return rebind


def _identity(t):
    if t.numel() == 0:
        return None
    return (t.data_ptr(), t.dtype, tuple(t.shape), tuple(t.stride()), str(t.device))


class Collected:
    """slots: the tensors to store. aliases: {name: name of the slot holding
    the same memory}. model_extra: non-tensor entries of the model's state
    dict. optim_extra: {param index: {key: value}} non-tensor optimizer state."""

    def __init__(self):
        self.slots, self.aliases, self.model_extra, self.optim_extra = [], {}, {}, {}
        self._seen = {}

    def add(self, slot):
        ident = _identity(slot.tensor)
        if ident is not None and ident in self._seen:
            self.aliases[slot.name] = self._seen[ident]
            return
        if ident is not None:
            self._seen[ident] = slot.name
        self.slots.append(slot)

    def signature(self):
        """Changes whenever a tensor is added, removed, reshaped or moved."""
        return tuple((s.name, tuple(s.tensor.shape), s.tensor.dtype, s.tensor.data_ptr(),
                      str(s.tensor.device)) for s in self.slots) + tuple(sorted(self.aliases))


def collect(model, optimizer):
    """The tensors of model.state_dict() and of the optimizer's state."""
    c = Collected()
    if model is not None:
        params = {id(p) for p in model.parameters()}
        for key, t in model.state_dict(keep_vars=True).items():
            if not isinstance(t, torch.Tensor):
                c.model_extra[key] = t
                continue
            role = "param" if id(t) in params else "buffer"
            c.add(Slot("model/" + key, t, role, _set_data(t)))
    if optimizer is not None:
        for index, p in optimizer_params(optimizer):
            state = optimizer.state.get(p)
            for key, v in (state or {}).items():
                if isinstance(v, torch.Tensor):
                    c.add(Slot("optim/%d/%s" % (index, key), v, "optim", _set_item(state, key)))
                else:
                    c.optim_extra.setdefault(index, {})[key] = v
    return c


def split_name(name):
    """("model", key) or ("optim", index, key) for a stored tensor name."""
    head, _, rest = name.partition("/")
    if head == "model":
        return ("model", rest)
    if head == "optim":
        index, _, key = rest.partition("/")
        return ("optim", int(index), key)
    raise ValueError("tensor name %r is neither model/... nor optim/..." % name)
