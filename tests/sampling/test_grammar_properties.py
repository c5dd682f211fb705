"""Property tests of the grammar engine against the references (jsonschema, re.fullmatch).

1. Sampling uniformly among the tokens the bitmask allows, until EOS, always yields text the
   reference accepts (on generated schemas and regexes whose languages are finite, so the walk
   must end: it is given 4,096 tokens, far above the longest text these schemas allow).
2. Valid instances (hypothesis' own from_regex; our instance generator for schemas), serialized
   compactly and tokenized by real tokenizers (Qwen2.5, Llama-3.1), are accepted token by
   token: each token's bit is set in the mask, accept_token agrees, and EOS is allowed at the end
   (also under cl100k_base).

Property 1 runs on a small vocabulary (Qwen2.5's first 2,048 tokens: all 256 bytes and common
merges, plus an EOS) to keep masks cheap, and on fewer examples with the full Qwen2.5 vocabulary;
property 2 on the full vocabularies. Dates get a denser property of their own.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import genai_rt.sampling as sampling
import numpy as np
import pytest
from genai_rt.sampling import Vocabulary
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sampling.real_tokenizers import (
    CL100K_SPECIAL_TOKENS,
    MissingTokenizerData,
    cl100k_encoding,
    cl100k_token_bytes,
    tokenizer_json_path,
)
from tests.sampling.strategies import (
    json_schemas,
    reference_validator,
    regexes,
    schema_instances,
)

tokenizers = pytest.importorskip("tokenizers")

requires_grammar = pytest.mark.skipif(
    not hasattr(sampling, "Grammar"),
    reason="genai_rt.sampling has no Grammar: the grammar engine (branch grammar) is not merged",
)
# derandomize: the same examples on every CI run; a failure found once stays reproducible.
PROPERTY_SETTINGS = settings(
    deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                           HealthCheck.data_too_large],
)
MAX_SAMPLED_TOKENS = 4096
DATE_FORMATS = ["date", "date-time"]
SMALL_VOCAB_TOKENS = 2048
REAL_TOKENIZERS = ["qwen2.5", "llama-3.1", "cl100k"]


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _tokenizer_path(name: str) -> Any:
    try:
        return tokenizer_json_path(name)
    except MissingTokenizerData as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def small_vocab() -> Vocabulary:
    qwen = Vocabulary.from_tokenizer_json(_tokenizer_path("qwen2.5"))
    tokens = qwen.token_bytes[:SMALL_VOCAB_TOKENS] + [b"<|endoftext|>"]
    assert {t for t in tokens if len(t) == 1} == {bytes([b]) for b in range(256)}
    vocab = Vocabulary(tokens, eos_token_ids=[SMALL_VOCAB_TOKENS],
                       special_token_ids=[SMALL_VOCAB_TOKENS])
    if hasattr(sampling, "Grammar"):
        vocab.native()  # build the core's trie once per module
    return vocab


@dataclass(frozen=True)
class RealVocab:
    """A real vocabulary and its tokenizer's encode; a short repr for hypothesis' reports."""

    name: str
    vocab: Vocabulary
    encode: Callable[[str], list[int]]

    def __repr__(self) -> str:
        return f"RealVocab({self.name})"


_REAL_VOCABS: dict[str, RealVocab] = {}


def _real_vocab(name: str) -> RealVocab:
    if name in _REAL_VOCABS:
        return _REAL_VOCABS[name]
    try:
        if name == "cl100k":
            token_bytes = cl100k_token_bytes()
            holes = [i for i, t in enumerate(token_bytes) if not t]
            vocab = Vocabulary(token_bytes, eos_token_ids=[CL100K_SPECIAL_TOKENS["<|endoftext|>"]],
                               special_token_ids=[*CL100K_SPECIAL_TOKENS.values(), *holes])
            encode = cl100k_encoding().encode_ordinary
        else:
            path = tokenizer_json_path(name)
            vocab = Vocabulary.from_tokenizer_json(path)
            tokenizer = tokenizers.Tokenizer.from_file(str(path))

            def encode(text: str) -> list[int]:
                return tokenizer.encode(text, add_special_tokens=False).ids
    except MissingTokenizerData as exc:
        pytest.skip(str(exc))
    if hasattr(sampling, "Grammar"):
        vocab.native()  # the core's trie, built once per vocabulary
    _REAL_VOCABS[name] = RealVocab(name, vocab, encode)
    return _REAL_VOCABS[name]


@pytest.fixture(scope="module", params=REAL_TOKENIZERS)
def real_vocab(request: pytest.FixtureRequest) -> RealVocab:
    return _real_vocab(request.param)


def allowed_tokens(bitmask: Any, vocab_size: int) -> np.ndarray:
    """Ids whose bit is set in row 0 (bit i of int32 word w allows token 32w+i)."""
    bits = np.unpackbits(bitmask[0].numpy().view(np.uint8), bitorder="little")
    return np.flatnonzero(bits[:vocab_size])


def sample_uniformly(grammar: Any, vocab: Vocabulary, rng: random.Random) -> bytes:
    """Walk the grammar picking uniformly among allowed tokens until EOS; return the bytes."""
    matcher = sampling.GrammarMatcher(grammar)
    bitmask = sampling.Grammar.allocate_bitmask(1, vocab.size)
    eos = set(vocab.eos_token_ids)
    out = bytearray()
    for _ in range(MAX_SAMPLED_TOKENS):
        matcher.fill_next_token_bitmask(bitmask, 0)
        allowed = allowed_tokens(bitmask, vocab.size)
        assert allowed.size, f"dead end: no token allowed after {bytes(out)!r}"
        token = int(allowed[rng.randrange(allowed.size)])
        assert matcher.accept_token(token), f"mask allowed {token} but accept_token refused it"
        if token in eos:
            assert matcher.is_terminated()
            return bytes(out)
        out += vocab.token_bytes[token]
    raise AssertionError(f"no EOS after {MAX_SAMPLED_TOKENS} tokens: {bytes(out)[:200]!r}...")


def accept_token_by_token(grammar: Any, vocab: Vocabulary, ids: list[int]) -> None:
    matcher = sampling.GrammarMatcher(grammar)
    bitmask = sampling.Grammar.allocate_bitmask(1, vocab.size)
    for step, token in enumerate(ids):
        matcher.fill_next_token_bitmask(bitmask, 0)
        prefix = b"".join(vocab.token_bytes[t] for t in ids[:step])
        word, bit = divmod(token, 32)
        assert (int(bitmask[0, word]) >> bit) & 1, (
            f"mask forbids token {step} {vocab.token_bytes[token]!r} after {prefix!r}")
        assert matcher.accept_token(token), f"accept_token refused {token} after {prefix!r}"
    matcher.fill_next_token_bitmask(bitmask, 0)
    assert set(allowed_tokens(bitmask, vocab.size)) & set(vocab.eos_token_ids), \
        "EOS forbidden after a complete valid text"
    assert matcher.accept_token(vocab.eos_token_ids[0]) and matcher.is_terminated()


# --- the generators and the reference, checked without the engine --------------------------

@settings(PROPERTY_SETTINGS, max_examples=60)
@given(data=st.data(), bounded=st.booleans())
def test_generated_instances_satisfy_their_schemas(data: st.DataObject, bounded: bool) -> None:
    schema = data.draw(json_schemas(bounded=bounded), label="schema")
    instance = data.draw(schema_instances(schema), label="instance")
    reference_validator(schema).validate(instance)


@pytest.mark.parametrize(("fmt", "value", "ok"), [
    ("time", "23:59:59Z", True), ("time", "23:59:59", False), ("time", "24:00:00Z", False),
    ("date-time", "2024-02-29T08:30:00+05:30", True), ("date-time", "2023-02-29T08:30:00Z", False),
    ("date", "2024-13-01", False), ("uuid", "12345678-1234-1234-1234-1234567890ab", True),
    ("ipv4", "256.1.1.1", False),
])
def test_reference_format_checks(fmt: str, value: str, ok: bool) -> None:
    assert reference_validator({"type": "string", "format": fmt}).is_valid(value) is ok


# --- property 1: uniform sampling stays inside the language ----------------------------------

def whitespace_outside_strings(text: str) -> bool:
    """True if JSON text has whitespace between tokens (compact JSON has none).

    Not ``text == compact(json.loads(text))``: escapes such as ``\\/`` or ``\\u0041`` are
    valid compact JSON that json.dumps spells differently.
    """
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in " \t\n\r":
            return True
    return False


def test_whitespace_outside_strings() -> None:
    assert not whitespace_outside_strings(r'{"a b":["\" x\\",1]}')
    assert whitespace_outside_strings('{"a":1, "b":2}')
    assert whitespace_outside_strings('[1,"\\\\" ,2]')


def _check_sampled_json(schema: dict[str, Any], vocab: Vocabulary, rng: random.Random) -> None:
    grammar = sampling.Grammar.from_json_schema(compact(schema), vocab, whitespace="compact")
    for _ in range(3):
        text = sample_uniformly(grammar, vocab, rng).decode("utf-8")
        reference_validator(schema).validate(json.loads(text))
        assert not whitespace_outside_strings(text), f"not compact JSON: {text!r}"


@requires_grammar
@settings(PROPERTY_SETTINGS, max_examples=40)
@given(data=st.data())
def test_sampled_json_is_valid(small_vocab: Vocabulary, data: st.DataObject) -> None:
    schema = data.draw(json_schemas(bounded=True), label="schema")
    _check_sampled_json(schema, small_vocab, data.draw(st.randoms(use_true_random=False)))


@requires_grammar
@settings(PROPERTY_SETTINGS, max_examples=20)
@given(data=st.data())
def test_sampled_json_is_valid_full_vocab(data: st.DataObject) -> None:
    """The same on Qwen2.5's 151,665 tokens: multi-byte tokens that cross JSON structure."""
    vocab = _real_vocab("qwen2.5").vocab
    schema = data.draw(json_schemas(bounded=True), label="schema")
    _check_sampled_json(schema, vocab, data.draw(st.randoms(use_true_random=False)))


