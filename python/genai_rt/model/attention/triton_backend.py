"""The paged attention backend on Triton kernels (the default on CUDA), and the matching ops.

Each forward writes the step's K/V through the slot mapping, then runs flash-decoding when every
sequence adds one token (the CUDA-graph shape) and the causal extend kernel otherwise (prefill
chunks and decodes mixed in one launch).
"""

from __future__ import annotations

import torch

from genai_rt.kernels._small_m_linear import MAX_ROWS
from genai_rt.kernels.decode_attention import decode_attention
from genai_rt.kernels.extend_attention import extend_attention
from genai_rt.kernels.kv_cache_write import write_kv_cache
from genai_rt.kernels.rms_norm import rms_norm
from genai_rt.kernels.rms_norm_linear import rms_norm_linear
from genai_rt.kernels.rotary import rotary_embedding
from genai_rt.kernels.rotary_kv_write import rotary_kv_write
from genai_rt.kernels.silu_and_mul import silu_and_mul
from genai_rt.kernels.silu_mul_linear import silu_mul_linear
from genai_rt.model.attention.base import AttentionMetadata
from genai_rt.model.llama import ModelOps


class TritonAttentionBackend:
    """``AttentionBackend`` on the kernels in ``genai_rt.kernels`` (GPU, or CPU interpreter)."""

    name = "triton"

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        kv_cache: torch.Tensor,
        meta: AttentionMetadata,
        scale: float,
    ) -> torch.Tensor:
        """Write K/V, then attend.

        query: [T, heads, D]; key, value: [T, kv_heads, D];
        kv_cache: [2, num_blocks, block_size, kv_heads, D]; returns [T, heads, D].
        """
        if query.shape[0] != meta.slot_mapping.shape[0]:
            raise ValueError(f"{query.shape[0]} query tokens but {meta.slot_mapping.shape[0]} "
                             "slots in the metadata")
        write_kv_cache(key, value, kv_cache, meta.slot_mapping)
        return self.attend(query, kv_cache, meta, scale)

    def attend(
        self, query: torch.Tensor, kv_cache: torch.Tensor, meta: AttentionMetadata, scale: float
    ) -> torch.Tensor:
        """Attend over a cache that already holds this step's K/V (written by the fused
        ``rotary_kv_write``). query: [T, heads, D]; returns [T, heads, D]."""
        if meta.is_pure_decode:
            return decode_attention(query, kv_cache, meta.block_tables, meta.seq_lens, scale,
                                    meta.max_seq_len)
        return extend_attention(query, kv_cache, meta.block_tables, meta.query_start_loc,
                                meta.seq_lens, scale, meta.max_query_len)


def triton_model_ops(fused: bool = True) -> ModelOps:
    """The decoder's small ops on Triton: fused residual RMSNorm, rotary, SiLU-and-mul; with
    ``fused`` also the decode-layer fusions (norm into the QKV and gate/up projections, SiLU-mul
    into the down projection for steps of at most 16 tokens, rotary + KV write always).

    Example
    -------
    >>> model = load_model(path, TritonAttentionBackend(), device="cuda",
    ...                    ops=triton_model_ops())  # doctest: +SKIP
    """
    if not fused:
        return ModelOps(rms_norm=rms_norm, rotary_embedding=rotary_embedding,
                        silu_and_mul=silu_and_mul)
    return ModelOps(rms_norm=rms_norm, rotary_embedding=rotary_embedding,
                    silu_and_mul=silu_and_mul, rms_norm_linear=rms_norm_linear,
                    silu_mul_linear=silu_mul_linear, rotary_kv_write=rotary_kv_write,
                    fused_max_tokens=MAX_ROWS)
