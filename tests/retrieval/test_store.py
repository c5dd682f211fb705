"""DocumentStore end to end on the real embedder: ingest, retrieve, re-ingest, reopen."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from genai_rt.config import StoreConfig
from genai_rt.principal import Principal
from genai_rt.retrieval import DocumentStore, Retrieval
from genai_rt.retrieval.chunking import chunk_text, content_hash
from genai_rt.retrieval.embedder import Embedder

from tests.retrieval.conftest import CORPUS

HR = Principal("acme", frozenset({"hr"}))
EXEC = Principal("acme", frozenset({"exec"}))
NOBODY = Principal("acme")


def make_store(tmp_path: Path, embedder: Embedder, backend: str = "cpu_exact",
               **options: object) -> DocumentStore:
    return DocumentStore(StoreConfig(url=str(tmp_path / "docs.db"), backend=backend,
                                     **options), embedder)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def corpus_db(tmp_path_factory, embedder) -> Path:
    """The example corpus ingested once for tenant acme with label hr (copied per test)."""
    folder = tmp_path_factory.mktemp("corpus_db")
    store = make_store(folder, embedder)
    report = store.ingest_folder(CORPUS, "acme", labels=["hr"], progress=False)
    assert report.added == len(list(CORPUS.glob("*.md"))) and not report.errors
    assert report.chunks_written == len(store) > report.added  # long files span chunks
    store.close()
    return folder / "docs.db"


def corpus_store(corpus_db: Path, tmp_path: Path, embedder: Embedder,
                 backend: str = "cpu_exact") -> DocumentStore:
    shutil.copy(corpus_db, tmp_path / "docs.db")
    return make_store(tmp_path, embedder, backend)


@pytest.mark.parametrize("backend", ["cpu_exact", "hnsw"])
def test_ingest_and_retrieve_the_right_document(tmp_path, embedder, corpus_db, backend):
    store = corpus_store(corpus_db, tmp_path, embedder, backend)
    store.add_document("acme", "merger.md", "The merger with Globex closes in March.",
                       labels={"exec"}, metadata={"kind": "memo"})
    result = store.retrieve("When does the Globex merger close?", EXEC, k=1)
    assert isinstance(result, Retrieval)
    top = result.passages[0]
    assert top.document_id == "merger.md" and top.content_hash == content_hash(top.text)
    assert result.report.backend in (backend, "cpu_exact") and result.report.complete
    # HR cannot see the memo: it never comes back, whatever the query.
    hr = store.retrieve("When does the Globex merger close?", HR, k=5)
    assert all(p.document_id != "merger.md" for p in hr.passages)
    assert hr.report.k_returned == 5
    store.close()


def test_policy_questions_find_their_policy(tmp_path, embedder, corpus_db):
    store = corpus_store(corpus_db, tmp_path, embedder)
    assert store.retrieve("How long do we keep customer data?", HR, k=1) \
        .passages[0].document_id == "07_data_retention.md"
    assert store.retrieve("What is the process for releasing a new version?", HR, k=1) \
        .passages[0].document_id == "11_release_process.md"
    assert store.retrieve("customer data", NOBODY, k=3).report.visible_rows == 0


def test_reingest_touches_only_changed_and_removes_deleted(tmp_path, embedder):
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("01_remote_work_policy.md", "02_expense_policy.md", "05_product_faq.md"):
        shutil.copy(CORPUS / name, folder / name)
    (folder / "short.txt").write_text("Short notes stay in one chunk.")
    store = make_store(tmp_path, embedder)
    first = store.ingest_folder(folder, "acme", progress=False)
    before = {p.chunk_id for p in store.retrieve("expenses", NOBODY, k=len(store)).passages}
    assert first.added == 4 and first.chunks_written == len(store)

    (folder / "02_expense_policy.md").write_text("Expenses over 50 EUR need a receipt.")
    (folder / "05_product_faq.md").unlink()
    (folder / "new.txt").write_text("The office is closed on public holidays.")
    second = store.ingest_folder(folder, "acme", progress=False)
    assert (second.added, second.updated, second.removed, second.unchanged) == (1, 1, 1, 2)
    assert second.chunks_written == 2
    after = store.retrieve("expenses", NOBODY, k=len(store))
    ids = {p.document_id for p in after.passages}
    assert "05_product_faq.md" not in ids and "new.txt" in ids
    assert after.passages[0].document_id == "02_expense_policy.md"
    assert store.meta.document("acme", "02_expense_policy.md").version == 2
    # Unchanged documents keep their chunk ids (they were not rewritten).
    kept = {p.chunk_id for p in after.passages if p.document_id == "01_remote_work_policy.md"}
    assert kept and kept <= before


@pytest.mark.parametrize("backend", ["cpu_exact", "hnsw"])
def test_reopen_restores_the_same_index(tmp_path, embedder, corpus_db, backend):
    store = corpus_store(corpus_db, tmp_path, embedder, backend)
    store.add_document("acme", "extra.md", "Incident reviews happen within five days.")
    store.delete_document("acme", "06_pricing_notes.md")
    expected = store.retrieve("security incident", HR, k=4)
    store.close()
    if backend == "hnsw":
        assert (tmp_path / "docs.db.index" / "hnsw.bin").is_file()
    again = make_store(tmp_path, embedder, backend)
    got = again.retrieve("security incident", HR, k=4)
    assert [p.chunk_id for p in got.passages] == [p.chunk_id for p in expected.passages]
    assert len(again) == len(store)


def test_filters_narrow_by_metadata(tmp_path, embedder):
    store = make_store(tmp_path, embedder)
    for n in range(6):
        store.add_document("acme", f"d{n}.md", f"Quarterly report number {n} on sales.",
                           metadata={"year": 2020 + n % 2, "team": "sales" if n < 3 else "ops"})
    r = store.retrieve("sales report", NOBODY, k=6, filters={"year": 2021})
    assert {p.metadata["year"] for p in r.passages} == {2021} and r.report.visible_rows == 3
    r = store.retrieve("sales report", NOBODY, k=6, filters={"team": ["ops"], "year": [2020]})
    assert [p.document_id for p in r.passages] == ["d4.md"]
    with pytest.raises(ValueError, match="filter key"):
        store.retrieve("x", NOBODY, k=1, filters={"a'b": 1})


def test_chunks_overlap_and_fit_the_window(embedder):
    text = (CORPUS / "03_security_guidelines.md").read_text() * 3
    chunks = chunk_text(text, embedder.tokenizer, max_tokens=64, overlap=16)
    assert len(chunks) > 3
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert len(embedder.token_ids(a.text)) <= 64
        assert b.start < a.end  # consecutive chunks share text
        assert text[b.start:a.end].strip()
    assert chunks[0].start == 0 and chunks[-1].end == len(text.rstrip())
