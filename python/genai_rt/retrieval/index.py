"""VectorIndex: one interface, three backends (cpu_exact, gpu_exact, hnsw).

Every backend takes the access boundary INTO the search: ``search(..., allowed_ids=...)`` turns
the allowed ids into an allow-bitmap (exact backends) or a filter callback (HNSW), so a row the
caller may not see is never a candidate. Every search returns a :class:`SearchReport` per query.

Ids are the caller's int64 ids (the document store's chunk ids). Adding an id that is already
present replaces its vector (update); deleting an unknown id is an error.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from genai_rt.retrieval.report import SearchHits, SearchReport

METRICS = ("ip", "l2")
STORAGE_DTYPES = ("float32", "float16")
BACKENDS = ("auto", "cpu_exact", "gpu_exact", "hnsw")
FP16_MAX = 65504.0


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class VectorIndex(ABC):
    """Add / update / delete vectors by id; search the k nearest the caller may see.

    Parameters
    ----------
    dim:
        Vector length.
    metric:
        "ip" (inner product, larger first; cosine on normalized vectors) or "l2" (squared
        Euclidean distance, smaller first).
    dtype:
        Storage type, "float32" or "float16" (halves the bytes a batch-1 scan reads).

    Use :meth:`create` to pick a backend by name.
    """

    backend: ClassVar[str] = ""

    def __init__(self, dim: int, metric: str = "ip", dtype: str = "float32") -> None:
        if not isinstance(dim, int) or isinstance(dim, bool) or dim <= 0:
            raise ValueError(f"dim must be a positive int, got {dim!r}")
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        if dtype not in STORAGE_DTYPES:
            raise ValueError(f"dtype must be one of {STORAGE_DTYPES}, got {dtype!r}")
        self.dim = dim
        self.metric = metric
        self.dtype = dtype

    @staticmethod
    def create(backend: str = "auto", dim: int = 384, metric: str = "ip",
               dtype: str = "float32", **options: Any) -> VectorIndex:
        """A new empty index of the named backend ("auto": gpu_exact on CUDA, else cpu_exact)."""
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if backend == "auto":
            from genai_rt.device import cuda_available
            backend = "gpu_exact" if cuda_available() else "cpu_exact"
        if backend == "cpu_exact":
            from genai_rt.retrieval.cpu_exact import CpuExactIndex
            return CpuExactIndex(dim, metric, dtype, **options)
        if backend == "gpu_exact":
            from genai_rt.retrieval.gpu_exact import GpuExactIndex
            return GpuExactIndex(dim, metric, dtype, **options)
        from genai_rt.retrieval.hnsw_index import HnswIndex
        return HnswIndex(dim, metric, dtype, **options)

    # -- the interface ---------------------------------------------------------------------------

    def add(self, ids: Any, vectors: Any) -> None:
        """Insert vectors under ``ids`` (int64 [n]); an id already present is updated."""
        ids_arr = self._check_ids(ids, unique=True)
        self._add(ids_arr, self._check_vectors(vectors, len(ids_arr), "vectors"))

    def delete(self, ids: Any) -> None:
        """Remove ``ids``; every one must be present."""
        ids_arr = self._check_ids(ids, unique=True)
        missing = [int(i) for i in ids_arr if int(i) not in self]
        if missing:
            raise KeyError(f"cannot delete ids not in the index: {missing[:10]}")
        self._delete(ids_arr)

    def search(self, queries: Any, k: int, allowed_ids: Any = None) -> SearchHits:
        """The k best rows per query among ``allowed_ids`` (None: all rows).

        ``queries`` is [dim] or [batch, dim]. Raises ValueError on an empty index, k <= 0, k
        larger than the index, a wrong dimension or non-finite values.
        """
        q = self._check_vectors(queries, None, "queries")
        if not isinstance(k, int | np.integer) or isinstance(k, bool) or k <= 0:
            raise ValueError(f"k must be a positive int, got {k!r}")
        if len(self) == 0:
            raise ValueError("the index is empty: add vectors before searching")
        if k > len(self):
            raise ValueError(f"k={k} is larger than the index ({len(self)} rows)")
        allowed = None if allowed_ids is None else self._check_ids(allowed_ids, unique=False)
        return self._search(q, int(k), allowed)

    def save(self, path: str | Path) -> None:
        """Write the index under ``path`` (a folder); :meth:`load` reads it back."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        meta = {"backend": self.backend, "dim": self.dim, "metric": self.metric,
                "dtype": self.dtype, **self._options()}
        self._save(folder)
        (folder / "index.json").write_text(json.dumps(meta))

    @staticmethod
    def load(path: str | Path) -> VectorIndex:
        """Read an index written by :meth:`save` (its backend is recorded there)."""
        folder = Path(path)
        meta_file = folder / "index.json"
        if not meta_file.is_file():
            raise FileNotFoundError(f"{folder}: no saved index (index.json missing)")
        meta = json.loads(meta_file.read_text())
        index = VectorIndex.create(**meta)
        index._load(folder)
        return index

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def __contains__(self, item: object) -> bool: ...

    @abstractmethod
    def ids(self) -> np.ndarray:
        """Every id in the index (int64, no order promised)."""

    # -- backends implement these -----------------------------------------------------------------

    @abstractmethod
    def _add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    @abstractmethod
    def _delete(self, ids: np.ndarray) -> None: ...

    @abstractmethod
    def _search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None) -> SearchHits: ...

    @abstractmethod
    def _save(self, folder: Path) -> None: ...

    @abstractmethod
    def _load(self, folder: Path) -> None: ...

    def _options(self) -> dict[str, Any]:
        return {}

    # -- checks -----------------------------------------------------------------------------------

    def _check_ids(self, ids: Any, unique: bool) -> np.ndarray:
        arr = np.asarray(ids)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
            raise ValueError(f"ids must be a 1-d array of integers, got shape {arr.shape} "
                             f"dtype {arr.dtype}")
        arr = arr.astype(np.int64, copy=False)
        if arr.size and arr.min() < 0:
            raise ValueError("ids must be >= 0")
        if unique and np.unique(arr).size != arr.size:
            raise ValueError("ids must be unique within one call")
        return arr

    def _check_vectors(self, vectors: Any, count: int | None, name: str) -> np.ndarray:
        arr = np.asarray(vectors)
        if arr.dtype.kind not in "fiu":
            raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2 or arr.shape[1] != self.dim:
            raise ValueError(f"{name} must be [n, {self.dim}] (the index dimension), got shape "
                             f"{tuple(np.shape(vectors))}")
        if count is not None and arr.shape[0] != count:
            raise ValueError(f"{count} ids but {arr.shape[0]} {name}")
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        bad = ~np.isfinite(arr).all(axis=1)
        if bad.any():
            raise ValueError(f"{name} rows {np.flatnonzero(bad)[:10].tolist()} hold NaN or inf")
        if self.dtype == "float16" and name == "vectors" and arr.size \
                and np.abs(arr).max() > FP16_MAX:
            raise ValueError(f"{name} exceed the float16 range (|x| > {FP16_MAX})")
        return arr


def report_rows(ids: np.ndarray, scores: np.ndarray, k: int, visible: int,
                scanned: int | None, backend: str, fallback: str | None = None
                ) -> list[SearchReport]:
    """One report per query row of ``ids`` (-1 marks an empty slot)."""
    returned = (ids >= 0).sum(axis=1)
    return [SearchReport(k, int(n), visible, scanned, backend, fallback) for n in returned]
