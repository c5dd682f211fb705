"""Vector search on CPU, side by side in one process: genai_rt against faiss-cpu and numpy.

- exact: cpu_exact (csrc/search; fp32 and fp16 storage) against faiss ``IndexFlatIP`` and a
  plain numpy GEMM + argpartition, 100k x 384 float32, batch 1 and batch 64, top-10;
- HNSW: genai_rt's hnsw backend (hnswlib) against faiss ``IndexHNSWFlat``, both M=16,
  ef_construction=100, on a 384-d Gaussian mixture (uniform random data has no neighbourhoods);
  the smallest ef (of a sweep) reaching recall@10 >= 0.95 against exact, and its QPS;
- ingest: documents/s through DocumentStore.ingest_folder (chunking, MiniLM embedding, SQLite).

Every row is the median of several timed calls; the threads are the same for all. Usage:
``python benchmarks/compare_vector_search_cpu.py [--rows 100000] [--threads 2]``
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


# perf_counter (wall) by default; --cpu-time switches to process CPU time, which on a box shared
# by many busy processes leaves out the time this process waits for a core (fair at 1 thread).
CLOCK = time.perf_counter


def median_s(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up (page faults, thread start, first-call allocations)
    times = []
    for _ in range(repeats):
        t = CLOCK()
        fn()
        times.append(CLOCK() - t)
    return statistics.median(times)


def numpy_topk(queries: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    scores = queries @ rows.T
    part = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.take_along_axis(scores, part, 1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(part, order, 1)


def exact_table(n: int, dim: int, threads: int, k: int) -> list[tuple[str, int, float]]:
    import faiss
    from genai_rt.retrieval import VectorIndex

    rng = np.random.default_rng(0)
    rows = rng.standard_normal((n, dim)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    queries = rows[rng.choice(n, 64, replace=False)] + 0.01
    flat = faiss.IndexFlatIP(dim)
    flat.add(rows)
    ours32 = VectorIndex.create("cpu_exact", dim, "ip", "float32", num_threads=threads)
    ours16 = VectorIndex.create("cpu_exact", dim, "ip", "float16", num_threads=threads)
    ours32.add(np.arange(n), rows)
    ours16.add(np.arange(n), rows)
    out = []
    for batch in (1, 64):
        q = queries[:batch]
        want = flat.search(q, k)[1]
        assert (ours32.search(q, k).ids == want).mean() > 0.99, "cpu_exact disagrees with faiss"
        repeats = 30 if batch == 1 else 8
        for name, fn in (
            ("faiss IndexFlatIP", lambda q=q: flat.search(q, k)),
            ("numpy GEMM + argpartition", lambda q=q: numpy_topk(q, rows, k)),
            ("cpu_exact fp32", lambda q=q: ours32.search(q, k)),
            ("cpu_exact fp16", lambda q=q: ours16.search(q, k)),
        ):
            out.append((name, batch, batch / median_s(fn, repeats)))
    return out


def gaussian_mixture(n: int, dim: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    centers = rng.standard_normal((n // 100, dim)).astype(np.float32)
    rows = centers[rng.integers(0, len(centers), n)] \
        + 0.5 * rng.standard_normal((n, dim)).astype(np.float32)
    queries = centers[rng.integers(0, len(centers), 200)] \
        + 0.5 * rng.standard_normal((200, dim)).astype(np.float32)
    return rows, queries


def hnsw_table(n: int, dim: int, threads: int, k: int) -> list[tuple[str, int, float, float]]:
    import faiss
    from genai_rt.retrieval.hnsw_index import HnswIndex

    rng = np.random.default_rng(1)
    rows, queries = gaussian_mixture(n, dim, rng)
    ours = HnswIndex(dim, "l2", M=16, ef_construction=100, num_threads=threads)
    t = time.perf_counter()
    ours.add(np.arange(n), rows)
    ours_build = time.perf_counter() - t
    theirs = faiss.IndexHNSWFlat(dim, 16)
    theirs.hnsw.efConstruction = 100
    t = time.perf_counter()
    theirs.add(rows)
    faiss_build = time.perf_counter() - t
    exact = ours.exact.search(queries, k).ids
    print(f"  build: hnswlib {ours_build:.1f} s, faiss HNSWFlat {faiss_build:.1f} s")

    def recall(found: np.ndarray) -> float:
        return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(found, exact,
                                                                          strict=True)]))

    out = []
    for name, set_ef, search in (
        ("genai_rt hnsw (hnswlib)", lambda ef: setattr(ours, "ef_search", ef),
         lambda: ours.search(queries, k).ids),
        ("faiss IndexHNSWFlat", lambda ef: setattr(theirs.hnsw, "efSearch", ef),
         lambda: theirs.search(queries, k)[1]),
    ):
        for ef in (16, 24, 32, 48, 64, 96, 128, 192, 256):
            set_ef(ef)
            r = recall(search())
            if r >= 0.95:
                out.append((f"{name} ef={ef}", len(queries), len(queries) / median_s(search, 3),
                            r))
                break
        else:
            out.append((f"{name} (recall < 0.95 at ef 256)", len(queries), 0.0, r))
    return out


def ingest_rate(threads: int) -> tuple[int, int, float]:
    import torch
    from genai_rt.config import StoreConfig
    from genai_rt.retrieval import DocumentStore

    torch.set_num_threads(threads)
    corpus = REPO / "examples" / "corpus"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "docs"
        folder.mkdir()
        for copy in range(4):  # 4 copies of the example corpus, each file a distinct document
            for f in sorted(corpus.glob("*.md")):
                shutil.copy(f, folder / f"{copy}_{f.name}")
        store = DocumentStore(StoreConfig(url=str(Path(tmp) / "s.db"), backend="cpu_exact"))
        t = time.perf_counter()
        report = store.ingest_folder(folder, "bench", progress=False)
        seconds = time.perf_counter() - t
        store.close()
    return report.added, report.chunks_written, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--hnsw-rows", type=int, default=100_000)
    parser.add_argument("--exact-only", action="store_true", help="skip HNSW and ingest")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with process CPU time instead of wall time")
    args = parser.parse_args()
    if args.cpu_time:
        global CLOCK
        CLOCK = time.process_time
    import faiss

    faiss.omp_set_num_threads(args.threads)
    from genai_rt import _core

    print(f"exact top-10, {args.rows} x {args.dim}, {args.threads} threads, "
          f"{'process CPU' if args.cpu_time else 'wall'} time "
          f"(cpu_exact AVX2 path: {_core.exact_top_k_uses_avx2})")
    exact = exact_table(args.rows, args.dim, args.threads, 10)
    base = {b: q for name, b, q in exact if name.startswith("faiss")}
    print("| method | batch | QPS | vs faiss |\n|---|---:|---:|---:|")
    for name, batch, qps in exact:
        print(f"| {name} | {batch} | {qps:.1f} | {qps / base[batch]:.2f}x |")
    if args.exact_only:
        return 0
    print(f"\nHNSW, {args.hnsw_rows} x {args.dim} Gaussian mixture, recall@10 >= 0.95")
    print("| method | queries | QPS | recall@10 |\n|---|---:|---:|---:|")
    for name, count, qps, rec in hnsw_table(args.hnsw_rows, args.dim, args.threads, 10):
        print(f"| {name} | {count} | {qps:.0f} | {rec:.3f} |")
    docs, chunks, seconds = ingest_rate(args.threads)
    print(f"\ningest: {docs} documents ({chunks} chunks) in {seconds:.1f} s = "
          f"{docs / seconds:.1f} documents/s, {chunks / seconds:.1f} chunks/s (MiniLM on CPU, "
          f"{args.threads} threads)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
