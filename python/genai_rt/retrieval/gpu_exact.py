"""gpu_exact: the Triton kernel kernels/vector_topk.py (fused similarity + running top-k with an
allow-bitmap) behind the VectorIndex API. Rows live on the GPU; without one, the kernel runs in
Triton's CPU interpreter when ``TRITON_INTERPRET=1`` (how the tests check it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genai_rt.device import cuda_available, triton_usable
from genai_rt.retrieval.dense_rows import DenseRows, DenseRowsIndex
from genai_rt.retrieval.index import VectorIndex, report_rows
from genai_rt.retrieval.report import SearchHits


class GpuExactIndex(DenseRowsIndex, VectorIndex):
    """Exact search on the GPU; the same ids as cpu_exact (ties go to the smaller row).

    With fp16 storage the kernel uses the fp16 tensor-core dot, so queries are rounded to fp16
    too; scores then differ from cpu_exact's (fp32 queries) by about 1e-3 relative.
    """

    backend = "gpu_exact"

    def __init__(self, dim: int, metric: str = "ip", dtype: str = "float32") -> None:
        super().__init__(dim, metric, dtype)
        if not triton_usable():
            raise RuntimeError("gpu_exact needs a CUDA device, or TRITON_INTERPRET=1 to run its "
                               "Triton kernel in the CPU interpreter")
        from genai_rt.kernels.vector_topk import MAX_K, vector_topk
        self._kernel = vector_topk
        self.max_k = MAX_K
        self.device = torch.device("cuda" if cuda_available() else "cpu")
        self.rows = DenseRows(dim, dtype)
        self._uploaded = -1
        self._vectors = torch.empty(0)
        self._norms = torch.empty(0)

    def _sync(self) -> None:
        # NOTE: a change re-uploads every used row; ingest batches changes, searches do not.
        if self._uploaded != self.rows.version:
            n = self.rows.used
            self._vectors = torch.from_numpy(self.rows.vectors[:n].copy()).to(self.device)
            self._norms = torch.from_numpy(self.rows.norms[:n].copy()).to(self.device)
            self._uploaded = self.rows.version

    def _search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None) -> SearchHits:
        if k > self.max_k:
            raise ValueError(f"gpu_exact returns at most k={self.max_k}, got k={k}")
        self._sync()
        words, visible = self.rows.allow_bitmap(allowed)
        allow = torch.from_numpy(words.view(np.int32)).to(self.device)
        q = torch.from_numpy(queries).to(self.device)
        scores, slots = self._kernel(q, self._vectors, k, self.metric, allow,
                                     self._norms if self.metric == "l2" else None)
        slots_np = slots.cpu().numpy()
        ids = np.where(slots_np >= 0, self.rows.slot_ids[np.maximum(slots_np, 0)], -1)
        scores_np = scores.cpu().numpy()
        return SearchHits(ids, scores_np, report_rows(ids, scores_np, k, visible, visible,
                                                      self.backend))

    def _save(self, folder: Path) -> None:
        self.rows.save(folder)

    def _load(self, folder: Path) -> None:
        self.rows.load(folder)
