"""The resume test with CUDA tensors: AdamW, bf16 autocast, and the daemon
reading the tensors through CUDA IPC (snapshot="direct") or a GPU staging
buffer (snapshot="gpu"). Skipped without a CUDA device."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_torch_resume import resume_matches_uninterrupted  # noqa: E402


def _need_cuda():
    import torch
    if not torch.cuda.is_available():
        harness.skip("no CUDA device")


def test_gpu_resume_snapshot_gpu_is_bit_exact():
    _need_cuda()
    resume_matches_uninterrupted("--device", "cuda", "--amp", "--snapshot", "gpu")


def test_gpu_resume_snapshot_direct_is_bit_exact():
    _need_cuda()
    resume_matches_uninterrupted("--device", "cuda", "--amp", "--snapshot", "direct")


if __name__ == "__main__":
    harness.main(globals())