# This property found the engine's date grammar taking every day 01-31 in every month and year
# 0000 (fixed on branch grammar); dense sampling of dates keeps it fixed.
@requires_grammar
@settings(PROPERTY_SETTINGS, max_examples=40)
@given(data=st.data())
def test_sampled_dates_are_valid(small_vocab: Vocabulary, data: st.DataObject) -> None:
    fmt = data.draw(st.sampled_from(DATE_FORMATS), label="format")
    schema = {"type": "object", "properties": {"d": {"type": "string", "format": fmt}},
              "required": ["d"], "additionalProperties": False}
    _check_sampled_json(schema, small_vocab, data.draw(st.randoms(use_true_random=False)))


@requires_grammar
@pytest.mark.parametrize("value", [
    "2023-02-29", "2023-02-30", "2023-04-31", "1900-02-29", "0000-01-01",
    "2023-02-30T12:00:00Z",
])
def test_date_formats_reject_impossible_dates(value: str) -> None:
    fmt = "date-time" if "T" in value else "date"
    schema = {"type": "string", "format": fmt}
    assert not reference_validator(schema).is_valid(value)
    vocab = Vocabulary([bytes([b]) for b in range(256)] + [b"<eos>"], eos_token_ids=[256],
                       special_token_ids=[256])
    grammar = sampling.Grammar.from_json_schema(schema, vocab, whitespace="compact")
    matcher = sampling.GrammarMatcher(grammar)
    assert not (matcher.accept_string(json.dumps(value)) and matcher.is_accepting())


