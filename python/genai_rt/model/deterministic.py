"""Deterministic mode: a model whose every output row is independent of the batch around it.

Serving engines change the reduction order of matmuls and attention with the batch shape, so a
request's logits move by float rounding with whatever else is running, and a sampling boundary
(a nucleus cut, a near-tie under greedy) can flip. ``make_batch_invariant`` rewires a loaded
model so that each token's computation is a function of that token's own inputs alone:

- **matmuls**: every projection and the LM head go through ``fixed_order_linear``: on CPU the
  core's fixed-order kernel, elsewhere fixed-shape row tiles;
- **attention**: every query token, prefill or decode, is attended as its own "sequence" of
  ``position + 1`` keys by the paged decode kernel, whose per-sequence order is fixed. A prompt
  token then gets bit-identical attention whether it was prefilled in one chunk, several chunks,
  recomputed after preemption, or decoded; cached prefix blocks hold what recomputation would
  write again;
- **RMSNorm, rotary, SiLU**: row-wise already (the norm's row reduction was checked identical at
  1, 7, 40 and 64 rows on CPU);
- **sampling**: depends on the row alone (per-request seeded generators).

Bit identity holds within one machine and build (the CPU kernels are compiled per instruction
set and a machine always runs the same one). CPU only here, in float32: the deterministic
attention path is the core's fp32 kernel.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn

from genai_rt.model.attention.base import AttentionMetadata
from genai_rt.model.attention.cpu_kernels import paged_decode_attention
from genai_rt.model.attention.torch_backend import write_kv_cache
from genai_rt.model.fixed_order import fixed_order_linear
from genai_rt.model.llama import LlamaForCausalLM, Projection

logger = logging.getLogger(__name__)


class FixedOrderProjection(nn.Module):
    """A projection computed by ``fixed_order_linear`` from an [out, in] weight."""

    def __init__(self, weight_out_in: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight_out_in.contiguous(), requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [T, in] -> [T, out]
        return fixed_order_linear(x, self.weight, self.bias)


@dataclass
class _QueryPlan:
    """Every query token of a step as its own sequence, for the paged decode kernel."""

    block_tables: torch.Tensor  # int64 [T, W]: row t = its sequence's blocks (padding zeroed)
    seq_lens: torch.Tensor  # int64 [T]: position + 1


class PerQueryAttention:
    """Paged attention that attends each query token alone (see the module docstring).

    Same contract as every ``AttentionBackend``: writes this step's K/V through
    ``meta.slot_mapping``, then attends. fp32 on CPU.
    """

    name = "torch-deterministic"

    def __init__(self) -> None:
        self._plan: _QueryPlan | None = None
        self._plan_meta: AttentionMetadata | None = None

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
        write_kv_cache(key, value, kv_cache, meta.slot_mapping)
        if self._plan is None or self._plan_meta is not meta:
            self._plan, self._plan_meta = _plan_queries(meta), meta
        plan = self._plan
        if plan.seq_lens.numel() != query.shape[0]:
            raise ValueError(
                f"{query.shape[0]} query tokens but metadata describes {plan.seq_lens.numel()}"
            )
        return paged_decode_attention(
            query.contiguous(), kv_cache, plan.block_tables, plan.seq_lens, scale
        )


def _plan_queries(meta: AttentionMetadata) -> _QueryPlan:
    tables = meta.block_tables.to("cpu", torch.int64)
    rows: list[int] = []
    lens: list[int] = []
    for seq, (q_len, seq_len) in enumerate(
        zip(meta.query_lens_host, meta.seq_lens_host, strict=True)
    ):
        first = seq_len - q_len  # position of the sequence's first new token
        rows.extend([seq] * q_len)
        lens.extend(range(first + 1, seq_len + 1))
    seq_lens = torch.tensor(lens, dtype=torch.int64)
    if not rows:
        return _QueryPlan(torch.zeros(0, max(1, tables.shape[1]), dtype=torch.int64), seq_lens)
    selected = tables[torch.tensor(rows, dtype=torch.int64)]
    # Entries past a token's own blocks are never read by the kernel, but must be in range.
    valid = torch.arange(selected.shape[1])[None, :] * meta.block_size < seq_lens[:, None]
    return _QueryPlan(torch.where(valid, selected, 0).contiguous(), seq_lens)


def make_batch_invariant(model: LlamaForCausalLM) -> LlamaForCausalLM:
    """Rewire ``model`` in place for deterministic mode; returns it.

    Raises
    ------
    ValueError
        Off the CPU or outside float32, where this build has no batch-invariant attention.
    """
    param = model.embed_tokens
    if param.device.type != "cpu" or param.dtype != torch.float32:
        raise ValueError(
            f"deterministic mode needs the model in float32 on the CPU in this build, got "
            f"{param.dtype} on {param.device}; load it with dtype='float32', device='cpu'"
        )
    replaced = 0
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, Projection):
                weight = child.weight.t() if child.transposed else child.weight
                setattr(parent, child_name, FixedOrderProjection(weight, child.bias))
                replaced += 1
    if model.lm_head is None:
        # Tied embeddings: the LM head shares the embedding matrix ([V, H] is [out, in]).
        model.lm_head = FixedOrderProjection(model.embed_tokens.data, None)  # type: ignore[assignment]
    model.backend = PerQueryAttention()  # type: ignore[assignment]
    logger.info(
        "deterministic mode: %d projections on the fixed-order kernel, per-query attention",
        replaced,
    )
    return model
