"""pccheck: checkpoint training state through pccheckd, the per-node
checkpoint daemon.

    from pccheck.torch import Checkpointer     # the PyTorch integration
    pccheck.Client(job, rank, socket)           # the C ABI, thinly wrapped
    pccheck.load(root, job)                     # read a checkpoint offline

Importing pccheck needs neither torch nor libpccheck; both are loaded when
first used.
"""
from .client import (COALESCED, COMMITTED, FAILED, PENDING, SNAPSHOT_DONE, Client, Entry,
                     TensorSpec, connect, default_socket, status)
from .errors import (CheckpointBusy, CheckpointCorrupt, CheckpointNotFound, CheckpointTimeout,
                     DaemonUnavailable, PccheckError)

__all__ = [
    "Checkpointer", "Client", "Entry", "TensorSpec", "connect", "default_socket", "status", "load",
    "load_model_state", "read", "version",
    "PccheckError", "DaemonUnavailable", "CheckpointBusy", "CheckpointNotFound",
    "CheckpointCorrupt", "CheckpointTimeout",
    "PENDING", "SNAPSHOT_DONE", "COMMITTED", "FAILED", "COALESCED",
]

def version():
    """libpccheck's version (the loader refuses one other than __version__)."""
    from . import _native
    return _native.version()


def __getattr__(name):  # the names that need torch, imported on first use
    if name == "__version__":  # the project's, from meson.build (_version.py)
        from . import _version
        return _version.version()
    if name == "Checkpointer":
        from .torch import Checkpointer
        return Checkpointer
    if name in ("load", "load_model_state", "read"):
        from . import offline
        return getattr(offline, name)
    raise AttributeError("module 'pccheck' has no attribute %r" % name)
