"""VectorIndex backends: exactness, agreement, recall, updates, persistence, fallback."""

from __future__ import annotations

import numpy as np
import pytest
from genai_rt.retrieval import VectorIndex
from genai_rt.retrieval.hnsw_index import HnswIndex


def reference(queries, rows, ids, k, metric, allowed=None):
    """Exact (ids, scores) by numpy; ties to the smaller position, as the backends do."""
    q = queries.astype(np.float32)
    x = rows.astype(np.float32)
    keys = q @ x.T if metric == "ip" else 2 * (q @ x.T) - (x * x).sum(1)
    if allowed is not None:
        keys[:, ~np.isin(ids, allowed)] = -np.inf
    order = np.argsort(-keys, axis=1, kind="stable")[:, :k]
    return ids[order], order


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("metric", ["ip", "l2"])
@pytest.mark.parametrize("batch", [1, 5, 64])
def test_cpu_exact_matches_numpy(dtype, metric, batch):
    rng = np.random.default_rng(batch)
    rows = rng.standard_normal((1823, 45)).astype(np.float32)
    ids = rng.permutation(10_000)[:1823].astype(np.int64)
    index = VectorIndex.create("cpu_exact", 45, metric, dtype, num_threads=2)
    index.add(ids, rows)
    queries = rng.standard_normal((batch, 45)).astype(np.float32)
    allowed = ids[rng.random(1823) < 0.3]
    stored = rows.astype(np.float16) if dtype == "float16" else rows
    for allow in (None, allowed):
        hits = index.search(queries, 7, allowed_ids=allow)
        want, _ = reference(queries, stored, ids, 7, metric, allow)
        np.testing.assert_array_equal(hits.ids, want)
        visible = 1823 if allow is None else len(allow)
        assert all(r.visible_rows == visible and r.complete for r in hits.reports)
    if metric == "l2":
        d = ((queries[:, None, :] - stored[None].astype(np.float32)) ** 2).sum(-1)
        np.testing.assert_allclose(hits.scores, np.sort(np.where(
            np.isin(ids, allowed), d, np.inf), axis=1)[:, :7], rtol=1e-4, atol=1e-3)


def test_exact_backends_return_identical_ids(sentence_vectors):
    _, vectors = sentence_vectors
    rng = np.random.default_rng(0)
    ids = np.arange(len(vectors), dtype=np.int64) * 3 + 1
    cpu = VectorIndex.create("cpu_exact", vectors.shape[1])
    gpu = VectorIndex.create("gpu_exact", vectors.shape[1])
    cpu.add(ids, vectors)
    gpu.add(ids, vectors)
    queries = vectors[rng.choice(len(vectors), 3, replace=False)] + 0.01
    allowed = ids[rng.random(len(ids)) < 0.5]
    a = cpu.search(queries, 10, allowed_ids=allowed)
    b = gpu.search(queries, 10, allowed_ids=allowed)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5, atol=1e-5)
    assert b.reports[0].backend == "gpu_exact" and b.reports[0].visible_rows == len(allowed)


def recall_at(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(e)) / len(e) for f, e in zip(found, exact,
                                                                           strict=True)]))


def test_hnsw_recall_on_minilm_embeddings(sentence_vectors):
    _, vectors = sentence_vectors
    ids = np.arange(len(vectors), dtype=np.int64)
    hnsw = HnswIndex(vectors.shape[1], "ip", ef_search=64)
    hnsw.add(ids, vectors)
    queries = vectors[::2] + 0.05 * vectors[1::2]  # 100 sentences nudged toward another
    exact = hnsw.exact.search(queries, 10).ids
    assert recall_at(hnsw.search(queries, 10).ids, exact) >= 0.95


