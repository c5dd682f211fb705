"""The fused decode-layer kernels against their references, and the decoder layer using them."""

from __future__ import annotations

import pytest
import torch
from genai_rt.kernels._small_m_linear import MAX_ROWS
from genai_rt.kernels.rms_norm_linear import rms_norm_linear, rms_norm_linear_ref
from genai_rt.kernels.rotary_kv_write import rotary_kv_write, rotary_kv_write_ref
from genai_rt.kernels.silu_mul_linear import silu_mul_linear, silu_mul_linear_ref

from .tolerances import assert_close

DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def _randn(*shape: int, dtype: torch.dtype, device: str, seed: int,
           scale: float = 1.0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=gen) * scale).to(device=device, dtype=dtype)


def _weight(k: int, n: int, transposed: bool, dtype, device, seed: int) -> torch.Tensor:
    w = _randn(k, n, dtype=dtype, device=device, seed=seed, scale=k**-0.5)  # [in, out]
    return w if transposed else w.t().contiguous()  # [out, in]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tokens,hidden,n_out,transposed,with_residual,with_bias", [
    (1, 100, 77, True, True, False),
    (5, 72, 130, False, True, True),
    (MAX_ROWS, 40, 33, True, False, True),
])
def test_rms_norm_linear(dtype, tokens, hidden, n_out, transposed, with_residual, with_bias,
                         device) -> None:
    x = _randn(tokens, hidden, dtype=dtype, device=device, seed=1)
    residual = _randn(tokens, hidden, dtype=dtype, device=device, seed=2) if with_residual \
        else None
    norm_weight = _randn(hidden, dtype=dtype, device=device, seed=3)
    weight = _weight(hidden, n_out, transposed, dtype, device, seed=4)
    bias = _randn(n_out, dtype=dtype, device=device, seed=5) if with_bias else None
    got, got_residual = rms_norm_linear(x, residual, norm_weight, 1e-5, weight, transposed, bias)
    want, want_residual = rms_norm_linear_ref(x, residual, norm_weight, 1e-5, weight, transposed,
                                              bias)
    assert got.shape == (tokens, n_out)
    assert_close(got, want)
    assert_close(got_residual, want_residual)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tokens,inter,n_out,transposed", [
    (1, 90, 37, False), (7, 130, 64, True), (MAX_ROWS, 33, 20, False)])
def test_silu_mul_linear(dtype, tokens, inter, n_out, transposed, device) -> None:
    gate_up = _randn(tokens, 2 * inter, dtype=dtype, device=device, seed=inter)
    weight = _weight(inter, n_out, transposed, dtype, device, seed=6)
    got = silu_mul_linear(gate_up, weight, transposed)
    assert got.shape == (tokens, n_out)
    assert_close(got, silu_mul_linear_ref(gate_up, weight, transposed))


def test_fused_projections_refuse_bad_input(device) -> None:
    x = torch.zeros(MAX_ROWS + 1, 8, device=device)
    with pytest.raises(ValueError, match="at most 16"):
        silu_mul_linear(x, torch.zeros(4, 4, device=device), True)
    with pytest.raises(ValueError, match="input features"):
        rms_norm_linear(x[:2], None, torch.ones(8, device=device), 1e-6,
                        torch.zeros(9, 4, device=device), True)
    with pytest.raises(ValueError, match="norm weight shape"):
        rms_norm_linear(x[:2], None, torch.ones(7, device=device), 1e-6,
                        torch.zeros(8, 4, device=device), True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tokens,heads,kv_heads,head_dim,rot_dim", [
    (1, 4, 2, 64, 64), (5, 6, 3, 32, 32), (3, 2, 1, 48, 32)])
def test_rotary_kv_write(dtype, tokens, heads, kv_heads, head_dim, rot_dim, device) -> None:
    angles = torch.outer(torch.arange(50).float(),
                         1.0 / (10000.0 ** (torch.arange(0, rot_dim, 2).float() / rot_dim)))
    cache = torch.cat([angles.cos(), angles.sin()], -1).to(device=device, dtype=dtype)
    positions = torch.tensor([3, 0, 49, 17, 8][:tokens], device=device)
    # q, k, v as views of one fused projection output, the way the decoder passes them
    qkv = _randn(tokens, (heads + 2 * kv_heads) * head_dim, dtype=dtype, device=device, seed=7)
    q, k, v = (t.reshape(tokens, -1, head_dim) for t in qkv.split(
        [heads * head_dim, kv_heads * head_dim, kv_heads * head_dim], dim=-1))
    kv_cache = torch.full((2, 4, 3, kv_heads, head_dim), float("nan"), dtype=dtype, device=device)
    slots = torch.tensor([5, -1, 0, 11, 7][:tokens], device=device)
    q_ref, k_ref, v_ref, cache_ref = q.clone(), k.clone(), v.clone(), kv_cache.clone()
    rotary_kv_write_ref(positions, q_ref, k_ref, v_ref, cache, cache_ref, slots)
    rotary_kv_write(positions, q, k, v, cache, kv_cache, slots)
    assert_close(q, q_ref)
    assert_close(k, k_ref)
    written = ~torch.isnan(cache_ref)
    assert torch.equal(torch.isnan(kv_cache), ~written), "wrote exactly the mapped slots"
    assert_close(kv_cache[written], cache_ref[written], dtype)
    assert int(written.sum()) == 2 * int((slots >= 0).sum()) * kv_heads * head_dim


