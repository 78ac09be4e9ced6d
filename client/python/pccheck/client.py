"""Client: one session with pccheckd for one job and rank, a thin Pythonic
layer over the C ABI (pccheck.h). No torch here; pccheck.torch builds on it.

Errors raise pccheck.PccheckError (or a subclass). Like the C handle it
wraps, a Client is used by one thread at a time.
"""
import ctypes
import json
from collections import namedtuple
from ctypes import (POINTER, byref, c_char_p, c_int, c_int32, c_int64, c_size_t, c_uint32,
                    c_uint64, c_void_p)

from . import _native
from .errors import EINVAL, PccheckError

# Save states returned by Client.poll (pccheck.h).
# COALESCED: a newer snapshot superseded it before its writing began (policy
# coalesce); it ended, was never written, and is not an error.
PENDING, SNAPSHOT_DONE, COMMITTED, FAILED, COALESCED = 0, 1, 2, 3, 4

# One tensor to register. data: its address (int); device: the CUDA device,
# -1 for host memory.
TensorSpec = namedtuple("TensorSpec", "name dtype shape data nbytes device")
TensorSpec.__new__.__defaults__ = (-1,)

# One committed checkpoint, as listed.
Entry = namedtuple("Entry", "step nbytes latest")


def _encode(s):
    return s.encode() if isinstance(s, str) else s


