"""The user blob pccheck.torch stores with each checkpoint: everything that
is not a registered tensor (optimizer hyperparameters, non-tensor state, RNG
states, the trainer's extra state), pickled behind a short header.

Unpickling runs code named in the blob: load checkpoints only from a store
you trust, as with torch.load(weights_only=False).
"""
import pickle

from .errors import ECORRUPT, error_for

MAGIC = b"PCCKPY\x00\x01"  # name, then format version 1


def pack(state):
    """bytes holding the dict `state`."""
    return MAGIC + pickle.dumps(state, protocol=4)


def unpack(blob):
    """The dict packed in `blob`; CheckpointCorrupt when it is not a pccheck.torch blob."""
    if not blob.startswith(MAGIC):
        raise error_for(ECORRUPT, "the checkpoint's user blob was not written by "
                        "pccheck.torch (%d bytes, starting %r)" % (len(blob), blob[:8]))
    return pickle.loads(blob[len(MAGIC):])
