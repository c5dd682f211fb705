"""Property: no search result is ever outside the principal's boundary, on every backend,
including after updates and deletes (random tenants, labels, queries)."""

from __future__ import annotations

import numpy as np
from genai_rt.config import StoreConfig
from genai_rt.principal import Principal
from genai_rt.retrieval import DocumentStore, UnknownPrincipalError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TENANTS = ["acme", "globex", "initech"]
LABELS = ["hr", "finance", "legal", "eng"]
WORDS = ["budget", "hiring", "contract", "outage", "salary", "audit", "roadmap", "vendor"]

documents = st.lists(
    st.tuples(st.sampled_from(TENANTS), st.frozensets(st.sampled_from(LABELS), max_size=2),
              st.lists(st.sampled_from(WORDS), min_size=1, max_size=4)),
    min_size=3, max_size=10)
principals = st.lists(st.tuples(st.sampled_from(TENANTS),
                                st.frozensets(st.sampled_from(LABELS), max_size=3)),
                      min_size=1, max_size=3)


def check_boundary(store: DocumentStore, truth: dict[str, tuple[str, frozenset[str]]],
                   who: Principal, query: str) -> None:
    visible = {key for key, (tenant, labels) in truth.items() if who.can_see(tenant, labels)}
    try:
        result = store.retrieve(query, who, k=min(5, len(store)))
    except UnknownPrincipalError:
        assert who.tenant not in {t for t, _ in truth.values()}
        return
    got = {p.document_id for p in result.passages}
    assert got <= visible, f"{who} saw {got - visible}"
    assert result.report.visible_rows == len(visible)  # one chunk per document here
    assert result.report.k_returned == min(5, len(store), len(visible))


def run_property(backend: str, embedder, docs, whos, query_words, data):
    store = DocumentStore(StoreConfig(url=":memory:", backend=backend), embedder)
    truth: dict[str, tuple[str, frozenset[str]]] = {}
    for n, (tenant, labels, words) in enumerate(docs):
        key = f"{tenant}/{n}"
        store.add_document(tenant, key, " ".join(words), labels)
        truth[key] = (tenant, labels)
    query = " ".join(query_words)
    for tenant, roles in whos:
        check_boundary(store, truth, Principal(tenant, roles), query)
    # Update a document's labels (and text), delete another, and check again.
    keys = sorted(truth)
    changed = data.draw(st.sampled_from(keys))
    new_labels = data.draw(st.frozensets(st.sampled_from(LABELS), max_size=2))
    tenant = truth[changed][0]
    store.add_document(tenant, changed, "changed " + query, new_labels)
    truth[changed] = (tenant, new_labels)
    gone = data.draw(st.sampled_from(keys))
    store.delete_document(truth[gone][0], gone)
    del truth[gone]
    for tenant, roles in whos:
        check_boundary(store, truth, Principal(tenant, roles), query)
    store.close()


SETTINGS = dict(deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@settings(max_examples=15, **SETTINGS)
@given(docs=documents, whos=principals, query_words=st.lists(st.sampled_from(WORDS), min_size=1,
                                                             max_size=3), data=st.data())
def test_boundary_cpu_exact(memo_embedder, docs, whos, query_words, data):
    run_property("cpu_exact", memo_embedder, docs, whos, query_words, data)


@settings(max_examples=15, **SETTINGS)
@given(docs=documents, whos=principals, query_words=st.lists(st.sampled_from(WORDS), min_size=1,
                                                             max_size=3), data=st.data())
def test_boundary_hnsw(memo_embedder, docs, whos, query_words, data):
    run_property("hnsw", memo_embedder, docs, whos, query_words, data)


# The Triton kernel runs in the CPU interpreter here (about 1 s a search): fewer examples.
@settings(max_examples=3, **SETTINGS)
@given(docs=documents, whos=principals, query_words=st.lists(st.sampled_from(WORDS), min_size=1,
                                                             max_size=3), data=st.data())
def test_boundary_gpu_exact(memo_embedder, docs, whos, query_words, data):
    run_property("gpu_exact", memo_embedder, docs, whos, query_words, data)


def test_bitmap_boundary_at_word_edges():
    # Rows 31, 32, 63, 64 straddle bitmap words: only the allowed ones may come back.
    from genai_rt.retrieval import VectorIndex
    rows = np.ones((70, 4), dtype=np.float32)
    index = VectorIndex.create("cpu_exact", 4)
    index.add(np.arange(70), rows)
    allowed = np.array([31, 64])
    hits = index.search(np.ones(4), 5, allowed_ids=allowed)
    assert sorted(hits.ids[0, :2].tolist()) == [31, 64] and (hits.ids[0, 2:] == -1).all()
