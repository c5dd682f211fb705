"""JSON Schema coverage, checked both ways against ``jsonschema`` with random schemas.

Schemas are drawn from the keywords the lowering now supports (decimal bounds, allOf merges,
min/maxProperties, patternProperties, dependentRequired, if/then/else, not, uniqueItems,
contains, draft-4 tuples); instances from small domains around their edges. Every instance
jsonschema accepts (written in ``properties`` order, the order the grammar generates) must be
accepted in every whitespace style; every instance it refuses must be refused; and random walks
through the grammar must end in instances it accepts.
"""

from __future__ import annotations

import json
import random
from typing import Any

import jsonschema
import pytest
import torch
from genai_rt import _core
from genai_rt.sampling import Grammar, GrammarMatcher, SchemaError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

DECIMALS = [-2.5, -1, -0.25, 0, 0.1, 0.25, 0.5, 1, 1.75, 2, 3.125, 10]
WORDS = ["p", "q", "rr"]


@pytest.fixture(scope="module")
def vocab() -> _core.Vocabulary:
    pieces = [bytes([b]) for b in range(256)]
    return _core.Vocabulary([*pieces, b""], len(pieces) + 1, [len(pieces)], [])


def accepts(grammar: Grammar, text: str) -> bool:
    m = GrammarMatcher(grammar)
    return m.accept_string(text) and m.is_accepting()


@st.composite
def number_schemas(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": draw(st.sampled_from(["number", "integer"]))}
    for key in draw(st.sets(st.sampled_from(
            ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]), max_size=2)):
        schema[key] = draw(st.sampled_from(DECIMALS))
    return schema


@st.composite
def object_schemas(draw: st.DrawFn) -> dict[str, Any]:
    """An object over properties a (number), b (string enum), c (integer) and one feature."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"a": draw(number_schemas()), "b": {"enum": WORDS},
                       "c": {"type": "integer", "minimum": 0, "maximum": 3}},
        "required": draw(st.lists(st.sampled_from("abc"), unique=True, max_size=2)),
    }
    feature = draw(st.sampled_from(["allOf", "count", "pattern", "depends", "if", "not",
                                    "unique", "contains", "tuple"]))
    if feature == "allOf":
        schema = {"allOf": [schema, {"properties": {"a": draw(number_schemas()),
                                                    "b": {"enum": WORDS[1:]}}}]}
    elif feature == "count":
        schema["minProperties"] = draw(st.integers(0, 2))
        schema["maxProperties"] = draw(st.integers(1, 3))
    elif feature == "pattern":
        schema["patternProperties"] = {"^x[0-9]$": {"type": "integer", "maximum": 5}}
        schema["additionalProperties"] = False
    elif feature == "depends":
        schema["dependentRequired"] = {"a": ["c"]}
    elif feature == "if":
        schema["if"] = {"properties": {"b": {"const": "p"}}, "required": ["b"]}
        schema["then"] = {"required": ["c"]}
        schema["else"] = {"properties": {"c": {"maximum": 1}}}
    elif feature == "not":
        schema["not"] = {"required": ["a", "b"]}
    elif feature == "unique":
        schema["properties"]["u"] = {"type": "array", "items": {"enum": [1, 2, 3]},
                                     "uniqueItems": True, "maxItems": 2}
    elif feature == "contains":
        schema["properties"]["u"] = {"type": "array", "items": {"type": "integer"},
                                     "contains": {"const": 2}}
    else:
        schema["$schema"] = "http://json-schema.org/draft-07/schema#"
        schema["properties"]["u"] = {"type": "array", "items": [{"type": "integer"},
                                                                {"enum": WORDS}],
                                     "additionalItems": False}
    return schema


@st.composite
def instances(draw: st.DrawFn) -> dict[str, Any]:
    """Objects with keys in properties order, then pattern keys."""
    out: dict[str, Any] = {}
    if draw(st.booleans()):
        out["a"] = draw(st.sampled_from(DECIMALS + [0.75, 2.25, 11, -3]))
    if draw(st.booleans()):
        out["b"] = draw(st.sampled_from(WORDS + ["s"]))
    if draw(st.booleans()):
        out["c"] = draw(st.integers(-1, 4))
    if draw(st.booleans()):
        out["u"] = draw(st.lists(st.sampled_from([1, 2, 3, "p"]), max_size=3))
    for key in draw(st.lists(st.sampled_from(["x1", "x2", "y"]), unique=True, max_size=2)):
        out[key] = draw(st.integers(4, 6))
    return out


def walk(grammar: Grammar, vocab_size: int, rng: random.Random) -> str | None:
    """Uniformly random allowed tokens until EOS (None if it ran out of steps)."""
    m = GrammarMatcher(grammar)
    mask = Grammar.allocate_bitmask(1, vocab_size)
    bits = torch.arange(32, dtype=torch.int32)
    out = b""
    for _ in range(300):
        m.fill_next_token_bitmask(mask)
        allowed = torch.nonzero(((mask[0].unsqueeze(1) >> bits) & 1).flatten()).flatten()
        tok = int(allowed[rng.randrange(len(allowed))])
        assert m.accept_token(tok)
        if tok == vocab_size - 1:
            return out.decode()
        out += bytes([tok])
    return None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=object_schemas(), candidates=st.lists(instances(), min_size=6, max_size=6),
       seed=st.integers(0, 2**16))
def test_random_schemas_agree_with_jsonschema(vocab: _core.Vocabulary, schema: dict[str, Any],
                                              candidates: list[dict[str, Any]],
                                              seed: int) -> None:
    try:
        g = Grammar.from_json_schema(schema, vocab)
        g_compact = Grammar.from_json_schema(schema, vocab, whitespace="compact")
    except SchemaError as e:
        assert "matches nothing" in str(e), str(e)  # the drawn keywords are all supported
        for inst in candidates:
            assert not jsonschema.validators.validator_for(schema)(schema).is_valid(inst)
        return
    validator = jsonschema.validators.validator_for(schema)(schema)
    parts = schema.get("allOf", [schema])
    declared = {k for part in parts for k in part.get("properties", {})}
    declared |= {"x1", "x2"} if "patternProperties" in schema else set()
    for inst in candidates:
        compact = json.dumps(inst, separators=(",", ":"))
        if validator.is_valid(inst):
            if not set(inst) <= declared:
                continue  # extra keys are valid, but never generated (a documented subset)
            assert accepts(g_compact, compact), f"rejected valid {compact}"
            for text in (json.dumps(inst), json.dumps(inst, indent=2)):
                assert accepts(g, text), f"rejected valid {text}"
        else:
            assert not accepts(g_compact, compact), f"accepted invalid {compact}"
            assert not accepts(g, json.dumps(inst)), f"accepted invalid {json.dumps(inst)}"
    rng = random.Random(seed)
    for _ in range(2):
        text = walk(g, vocab.size, rng)
        if text is not None:
            assert validator.is_valid(json.loads(text)), f"generated invalid {text}"
