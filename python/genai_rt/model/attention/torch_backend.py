"""The reference paged attention backend in plain torch (runs on CPU and GPU).

Three paths, picked per sequence from the host-side lengths (no device sync):

- decode sequences (one new token) are batched: their K/V are gathered from the paged cache
  into one padded tensor and run through one ``F.scaled_dot_product_attention`` with a length
  mask. GQA is folded into the query axis (``[S, kv_heads, group, D]``) so K/V are never
  repeated per query head.
- a prefill chunk with no cached context attends to its own K/V with ``is_causal=True``.
- a chunk with cached context (chunked prefill) gathers its context and uses an explicit
  causal mask offset by the cached length.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genai_rt.model.attention.base import AttentionMetadata


def write_kv_cache(
    key: torch.Tensor, value: torch.Tensor, kv_cache: torch.Tensor, slot_mapping: torch.Tensor
) -> None:
    """Store this step's K/V at their slots.

    key, value: [T, kv_heads, head_dim]; kv_cache: [2, num_blocks, block_size, kv_heads,
    head_dim]; slot_mapping: int64 [T].
    """
    if kv_cache.dim() != 5 or kv_cache.shape[0] != 2:
        raise ValueError(
            f"kv_cache must be [2, num_blocks, block_size, kv_heads, head_dim], got "
            f"{tuple(kv_cache.shape)}"
        )
    if kv_cache.shape[3:] != key.shape[1:]:
        raise ValueError(
            f"kv_cache heads/head_dim {tuple(kv_cache.shape[3:])} do not match key "
            f"{tuple(key.shape[1:])}"
        )
    flat = kv_cache.view(2, -1, *kv_cache.shape[3:])  # [2, num_slots, kv_heads, head_dim]
    flat[0].index_copy_(0, slot_mapping, key.to(kv_cache.dtype))
    flat[1].index_copy_(0, slot_mapping, value.to(kv_cache.dtype))


def gather_context(
    kv_cache: torch.Tensor, block_tables: torch.Tensor, num_blocks: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """K and V of the first ``num_blocks`` blocks of each row of ``block_tables``.

    Returns
    -------
    (keys, values), each [S, kv_heads, num_blocks * block_size, head_dim]
    """
    blocks = block_tables[:, :num_blocks].long()
    # kv_cache[0][blocks]: [S, num_blocks, block_size, kv_heads, head_dim]
    keys = kv_cache[0][blocks].flatten(1, 2).transpose(1, 2)
    values = kv_cache[1][blocks].flatten(1, 2).transpose(1, 2)
    return keys, values


class TorchAttentionBackend:
    """Paged attention per the ``AttentionBackend`` contract, in plain torch."""

    name = "torch"

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        kv_cache: torch.Tensor,
        meta: AttentionMetadata,
        scale: float,
    ) -> torch.Tensor:
        """Write K/V through ``meta.slot_mapping``, then attend (see the module docstring).

        query: [T, heads, D]; key, value: [T, kv_heads, D]; returns [T, heads, D].
        """
        write_kv_cache(key, value, kv_cache, meta.slot_mapping)
        num_tokens = query.shape[0]
        if num_tokens != sum(meta.query_lens_host):
            raise ValueError(
                f"{num_tokens} query tokens but metadata describes {sum(meta.query_lens_host)}"
            )
        if meta.is_pure_decode:
            return self._decode(query, kv_cache, meta, list(range(meta.num_seqs)), scale)
        out = torch.empty_like(query)
        decode_seqs: list[int] = []
        start = 0
        for seq, (q_len, seq_len) in enumerate(
            zip(meta.query_lens_host, meta.seq_lens_host, strict=True)
        ):
            end = start + q_len
            if q_len == 1:
                decode_seqs.append(seq)
            elif q_len == seq_len:
                out[start:end] = self._prefill_no_context(
                    query[start:end], key[start:end], value[start:end], scale
                )
            elif q_len > 0:
                out[start:end] = self._prefill_with_context(
                    query[start:end], kv_cache, meta.block_tables[seq : seq + 1], seq_len,
                    meta.block_size, scale,
                )
            start = end
        if decode_seqs:
            rows = torch.tensor(_decode_rows(meta, decode_seqs), device=query.device)
            decoded = self._decode(query.index_select(0, rows), kv_cache, meta, decode_seqs, scale)
            out.index_copy_(0, rows, decoded)
        return out

    @staticmethod
    def _prefill_no_context(
        q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float
    ) -> torch.Tensor:
        # q: [L, heads, D]; k, v: [L, kv_heads, D]
        out = F.scaled_dot_product_attention(
            q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1),
            is_causal=True, scale=scale, enable_gqa=q.shape[1] != k.shape[1],
        )
        return out.transpose(0, 1)

    @staticmethod
    def _prefill_with_context(
        q: torch.Tensor,
        kv_cache: torch.Tensor,
        block_table: torch.Tensor,
        seq_len: int,
        block_size: int,
        scale: float,
    ) -> torch.Tensor:
        q_len = q.shape[0]
        num_blocks = -(-seq_len // block_size)
        keys, values = gather_context(kv_cache, block_table, num_blocks)
        keys, values = keys[0, :, :seq_len], values[0, :, :seq_len]  # [kv_heads, seq_len, D]
        # Query i sits at position seq_len - q_len + i and sees keys at positions <= that.
        q_pos = torch.arange(seq_len - q_len, seq_len, device=q.device)
        k_pos = torch.arange(seq_len, device=q.device)
        mask = k_pos[None, :] <= q_pos[:, None]  # [q_len, seq_len]
        out = F.scaled_dot_product_attention(
            q.transpose(0, 1), keys.to(q.dtype), values.to(q.dtype),
            attn_mask=mask, scale=scale, enable_gqa=q.shape[1] != keys.shape[0],
        )
        return out.transpose(0, 1)

    @staticmethod
    def _decode(
        q: torch.Tensor,
        kv_cache: torch.Tensor,
        meta: AttentionMetadata,
        seqs: list[int],
        scale: float,
    ) -> torch.Tensor:
        # q: [S, heads, D], one token per sequence in `seqs`.
        num_seqs, num_heads, head_dim = q.shape
        kv_heads = kv_cache.shape[3]
        seq_lens_host = [meta.seq_lens_host[s] for s in seqs]
        max_len = max(seq_lens_host)
        num_blocks = -(-max_len // meta.block_size)
        if len(seqs) == meta.num_seqs:
            block_tables = meta.block_tables
            seq_lens = meta.seq_lens
        else:
            index = torch.tensor(seqs, device=meta.block_tables.device)
            block_tables = meta.block_tables.index_select(0, index)
            seq_lens = meta.seq_lens.index_select(0, index)
        positions = torch.arange(num_blocks * meta.block_size, device=q.device)
        valid = positions[None, :] < seq_lens.to(q.device)[:, None].long()  # [S, L]
        # Padding entries of the block table must not be read: point them at block 0 (masked).
        block_valid = valid[:, :: meta.block_size]
        tables = torch.where(block_valid, block_tables[:, :num_blocks].long(), 0)
        keys, values = gather_context(kv_cache, tables, num_blocks)  # [S, kv_heads, L, D]
        grouped_q = q.view(num_seqs, kv_heads, num_heads // kv_heads, head_dim)
        out = F.scaled_dot_product_attention(
            grouped_q, keys.to(q.dtype), values.to(q.dtype),
            attn_mask=valid[:, None, None, :], scale=scale,
        )
        return out.reshape(num_seqs, num_heads, head_dim)


def _decode_rows(meta: AttentionMetadata, seqs: list[int]) -> list[int]:
    starts = [0]
    for q_len in meta.query_lens_host:
        starts.append(starts[-1] + q_len)
    return [starts[s] for s in seqs]
