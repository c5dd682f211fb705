"""The flat batch of one step: C++ fills reusable numpy buffers, torch views them without copy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from genai_rt._core import KvCacheManager
from genai_rt.engine.scheduler import SchedulerOutput
from genai_rt.model.attention.base import AttentionMetadata


@dataclass
class StepBatch:
    """Model inputs for one step.

    Attributes
    ----------
    input_ids, positions : int64 [num_tokens]
    meta : AttentionMetadata
    sample_indices : int64 [num_sampled]
        Rows of the flat batch whose hidden state gives a next-token distribution (the last token
        of each sequence whose known tokens are all computed after this step).
    sampled_seq_rows : list[int]
        Index into ``SchedulerOutput.seqs`` of each sampled row.
    """

    input_ids: torch.Tensor
    positions: torch.Tensor
    meta: AttentionMetadata
    sample_indices: torch.Tensor
    sampled_seq_rows: list[int]


class BatchBuilder:
    """Owns the host buffers sized for the scheduler's limits; one ``build`` per step.

    Parameters
    ----------
    max_num_tokens, max_num_seqs, max_blocks_per_seq : int
        Buffer sizes (the scheduler's token budget, sequence limit and model length in blocks).
    device : torch.device
        Where the model runs; CPU batches are zero-copy views of the buffers.
    """

    def __init__(
        self, max_num_tokens: int, max_num_seqs: int, max_blocks_per_seq: int,
        device: torch.device,
    ) -> None:
        self.device = device
        self.input_ids = np.zeros(max_num_tokens, np.int64)
        self.positions = np.zeros(max_num_tokens, np.int64)
        self.slot_mapping = np.zeros(max_num_tokens, np.int64)
        self.block_tables = np.zeros((max_num_seqs, max_blocks_per_seq), np.int32)
        self.seq_lens = np.zeros(max_num_seqs, np.int32)
        self.query_start_loc = np.zeros(max_num_seqs + 1, np.int32)

    def build(self, kv: KvCacheManager, sched: SchedulerOutput, block_size: int) -> StepBatch:
        seq_ids = [s.seq_id for s in sched.seqs]
        shape = kv.build_batch(
            seq_ids, sched.num_new, self.input_ids, self.positions, self.slot_mapping,
            self.block_tables, self.seq_lens, self.query_start_loc,
        )
        t, s, w = shape["num_tokens"], shape["num_seqs"], shape["max_blocks"]
        qsl = self.query_start_loc[: s + 1]
        seq_lens = self.seq_lens[:s]
        sampled_rows = [
            i for i, seq in enumerate(sched.seqs) if seq.num_computed + sched.num_new[i]
            == seq.num_tokens
        ]
        sample_indices = qsl[1:][sampled_rows].astype(np.int64) - 1
        dev = self.device
        meta = AttentionMetadata(
            query_start_loc=_to(qsl, dev),
            seq_lens=_to(seq_lens, dev),
            block_tables=_to(np.ascontiguousarray(self.block_tables[:s, :w]), dev),
            slot_mapping=_to(self.slot_mapping[:t], dev),
            query_lens_host=list(sched.num_new),
            seq_lens_host=seq_lens.tolist(),
            max_query_len=shape["max_query_len"],
            max_seq_len=shape["max_seq_len"],
            block_size=block_size,
        )
        return StepBatch(
            input_ids=_to(self.input_ids[:t], dev),
            positions=_to(self.positions[:t], dev),
            meta=meta,
            sample_indices=torch.from_numpy(sample_indices).to(dev),
            sampled_seq_rows=sampled_rows,
        )


def _to(array: np.ndarray, device: torch.device) -> torch.Tensor:
    # On CPU a view of the reusable buffer: valid until the next build (one step), which is all
    # the forward needs. On CUDA a copy (from pageable memory; small: ~10 bytes per token).
    tensor = torch.from_numpy(array)
    if device.type == "cpu":
        return tensor
    return tensor.to(device, non_blocking=True)
