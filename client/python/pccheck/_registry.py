"""Keeps libpccheck's tensor table in step with a model's and an optimizer's
live tensors, and decides where each tensor is snapshotted from.

Where a tensor is stored from:
  - zero-copy: host parameters and optimizer state (when only host tensors
    are checkpointed) are moved into shared memory from pccheck_alloc_shared
    and rebound there, so the daemon snapshots them with no copy in the
    trainer; the optimizer step pre-hook orders the next update after it;
  - in place: CUDA tensors (the daemon copies them through CUDA IPC), and
    host tensors that cannot be moved (views into a larger storage, host
    tensors next to CUDA ones), which libpccheck copies at each save;
  - mirror: a contiguous copy made at each save, for non-contiguous tensors
    and for CUDA buffers, which the forward pass changes before the next
    optimizer step.
"""
import ctypes

import torch

from . import dtypes
from .client import TensorSpec
from .errors import PccheckError

_ALIGN = 64


def _nbytes(t):
    return t.numel() * t.element_size()


def _storage_nbytes(t):
    if hasattr(t, "untyped_storage"):
        return t.untyped_storage().nbytes()
    return t.storage().nbytes()


def _owns_storage(t):
    return t.storage_offset() == 0 and _storage_nbytes(t) == _nbytes(t)


def _movable(slot):
    t = slot.tensor
    return (slot.role != "buffer" and t.device.type == "cpu" and t.layout == torch.strided and
            t.is_contiguous() and t.numel() > 0 and _owns_storage(t))


class Registry:
    def __init__(self, snapshot_gpu=False):
        self.snapshot_gpu = snapshot_gpu
        self.signature = None
        self.names = []     # registered tensor names, in order
        self.cuda = False   # whether any registered tensor is on a GPU
        self.mirrors = {}   # name: (live tensor, mirror)
        self._arenas = []   # (start, end) of our shared memory

    def reset(self):
        """Forgets the registration (a new client): the next sync registers."""
        self.signature = None

    def in_shared(self, t):
        p = t.data_ptr()
        return t.device.type == "cpu" and any(a <= p < b for a, b in self._arenas)

    def sync(self, client, collect):
        """Registers the tensors `collect()` finds if they changed since the
        last sync; returns the final Collected."""
        c = collect()
        if c.signature() == self.signature:
            return c
        cuda = any(s.tensor.is_cuda for s in c.slots)
        if self.snapshot_gpu and not cuda:
            raise ValueError('snapshot="gpu" needs CUDA tensors; this model and optimizer '
                             'hold none (use snapshot="direct")')
        if not cuda:
            movable = [s for s in c.slots if _movable(s) and not self.in_shared(s.tensor)]
            if movable and self._move_to_shared(client, movable):
                c = collect()
        specs, mirrors = [], {}
        for s in c.slots:
            src = self._mirror_for(s, mirrors)
            specs.append(TensorSpec(s.name, dtypes.from_torch(s.tensor.dtype),
                                    tuple(s.tensor.shape), src.data_ptr() if src.numel() else 0,
                                    _nbytes(src), src.device.index if src.is_cuda else -1))
        client.register(specs, snapshot_gpu=self.snapshot_gpu and cuda)
        self.names = [s.name for s in c.slots]
        self.cuda, self.mirrors, self.signature = cuda, mirrors, c.signature()
        return c

    def _move_to_shared(self, client, slots):
        offsets, total = [], 0
        for s in slots:
            total = (total + _ALIGN - 1) // _ALIGN * _ALIGN
            offsets.append(total)
            total += _nbytes(s.tensor)
        try:
            buf = client.alloc_shared(total)
        except PccheckError:
            return False  # registered in place instead: libpccheck copies them at each save
        base = ctypes.addressof(buf)
        with torch.no_grad():
            for s, off in zip(slots, offsets):
                t = s.tensor
                view = torch.frombuffer(buf, dtype=t.dtype, count=t.numel(), offset=off)
                view = view.view(t.shape)
                view.copy_(t)
                s.rebind(view)
        self._arenas.append((base, base + total))
        return True

    def _mirror_for(self, slot, mirrors):
        t = slot.tensor
        if t.is_contiguous() and not (slot.role == "buffer" and t.is_cuda):
            return t
        old = self.mirrors.get(slot.name)
        m = old[1] if old else None
        if m is None or m.shape != t.shape or m.dtype != t.dtype or m.device != t.device:
            m = torch.empty(t.shape, dtype=t.dtype, device=t.device)
        mirrors[slot.name] = (t, m)
        return m

    def fill_mirrors(self):
        """Copies the live tensors into their mirrors (before a save)."""
        with torch.no_grad():
            for live, m in self.mirrors.values():
                m.copy_(live)

    def drain_mirrors(self):
        """Copies restored mirrors back into the live tensors."""
        with torch.no_grad():
            for live, m in self.mirrors.values():
                live.copy_(m)

    def unbind(self, collected):
        """Moves tensors out of shared memory (before the client closes and
        unmaps it)."""
        with torch.no_grad():
            for s in collected.slots:
                if self.in_shared(s.tensor):
                    s.rebind(s.tensor.clone())
        self._arenas = []
        self.signature = None