def test_hnsw_recall_on_100k_clustered_vectors():
    # A Gaussian mixture: uniform random vectors have no neighbourhoods for a graph to find.
    rng = np.random.default_rng(0)
    dim, n = 16, 100_000
    centers = rng.standard_normal((1000, dim)).astype(np.float32) * 3
    rows = centers[rng.integers(0, 1000, n)] + rng.standard_normal((n, dim)).astype(np.float32)
    hnsw = HnswIndex(dim, "l2", M=8, ef_construction=24, ef_search=100)
    hnsw.add(np.arange(n), rows)
    queries = centers[rng.integers(0, 1000, 100)] + rng.standard_normal((100, dim))
    exact = hnsw.exact.search(queries, 10).ids
    assert recall_at(hnsw.search(queries, 10).ids, exact) >= 0.95


def test_hnsw_selective_filter_goes_exact_and_says_so():
    rng = np.random.default_rng(1)
    rows = rng.standard_normal((3000, 24)).astype(np.float32)
    hnsw = HnswIndex(24, "ip", M=8, ef_construction=32, ef_search=16)
    hnsw.add(np.arange(3000), rows)
    allowed = np.arange(0, 3000, 500)  # 6 visible rows (0.2%) scattered through the graph
    hits = hnsw.search(rows[:4], 5, allowed_ids=allowed)
    np.testing.assert_array_equal(hits.ids, hnsw.exact.search(rows[:4], 5, allowed).ids)
    for r in hits.reports:
        assert r.backend == "cpu_exact" and "exact scan" in r.fallback and r.complete
        assert (r.visible_rows, r.k_returned, r.candidates_scanned) == (6, 5, 6)
    # More asked than visible: not an error; the report says how many could come back.
    hits = hnsw.search(rows[:1], 10, allowed_ids=allowed)
    assert hits.reports[0].k_returned == 6 and hits.reports[0].complete
    assert (hits.ids[0, 6:] == -1).all()
    # A broad filter stays on the graph, and counts the candidates its walk checked.
    broad = np.arange(0, 3000, 2)
    hits = hnsw.search(rows[:2], 5, allowed_ids=broad)
    assert all(r.backend == "hnsw" and r.fallback is None for r in hits.reports)
    assert all(0 < r.candidates_scanned < 3000 for r in hits.reports)
    assert np.isin(hits.ids, broad).all()


def test_hnsw_short_walk_falls_back_to_exact(monkeypatch):
    # hnswlib raises when its walk cannot fill k (a graph cut by deletions); simulate that.
    rng = np.random.default_rng(5)
    rows = rng.standard_normal((200, 8)).astype(np.float32)
    hnsw = HnswIndex(8, "ip")
    hnsw.add(np.arange(200), rows)

    def short(query, want, allowed_set):
        return (np.array([7, 8]), np.array([0.5, 0.4], dtype=np.float32)), 42

    monkeypatch.setattr(hnsw, "_walk", short)
    hits = hnsw.search(rows[:1], 5, allowed_ids=np.arange(100))
    report = hits.reports[0]
    assert report.backend == "cpu_exact" and report.fallback.startswith("hnsw found 2 of 5")
    assert report.complete and report.k_returned == 5
    np.testing.assert_array_equal(hits.ids, hnsw.exact.search(rows[:1], 5, np.arange(100)).ids)


@pytest.mark.parametrize("backend", ["cpu_exact", "gpu_exact", "hnsw"])
def test_update_delete_save_load(tmp_path, backend):
    rng = np.random.default_rng(2)
    rows = rng.standard_normal((50, 12)).astype(np.float32)
    index = VectorIndex.create(backend, 12, "l2")
    index.add(np.arange(50), rows)
    index.delete([3, 4])
    index.add([5], rows[3:4])  # id 5 now holds row 3's vector
    assert len(index) == 48 and 3 not in index and 5 in index
    hits = index.search(rows[3], 2)
    assert hits.ids[0, 0] == 5 and abs(hits.scores[0, 0]) < 1e-4
    index.add([3], rows[3:4] + 1)  # a deleted id can come back
    index.save(tmp_path / "ix")
    again = VectorIndex.load(tmp_path / "ix")
    assert again.backend == backend and len(again) == 49
    np.testing.assert_array_equal(again.search(rows[:6], 4).ids, index.search(rows[:6], 4).ids)
