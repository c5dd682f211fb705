"""Grounding grammars under the real vocabulary, and the store's boundaries.

Property: whatever tokens a (random) model picks among those the grammar allows, a citation
outside the retrieved ids cannot come out, and an extractive answer is only verbatim sentences
of the passage it names.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
import torch
from genai_rt.pipeline.grounding import (
    Passage,
    citation_schema,
    extractive_ebnf,
    parse_extractive,
    relevant,
    split_sentences,
)
from genai_rt.pipeline.store_adapter import GroundingStore
from genai_rt.principal import Principal
from genai_rt.sampling.grammar import Grammar, GrammarMatcher
from genai_rt.sampling.vocabulary import Vocabulary
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

IDS = st.lists(st.from_regex(r"[a-z]{1,8}-[a-z0-9]{1,6}#[0-9]", fullmatch=True),
               min_size=1, max_size=5, unique=True)


@pytest.fixture(scope="module")
def vocab(real_vocab: Vocabulary) -> Vocabulary:
    return real_vocab


def random_walk(grammar: Grammar, vocab: Vocabulary, seed: int, max_steps: int = 400) -> bytes:
    """Decode by picking uniformly among the tokens the grammar allows."""
    rng = random.Random(seed)
    m = GrammarMatcher(grammar)
    bitmask = Grammar.allocate_bitmask(1, vocab.size)
    out = b""
    for _ in range(max_steps):
        m.fill_next_token_bitmask(bitmask, 0)
        bits = torch.from_numpy(bitmask[0].numpy().view("uint8").copy())
        allowed = [i for i in torch.nonzero(_unpack(bits)).flatten().tolist() if i < vocab.size]
        eos = [t for t in allowed if t in vocab.eos_token_ids]
        # finish as soon as the grammar allows it half of the time, so walks stay short
        token = eos[0] if eos and rng.random() < 0.5 else rng.choice(allowed)
        assert m.accept_token(token)
        if m.is_terminated():
            return out
        out += vocab.token_bytes[token]
    raise AssertionError(f"walk did not finish in {max_steps} steps: {out[:200]!r}")


def _unpack(bits: torch.Tensor) -> torch.Tensor:
    shifts = torch.arange(8, dtype=torch.uint8)
    return ((bits.unsqueeze(1) >> shifts) & 1).flatten()


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ids=IDS, seed=st.integers(0, 2**16))
def test_citations_can_only_be_retrieved_ids(vocab: Vocabulary, ids: list[str],
                                             seed: int) -> None:
    grammar = Grammar.from_json_schema(citation_schema(ids, max_chars=12), vocab)
    value = json.loads(random_walk(grammar, vocab, seed))
    assert value["citations"] and set(value["citations"]) <= set(ids)


PASSAGES = [
    Passage("leave#0", "leave.json", "Employees receive 16 weeks of paid parental leave. "
            "Leave is requested in the \"HR portal\".", 0.9, "h"),
    Passage("pension#0", "pension.json", "The company matches contributions up to 5%. "
            "Matching starts on day one!", 0.8, "h"),
]


@pytest.fixture(scope="module")
def extractive_grammar(vocab: Vocabulary) -> Grammar:
    return Grammar.from_ebnf(extractive_ebnf(PASSAGES, 2), vocab)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16))
def test_extractive_answers_are_verbatim_tagged_sentences(
        vocab: Vocabulary, extractive_grammar: Grammar, seed: int) -> None:
    grammar = extractive_grammar
    draft = parse_extractive(random_walk(grammar, vocab, seed).decode())
    assert draft.parse_error is None and 1 <= len(draft.quotes) <= 2
    assert len(set(draft.quotes)) == len(draft.quotes)  # no sentence quoted twice
    by_id = {p.id: split_sentences(p.text) for p in PASSAGES}
    for pid, quote in draft.quotes:
        assert quote in by_id[pid]


def test_no_sentence_can_be_quoted_twice(vocab: Vocabulary) -> None:
    one = [Passage("a#0", "a.json", "Only one sentence here.", 0.9, "h")]
    grammar = Grammar.from_ebnf(extractive_ebnf(one, 3), vocab)
    line = "[a#0] Only one sentence here."
    once = GrammarMatcher(grammar)
    assert once.accept_string(line) and once.is_accepting()
    assert not GrammarMatcher(grammar).accept_string(line + "\n" + line)


def test_weak_passages_are_not_offered() -> None:
    scored = [Passage(f"p{i}", "d", "x", score, "h") for i, score in enumerate([0.46, 0.4, 0.2])]
    assert [p.id for p in relevant(scored)] == ["p0", "p1"]
    negative = [Passage("n", "d", "x", -0.1, "h")]
    assert relevant(negative) == negative  # nothing better to prefer: keep what there is


def test_banned_sentences_leave_the_grammar() -> None:
    text = extractive_ebnf(PASSAGES, 1, banned=["Matching starts on day one!"])
    assert "Matching starts" not in text and "matches contributions" in text
    with pytest.raises(ValueError, match="no passage sentence is left"):
        extractive_ebnf(PASSAGES[:1], 1, banned=split_sentences(PASSAGES[0].text))


def test_tenant_a_retrieves_nothing_of_tenant_b(grounding_store: GroundingStore) -> None:
    for tenant, other in (("acme", "globex"), ("globex", "acme")):
        who = Principal(tenant, frozenset({"employee", "sales", "finance", "leadership"}))
        for q in ("How many weeks of parental leave?", "Globex pipeline and acme expenses"):
            r = grounding_store.retrieve(q, who, 8)
            assert r.passages
            assert not [p for p in r.passages if p.id.startswith(other)], (tenant, q)
            assert r.report["complete"]


def test_labels_and_exclusions_hold_inside_the_search(grounding_store: GroundingStore) -> None:
    employee = Principal("acme", frozenset({"employee"}))
    sales = Principal("acme", frozenset({"employee", "sales"}))
    q = "What is the floor price of the Enterprise plan?"
    seen = {p.document_id for p in grounding_store.retrieve(q, employee, 10).passages}
    assert "acme-pricing-floor.json" not in seen and "acme-pipeline.json" not in seen
    seen = {p.document_id for p in grounding_store.retrieve(q, sales, 10).passages}
    assert "acme-pricing-floor.json" in seen
    r: Any = grounding_store.retrieve(q, sales, 10, {
        "exclude_classifications": ["confidential_pricing"]})
    assert "acme-pricing-floor.json" not in {p.document_id for p in r.passages}
    assert r.report["excluded_classifications"] == ["confidential_pricing"]
