"""cpu_exact: the C++ scan in csrc/search (vectorized, all cores) behind the VectorIndex API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from genai_rt import _core
from genai_rt.retrieval.dense_rows import DenseRows, DenseRowsIndex
from genai_rt.retrieval.index import VectorIndex, available_cores, report_rows
from genai_rt.retrieval.report import SearchHits

METRIC_CODES = {"ip": 0, "l2": 1}


class CpuExactIndex(DenseRowsIndex, VectorIndex):
    """Exact search on CPU: every visible row is scored, on ``num_threads`` cores (0: all)."""

    backend = "cpu_exact"

    def __init__(self, dim: int, metric: str = "ip", dtype: str = "float32",
                 num_threads: int = 0) -> None:
        super().__init__(dim, metric, dtype)
        if not isinstance(num_threads, int) or num_threads < 0:
            raise ValueError(f"num_threads must be an int >= 0, got {num_threads!r}")
        self.num_threads = num_threads
        self.rows = DenseRows(dim, dtype)

    def search_slots(self, queries: np.ndarray, k: int, words: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, slots) of the k best slots allowed by ``words``; slot -1 past the visible."""
        n = self.rows.used
        threads = self.num_threads or available_cores()
        return _core.exact_top_k(
            queries, self.rows.vectors[:n], self.rows.norms[:n] if self.metric == "l2" else None,
            words, k, METRIC_CODES[self.metric], threads)

    def _search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None) -> SearchHits:
        words, visible = self.rows.allow_bitmap(allowed)
        scores, slots = self.search_slots(queries, k, words)
        ids = np.where(slots >= 0, self.rows.slot_ids[np.maximum(slots, 0)], -1)
        return SearchHits(ids, scores, report_rows(ids, scores, k, visible, visible,
                                                   self.backend))

    def _save(self, folder: Path) -> None:
        self.rows.save(folder)

    def _load(self, folder: Path) -> None:
        self.rows.load(folder)

    def _options(self) -> dict[str, Any]:
        return {"num_threads": self.num_threads}
