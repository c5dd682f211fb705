"""The deny-list / PII automaton and its per-state token bans (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from genai_rt.pipeline.denylist import ByteAutomaton, PatternError, TokenBanTable
from genai_rt.sampling.vocabulary import Vocabulary

PII = (r"\d{3}-\d{2}-\d{4}", r"[a-z0-9._]+@[a-z0-9-]+\.[a-z]+", r"\d{4} \d{4} \d{4} \d{4}")


def test_terms_match_case_insensitively_across_any_split() -> None:
    a = ByteAutomaton(["Project Nightingale", "floor price"])
    assert a.contains_match("about PROJECT nightingale today")
    assert a.contains_match("the Floor Price is")
    assert not a.contains_match("project night owl; price floor")
    state = a.advance(0, b"Project Night")  # a partial match survives a token boundary
    assert not a.accepting[state]
    assert a.accepting[a.advance(state, b"ingale")]


@pytest.mark.parametrize("text, hit", [
    ("my ssn is 123-45-6789.", True), ("call 123-456-789", False),
    ("write to jane.doe@acme.example", True), ("at acme dot com", False),
    ("card 4111 1111 1111 1111", True), ("4111 1111 1111", False),
])
def test_pii_patterns(text: str, hit: bool) -> None:
    assert ByteAutomaton([], PII).contains_match(text) is hit


@pytest.mark.parametrize("pattern, message", [
    ("(a|b)", "groups and alternation"), ("*a", "nothing to repeat"), ("[a-", "unterminated"),
    (r"\q", "unsupported escape"), ("a{3,1}", "bad repeat"),
])
def test_pattern_errors_are_clear(pattern: str, message: str) -> None:
    with pytest.raises(PatternError, match=message):
        ByteAutomaton([], [pattern])


def _brute_force_allowed(a: ByteAutomaton, state: int, tokens: list[bytes]) -> np.ndarray:
    allowed = np.ones(len(tokens), dtype=bool)
    for t, data in enumerate(tokens):
        s = state
        for b in data:
            s = int(a.transitions[s, b])
            if a.accepting[s]:
                allowed[t] = False
                break
    return allowed


def test_token_bans_equal_brute_force_on_the_real_vocabulary(real_vocab: Vocabulary) -> None:
    vocab = real_vocab
    a = ByteAutomaton(["Project Nightingale", "floor price"], PII)
    table = TokenBanTable(a, vocab.token_bytes)
    rng = np.random.default_rng(0)
    for prefix in (b"", b"The project nightingal", b"ssn 123-45-678", b"mail bob@acme."):
        state = a.advance(0, prefix)
        words = table.allowed_words(state)
        bits = np.unpackbits(words.numpy().view(np.uint8), bitorder="little")[: vocab.size]
        # every banned token plus a random 3000 (the full vocabulary takes ~10 s here)
        ids = np.union1d(np.flatnonzero(bits == 0), rng.choice(vocab.size, 3000, replace=False))
        expected = _brute_force_allowed(a, state, [vocab.token_bytes[i] for i in ids])
        assert np.array_equal(bits[ids].astype(bool), expected), prefix
        if prefix:  # e.g. "e", "9" and "com" complete a match: banned
            assert not expected.all(), prefix


def test_apply_ands_into_the_grammar_mask() -> None:
    tokens = [b"a", b"floor", b" price", b"x", b""]
    table = TokenBanTable(ByteAutomaton(["floor price"]), tokens)
    state = table  # noqa: F841 - readability
    from genai_rt.pipeline.denylist import DenyListFilter

    s = DenyListFilter(table).new_state()
    row = torch.full((1,), -1, dtype=torch.int32)
    s.apply(row)
    assert row.item() & 0b11111 == 0b11111
    s.accept(1)  # "floor"
    row = torch.full((1,), 0b10101, dtype=torch.int32)  # grammar allows a, " price", ""
    s.apply(row)
    assert row.item() & 0b11111 == 0b10001  # " price" banned, the grammar's bans kept