def test_decoder_layer_fused_equals_unfused_and_uses_the_fused_ops(device) -> None:
    """Decode-sized steps go through the three fused kernels; prefill-sized ones do not."""
    from genai_rt.model.attention.triton_backend import TritonAttentionBackend, triton_model_ops
    from genai_rt.model.hf_config import HFModelConfig
    from genai_rt.model.llama import LlamaDecoderLayer, ModelOps

    config = HFModelConfig.from_dict({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 48,
        "intermediate_size": 80, "num_hidden_layers": 1, "num_attention_heads": 4,
        "num_key_value_heads": 2, "head_dim": 12, "vocab_size": 50, "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0, "max_position_embeddings": 64})
    layer = LlamaDecoderLayer(config).to(device)
    with torch.no_grad():
        for i, (name, param) in enumerate(sorted(layer.named_parameters())):
            param.copy_(_randn(*param.shape, dtype=torch.float32, device=device, seed=10 + i,
                               scale=0.2 if "proj" in name else 1.0))
    calls: list[str] = []

    def spy(name: str, fn):
        def wrapped(*args, **kwargs):
            calls.append(name)
            return fn(*args, **kwargs)
        return wrapped

    fused = triton_model_ops(fused=True)
    fused = ModelOps(**{**fused.__dict__, **{n: spy(n, getattr(fused, n)) for n in (
        "rms_norm_linear", "silu_mul_linear", "rotary_kv_write")}})
    unfused = triton_model_ops(fused=False)
    angles = torch.outer(torch.arange(64).float(), 1.0 / (10000.0 ** (
        torch.arange(0, 12, 2).float() / 12)))
    cos_sin = torch.cat([angles.cos(), angles.sin()], -1).to(device)
    backend = TritonAttentionBackend()
    outs = []
    for ops in (fused, unfused):
        kv_cache = torch.zeros(2, 8, 4, 2, 12, device=device)
        meta, positions = _decode_meta([5, 9, 2], [[1, 2, 0], [3, 4, 5], [6, 0, 0]], device)
        hidden = _randn(3, 48, dtype=torch.float32, device=device, seed=1)
        residual = _randn(3, 48, dtype=torch.float32, device=device, seed=2)
        outs.append((*layer(positions, hidden, residual, kv_cache, meta, cos_sin, backend, ops),
                     kv_cache))
    for got, want in zip(outs[0], outs[1], strict=True):
        assert_close(got, want)
    assert calls == ["rms_norm_linear", "rotary_kv_write", "rms_norm_linear", "silu_mul_linear"]


def _decode_meta(seq_lens: list[int], tables: list[list[int]], device: str):
    """A pure-decode step (one new token a sequence) over block_size-4 tables."""
    from genai_rt.model.attention.base import AttentionMetadata

    slots = [tables[s][(n - 1) // 4] * 4 + (n - 1) % 4 for s, n in enumerate(seq_lens)]
    meta = AttentionMetadata(
        query_start_loc=torch.arange(len(seq_lens) + 1, dtype=torch.int32, device=device),
        seq_lens=torch.tensor(seq_lens, dtype=torch.int32, device=device),
        block_tables=torch.tensor(tables, dtype=torch.int32, device=device),
        slot_mapping=torch.tensor(slots, dtype=torch.int64, device=device),
        query_lens_host=[1] * len(seq_lens), seq_lens_host=seq_lens, max_query_len=1,
        max_seq_len=max(seq_lens), block_size=4)
    return meta, torch.tensor([n - 1 for n in seq_lens], device=device)


def test_the_engine_gets_the_fused_ops_with_the_triton_backend() -> None:
    """What the engine loads on CUDA: select_attention_backend -> triton -> model_ops_for."""
    from genai_rt.model.attention.select import model_ops_for
    from genai_rt.model.attention.torch_backend import TorchAttentionBackend
    from genai_rt.model.attention.triton_backend import TritonAttentionBackend

    ops = model_ops_for(TritonAttentionBackend())
    assert ops.rms_norm_linear is rms_norm_linear
    assert ops.silu_mul_linear is silu_mul_linear
    assert ops.rotary_kv_write is rotary_kv_write
    assert ops.fused_max_tokens == MAX_ROWS
    torch_ops = model_ops_for(TorchAttentionBackend())
    assert torch_ops.rms_norm_linear is None and torch_ops.rotary_kv_write is None
