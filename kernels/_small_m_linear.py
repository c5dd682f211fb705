"""Shared by the fused decode projections (``rms_norm_linear``, ``silu_mul_linear``): the
weight-tile load for either layout the loader writes, the launch configs, and shape checks.

A decode step multiplies a few rows (T <= 16) by a weight matrix: the weight stream is the whole
cost, so each program owns BLOCK_N output columns, walks the full K dimension once and computes
its input tile on the fly (the RMSNorm or SiLU-and-mul prologue) instead of reading a separately
written activation. T is padded to 16 rows so the product runs on tensor cores.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from genai_rt.kernels._tile_dot import AUTOTUNE

# The most rows the fused projections take; larger batches run the unfused ops + cuBLAS.
MAX_ROWS = 16

# NOTE: not tuned on a GPU yet (none in the session that wrote these); the sweep picks per
# (K, N, rows) on the first call. Small BLOCK_N keeps >= 1 program per SM for the 2048-wide
# projections of a 1B model (2048 / 16 = 128 programs).
CONFIGS = [
    triton.Config({"BLOCK_N": block_n, "BLOCK_K": block_k}, num_warps=warps, num_stages=stages)
    for block_n, block_k, warps, stages in (
        (16, 256, 4, 4), (32, 256, 4, 4), (32, 128, 4, 4), (64, 128, 4, 3), (64, 64, 4, 3))
]
DEFAULT_CONFIG = {"BLOCK_N": 32, "BLOCK_K": 64, "num_warps": 4}


def maybe_autotune(kernel, key: list[str]):
    """The kernel autotuned over CONFIGS on a GPU; as it is in the interpreter."""
    return triton.autotune(configs=CONFIGS, key=key)(kernel) if AUTOTUNE else kernel


def launch_config() -> dict[str, int]:
    """Fixed meta-parameters when not autotuning (interpreter, GENAI_RT_TRITON_AUTOTUNE=0)."""
    return {} if AUTOTUNE else dict(DEFAULT_CONFIG)


def weight_strides(
    weight: torch.Tensor, transposed: bool, in_features: int
) -> tuple[int, int, int]:
    """(out_features, stride along K, stride along N) of a ``Projection`` weight: ``[in, out]``
    when ``transposed`` else ``[out, in]``."""
    if weight.dim() != 2 or weight.stride(1) != 1:
        raise ValueError(f"weight must be 2-D with unit column stride, got {tuple(weight.shape)}")
    k_dim = 0 if transposed else 1
    if weight.shape[k_dim] != in_features:
        layout = "[in, out]" if transposed else "[out, in]"
        raise ValueError(f"weight {tuple(weight.shape)} ({layout}) does not take {in_features} "
                         "input features")
    if transposed:
        return weight.shape[1], weight.stride(0), 1
    return weight.shape[0], 1, weight.stride(0)


def check_rows(x: torch.Tensor, name: str) -> None:
    if x.dim() != 2 or x.stride(1) != 1:
        raise ValueError(f"{name} must be [tokens, features] with unit column stride, "
                         f"got {tuple(x.shape)}")
    if x.shape[0] > MAX_ROWS:
        raise ValueError(f"{name} has {x.shape[0]} rows; the fused projection takes at most "
                         f"{MAX_ROWS} (decode-sized batches)")


@triton.jit
def load_weight_tile(w_ptr, k, n, k_ok, n_ok, w_stride_k, w_stride_n):
    """W[k, n] as a [BLOCK_K, BLOCK_N] tile (k: [BLOCK_K, 1], n: [1, BLOCK_N])."""
    return tl.load(w_ptr + k.to(tl.int64) * w_stride_k + n.to(tl.int64) * w_stride_n,
                   mask=k_ok & n_ok, other=0.0)
