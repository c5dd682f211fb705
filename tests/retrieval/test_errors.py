"""Bad input gets a clear error that names the problem."""

from __future__ import annotations

import numpy as np
import pytest
from genai_rt.config import StoreConfig
from genai_rt.principal import Principal
from genai_rt.retrieval import DocumentStore, UnknownPrincipalError, VectorIndex
from genai_rt.retrieval.documents import NotTextError

BACKENDS = ["cpu_exact", "hnsw"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_index_rejects_bad_vectors_and_k(backend):
    index = VectorIndex.create(backend, dim=8)
    with pytest.raises(ValueError, match="empty"):
        index.search(np.ones(8), 1)
    with pytest.raises(ValueError, match=r"\[n, 8\]"):
        index.add([1], np.ones((1, 7)))
    bad = np.ones((2, 8))
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match=r"rows \[1\] hold NaN"):
        index.add([1, 2], bad)
    index.add([1, 2], np.eye(8)[:2])
    with pytest.raises(ValueError, match="k must be a positive int"):
        index.search(np.ones(8), 0)
    with pytest.raises(ValueError, match="larger than the index"):
        index.search(np.ones(8), 3)
    with pytest.raises(ValueError, match=r"queries must be \[n, 8\]"):
        index.search(np.ones(5), 1)
    with pytest.raises(ValueError, match="NaN"):
        index.search(np.full(8, np.nan), 1)
    with pytest.raises(KeyError, match="not in the index"):
        index.delete([7])
    with pytest.raises(ValueError, match="unique"):
        index.add([3, 3], np.eye(8)[:2])


def test_index_rejects_bad_parameters():
    with pytest.raises(ValueError, match="backend"):
        VectorIndex.create("faiss", dim=8)
    with pytest.raises(ValueError, match="metric"):
        VectorIndex.create("cpu_exact", dim=8, metric="cosine")
    with pytest.raises(ValueError, match="dim"):
        VectorIndex.create("cpu_exact", dim=0)
    index = VectorIndex.create("cpu_exact", dim=2, dtype="float16")
    with pytest.raises(ValueError, match="float16 range"):
        index.add([1], [[1e6, 0.0]])


def test_store_errors(tmp_path, embedder):
    store = DocumentStore(StoreConfig(url=str(tmp_path / "s.db"), backend="cpu_exact"), embedder)
    who = Principal("acme")
    with pytest.raises(ValueError, match="store is empty"):
        store.retrieve("anything", who, k=1)
    store.add_document("acme", "a.md", "Alpha document about apples.")
    store.add_document("acme", "b.md", "Beta document about bananas.")
    with pytest.raises(ValueError, match="k must be a positive int"):
        store.retrieve("apples", who, k=0)
    with pytest.raises(ValueError, match="larger than the index"):
        store.retrieve("apples", who, k=3)
    with pytest.raises(UnknownPrincipalError, match="unknown tenant 'globex'"):
        store.retrieve("apples", Principal("globex"), k=1)
    with pytest.raises(TypeError, match="Principal"):
        store.retrieve("apples", "acme", k=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-empty"):
        store.retrieve("  ", who, k=1)
    with pytest.raises(NotTextError, match="NUL"):
        store.add_document("acme", "c.md", "bin\x00ary")
    # A different tenant with no access to these documents sees nothing, and is told so.
    store.add_document("globex", "g.md", "Globex only.")
    r = store.retrieve("apples", Principal("globex", frozenset({"x"})), k=2)
    assert [p.document_id for p in r.passages] == ["g.md"] and r.report.visible_rows == 1


def test_folder_ingest_reports_files_that_are_not_text(tmp_path, embedder):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "ok.md").write_text("A fine markdown file.")
    (folder / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (folder / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (folder / "broken.json").write_text("{not json")
    (folder / "doc.json").write_text('{"text": "JSON body", "labels": ["legal"], '
                                     '"metadata": {"lang": "en"}}')
    store = DocumentStore(StoreConfig(url=str(tmp_path / "s.db"), backend="cpu_exact"), embedder)
    report = store.ingest_folder(folder, "acme", progress=False)
    errors = dict(report.errors)
    assert set(errors) == {"image.txt", "latin1.txt", "broken.json"}
    assert "NUL" in errors["image.txt"] and "UTF-8" in errors["latin1.txt"]
    assert "invalid JSON" in errors["broken.json"]
    assert report.added == 2
    doc = store.meta.document("acme", "doc.json")
    assert doc is not None and doc.labels == {"legal"} and doc.metadata == {"lang": "en"}


def test_store_config_is_validated():
    with pytest.raises(ValueError, match="chunk_overlap"):
        StoreConfig(chunk_tokens=10, chunk_overlap=10)
    with pytest.raises(ValueError, match="backend"):
        StoreConfig(backend="annoy")
    with pytest.raises(ValueError, match="PostgreSQL"):
        StoreConfig(url="postgresql://db/x")
