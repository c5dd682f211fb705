"""Absurd inputs: clear errors or compiles bounded by configurable limits, never a hang.

The wall-clock bounds below are hang detectors (10x the measured time), not benchmarks.
"""

from __future__ import annotations

import time

import pytest
from genai_rt import _core
from genai_rt.sampling import Grammar, GrammarError, GrammarLimits, GrammarMatcher, SchemaError


@pytest.fixture(scope="module")
def vocab() -> _core.Vocabulary:
    pieces = [bytes([b]) for b in range(256)]
    return _core.Vocabulary([*pieces, b""], len(pieces) + 1, [len(pieces)], [])


def test_ten_thousand_property_schema_is_bounded(vocab: _core.Vocabulary) -> None:
    schema = {"type": "object", "properties": {f"p{i}": {"type": "integer"} for i in range(10_000)}}
    start = time.monotonic()
    with pytest.raises(GrammarError, match="max_(nfa|dfa)_states|max_compile_ms"):
        Grammar.from_json_schema(schema, vocab, limits={"max_dfa_states": 50_000})
    assert time.monotonic() - start < 30
    # With room to spare it compiles, and the output is still checked property by property.
    g = Grammar.from_json_schema(
        {"type": "object", "properties": {f"p{i}": {"type": "integer"} for i in range(300)}},
        vocab,
    )
    m = GrammarMatcher(g)
    assert m.accept_string('{"p0":1,"p299":2}') and m.is_accepting()
    assert not m.accept_string(',"p5":1')  # p5 comes before p299


def test_megabyte_regex_hits_a_limit_quickly(vocab: _core.Vocabulary) -> None:
    pattern = "ab" * (1 << 19)  # 1 MiB
    start = time.monotonic()
    with pytest.raises(GrammarError, match="max_dfa_states|max_nfa_states|max_source_bytes"):
        Grammar.from_regex(pattern, vocab, limits={"max_dfa_states": 100_000})
    assert time.monotonic() - start < 30
    with pytest.raises(GrammarError, match="max_source_bytes=1000"):
        Grammar.from_regex(pattern, vocab, limits={"max_source_bytes": 1000})


def test_repetition_blowups_hit_limits(vocab: _core.Vocabulary) -> None:
    for pattern, limit in [
        ("(a{1000}){1000}", "max_nfa_states"),
        ("(a|b)*a(a|b){20}", "max_dfa_states"),
    ]:
        start = time.monotonic()
        with pytest.raises(GrammarError, match=limit):
            Grammar.from_regex(
                pattern, vocab, limits={"max_nfa_states": 200_000, "max_dfa_states": 20_000}
            )
        assert time.monotonic() - start < 30


def test_compile_time_limit(vocab: _core.Vocabulary) -> None:
    with pytest.raises(GrammarError, match="max_compile_ms"):
        Grammar.from_regex("[a-z]{0,3000}x[0-9]{0,3000}", vocab, limits={"max_compile_ms": 1})


def test_ref_cycles_and_deep_nesting(vocab: _core.Vocabulary) -> None:
    cycle = {"$defs": {f"d{i}": {"$ref": f"#/$defs/d{(i + 1) % 500}"} for i in range(500)}}
    cycle["$ref"] = "#/$defs/d0"
    with pytest.raises(ValueError, match="matches no string|deeper than 128"):
        Grammar.from_json_schema(cycle, vocab)
    short_cycle = {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}}
    short_cycle["$ref"] = "#/$defs/a"
    with pytest.raises(GrammarError, match="matches no string"):
        Grammar.from_json_schema(short_cycle, vocab)
    deep: dict = {"type": "integer"}
    for _ in range(1000):
        deep = {"type": "array", "items": deep}
    with pytest.raises(SchemaError, match="deeper than 128"):
        Grammar.from_json_schema(deep, vocab)
    with pytest.raises(GrammarError, match="nested deeper"):
        Grammar.from_regex("(" * 1000 + "a" + ")" * 1000, vocab)
    with pytest.raises(GrammarError, match="nested deeper"):
        Grammar.from_ebnf("root ::= " + "(" * 1000 + '"a"' + ")" * 1000, vocab)


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="max_dfa_states must be a positive number"):
        GrammarLimits(max_dfa_states=0)
    with pytest.raises(ValueError, match="unknown grammar limit"):
        Grammar.from_regex("a", _core.Vocabulary([b"a"], 1, [], []), limits={"max_states": 3})


def test_bad_vocabularies() -> None:
    with pytest.raises(ValueError, match="vocab_size"):
        _core.Vocabulary([b"a", b"b"], 1, [], [])
    with pytest.raises(ValueError, match="eos token id 5"):
        _core.Vocabulary([b"a"], 2, [5], [])
    with pytest.raises(ValueError, match="special token id -1"):
        _core.Vocabulary([b"a"], 2, [], [-1])
