"""Masks against a brute-force reference on small vocabularies.

A token is allowed iff some string of the language starts with (prefix + token): no token a
valid completion needs is forbidden, and no token leading to a dead end is allowed. Languages
here are finite (or bounded for the check), so the reference enumerates them: regexes with
`re.fullmatch` over all short strings, tiny JSON schemas by listing instances checked with
`jsonschema`.
"""

from __future__ import annotations

import itertools
import json
import re

import jsonschema
import pytest
import torch
from genai_rt import _core
from genai_rt.sampling import Grammar, GrammarMatcher

EOS = "<eos>"


def make_vocab(pieces: list[str]) -> tuple[_core.Vocabulary, list[str]]:
    """Vocabulary of `pieces` plus one EOS, one special and two padding ids."""
    tokens = sorted(set(pieces))
    token_bytes = [t.encode() for t in tokens] + [b"", b""]  # EOS, a special token
    vocab = _core.Vocabulary(token_bytes, len(token_bytes) + 2, [len(tokens)], [len(tokens) + 1])
    return vocab, tokens


def allowed_ids(matcher: GrammarMatcher, vocab_size: int) -> set[int]:
    mask = Grammar.allocate_bitmask(1, vocab_size)
    matcher.fill_next_token_bitmask(mask)
    bits = ((mask[0].unsqueeze(1) >> torch.arange(32, dtype=torch.int32)) & 1).flatten()
    return set(torch.nonzero(bits[:vocab_size]).flatten().tolist())


def check_against_reference(grammar: Grammar, vocab: _core.Vocabulary, tokens: list[str],
                            language: set[str]) -> int:  # fmt: skip
    """Walk every prefix of every member char by char; compare the mask at each. Returns #checks."""
    eos_id = len(tokens)
    prefixes = sorted({w[:i] for w in language for i in range(len(w) + 1)})
    viable = {w[:i] for w in language for i in range(len(w) + 1)}
    checks = 0
    for prefix in prefixes:
        m = GrammarMatcher(grammar)
        assert m.accept_string(prefix), f"valid prefix {prefix!r} rejected"
        got = allowed_ids(m, vocab.size)
        want = {i for i, t in enumerate(tokens) if prefix + t in viable}
        if prefix in language:
            want.add(eos_id)
        missing = sorted(tokens[i] if i < len(tokens) else EOS for i in want - got)
        extra = sorted(tokens[i] if i < len(tokens) else EOS for i in got - want)
        assert not missing and not extra, f"after {prefix!r}: missing {missing}, dead ends {extra}"
        checks += 1
    return checks


def small_vocab(alphabet: str, max_len: int = 3) -> tuple[_core.Vocabulary, list[str]]:
    pieces = [
        "".join(p) for n in range(1, max_len + 1) for p in itertools.product(alphabet, repeat=n)
    ]
    return make_vocab(pieces)


REGEX_CASES = [
    (r"[ab]{1,3}c?", "abc"),
    (r"(ab|a)(ba)?b{0,2}", "ab"),
    (r"\d{1,2}-[xy]", "019-xy"),
    (r"(foo|fo|f)(o|bar)?", "fobar"),
    (r"a*b", "ab"),  # unbounded: checked on strings up to the enumeration length
    (r"(a|b)*abb", "ab"),
    (r"[^a]b|a", "abc"),
    (r"(ab)*a*", "ab"),
    (r"[ab]*", "ab"),
    (r"x(y|z){2}|xy+", "xyz"),
]


