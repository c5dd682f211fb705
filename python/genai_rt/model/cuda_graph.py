"""CUDA graphs for pure-decode steps: capture once per batch size, replay with copied inputs.

A decode step of a small model is dominated by launch overhead (16 layers x 6-7 kernels with
the fused decode ops, 11 without); one graph replay launches them all at once. Inputs live in
static buffers; a batch of n sequences runs the graph captured for the smallest size >= n, its
padding rows writing no KV (slot -1) and attending over one token of block 0. Anything else
(prefill, mixed, too large) runs eagerly.

The attention backend must not size launches from per-step host values other than the ones
captured: the Triton decode kernel sizes its split count from ``meta.max_seq_len``, which the
graphs fix at the model's ``max_model_len``, and loops over each sequence's real length inside.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import torch

from genai_rt.model.attention.base import AttentionMetadata

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)


class CudaGraphDecodeRunner:
    """Run ``model(input_ids, positions, kv_caches, meta)`` through captured CUDA graphs.

    Parameters
    ----------
    model : torch.nn.Module
        A ``LlamaForCausalLM`` (``max_model_len``, ``forward``, ``compute_logits``) on CUDA,
        with an attention backend whose decode path is graph-safe (``triton``).
    kv_caches : list of torch.Tensor
        Per layer ``[2, num_blocks, block_size, kv_heads, head_dim]`` on the model's device.
    batch_sizes : sequence of int
        Decode batch sizes to capture.
    with_logits : bool
        Capture the LM head too; :meth:`forward` then returns fp32 logits ``[n, vocab]``
        instead of hidden states ``[n, hidden]``.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        kv_caches: list[torch.Tensor],
        batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
        with_logits: bool = False,
    ) -> None:
        if not kv_caches or not all(c.is_cuda for c in kv_caches):
            raise ValueError("CUDA graphs need the KV caches on a CUDA device")
        if not batch_sizes or min(batch_sizes) < 1:
            raise ValueError(f"batch_sizes must be positive, got {tuple(batch_sizes)}")
        self.model = model
        self.kv_caches = kv_caches
        self.batch_sizes = tuple(sorted(set(batch_sizes)))
        self.with_logits = with_logits
        self.block_size = kv_caches[0].shape[2]
        self.max_model_len = int(model.max_model_len)  # type: ignore[arg-type]
        self.max_blocks = math.ceil(self.max_model_len / self.block_size)
        device = kv_caches[0].device
        max_batch = self.batch_sizes[-1]
        # Static inputs: [max_batch] or [max_batch, max_blocks]; graphs read them in place.
        self.input_ids = torch.zeros(max_batch, dtype=torch.int64, device=device)
        self.positions = torch.zeros(max_batch, dtype=torch.int64, device=device)
        self.seq_lens = torch.ones(max_batch, dtype=torch.int32, device=device)
        self.slot_mapping = torch.full((max_batch,), -1, dtype=torch.int64, device=device)
        self.block_tables = torch.zeros(max_batch, self.max_blocks, dtype=torch.int32,
                                        device=device)
        self.query_start_loc = torch.arange(max_batch + 1, dtype=torch.int32, device=device)
        self.graphs: dict[int, torch.cuda.CUDAGraph] = {}
        self.outputs: dict[int, torch.Tensor] = {}

    def _static_meta(self, batch: int) -> AttentionMetadata:
        return AttentionMetadata(
            query_start_loc=self.query_start_loc[: batch + 1],
            seq_lens=self.seq_lens[:batch],
            block_tables=self.block_tables[:batch],
            slot_mapping=self.slot_mapping[:batch],
            query_lens_host=[1] * batch,
            seq_lens_host=[self.max_model_len] * batch,
            max_query_len=1,
            max_seq_len=self.max_model_len,
            block_size=self.block_size,
        )

    def _run(self, batch: int) -> torch.Tensor:
        out = self.model(self.input_ids[:batch], self.positions[:batch], self.kv_caches,
                         self._static_meta(batch))
        return self.model.compute_logits(out) if self.with_logits else out  # type: ignore

    @torch.no_grad()
    def capture(self) -> None:
        """Capture one graph per batch size (largest first, sharing one memory pool)."""
        pool = torch.cuda.graph_pool_handle()
        for batch in reversed(self.batch_sizes):
            self._reset_padding(0)
            # Warm up outside capture: Triton compiles here, and allocator state settles.
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                self._run(batch)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=pool):
                self.outputs[batch] = self._run(batch)
            self.graphs[batch] = graph
        torch.cuda.synchronize()
        logger.info("captured decode CUDA graphs for batch sizes %s", self.batch_sizes)

    def _reset_padding(self, start: int) -> None:
        self.slot_mapping[start:].fill_(-1)  # padding rows write no KV
        self.seq_lens[start:].fill_(1)
        self.block_tables[start:].zero_()
        self.input_ids[start:].zero_()
        self.positions[start:].zero_()

    def graph_batch_size(self, meta: AttentionMetadata) -> int | None:
        """The captured size this step replays with, or None when it must run eagerly."""
        if not self.graphs or not meta.is_pure_decode or meta.max_seq_len > self.max_model_len:
            return None
        if meta.block_tables.shape[1] > self.max_blocks:
            return None
        return next((b for b in self.batch_sizes if b >= meta.num_seqs and b in self.graphs),
                    None)

    @torch.no_grad()
    def forward(
        self, input_ids: torch.Tensor, positions: torch.Tensor, meta: AttentionMetadata
    ) -> torch.Tensor:
        """One step: replay a graph for pure decode batches that fit, else run eagerly.

        Returns hidden ``[n, hidden]`` (or fp32 logits ``[n, vocab]`` with ``with_logits``).
        """
        batch = self.graph_batch_size(meta)
        if batch is None:
            hidden = self.model(input_ids, positions, self.kv_caches, meta)
            return self.model.compute_logits(hidden) if self.with_logits else hidden  # type: ignore
        n = meta.num_seqs
        width = meta.block_tables.shape[1]
        self.input_ids[:n].copy_(input_ids, non_blocking=True)
        self.positions[:n].copy_(positions, non_blocking=True)
        self.seq_lens[:n].copy_(meta.seq_lens, non_blocking=True)
        self.slot_mapping[:n].copy_(meta.slot_mapping, non_blocking=True)
        self.block_tables[:n, :width].copy_(meta.block_tables, non_blocking=True)
        if batch > n:
            self._reset_padding(n)
        self.graphs[batch].replay()
        return self.outputs[batch][:n]
