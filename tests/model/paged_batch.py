"""A minimal paged-KV driver for tests: the runner's job, done plainly in Python.

Sequences get blocks from a shuffled pool (so block tables are non-trivial), and each step
flattens the chosen sequences' new tokens into one batch with its AttentionMetadata.
"""

from __future__ import annotations

import random

import torch
from genai_rt.model.attention.base import AttentionMetadata


class PagedDriver:
    """Owns the per-layer KV caches and each sequence's block table and length."""

    def __init__(
        self, model: torch.nn.Module, num_blocks: int, block_size: int, seed: int = 0
    ) -> None:
        cfg = model.config
        self.model = model
        self.block_size = block_size
        dtype = model.embed_tokens.dtype
        self.kv_caches = [
            torch.zeros(2, num_blocks, block_size, cfg.num_key_value_heads, cfg.head_dim,
                        dtype=dtype)
            for _ in range(cfg.num_hidden_layers)
        ]
        self.free_blocks = list(range(num_blocks))
        random.Random(seed).shuffle(self.free_blocks)
        self.block_tables: dict[int, list[int]] = {}
        self.lengths: dict[int, int] = {}

    def step(self, chunks: list[tuple[int, list[int]]]) -> torch.Tensor:
        """Run one forward over ``[(seq_id, new_token_ids), ...]``; returns hidden [T, H]."""
        ids: list[int] = []
        positions: list[int] = []
        slots: list[int] = []
        query_lens: list[int] = []
        seq_lens: list[int] = []
        for seq_id, tokens in chunks:
            start = self.lengths.get(seq_id, 0)
            table = self.block_tables.setdefault(seq_id, [])
            end = start + len(tokens)
            while len(table) * self.block_size < end:
                table.append(self.free_blocks.pop())
            for pos in range(start, end):
                slots.append(table[pos // self.block_size] * self.block_size
                             + pos % self.block_size)
            ids += tokens
            positions += range(start, end)
            query_lens.append(len(tokens))
            seq_lens.append(end)
            self.lengths[seq_id] = end
        width = max(len(self.block_tables[s]) for s, _ in chunks) + 1
        # Padding entries are -1: a backend that reads them fails loudly or reads garbage.
        tables = [self.block_tables[s] + [-1] * (width - len(self.block_tables[s]))
                  for s, _ in chunks]
        starts = [0]
        for q_len in query_lens:
            starts.append(starts[-1] + q_len)
        meta = AttentionMetadata(
            query_start_loc=torch.tensor(starts, dtype=torch.int32),
            seq_lens=torch.tensor(seq_lens, dtype=torch.int32),
            block_tables=torch.tensor(tables, dtype=torch.int32),
            slot_mapping=torch.tensor(slots, dtype=torch.int64),
            query_lens_host=query_lens,
            seq_lens_host=seq_lens,
            max_query_len=max(query_lens),
            max_seq_len=max(seq_lens),
            block_size=self.block_size,
        )
        return self.model(
            torch.tensor(ids, dtype=torch.int64), torch.tensor(positions, dtype=torch.int64),
            self.kv_caches, meta,
        )