@pytest.mark.parametrize("pattern,alphabet", REGEX_CASES)
def test_regex_masks_equal_brute_force(pattern: str, alphabet: str) -> None:
    # Two-letter alphabets get tokens of up to 4 letters: trie subtrees large enough (>= 8
    # nodes) for the walk's accept-a-whole-subtree shortcut at looping states.
    vocab, tokens = small_vocab(alphabet, max_len=4 if len(alphabet) <= 2 else 3)
    grammar = Grammar.from_regex(pattern, vocab)
    compiled = re.compile(pattern)
    unbounded = "*" in pattern or "+" in pattern
    # Unbounded patterns (2-letter alphabets) are cut at 11 chars; checking prefixes of <= 4
    # leaves room for a 4-char token plus the longest completion these patterns need (3).
    max_len = 11 if unbounded else 7
    language = {
        "".join(p)
        for n in range(max_len + 1)
        for p in itertools.product(alphabet, repeat=n)
        if compiled.fullmatch("".join(p))
    }
    assert language
    bounded = {w for w in language if len(w) <= 4} if unbounded else language
    viable_language = language
    eos_id = len(tokens)
    for prefix in sorted({w[:i] for w in bounded for i in range(len(w) + 1)}):
        m = GrammarMatcher(grammar)
        assert m.accept_string(prefix)
        got = allowed_ids(m, vocab.size)
        want = {
            i for i, t in enumerate(tokens)
            if any(w.startswith(prefix + t) for w in viable_language)
        }  # fmt: skip
        if prefix in language:
            want.add(eos_id)
        assert got == want, (pattern, prefix, sorted(got ^ want))


JSON_ALPHABET_PIECES = ['{"', '":', '",', '"}', ",", ":", "{", "}", "[", "]", '"', "[]", "{}"]


def json_vocab(language: set[str]) -> tuple[_core.Vocabulary, list[str]]:
    """Single characters of the language, its substrings of length 2-4, and JSON punctuation."""
    pieces = set(JSON_ALPHABET_PIECES)
    for w in language:
        for n in range(1, 5):
            pieces.update(w[i : i + n] for i in range(len(w) - n + 1))
    return make_vocab(sorted(pieces))


def compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def test_json_object_optional_properties_brute_force() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"enum": [1, 22, "x"]},
            "b": {"type": "boolean"},
            "c": {"type": "integer", "minimum": -2, "maximum": 11},
        },
        "required": ["b"],
    }
    instances = []
    for a in [None, 1, 22, "x"]:
        for b in [True, False]:
            for c in [None, *range(-2, 12)]:
                obj: dict[str, object] = {}
                if a is not None:
                    obj["a"] = a
                obj["b"] = b
                if c is not None:
                    obj["c"] = c
                instances.append(obj)
    for obj in instances:
        jsonschema.validate(obj, schema)
    language = {compact(o) for o in instances}
    vocab, tokens = json_vocab(language)
    assert 100 < len(tokens) < 1000
    checks = check_against_reference(
        Grammar.from_json_schema(schema, vocab, whitespace="compact"), vocab, tokens, language
    )
    assert checks > 50


def test_json_array_and_string_brute_force() -> None:
    schema = {
        "type": "array",
        "prefixItems": [{"type": "null"}],
        "items": {"type": "string", "enum": ["ab", "b"]},
        "minItems": 1,
        "maxItems": 3,
    }
    tails = [list(t) for n in range(3) for t in itertools.product(["ab", "b"], repeat=n)]
    instances = [[None, *t] for t in tails]
    for inst in instances:
        jsonschema.validate(inst, schema)
    language = {compact(i) for i in instances}
    vocab, tokens = json_vocab(language)
    grammar = Grammar.from_json_schema(schema, vocab, whitespace="compact")
    check_against_reference(grammar, vocab, tokens, language)


def test_json_bounded_string_brute_force() -> None:
    """maxLength counts code points; tokens may split a UTF-8 character (byte-level BPE)."""
    schema = {"type": "string", "minLength": 1, "maxLength": 3}
    strings = ["".join(p) for n in range(1, 4) for p in itertools.product("aé", repeat=n)]
    language = {compact(s).encode() for s in strings}
    pieces = {w[i : i + n] for w in language for n in range(1, 4) for i in range(len(w) - n + 1)}
    pieces |= {b"\\", b"\\n", b"b", b'"b'}  # outside the enumerated alphabet: not compared
    tokens = sorted(pieces)
    token_bytes = [*tokens, b""]
    vocab = _core.Vocabulary(token_bytes, len(token_bytes), [len(tokens)], [])
    grammar = Grammar.from_json_schema(schema, vocab, whitespace="compact")
    covered_bytes = set(b"".join(language))
    covered = {i for i, t in enumerate(tokens) if set(t) <= covered_bytes}
    viable = {w[:i] for w in language for i in range(len(w) + 1)}
    for prefix in sorted(viable):
        m = GrammarMatcher(grammar)
        assert m.accept_string(prefix)
        got = allowed_ids(m, vocab.size)
        want = {i for i in covered if prefix + tokens[i] in viable}
        assert (len(tokens) in got) == (prefix in language), prefix
        assert got & covered == want, (prefix, sorted(tokens[i] for i in (got & covered) ^ want))


