"""The decoder's small ops, one plain-tensor function each (the torch reference implementations).

Each signature matches the Triton twin in ``kernels/<op>.py`` so that a per-device dispatch can
swap them without touching the model:

- ``rms_norm(x, residual | None, weight, eps) -> (out, new_residual)``
- ``rotary_embedding(positions, q, k, cos_sin_cache)`` (in place)
- ``silu_and_mul(x [T, 2I]) -> [T, I]``

Numerics follow transformers' Llama: RMSNorm in fp32, cast back before the weight multiply;
rotary cos/sin computed in fp32 and cast to the activation dtype.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from genai_rt.model.hf_config import RopeScaling


def rms_norm(
    x: torch.Tensor, residual: torch.Tensor | None, weight: torch.Tensor, eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """RMSNorm with the residual add fused in front of it.

    Parameters
    ----------
    x : [T, H]
        This sub-layer's output (or the embeddings for the first norm).
    residual : [T, H] or None
        The running residual stream; None for the first norm of the first layer.
    weight : [H]
    eps : float

    Returns
    -------
    (out, new_residual)
        ``new_residual = x + residual`` (``x`` when residual is None) and
        ``out = rms_norm(new_residual) * weight``.
    """
    new_residual = x if residual is None else x + residual
    x32 = new_residual.float()
    variance = x32.pow(2).mean(-1, keepdim=True)
    normed = (x32 * torch.rsqrt(variance + eps)).to(x.dtype)
    return weight * normed, new_residual


def rotary_embedding(
    positions: torch.Tensor, q: torch.Tensor, k: torch.Tensor, cos_sin_cache: torch.Tensor
) -> None:
    """Rotate q and k in place, neox (rotate-half) style as transformers' Llama.

    Parameters
    ----------
    positions : int64 [T]
    q : [T, num_heads, head_dim]
    k : [T, num_kv_heads, head_dim]
    cos_sin_cache : [max_pos, head_dim]
        cos of the head_dim/2 frequencies in the first half, sin in the second
        (``build_cos_sin_cache``), in q's dtype.
    """
    half = q.shape[-1] // 2
    cos_sin = cos_sin_cache.index_select(0, positions)
    cos = cos_sin[:, None, :half]  # [T, 1, half]
    sin = cos_sin[:, None, half:]
    for x in (q, k):
        x1 = x[..., :half]
        x2 = x[..., half:]
        rotated1 = x1 * cos - x2 * sin
        rotated2 = x2 * cos + x1 * sin
        x[..., :half] = rotated1
        x[..., half:] = rotated2


def silu_and_mul(x: torch.Tensor) -> torch.Tensor:
    """SwiGLU gate: ``silu(x[:, :I]) * x[:, I:]`` for the fused gate/up projection.

    Parameters
    ----------
    x : [T, 2 * I]

    Returns
    -------
    [T, I]
    """
    gate, up = x.chunk(2, dim=-1)
    return F.silu(gate) * up


def rope_inverse_frequencies(head_dim: int, theta: float, scaling: RopeScaling) -> torch.Tensor:
    """The head_dim/2 rotary frequencies, rescaled per ``scaling`` (fp32, as transformers)."""
    exponents = torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim
    inv_freq = 1.0 / (theta**exponents)
    if scaling.rope_type == "linear":
        return inv_freq / scaling.factor
    if scaling.rope_type != "llama3":
        return inv_freq
    old_len = scaling.original_max_position_embeddings
    low_freq_wavelen = old_len / scaling.low_freq_factor
    high_freq_wavelen = old_len / scaling.high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    # Long wavelengths (low frequencies) are slowed by `factor`, short ones kept; between the
    # two the frequency is interpolated (Llama 3.1's recipe, as in transformers).
    scaled = torch.where(wavelen > low_freq_wavelen, inv_freq / scaling.factor, inv_freq)
    smooth = (old_len / wavelen - scaling.low_freq_factor) / (
        scaling.high_freq_factor - scaling.low_freq_factor
    )
    smoothed = (1 - smooth) * scaled / scaling.factor + smooth * scaled
    is_medium = (wavelen >= high_freq_wavelen) & (wavelen <= low_freq_wavelen)
    return torch.where(is_medium, smoothed, scaled)


def build_cos_sin_cache(
    max_positions: int,
    head_dim: int,
    theta: float,
    scaling: RopeScaling,
    dtype: torch.dtype,
    device: torch.device | str,
) -> torch.Tensor:
    """cos/sin of every position's rotary angles.

    Returns
    -------
    [max_positions, head_dim]
        ``[:, :head_dim/2]`` = cos, ``[:, head_dim/2:]`` = sin, cast to ``dtype``.
    """
    inv_freq = rope_inverse_frequencies(head_dim, theta, scaling)
    angles = torch.outer(torch.arange(max_positions, dtype=torch.float32), inv_freq)
    return torch.cat([angles.cos(), angles.sin()], dim=-1).to(dtype=dtype, device=device)