class Client:
    """A session with pccheckd. socket=None: the default socket path."""

    def __init__(self, job, rank=0, socket=None):
        self.job, self.rank, self.socket = job, rank, socket
        self._shared = []  # ctypes arrays over shared memory, for their lifetime
        handle = c_void_p()
        _native.call("pccheck_connect", _encode(socket), _encode(job), rank, byref(handle))
        self._handle = handle

    def _h(self):
        if self._handle is None:
            raise PccheckError(EINVAL, "this pccheck Client is closed")
        return self._handle

    def close(self):
        """Ends the session; saves already snapshotted still commit. Memory from
        alloc_shared is unmapped: tensors built on it must not be used after."""
        if self._handle is not None:
            _native.library().pccheck_close(self._handle)
            self._handle = None
            self._shared = []

    @property
    def closed(self):
        return self._handle is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def alloc_shared(self, nbytes):
        """nbytes of zeroed, page-aligned memory the daemon maps too, as a ctypes
        array (writable buffer; its address is ctypes.addressof(array)). Tensors
        registered on it are snapshotted with no copy. Valid until close()."""
        ptr = c_void_p()
        _native.call("pccheck_alloc_shared", self._h(), nbytes, byref(ptr))
        array = (ctypes.c_uint8 * nbytes).from_address(ptr.value)
        self._shared.append(array)
        return array

    def register(self, tensors, snapshot_gpu=False):
        """Declares the tensors (TensorSpec) every later save checkpoints,
        replacing the previous table."""
        tensors = list(tensors)
        n = len(tensors)
        shapes = [(c_int64 * len(t.shape))(*t.shape) for t in tensors]
        args = [
            self._h(), n,
            (c_char_p * n)(*[_encode(t.name) for t in tensors]),
            (c_char_p * n)(*[_encode(t.dtype) for t in tensors]),
            (POINTER(c_int64) * n)(*[ctypes.cast(s, POINTER(c_int64)) for s in shapes]),
            (c_uint32 * n)(*[len(t.shape) for t in tensors]),
            (c_void_p * n)(*[t.data or None for t in tensors]),
            (c_uint64 * n)(*[t.nbytes for t in tensors]),
        ]
        if snapshot_gpu or any(t.device >= 0 for t in tensors):
            devices = (c_int32 * n)(*[t.device for t in tensors])
            _native.call("pccheck_register_devices", *args, devices, 1 if snapshot_gpu else 0)
        else:
            _native.call("pccheck_register", *args)

    def save(self, step, blob=b"", stream=None):
        """Starts a checkpoint of the registered tensors at `step` with an opaque
        blob and returns its ticket at once. stream: a cudaStream_t (int) on
        which the state is final, for GPU tensors."""
        ticket = c_uint64()
        if stream is None:
            _native.call("pccheck_save", self._h(), step, blob, len(blob), byref(ticket))
        else:
            _native.call("pccheck_save_on_stream", self._h(), step, blob, len(blob),
                         c_void_p(stream or None), byref(ticket))
        return ticket.value

    def before_update(self, timeout_ms=-1, stream=None):
        """Host: returns once the daemon holds its copy of every save so far.
        stream (a cudaStream_t): makes that stream wait on the GPU instead."""
        if stream is None:
            _native.call("pccheck_before_update", self._h(), timeout_ms)
        else:
            _native.call("pccheck_before_update_stream", self._h(), c_void_p(stream or None),
                         timeout_ms)

    def wait(self, ticket, timeout_ms=-1):
        """Waits until save `ticket` ends, committed or coalesced (poll tells
        which); raises its error if it failed."""
        _native.call("pccheck_wait", self._h(), ticket, timeout_ms)

    def wait_all(self, timeout_ms=-1):
        """Waits for every save in flight; raises the first failure."""
        _native.call("pccheck_wait_all", self._h(), timeout_ms)

    def wait_durable(self, timeout_ms=-1):
        """Waits until the newest save requested so far is durable
        (committed); raises if it did not become durable."""
        _native.call("pccheck_wait_durable", self._h(), timeout_ms)

    def progress(self):
        """(newest step whose snapshot is complete, in the daemon's memory or
        on disk; newest durable step), each None when there is none."""
        hs, s, hd, d = c_int(), c_uint64(), c_int(), c_uint64()
        _native.call("pccheck_progress", self._h(), byref(hs), byref(s), byref(hd), byref(d))
        return (s.value if hs.value else None, d.value if hd.value else None)

    def newest_snapshot_step(self):
        """The newest step whose snapshot is complete (memory or disk), or None."""
        return self.progress()[0]

    def newest_durable_step(self):
        """The newest committed step, or None."""
        return self.progress()[1]

    def poll(self, ticket):
        """PENDING, SNAPSHOT_DONE, COMMITTED, COALESCED or FAILED, without waiting."""
        state = c_int()
        _native.call("pccheck_poll", self._h(), ticket, byref(state))
        return state.value

    def latest_step(self):
        """The newest committed step, or None."""
        has, step = c_int(), c_uint64()
        _native.call("pccheck_latest_step", self._h(), byref(has), byref(step))
        return step.value if has.value else None

    def list(self):
        """The committed checkpoints of this job and rank, as Entry tuples."""
        n = c_size_t()
        steps, sizes, latest = POINTER(c_uint64)(), POINTER(c_uint64)(), POINTER(c_int)()
        _native.call("pccheck_list", self._h(), byref(n), byref(steps), byref(sizes),
                     byref(latest))
        try:
            return [Entry(steps[i], sizes[i], bool(latest[i])) for i in range(n.value)]
        finally:
            free = _native.library().pccheck_free
            for p in (steps, sizes, latest):
                free(ctypes.cast(p, c_void_p))

    def restore(self, step=None):
        """Restores `step` (None: the newest committed that verifies) into the
        registered tensors; returns (step, blob)."""
        restored, blob, blob_len = c_uint64(), c_void_p(), c_size_t()
        _native.call("pccheck_restore", self._h(), -1 if step is None else step,
                     byref(restored), byref(blob), byref(blob_len))
        return restored.value, _native.take_bytes(blob.value, blob_len.value)


def default_socket():
    """The socket a Client connects to when given none: $PCCHECK_SOCKET, else
    pccheckd's default for this user (its `socket` setting), as libpccheck
    derives it."""
    return _native.take_path("pccheck_default_socket_path")


def connect(job, rank=0, socket=None):
    """A new Client (same as Client(job, rank, socket))."""
    return Client(job, rank, socket)


def status(socket=None):
    """The daemon's status document, parsed from JSON."""
    doc = c_void_p()
    _native.call("pccheck_status_json", _encode(socket), byref(doc))
    return json.loads(_native.take_string(doc.value))