@pytest.mark.parametrize("value_type", ["string", ["string", "null"]])
def test_bounded_string_in_object_brute_force(value_type: object) -> None:
    """The plain-character fast path inside an object: tokens cross the closing quote.

    The string alphabet is every character the instances' bytes can spell (keys, punctuation,
    escapes), so the byte-level reference is exact for every token built from those bytes.
    """
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": value_type, "maxLength": 2},
            "aa": {"enum": ["a", "é"]},
        },
        "required": ["a"],
    }
    alphabet = 'aé"\\{}:,'
    values: list[object] = [
        "".join(p) for n in range(3) for p in itertools.product(alphabet, repeat=n)
    ]
    if value_type != "string":
        values.append(None)
    instances = []
    for v in values:
        for extra in [None, "a", "é"]:
            instances.append({"a": v} if extra is None else {"a": v, "aa": extra})
    for inst in instances:
        jsonschema.validate(inst, schema)
    language = {compact(i).encode() for i in instances}
    pieces = {w[i : i + n] for w in language for n in range(1, 5) for i in range(len(w) - n + 1)}
    tokens = sorted(pieces)
    vocab = _core.Vocabulary([*tokens, b""], len(tokens) + 1, [len(tokens)], [])
    grammar = Grammar.from_json_schema(schema, vocab, whitespace="compact")
    viable = {w[:i] for w in language for i in range(len(w) + 1)}
    # Letters of "null" would also be valid string characters (and start escapes like \n or
    # \u): tokens holding them are outside the string alphabet, so they are not compared.
    compared = {i for i, t in enumerate(tokens) if not set(t) & set(b"nul")} | {len(tokens)}
    for prefix in sorted(viable):
        m = GrammarMatcher(grammar)
        assert m.accept_string(prefix)
        got = allowed_ids(m, vocab.size) & compared
        want = {i for i, t in enumerate(tokens) if prefix + t in viable} & compared
        if prefix in language:
            want.add(len(tokens))
        diff = sorted(tokens[i] if i < len(tokens) else b"<eos>" for i in got ^ want)
        assert got == want, (prefix, diff)


@pytest.mark.parametrize("max_length", [3, 63, 64, 65, 70, None])
def test_long_plain_tokens_against_max_length(max_length: int | None) -> None:
    """Tokens longer than the precomputed 64-character buckets are walked, not bucketed."""
    pieces = ["a" * n for n in (1, 3, 63, 64, 65, 70)] + ["é" * 66, "x" * 64 + '"', '"']
    tokens = sorted(set(pieces))
    vocab = _core.Vocabulary(
        [t.encode() for t in tokens] + [b""], len(tokens) + 1, [len(tokens)], []
    )
    schema: dict[str, object] = {"type": "string"}
    if max_length is not None:
        schema["maxLength"] = max_length
    m = GrammarMatcher(Grammar.from_json_schema(schema, vocab, whitespace="compact"))
    assert m.accept_string('"')
    got = allowed_ids(m, vocab.size)
    limit = max_length if max_length is not None else 10**9
    # A token fits if its characters (before any closing quote) stay within maxLength.
    want = {
        i
        for i, t in enumerate(tokens)
        if len(t.split('"')[0]) <= limit and t.count('"') <= 1 and (t.endswith('"') or '"' not in t)
    }
    assert got == want, sorted(tokens[i][:3] + str(len(tokens[i])) for i in got ^ want)
