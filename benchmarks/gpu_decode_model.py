"""A self-contained Llama decoder built only from genai_rt.kernels + torch matmuls.

The device check's fallback when genai_rt.model's decoder cannot be built (it says which one
ran): same shapes, same kernels, same interface as LlamaForCausalLM for what the decode bench
and CudaGraphDecodeRunner use (``config``, ``max_model_len``, ``embed_tokens``, ``forward``,
``compute_logits``).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class KernelOnlyLlama(nn.Module):
    """Random-weight Llama (tied LM head) running on the Triton kernels."""

    def __init__(self, raw: dict[str, Any], max_model_len: int, dtype: torch.dtype,
                 device: str) -> None:
        super().__init__()
        cfg = SimpleNamespace(**{k: raw[k] for k in (
            "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
            "num_key_value_heads", "head_dim", "vocab_size", "rms_norm_eps", "rope_theta")})
        self.config, self.max_model_len = cfg, max_model_len
        hidden, q_size = cfg.hidden_size, cfg.num_attention_heads * cfg.head_dim
        kv_size = cfg.num_key_value_heads * cfg.head_dim

        def weight(*shape: int) -> nn.Parameter:
            return nn.Parameter(torch.randn(*shape, dtype=dtype, device=device) * 0.02,
                                requires_grad=False)

        self.embed_tokens = weight(cfg.vocab_size, hidden)
        self.qkv = nn.ParameterList([weight(q_size + 2 * kv_size, hidden)
                                     for _ in range(cfg.num_hidden_layers)])
        self.o = nn.ParameterList([weight(hidden, q_size) for _ in range(cfg.num_hidden_layers)])
        self.gate_up = nn.ParameterList([weight(2 * cfg.intermediate_size, hidden)
                                         for _ in range(cfg.num_hidden_layers)])
        self.down = nn.ParameterList([weight(hidden, cfg.intermediate_size)
                                      for _ in range(cfg.num_hidden_layers)])
        self.norms = nn.Parameter(torch.ones(2 * cfg.num_hidden_layers + 1, hidden, dtype=dtype,
                                             device=device), requires_grad=False)
        inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, cfg.head_dim, 2).float()
                                             / cfg.head_dim))
        angles = torch.outer(torch.arange(max_model_len).float(), inv_freq)
        self.register_buffer("cos_sin_cache", torch.cat([angles.cos(), angles.sin()], -1).to(
            dtype=dtype, device=device))

    @torch.no_grad()
    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor,
                kv_caches: list[torch.Tensor], meta: Any) -> torch.Tensor:
        from genai_rt.kernels.decode_attention import decode_attention
        from genai_rt.kernels.extend_attention import extend_attention
        from genai_rt.kernels.kv_cache_write import write_kv_cache
        from genai_rt.kernels.rms_norm import rms_norm
        from genai_rt.kernels.rotary import rotary_embedding
        from genai_rt.kernels.silu_and_mul import silu_and_mul

        cfg = self.config
        tokens = input_ids.shape[0]
        q_size = cfg.num_attention_heads * cfg.head_dim
        kv_size = cfg.num_key_value_heads * cfg.head_dim
        scale = cfg.head_dim**-0.5
        hidden = F.embedding(input_ids, self.embed_tokens)  # [T, H]
        residual = None
        for i in range(cfg.num_hidden_layers):
            normed, residual = rms_norm(hidden, residual, self.norms[2 * i], cfg.rms_norm_eps)
            q, k, v = F.linear(normed, self.qkv[i]).split([q_size, kv_size, kv_size], dim=-1)
            q = q.view(tokens, cfg.num_attention_heads, cfg.head_dim)
            k = k.view(tokens, cfg.num_key_value_heads, cfg.head_dim)
            v = v.view(tokens, cfg.num_key_value_heads, cfg.head_dim)
            rotary_embedding(positions, q, k, self.cos_sin_cache)
            write_kv_cache(k, v, kv_caches[i], meta.slot_mapping)
            if meta.max_query_len == 1:
                attn = decode_attention(q, kv_caches[i], meta.block_tables, meta.seq_lens, scale,
                                        meta.max_seq_len)
            else:
                attn = extend_attention(q, kv_caches[i], meta.block_tables, meta.query_start_loc,
                                        meta.seq_lens, scale, meta.max_query_len)
            hidden = F.linear(attn.reshape(tokens, q_size), self.o[i])
            normed, residual = rms_norm(hidden, residual, self.norms[2 * i + 1], cfg.rms_norm_eps)
            hidden = F.linear(silu_and_mul(F.linear(normed, self.gate_up[i])), self.down[i])
        hidden, _ = rms_norm(hidden, residual, self.norms[-1], cfg.rms_norm_eps)
        return hidden

    @torch.no_grad()
    def compute_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return F.linear(hidden, self.embed_tokens).float()
