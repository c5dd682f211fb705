"""What a search returns: hits plus a completeness report, so under-retrieval is never silent."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SearchReport:
    """How complete one query's results are.

    Attributes
    ----------
    k_asked:
        The k the caller asked for.
    k_returned:
        Results returned; less than ``k_asked`` only when fewer rows are visible.
    visible_rows:
        Rows the caller may see (allowed by the access boundary and filters, not deleted).
    candidates_scanned:
        Rows scored: every visible row for the exact backends; for HNSW the candidates its
        graph walk checked against the filter (None when it ran unfiltered, as it does not
        count them then).
    backend:
        The backend that produced the results ("cpu_exact", "gpu_exact" or "hnsw").
    fallback:
        Why the results came from an exact scan instead of the backend first tried, else None.
    """

    k_asked: int
    k_returned: int
    visible_rows: int
    candidates_scanned: int | None
    backend: str
    fallback: str | None = None

    @property
    def complete(self) -> bool:
        """True when every result that could be returned was: ``min(k, visible)`` of them."""
        return self.k_returned == min(self.k_asked, self.visible_rows)


@dataclass(frozen=True)
class SearchHits:
    """Results of a batch of queries, best first.

    Attributes
    ----------
    ids:
        int64 [queries, k]; -1 past a query's ``k_returned``.
    scores:
        float32 [queries, k]: inner product (larger first) or squared L2 distance (smaller
        first), by the index's metric.
    reports:
        One :class:`SearchReport` per query.
    """

    ids: np.ndarray
    scores: np.ndarray
    reports: list[SearchReport]
