"""Matcher operations: EOS and termination, rollback, jump-forward, masks, batch, caching."""

from __future__ import annotations

import pytest
import torch
from genai_rt import _core
from genai_rt.sampling import Grammar, GrammarMatcher, fill_next_token_bitmask_batch

TOKENS = [
    b"a",
    b"b",
    b"ab",
    b"abc",
    b"c",
    b"1",
    b"12",
    b"{",
    b"}",
    b'"',
    b"",
    b"",
    b"\xc3",
    b"\xa9",
]
EOS, SPECIAL = 10, 11  # empty byte strings: EOS and a special token
VOCAB_SIZE = 40  # ids 14..39 are padding


@pytest.fixture(scope="module")
def vocab() -> _core.Vocabulary:
    return _core.Vocabulary(TOKENS, VOCAB_SIZE, [EOS], [SPECIAL])


def allowed(m: GrammarMatcher) -> set[int]:
    mask = Grammar.allocate_bitmask(1, VOCAB_SIZE)
    m.fill_next_token_bitmask(mask)
    bits = ((mask[0].unsqueeze(1) >> torch.arange(32, dtype=torch.int32)) & 1).flatten()
    return set(torch.nonzero(bits).flatten().tolist())


def ids(*tokens: bytes) -> set[int]:
    return {TOKENS.index(t) for t in tokens}


def test_masks_eos_and_termination(vocab: _core.Vocabulary) -> None:
    m = GrammarMatcher(Grammar.from_regex("ab?c?", vocab))
    assert allowed(m) == ids(b"a", b"ab", b"abc")
    assert m.accept_token(TOKENS.index(b"a"))
    assert allowed(m) == ids(b"b", b"c") | {EOS}
    assert not m.accept_token(TOKENS.index(b"a"))  # forbidden: state unchanged
    assert allowed(m) == ids(b"b", b"c") | {EOS}
    assert m.accept_token(EOS) and m.is_terminated()
    assert allowed(m) == {EOS}  # a terminated matcher only offers EOS
    assert not m.accept_token(TOKENS.index(b"b"))
    assert not m.accept_token(EOS)


def test_special_padding_and_eos_rules(vocab: _core.Vocabulary) -> None:
    m = GrammarMatcher(Grammar.from_regex("a*", vocab))
    assert EOS in allowed(m)  # the empty string is complete
    assert not m.accept_token(SPECIAL)
    assert not m.accept_token(VOCAB_SIZE - 1)  # padding id
    assert not m.accept_token(-1)
    assert all(i < len(TOKENS) for i in allowed(m))
    m2 = GrammarMatcher(Grammar.from_regex("a+", vocab))
    assert EOS not in allowed(m2) and not m2.accept_token(EOS)


def test_rollback_restores_state_including_termination(vocab: _core.Vocabulary) -> None:
    m = GrammarMatcher(Grammar.from_regex("(ab|c)+1", vocab))
    for tok in [b"ab", b"c", b"ab"]:
        assert m.accept_token(TOKENS.index(tok))
    before = allowed(m)
    assert m.accept_token(TOKENS.index(b"1")) and m.accept_token(EOS)
    m.rollback(2)
    assert not m.is_terminated() and allowed(m) == before
    m.rollback(3)
    assert allowed(m) == ids(b"a", b"ab", b"abc", b"c")
    with pytest.raises(ValueError, match="only 0 accepted"):
        m.rollback(1)


def test_jump_forward_text(vocab: _core.Vocabulary) -> None:
    g = Grammar.from_json_schema(
        {"type": "object", "properties": {"key": {"enum": ["aé1", "aé2"]}}, "required": ["key"]},
        vocab,
        whitespace="compact",
    )
    m = GrammarMatcher(g)
    assert m.jump_forward_text() == '{"key":"aé'
    assert m.accept_string(b'{"key":"a\xc3')  # a token that ends inside "é"
    assert m.jump_forward_bytes() == b"\xa9"
    assert m.jump_forward_text() == ""  # the rest of a character is not text
    assert m.accept_string(b"\xa91")
    assert m.jump_forward_text() == '"}'
    assert m.accept_string('"}') and m.jump_forward_text() == ""
    # "é" and "ê" share their first byte: the forced \xc3 is cut, never half a character.
    m2 = GrammarMatcher(Grammar.from_choices(["xé", "xê"], vocab))
    assert m2.jump_forward_bytes() == b"x"


def test_reset(vocab: _core.Vocabulary) -> None:
    m = GrammarMatcher(Grammar.from_regex("abc", vocab))
    assert m.accept_token(TOKENS.index(b"ab"))
    m.reset()
    assert allowed(m) == ids(b"a", b"ab", b"abc")


