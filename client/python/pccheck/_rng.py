"""The random number generators a resumed run needs to continue exactly:
torch (CPU, and CUDA when already initialized), Python's `random`, numpy's
global generator when numpy is importable."""
import random

import torch


def _bytes(t):
    return bytes(t.numpy())


def _tensor(b):
    return torch.frombuffer(bytearray(b), dtype=torch.uint8)


def get_state():
    state = {"torch": _bytes(torch.get_rng_state()), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [_bytes(s) for s in torch.cuda.get_rng_state_all()]
    try:
        import numpy
        state["numpy"] = numpy.random.get_state()
    except ImportError:
        pass
    return state


def set_state(state):
    if "torch" in state:
        torch.set_rng_state(_tensor(state["torch"]))
    if "python" in state:
        random.setstate(state["python"])
    cuda = state.get("cuda")
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([_tensor(b) for b in cuda])
    if "numpy" in state:
        try:
            import numpy
            numpy.random.set_state(state["numpy"])
        except ImportError:
            pass
