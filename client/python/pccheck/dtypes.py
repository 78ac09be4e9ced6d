"""Dtype names as stored in checkpoints ("float32", "bfloat16", ...) and the
torch dtypes they stand for, in one table read both ways.

A name is also the attribute of torch that holds the dtype (torch.bfloat16).
torch is imported only when a torch dtype is asked for, so the table is usable
without it.
"""

# name in the checkpoint: bytes per element
TABLE = {
    "float64": 8, "float32": 4, "float16": 2, "bfloat16": 2,
    "float8_e4m3fn": 1, "float8_e5m2": 1,
    "complex128": 16, "complex64": 8,
    "int64": 8, "int32": 4, "int16": 2, "int8": 1,
    "uint64": 8, "uint32": 4, "uint16": 2, "uint8": 1,
    "bool": 1,
}


def itemsize(name):
    """Bytes per element of dtype `name`; ValueError for an unknown name."""
    if name not in TABLE:
        raise ValueError("unknown dtype %r (known: %s)" % (name, ", ".join(sorted(TABLE))))
    return TABLE[name]


def to_torch(name):
    """The torch dtype for `name`; ValueError when unknown or absent from this torch."""
    import torch
    itemsize(name)
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError("dtype %r does not exist in torch %s" % (name, torch.__version__))
    return dtype


def from_torch(dtype):
    """The checkpoint name of torch dtype `dtype`; ValueError when not in the table."""
    text = str(dtype)  # "torch.float32"
    name = text[len("torch."):] if text.startswith("torch.") else text
    if name not in TABLE:
        raise ValueError("torch dtype %s cannot be checkpointed by pccheck" % text)
    return name
