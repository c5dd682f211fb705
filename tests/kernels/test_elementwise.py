"""RMSNorm, rotary, SiLU-and-mul and the KV-cache write against their torch references."""

from __future__ import annotations

import math

import pytest
import torch
from genai_rt.kernels.kv_cache_write import write_kv_cache, write_kv_cache_ref
from genai_rt.kernels.rms_norm import rms_norm, rms_norm_ref
from genai_rt.kernels.rotary import rotary_embedding, rotary_embedding_ref
from genai_rt.kernels.silu_and_mul import silu_and_mul, silu_and_mul_ref

from .tolerances import assert_close, poison

DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def _randn(*shape: int, dtype: torch.dtype, device: str, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen).to(device=device, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_residual", [False, True])
@pytest.mark.parametrize("tokens,hidden", [(1, 8), (7, 100), (3, 1000)])
def test_rms_norm(dtype, with_residual, tokens, hidden, device) -> None:
    x = _randn(tokens, hidden, dtype=dtype, device=device, seed=hidden)
    residual = _randn(tokens, hidden, dtype=dtype, device=device, seed=1) if with_residual else None
    weight = _randn(hidden, dtype=dtype, device=device, seed=2)
    out = poison(tokens, hidden, dtype=dtype, device=device)
    got, got_residual = rms_norm(x, residual, weight, 1e-5, out=out)
    want, want_residual = rms_norm_ref(x, residual, weight, 1e-5)
    assert got.data_ptr() == out.data_ptr()
    assert_close(got, want)
    assert_close(got_residual, want_residual)


def test_rms_norm_rejects_mismatched_weight(device) -> None:
    x = torch.zeros(2, 8, device=device)
    with pytest.raises(ValueError, match="weight shape"):
        rms_norm(x, None, torch.ones(9, device=device), 1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tokens,inter", [(1, 5), (9, 300), (2, 1500)])
def test_silu_and_mul(dtype, tokens, inter, device) -> None:
    x = _randn(tokens, 2 * inter, dtype=dtype, device=device, seed=inter)
    out = poison(tokens, inter, dtype=dtype, device=device)
    assert_close(silu_and_mul(x, out=out), silu_and_mul_ref(x))


def _llama3_cache(max_pos: int, rot_dim: int, device: str) -> torch.Tensor:
    """cos/sin cache with Llama-3 frequency scaling (factor 8, low 1, high 4, original 8192)."""
    inv_freq = 1.0 / (500000.0 ** (torch.arange(0, rot_dim, 2).float() / rot_dim))
    wavelen = 2 * math.pi / inv_freq
    low_wavelen, high_wavelen = 8192 / 1.0, 8192 / 4.0
    smooth = (8192 / wavelen - 1.0) / (4.0 - 1.0)
    scaled = torch.where(wavelen > low_wavelen, inv_freq / 8.0,
                         (1 - smooth) * inv_freq / 8.0 + smooth * inv_freq)
    scaled = torch.where(wavelen < high_wavelen, inv_freq, scaled)
    freqs = torch.outer(torch.arange(max_pos).float(), scaled)
    return torch.cat([freqs.cos(), freqs.sin()], dim=-1).to(device)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tokens,heads,kv_heads,head_dim,flat", [
    (1, 2, 1, 64, False), (5, 6, 2, 128, False), (3, 3, 3, 64, True)])
def test_rotary_in_place(dtype, tokens, heads, kv_heads, head_dim, flat, device) -> None:
    cache = _llama3_cache(9000, head_dim, device)
    positions = torch.tensor([0, 8191, 8999, 17, 3][:tokens], device=device)
    q = _randn(tokens, heads, head_dim, dtype=dtype, device=device, seed=3)
    k = _randn(tokens, kv_heads, head_dim, dtype=dtype, device=device, seed=4)
    if flat:
        q, k = q.view(tokens, -1), k.view(tokens, -1)
    q_ref, k_ref, q_before = q.clone(), k.clone(), q.clone()
    rotary_embedding_ref(positions, q_ref, k_ref, cache)
    rotary_embedding(positions, q, k, cache)
    assert_close(q, q_ref)
    assert_close(k, k_ref)
    # Position 0 is the identity and every other position rotates: the check has teeth.
    moved = (q_ref.float() - q_before.float()).abs().reshape(tokens, -1).amax(-1).cpu()
    assert ((moved > 0) == (positions.cpu() != 0)).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_kv_cache_write_through_slots(dtype, device) -> None:
    num_blocks, block_size, kv_heads, head_dim, tokens = 5, 3, 2, 64, 7
    kv_cache = poison(2, num_blocks, block_size, kv_heads, head_dim, dtype=dtype, device=device)
    key = _randn(tokens, kv_heads, head_dim, dtype=dtype, device=device, seed=5)
    value = _randn(tokens, kv_heads, head_dim, dtype=dtype, device=device, seed=6)
    slots = torch.tensor([14, 0, 4, -1, 7, 13, 2], device=device)  # -1: padding, skipped
    expected = kv_cache.clone()
    write_kv_cache_ref(key, value, expected, slots)
    write_kv_cache(key, value, kv_cache, slots)
    written = ~torch.isnan(expected)
    assert torch.equal(torch.isnan(kv_cache), ~written), "wrote exactly the mapped slots"
    assert torch.equal(kv_cache[written].cpu(), expected[written].cpu())
    assert written.sum() == 2 * 6 * kv_heads * head_dim


def test_kv_cache_write_rejects_wrong_layout(device) -> None:
    kv_cache = torch.zeros(2, 4, 2, 2, 8, device=device)
    with pytest.raises(ValueError, match="key must be"):
        write_kv_cache(torch.zeros(3, 2, 4, device=device), torch.zeros(3, 2, 8, device=device),
                       kv_cache, torch.zeros(3, dtype=torch.long, device=device))
