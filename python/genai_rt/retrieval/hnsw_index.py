"""hnsw: hnswlib's graph search with the access filter inside its walk, and an exact fallback.

hnswlib checks its ``filter`` callback on each candidate while it walks the graph, so rows the
caller may not see never enter the result heap. With a selective filter the walk can still end
short of k (most neighbours filtered out); then the search reruns on the exact backend over the
same visible rows and the report says so -- never a silent short answer.

A filter that leaves only a small share of the rows goes to the exact scan directly: hnswlib's
filtered walk keeps exploring until it has ``ef`` visible rows, so with 0.2% visible it visits
most of the graph (a scan of 0.2% of the rows is far cheaper), and the report says why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hnswlib
import numpy as np

from genai_rt.retrieval.cpu_exact import CpuExactIndex
from genai_rt.retrieval.index import VectorIndex, available_cores, report_rows
from genai_rt.retrieval.report import SearchHits, SearchReport


class HnswIndex(VectorIndex):
    """Approximate search (hnswlib) with an exact companion for the fallback.

    Parameters
    ----------
    M, ef_construction:
        hnswlib graph parameters (links per node; build-time beam width).
    ef_search:
        Search beam width (raised to k when k is larger).
    num_threads:
        Threads for batched unfiltered queries and inserts (0: all cores).
    exact_below:
        Share of visible rows below which a filtered search scans exactly instead.

    The graph holds float32 vectors; ``dtype`` sets the exact companion's storage.
    """

    backend = "hnsw"

    def __init__(self, dim: int, metric: str = "ip", dtype: str = "float32", M: int = 16,
                 ef_construction: int = 200, ef_search: int = 64, num_threads: int = 0,
                 exact_below: float = 0.02) -> None:
        super().__init__(dim, metric, dtype)
        for name, value in (("M", M), ("ef_construction", ef_construction),
                            ("ef_search", ef_search)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.M, self.ef_construction, self.ef_search = M, ef_construction, ef_search
        if not 0.0 <= exact_below <= 1.0:
            raise ValueError(f"exact_below must be in [0, 1], got {exact_below!r}")
        self.num_threads = num_threads
        self.exact_below = exact_below
        self.exact = CpuExactIndex(dim, metric, dtype, num_threads)
        self.graph = self._new_graph(1024)

    def _new_graph(self, capacity: int) -> hnswlib.Index:
        graph = hnswlib.Index(space=self.metric, dim=self.dim)
        graph.init_index(max_elements=capacity, M=self.M, ef_construction=self.ef_construction,
                         allow_replace_deleted=True)
        return graph

    def __len__(self) -> int:
        return len(self.exact)

    def __contains__(self, item: object) -> bool:
        return item in self.exact

    def ids(self) -> np.ndarray:
        return self.exact.ids()

    def _threads(self) -> int:
        return self.num_threads or available_cores()

    def _add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        new = int(sum(1 for i in ids.tolist() if i not in self.exact))
        needed = self.graph.element_count + new
        if needed > self.graph.get_max_elements():
            self.graph.resize_index(max(needed, 2 * self.graph.get_max_elements()))
        self.exact.add(ids, vectors)
        # NOTE: one thread for small adds (one document's chunks): starting threads costs more.
        threads = self._threads() if len(ids) >= 1024 else 1
        self.graph.add_items(vectors, ids, num_threads=threads, replace_deleted=True)

    def _delete(self, ids: np.ndarray) -> None:
        self.exact.delete(ids)
        for i in ids.tolist():
            self.graph.mark_deleted(i)

    def _search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None) -> SearchHits:
        if allowed is None:
            visible = len(self)
            allowed_set = None
        else:
            allowed_set = {i for i in allowed.tolist() if i in self.exact}
            visible = len(allowed_set)
        want = min(k, visible)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        scores = np.full((len(queries), k), self._worst(), dtype=np.float32)
        reports: list[SearchReport] = []
        if want == 0:
            return SearchHits(ids, scores, report_rows(ids, scores, k, 0, 0, self.backend))
        if allowed_set is not None and visible < self.exact_below * len(self):
            hits = self.exact.search(queries, k, allowed)
            reason = (f"filter leaves {visible} of {len(self)} rows (under "
                      f"{self.exact_below:.0%}); exact scan instead of a filtered graph walk")
            return SearchHits(hits.ids, hits.scores, [
                SearchReport(k, r.k_returned, visible, r.candidates_scanned, "cpu_exact", reason)
                for r in hits.reports])
        self.graph.set_ef(max(self.ef_search, k))
        for q in range(len(queries)):
            found, scanned = self._walk(queries[q:q + 1], want, allowed_set)
            if found is not None and len(found[0]) == want:
                ids[q, :want], scores[q, :want] = found
                reports.append(SearchReport(k, want, visible, scanned, self.backend))
                continue
            got = 0 if found is None else len(found[0])
            hits = self.exact.search(queries[q:q + 1], k, allowed)
            ids[q], scores[q] = hits.ids[0], hits.scores[0]
            reason = (f"hnsw found {got} of {want} visible rows (filter leaves {visible} of "
                      f"{len(self)}); exact scan instead")
            reports.append(SearchReport(k, hits.reports[0].k_returned, visible,
                                        hits.reports[0].candidates_scanned, "cpu_exact", reason))
        return SearchHits(ids, scores, reports)

    def _walk(self, query: np.ndarray, want: int, allowed_set: set[int] | None
              ) -> tuple[tuple[np.ndarray, np.ndarray] | None, int | None]:
        """((ids, scores) or None when hnswlib cannot fill want, candidates checked)."""
        checked = 0

        def allow(label: int) -> bool:
            nonlocal checked
            checked += 1
            return label in allowed_set  # type: ignore[operator]

        try:
            labels, distances = self.graph.knn_query(
                query, k=want, num_threads=1, filter=None if allowed_set is None else allow)
        except RuntimeError:  # "Cannot return the results in a contiguous 2D array"
            return None, checked
        found = labels[0].astype(np.int64)
        score = 1.0 - distances[0] if self.metric == "ip" else distances[0]
        return (found, score.astype(np.float32)), (None if allowed_set is None else checked)

    def _worst(self) -> float:
        return float("-inf") if self.metric == "ip" else float("inf")

    def _save(self, folder: Path) -> None:
        self.exact.rows.save(folder)
        self.graph.save_index(str(folder / "hnsw.bin"))

    def _load(self, folder: Path) -> None:
        self.exact.rows.load(folder)
        graph = hnswlib.Index(space=self.metric, dim=self.dim)
        graph.load_index(str(folder / "hnsw.bin"), allow_replace_deleted=True)
        self.graph = graph

    def _options(self) -> dict[str, Any]:
        return {"M": self.M, "ef_construction": self.ef_construction,
                "ef_search": self.ef_search, "num_threads": self.num_threads,
                "exact_below": self.exact_below}