@requires_grammar
@settings(PROPERTY_SETTINGS, max_examples=60)
@given(data=st.data())
def test_sampled_regex_text_fullmatches(small_vocab: Vocabulary, data: st.DataObject) -> None:
    pattern = data.draw(regexes(bounded=True), label="pattern")
    grammar = sampling.Grammar.from_regex(pattern, small_vocab)
    rng = data.draw(st.randoms(use_true_random=False), label="rng")
    for _ in range(3):
        text = sample_uniformly(grammar, small_vocab, rng).decode("utf-8")
        assert re.fullmatch(pattern, text, re.ASCII), f"{text!r} does not match {pattern!r}"


# --- property 2: valid texts are accepted token by token under real tokenizers ---------------

@requires_grammar
@settings(PROPERTY_SETTINGS, max_examples=20)
@given(data=st.data())
def test_valid_json_instances_are_accepted(real_vocab: RealVocab, data: st.DataObject) -> None:
    schema = data.draw(json_schemas(bounded=False), label="schema")
    text = compact(data.draw(schema_instances(schema), label="instance"))
    grammar = sampling.Grammar.from_json_schema(schema, real_vocab.vocab)
    accept_token_by_token(grammar, real_vocab.vocab, real_vocab.encode(text))


@pytest.mark.skip(reason="hypothesis 6.155's st.from_regex(fullmatch=True) never returns a draw "
                  "for a pattern this derandomized run reaches (py-spy: stuck in "
                  "FilteredStrategy.do_filtered_draw); the regex direction stays covered by "
                  "test_sampled_regex_text_fullmatches and test_grammar_regex_ebnf's exhaustive "
                  "checks against re")
@requires_grammar
@settings(PROPERTY_SETTINGS, max_examples=25)
@given(data=st.data())
def test_valid_regex_strings_are_accepted(real_vocab: RealVocab, data: st.DataObject) -> None:
    pattern = data.draw(regexes(bounded=False), label="pattern")
    text = data.draw(st.from_regex(re.compile(pattern, re.ASCII), fullmatch=True), label="text")
    grammar = sampling.Grammar.from_regex(pattern, real_vocab.vocab)
    accept_token_by_token(grammar, real_vocab.vocab, real_vocab.encode(text))
