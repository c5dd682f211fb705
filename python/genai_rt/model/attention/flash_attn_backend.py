"""Paged attention on the flash-attn package (``pip install genai-rt[gpu]``), when installed.

Importing this module raises ImportError without flash_attn, which is how
``select_attention_backend`` learns it is unavailable. K/V are written with the Triton kernel,
then one ``flash_attn_varlen_func`` call with ``block_table`` attends for prefill, extend and
decode alike (causal masks align to the end of each sequence, as the contract needs).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from flash_attn import flash_attn_varlen_func

from genai_rt.config import FLASH_ATTN_PAGE_MULTIPLE  # refused at configuration (EngineConfig)
from genai_rt.kernels.kv_cache_write import write_kv_cache
from genai_rt.model.attention.base import AttentionMetadata


class FlashAttnBackend:
    """``AttentionBackend`` on ``flash_attn.flash_attn_varlen_func`` with a block table."""

    name = "flash_attn"

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        kv_cache: torch.Tensor,
        meta: AttentionMetadata,
        scale: float,
    ) -> torch.Tensor:
        """query: [T, heads, D]; key, value: [T, kv_heads, D]; returns [T, heads, D]."""
        if meta.block_size % FLASH_ATTN_PAGE_MULTIPLE:
            raise ValueError(f"flash_attn's paged KV needs block_size to be a multiple of "
                             f"{FLASH_ATTN_PAGE_MULTIPLE}, got {meta.block_size}; use the "
                             "triton backend")
        write_kv_cache(key, value, kv_cache, meta.slot_mapping)
        cu_seqlens_k = F.pad(meta.seq_lens.cumsum(0, dtype=torch.int32), (1, 0))
        return flash_attn_varlen_func(
            query, kv_cache[0], kv_cache[1], meta.query_start_loc, cu_seqlens_k,
            meta.max_query_len, meta.max_seq_len, softmax_scale=scale, causal=True,
            block_table=meta.block_tables,
        )
