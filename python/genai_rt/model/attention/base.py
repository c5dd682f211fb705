"""The contract between the runner, the model and every attention backend.

One engine step runs one forward over a flattened batch: the new tokens of every scheduled
sequence (prefill chunks and single decode tokens alike) concatenated, sequence after sequence.

Paged KV cache, one tensor per layer (the layout every backend and kernel shares):
    kv_cache: [2, num_blocks, block_size, num_kv_heads, head_dim]   (0 = keys, 1 = values)
Token slot s lives at block s // block_size, offset s % block_size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch


@dataclass
class AttentionMetadata:
    """Where each sequence's new tokens sit in the flat batch and where its context lives.

    Attributes
    ----------
    query_start_loc : int32 [num_seqs + 1]
        Offsets of each sequence's new tokens in the flat batch (exclusive prefix sum).
    seq_lens : int32 [num_seqs]
        Context length of each sequence after this step (cached tokens + new tokens).
    block_tables : int32 [num_seqs, max_blocks_per_seq]
        Physical block ids of each sequence, in order; entries past the sequence's blocks are
        padding and must not be read.
    slot_mapping : int64 [num_tokens]
        Cache slot (block * block_size + offset) each new token's K/V is written to.
    query_lens_host, seq_lens_host : list[int]
        The same lengths on the host, so CPU paths and launch grids need no device sync.
    max_query_len, max_seq_len : int
        Maxima of the lists above.
    block_size : int
        Tokens per KV block.

    Query token i of sequence s (0-based among its new tokens) sits at position
    seq_lens[s] - query_lens[s] + i and attends causally to context positions <= that.
    """

    query_start_loc: torch.Tensor
    seq_lens: torch.Tensor
    block_tables: torch.Tensor
    slot_mapping: torch.Tensor
    query_lens_host: list[int]
    seq_lens_host: list[int]
    max_query_len: int
    max_seq_len: int
    block_size: int

    @property
    def num_seqs(self) -> int:
        return len(self.seq_lens_host)

    @property
    def is_pure_decode(self) -> bool:
        """Every sequence adds exactly one token (the shape CUDA graphs are captured for)."""
        return self.max_query_len == 1


class AttentionBackend(Protocol):
    """Writes this step's K/V into the paged cache, then attends over it.

    query: [num_tokens, num_heads, head_dim]; key, value: [num_tokens, num_kv_heads, head_dim];
    returns [num_tokens, num_heads, head_dim]. num_heads is a multiple of num_kv_heads (GQA).
    """

    name: str

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        kv_cache: torch.Tensor,
        meta: AttentionMetadata,
        scale: float,
    ) -> torch.Tensor: ...