def test_bitmask_shapes_and_validation(vocab: _core.Vocabulary) -> None:
    g = Grammar.from_regex("a", vocab)
    m = GrammarMatcher(g)
    assert Grammar.allocate_bitmask(3, 65).shape == (3, 3)
    wide = torch.full((2, 4), -1, dtype=torch.int32)  # wider rows: the tail words are zeroed
    m.fill_next_token_bitmask(wide, row=1)
    assert wide[1].tolist() == [1 << TOKENS.index(b"a"), 0, 0, 0] and wide[0, 0] == -1
    with pytest.raises(TypeError, match="int32"):
        m.fill_next_token_bitmask(torch.zeros((1, 2), dtype=torch.int64))
    with pytest.raises(ValueError, match="needs 2"):
        m.fill_next_token_bitmask(torch.zeros((1, 1), dtype=torch.int32))
    with pytest.raises(IndexError, match="row 2"):
        m.fill_next_token_bitmask(torch.zeros((2, 2), dtype=torch.int32), row=2)
    with pytest.raises(ValueError, match="contiguous"):
        m.fill_next_token_bitmask(torch.zeros((2, 4), dtype=torch.int32).t())
    with pytest.raises(TypeError, match="Vocabulary"):
        Grammar.from_regex("a", object())
    with pytest.raises(ValueError, match="batch and vocab_size"):
        Grammar.allocate_bitmask(0, 10)


def test_bitmask_layout_rechecked_after_in_place_changes(vocab: _core.Vocabulary) -> None:
    m = GrammarMatcher(Grammar.from_regex("a", vocab))
    mask = Grammar.allocate_bitmask(2, VOCAB_SIZE)
    m.fill_next_token_bitmask(mask, row=1)
    m.fill_next_token_bitmask(mask, row=1)  # the cached layout
    assert mask[1, 0] == 1 << TOKENS.index(b"a")
    mask.resize_(2, 1)  # same storage, rows now too narrow
    with pytest.raises(ValueError, match="needs 2"):
        m.fill_next_token_bitmask(mask, row=1)


def test_batch_fill_equals_single_fills(vocab: _core.Vocabulary) -> None:
    grammars = [Grammar.from_regex(p, vocab) for p in ["a+b", "(ab|c)*", "1?2", "[abc]{2}"]]
    matchers = [GrammarMatcher(g) for g in grammars for _ in range(5)]
    for i, m in enumerate(matchers):
        if i % 2 and m.grammar.source == "(ab|c)*":
            assert m.accept_token(TOKENS.index(b"ab"))
    batch = Grammar.allocate_bitmask(len(matchers) + 1, VOCAB_SIZE)
    rows = list(range(1, len(matchers) + 1))
    fill_next_token_bitmask_batch(matchers, batch, rows)
    for m, row in zip(matchers, rows, strict=True):
        single = Grammar.allocate_bitmask(1, VOCAB_SIZE)
        m.fill_next_token_bitmask(single)
        assert torch.equal(batch[row], single[0])
    assert batch[0].eq(0).all()
    with pytest.raises(ValueError, match="twice"):
        fill_next_token_bitmask_batch([matchers[0], matchers[0]], batch)
    with pytest.raises(ValueError, match="same bitmask row"):
        fill_next_token_bitmask_batch(matchers[:2], batch, [1, 1])


def test_compiled_grammars_are_cached(vocab: _core.Vocabulary) -> None:
    a = Grammar.from_regex("a(b|c)", vocab)
    assert Grammar.from_regex("a(b|c)", vocab) is a
    assert Grammar.from_regex("a(b|c)", vocab, limits={"max_dfa_states": 1000}) is not a
    assert Grammar.from_json_schema({"type": "integer"}, vocab) is Grammar.from_json_schema(
        '{"type": "integer"}', vocab
    )
    other = _core.Vocabulary(TOKENS, VOCAB_SIZE, [EOS], [SPECIAL])
    assert Grammar.from_regex("a(b|c)", other) is not a


def test_mask_cache_is_shared_and_bounded(vocab: _core.Vocabulary) -> None:
    g = Grammar.from_regex("[ab]{0,40}", vocab, limits={"mask_cache_bytes": 1000})
    m = GrammarMatcher(g)
    for _ in range(40):
        allowed(m)
        assert m.accept_token(TOKENS.index(b"a"))
        assert g.memory_bytes < 1000 + g._handle.memory_bytes  # the cache stays under its bound
    m2 = GrammarMatcher(g)
    assert allowed(m2) == allowed(GrammarMatcher(g))
