"""One forward per step over the flattened batch, then one batched sampling call.

Grammar masks for the rows sampled this step depend only on tokens already accepted, so a worker
thread fills them (the C++ matcher releases the GIL) while the forward runs; the sampler waits
for them only after the logits exist.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import torch

from genai_rt._core import KvCacheManager
from genai_rt.engine.batch import BatchBuilder
from genai_rt.engine.scheduler import SchedulerOutput
from genai_rt.model.llama import LlamaForCausalLM
from genai_rt.sampling.outputs import SamplerOutput, SamplingError
from genai_rt.sampling.params import SamplingRow
from genai_rt.sampling.sampler import Sampler

logger = logging.getLogger(__name__)

# Fills rows of an int32 [M, ceil(V/32)] bitmask in place (runs on the worker thread).
MaskFiller = Callable[[torch.Tensor], None]


@dataclass
class StepResult:
    """The rows sampled this step: ``seq_rows[i]`` indexes ``SchedulerOutput.seqs``.

    ``failed_rows`` (same indexing) could not be sampled (no token survives their masks);
    ``error`` says why. The other rows are sampled as usual.
    """

    seq_rows: list[int]
    sampled: SamplerOutput | None
    failed_rows: list[int] = field(default_factory=list)
    error: SamplingError | None = None


class ModelRunner:
    """Owns the paged KV caches, the batch buffers and the sampler for one model.

    Parameters
    ----------
    model : LlamaForCausalLM
        ``model(input_ids, positions, kv_caches, meta) -> hidden``; ``compute_logits(hidden)``.
    num_blocks, block_size : int
        KV pool geometry.
    max_num_tokens, max_num_seqs, max_model_len : int
        The scheduler's limits (size the batch buffers).
    eos_token_ids : Sequence[int]
    use_cuda_graphs : bool
        On CUDA with a graph-safe backend (triton): replay captured graphs for pure-decode
        steps (``genai_rt.model.cuda_graph``); everything else runs eagerly.
    """

    def __init__(
        self,
        model: LlamaForCausalLM,
        num_blocks: int,
        block_size: int,
        max_num_tokens: int,
        max_num_seqs: int,
        max_model_len: int,
        eos_token_ids: Sequence[int],
        use_cuda_graphs: bool = False,
    ) -> None:
        cfg = model.config
        self.model = model
        self.block_size = block_size
        self.device = model.embed_tokens.device
        dtype = model.embed_tokens.dtype
        # kv_caches[layer]: [2, num_blocks, block_size, kv_heads, head_dim]
        self.kv_caches = [
            torch.zeros(2, num_blocks, block_size, cfg.num_key_value_heads, cfg.head_dim,
                        dtype=dtype, device=self.device)
            for _ in range(cfg.num_hidden_layers)
        ]
        self.vocab_size = cfg.vocab_size
        self.bitmask_words = math.ceil(cfg.vocab_size / 32)
        self.builder = BatchBuilder(
            max_num_tokens, max_num_seqs, math.ceil(max_model_len / block_size), self.device
        )
        self.sampler = Sampler(cfg.vocab_size, eos_token_ids)
        self._mask_worker = ThreadPoolExecutor(1, thread_name_prefix="genai_rt-grammar")
        self._graphs: Any = None
        if use_cuda_graphs and self.device.type == "cuda":
            from genai_rt.model.cuda_graph import DEFAULT_BATCH_SIZES, CudaGraphDecodeRunner

            sizes = [b for b in DEFAULT_BATCH_SIZES if b <= max_num_seqs] or [1]
            self._graphs = CudaGraphDecodeRunner(model, self.kv_caches, sizes)
            self._graphs.capture()
            logger.info("captured CUDA graphs for decode batch sizes %s", sizes)

    def execute(
        self,
        kv: KvCacheManager,
        sched: SchedulerOutput,
        rows_of: Callable[[list[int]], list[SamplingRow]],
        masks_of: Callable[[list[int]], tuple[list[int], MaskFiller] | None],
    ) -> StepResult:
        """Run one step.

        Parameters
        ----------
        kv : KvCacheManager
        sched : SchedulerOutput
        rows_of : callable
            Sampling rows for the given indices into ``sched.seqs``.
        masks_of : callable
            For the sampled indices: ``(sample rows that are constrained, filler)`` or None.
        """
        batch = self.builder.build(kv, sched, self.block_size)
        seq_rows = batch.sampled_seq_rows
        pending: Future[None] | None = None
        bitmask: torch.Tensor | None = None
        masked_rows: list[int] | None = None
        grammar = masks_of(seq_rows) if seq_rows else None
        if grammar is not None:
            masked_rows, fill = grammar
            # bitmask: [len(masked_rows), ceil(V / 32)] int32, all tokens allowed by default
            bitmask = torch.full((len(masked_rows), self.bitmask_words), -1, dtype=torch.int32)
            pending = self._mask_worker.submit(fill, bitmask)
        if self._graphs is not None:  # replays a graph for pure decode, else runs eagerly
            hidden = self._graphs.forward(batch.input_ids, batch.positions, batch.meta)
        else:
            hidden = self.model(batch.input_ids, batch.positions, self.kv_caches, batch.meta)
        if not seq_rows:
            if pending is not None:
                pending.result()
            return StepResult(seq_rows, None)
        # hidden: [T, H] -> logits: [num_sampled, V] float32
        logits = self.model.compute_logits(hidden.index_select(0, batch.sample_indices))
        if pending is not None:
            pending.result()  # re-raises a matcher error here, on the engine thread
        rows = rows_of(seq_rows)
        try:
            return StepResult(seq_rows, self.sampler(logits, rows, bitmask, masked_rows))
        except SamplingError as err:  # fail those rows alone; the rest of the batch goes on
            return self._sample_without(err, seq_rows, logits, rows, bitmask, masked_rows)

    def _sample_without(
        self, err: SamplingError, seq_rows: list[int], logits: torch.Tensor,
        rows: list[SamplingRow], bitmask: torch.Tensor | None, masked_rows: list[int] | None,
    ) -> StepResult:
        bad = set(err.rows)
        keep = [i for i in range(len(seq_rows)) if i not in bad]
        failed = [seq_rows[i] for i in sorted(bad)]
        if not keep:
            return StepResult([], None, failed, err)
        if bitmask is not None and masked_rows is not None:
            new_index = {old: new for new, old in enumerate(keep)}
            kept_masks = [j for j, r in enumerate(masked_rows) if r in new_index]
            masked_rows = [new_index[masked_rows[j]] for j in kept_masks]
            bitmask = bitmask[kept_masks] if kept_masks else None
            masked_rows = masked_rows if kept_masks else None
        sampled = self.sampler(logits[keep], [rows[i] for i in keep], bitmask, masked_rows)
        return StepResult([seq_rows[i] for i in keep], sampled, failed, err)

    def shutdown(self) -> None:
        self._mask_worker.shutdown(wait=True)
