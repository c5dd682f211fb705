"""JSON Schema front end: accepted/rejected instances per keyword, and clear errors."""

from __future__ import annotations

import datetime as dt
import json
import random

import jsonschema
import pytest
import torch
from genai_rt import _core
from genai_rt.sampling import Grammar, GrammarMatcher, SchemaError


@pytest.fixture(scope="module")
def vocab() -> _core.Vocabulary:
    """Every single byte, some JSON pieces, then EOS (byte-level coverage of any text)."""
    pieces = [bytes([b]) for b in range(256)]
    pieces += [b'{"', b'":', b'",', b'"}', b"true", b"false", b"null", b"12", b"-1", b'":"']
    return _core.Vocabulary([*pieces, b""], len(pieces) + 1, [len(pieces)], [])


def compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def accepts(grammar: Grammar, text: str) -> bool:
    m = GrammarMatcher(grammar)
    return m.accept_string(text) and m.is_accepting()


def check(schema: object, vocab: _core.Vocabulary, valid: list, invalid: list) -> None:
    """Valid instances (checked with jsonschema) are accepted in every layout; invalid ones are
    not (raw texts are checked against the compact layout)."""
    g = Grammar.from_json_schema(schema, vocab)
    g_compact = Grammar.from_json_schema(schema, vocab, whitespace="compact")
    g_indent = Grammar.from_json_schema(schema, vocab, indent=2)
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    for inst in valid:
        jsonschema.validate(inst, schema, format_checker=checker)  # the reference agrees
        for grammar, text in ((g_compact, compact(inst)), (g, compact(inst)),
                              (g, json.dumps(inst, ensure_ascii=False)),
                              (g, json.dumps(inst, indent=2, ensure_ascii=False)),
                              (g_indent, json.dumps(inst, indent=2, ensure_ascii=False))):
            assert accepts(grammar, text), f"rejected valid {text}"
    for inst in invalid:
        text = inst if isinstance(inst, str) else compact(inst)
        assert not accepts(g_compact, text), f"accepted invalid {text}"
        if not isinstance(inst, str):
            assert not accepts(g, json.dumps(inst)), f"accepted invalid {json.dumps(inst)}"


def test_object_required_optional_and_order(vocab: _core.Vocabulary) -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "string"}, "c": {"type": "null"}},
        "required": ["b"],
    }
    check(
        schema,
        vocab,
        valid=[{"b": ""}, {"a": -3, "b": "x"}, {"b": "y", "c": None}, {"a": 0, "b": "", "c": None}],
        invalid=[{}, {"a": 1}, {"b": 1}, '{"b":"x","a":1}', '{"b":"x","d":1}', '{ "b":"x"}'],
    )


def test_additional_properties(vocab: _core.Vocabulary) -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "boolean"}},
        "additionalProperties": {"type": "integer"},
    }
    check(
        schema,
        vocab,
        valid=[{}, {"a": True}, {"a": False, "x": 1, "ab": 2}, {"b": 3}, {"": 4}],
        invalid=['{"x":true}', '{"a":true,"a":1}', '{"x":1,"a":true}'],
    )


def test_enum_const_and_null_unions(vocab: _core.Vocabulary) -> None:
    check(
        {"enum": ["red", 2, None, {"k": [1]}]},
        vocab,
        valid=["red", 2, None, {"k": [1]}],
        invalid=["blue", 3, '"Red"'],
    )
    check({"const": "fixed"}, vocab, valid=["fixed"], invalid=["fixe", "fixedd"])
    check(
        {"type": "integer", "enum": [1, "a", 2.0, True]}, vocab, valid=[1, 2.0], invalid=["a", True]
    )
    with pytest.raises(SchemaError, match="#: schema matches nothing"):
        Grammar.from_json_schema({"type": "string", "const": 3}, vocab)
    check(
        {"type": ["string", "null"], "maxLength": 2},
        vocab,
        valid=["ab", None, ""],
        invalid=["abc", 1],
    )


def test_any_of_one_of_all_of(vocab: _core.Vocabulary) -> None:
    check(
        {"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 1}]},
        vocab,
        valid=[5, "x"],
        invalid=["xy", True],
    )
    check(
        {"oneOf": [{"type": "boolean"}, {"type": "null"}]}, vocab, valid=[True, None], invalid=[0]
    )
    schema = {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
            {"properties": {"b": {"type": "boolean"}}, "required": ["b"]},
        ]
    }
    check(schema, vocab, valid=[{"a": 1, "b": True}], invalid=[{"a": 1}, {"b": True}])


def test_refs_defs_and_recursion(vocab: _core.Vocabulary) -> None:
    tree = {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {
                    "v": {"type": "integer"},
                    "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}},
                },
                "required": ["v"],
            }
        },
        "$ref": "#/$defs/node",
    }
    check(
        tree,
        vocab,
        valid=[{"v": 1}, {"v": 1, "kids": []}, {"v": 1, "kids": [{"v": 2, "kids": [{"v": 3}]}]}],
        invalid=[{"v": 1, "kids": [{}]}, {"kids": []}],
    )
    root_ref = {
        "type": "object",
        "properties": {"next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}},
        "required": ["next"],
    }
    check(root_ref, vocab, valid=[{"next": None}, {"next": {"next": None}}], invalid=[{}])


def test_arrays_items_prefix_items_bounds(vocab: _core.Vocabulary) -> None:
    check(
        {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3},
        vocab,
        valid=[[1], [1, 2], [1, 2, 3]],
        invalid=[[], [1, 2, 3, 4], ["a"], "[1,]"],
    )
    check(
        {
            "type": "array",
            "prefixItems": [{"type": "string"}, {"type": "boolean"}],
            "items": False,
        },
        vocab,
        valid=[[], ["a"], ["a", True]],
        invalid=[[True], ["a", True, 1]],
    )
    check(
        {"type": "array", "prefixItems": [{"type": "null"}], "minItems": 2},
        vocab,
        valid=[[None, 1], [None, "x", {}]],
        invalid=[[None], [1, 1]],
    )


def test_strings_lengths_escapes_unicode(vocab: _core.Vocabulary) -> None:
    check(
        {"type": "string", "minLength": 2, "maxLength": 3},
        vocab,
        valid=["ab", "é€😀", 'a"b', "\\\n", "a\u0001"],
        invalid=["a", "abcd", '"\\x"', '"\\ud800"'],
    )
    g = Grammar.from_json_schema({"type": "string", "maxLength": 1}, vocab)
    assert accepts(g, '"\\u00e9"')  # one escaped code point counts as one character
    assert accepts(g, '"\\n"')
    assert not accepts(g, '"\\u00e9x"')
    assert not accepts(g, '"a\nb"')  # raw control characters are never valid JSON


def test_pattern_is_unanchored_unless_anchored(vocab: _core.Vocabulary) -> None:
    check(
        {"type": "string", "pattern": "^[a-c]+\\d$"},
        vocab,
        valid=["ab1", "c9"],
        invalid=["ab", "xab1", "ab12"],
    )
    check({"type": "string", "pattern": "ab"}, vocab, valid=["ab", "xaby", "zzab"], invalid=["a"])
    check(
        {"type": "string", "pattern": '^a"\\\\$'},  # quote and backslash get escaped in JSON
        vocab,
        valid=['a"\\'],
        invalid=[],
    )


@pytest.mark.parametrize(
    "fmt,valid,invalid",
    [
        ("date", ["2024-02-29", "1999-12-31"], ["2024-13-01", "24-01-01", "2024-1-01"]),
        ("time", ["23:59:59Z", "01:02:03.5+05:30"], ["24:00:00Z", "12:00"]),
        ("date-time", ["2024-01-02T03:04:05Z"], ["2024-01-02 03:04:05Z"]),
        ("email", ["a.b@example.com", "x+y@d-e.io"], ["a@", "@b.c", "a b@c.d"]),
        ("uuid", ["123e4567-e89b-12d3-a456-426614174000"], ["123e4567e89b12d3a456426614174000"]),
        ("uri", ["https://example.com/a?b=1#c", "urn:isbn:0451450523"], ["example", "1http://x"]),
        ("ipv4", ["192.168.0.1", "0.0.0.0", "255.255.255.255"], ["256.1.1.1", "1.2.3", "01.1.1.1"]),
    ],
)
def test_formats(vocab: _core.Vocabulary, fmt: str, valid: list, invalid: list) -> None:
    check({"type": "string", "format": fmt}, vocab, valid=valid, invalid=invalid)


def test_dates_are_calendar_dates(vocab: _core.Vocabulary) -> None:
    """format date accepts exactly what date.fromisoformat does (leap years, month lengths)."""
    g = Grammar.from_json_schema({"type": "string", "format": "date"}, vocab)
    gt = Grammar.from_json_schema({"type": "string", "format": "date-time"}, vocab)
    for year in [1, 4, 100, 400, 1900, 1999, 2000, 2023, 2024, 9999]:
        for month in range(0, 14):
            for day in range(0, 33):
                text = f"{year:04d}-{month:02d}-{day:02d}"
                try:
                    dt.date.fromisoformat(text)
                    valid = True
                except ValueError:
                    valid = False
                assert accepts(g, json.dumps(text)) == valid, text
                assert accepts(gt, json.dumps(text + "T12:00:00Z")) == valid, text
    assert not accepts(g, '"0000-01-01"')


def test_format_with_redundant_lengths(vocab: _core.Vocabulary) -> None:
    check(
        {"type": "string", "format": "date", "minLength": 10, "maxLength": 10},
        vocab,
        valid=["2024-01-31"],
        invalid=["2024-1-31"],
    )
    with pytest.raises(SchemaError, match="combined with minLength/maxLength"):
        Grammar.from_json_schema({"type": "string", "format": "ipv4", "maxLength": 9}, vocab)


def test_integer_and_number_bounds(vocab: _core.Vocabulary) -> None:
    schema = {"type": "integer", "minimum": -15, "exclusiveMaximum": 120}
    g = Grammar.from_json_schema(schema, vocab)
    for n in range(-40, 200):
        assert accepts(g, str(n)) == (-15 <= n < 120), n
    for text in ["-0", "007", "1.0", "1e2", ""]:
        assert not accepts(g, text)
    check(
        {"type": "integer", "exclusiveMinimum": 2.5},
        vocab,
        valid=[3, 10**30],
        invalid=[2, -3],
    )
    check(
        {"type": "number"},
        vocab,
        valid=[0, -1.5, 3e-7, 12.25],
        invalid=["01", "1.", ".5", "+1", "1e"],
    )
    check({"type": "number", "minimum": 0}, vocab, valid=[0, 2.5, 1e10], invalid=[-1, -0.5])


def test_any_json_and_empty_schema(vocab: _core.Vocabulary) -> None:
    for g in (Grammar.any_json(vocab), Grammar.from_json_schema({}, vocab)):
        for value in [None, True, 0, -2.5e3, "s\u00e9\n", [], {}, {"a": [1, {"b": None}]}]:
            assert accepts(g, compact(value))
        for text in ["{", "[1,]", '{"a"}', "tru", "nul l", "{'a':1}"]:
            assert not accepts(g, text)


def test_schema_as_json_text(vocab: _core.Vocabulary) -> None:
    g = Grammar.from_json_schema('{"type": "boolean"}', vocab)
    assert accepts(g, "true") and not accepts(g, "1")


@pytest.mark.parametrize(
    "schema,needle",
    [
        ({"type": "array", "uniqueItems": True}, "#/uniqueItems"),
        (
            {"type": "object", "properties": {"ab": {}}, "patternProperties": {"a": {}}},
            "#/patternProperties/a: declared property 'ab'",
        ),
        ({"type": "string", "format": "regex"}, "#/format"),
        ({"$ref": "http://example.com/s.json"}, "local references"),
        ({"$ref": "other.json#/$defs/A"}, "#/$ref: only local references"),
        ({"$ref": "#/$defs/missing"}, "does not resolve"),
        ({"type": "number", "multipleOf": 0.5}, "#/multipleOf"),
        ({"type": "integer", "minimum": 5, "maximum": 1}, "matches nothing"),
        # exactly-one over overlapping branches: refused, never lowered to a superset
        ({"oneOf": [{"type": "integer"}, {"minimum": 0}]}, "#/oneOf: branches 0 and 1"),
        ({"allOf": [{"pattern": "a"}, {"pattern": "b"}]}, "two different 'pattern'"),
        ({"not": {"pattern": "a"}}, "#/not/pattern"),
        ({"type": "array", "contains": {}, "maxItems": 3}, "#/contains"),
        ({"properties": {"p": {"$dynamicRef": "#x"}}}, "#/properties/p/$dynamicRef"),
        ({"type": "strin"}, "unknown type"),
        (False, "matches nothing"),
        ("{not json", "not valid JSON"),
        ({"type": "string", "pattern": "(?=a)b"}, "lookaround"),
    ],
)
def test_unsupported_or_malformed_schemas_name_the_problem(
    vocab: _core.Vocabulary, schema: object, needle: str
) -> None:
    with pytest.raises(ValueError, match=None) as info:
        Grammar.from_json_schema(schema, vocab)
    assert needle in str(info.value)


def test_unknown_keywords_are_annotations_unless_strict(vocab: _core.Vocabulary) -> None:
    schema = {"type": "string", "title": "T", "x-ui": 1, "javaType": "S", "id": "s"}
    assert accepts(Grammar.from_json_schema(schema, vocab), '"x"')
    with pytest.raises(SchemaError, match="#/x-ui: unknown keyword"):
        Grammar.from_json_schema(schema, vocab, strict=True)


def test_random_walks_produce_valid_instances(vocab: _core.Vocabulary) -> None:
    """Sampling uniformly among allowed tokens always ends in an instance jsonschema accepts."""
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 4},
            "age": {"type": "integer", "minimum": 0, "maximum": 130},
            "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2},
            "kind": {"enum": ["x", "y"]},
        },
        "required": ["name", "kind"],
    }
    g = Grammar.from_json_schema(schema, vocab)
    rng = random.Random(0)
    mask = Grammar.allocate_bitmask(1, vocab.size)
    eos = vocab.size - 1
    token_bytes = [bytes([b]) for b in range(256)]
    token_bytes += [b'{"', b'":', b'",', b'"}', b"true", b"false", b"null", b"12", b"-1", b'":"']
    bits = torch.arange(32, dtype=torch.int32)
    for _ in range(30):
        m = GrammarMatcher(g)
        out = b""
        for _step in range(200):
            m.fill_next_token_bitmask(mask)
            allowed = torch.nonzero(((mask[0].unsqueeze(1) >> bits) & 1).flatten()).flatten()
            assert len(allowed) > 0
            tok = int(allowed[rng.randrange(len(allowed))])
            assert m.accept_token(tok)
            if tok == eos:
                break
            out += token_bytes[tok]
        assert m.is_terminated(), out
        jsonschema.validate(json.loads(out.decode()), schema)


def test_all_of_merges_bounds_instead_of_overwriting(vocab: _core.Vocabulary) -> None:
    """The issue's counter-example: {"x": 50} broke the first member's maximum."""
    schema = {"allOf": [
        {"type": "object", "properties": {"x": {"type": "integer", "maximum": 3}}},
        {"properties": {"x": {"type": "integer", "minimum": 10}}},
    ]}
    g = Grammar.from_json_schema(schema, vocab)
    assert not accepts(g, '{"x": 50}') and not accepts(g, '{"x": 2}')
    assert accepts(g, "{}")  # x can never be valid, so it may only be absent


def test_decimal_bounds_are_exact(vocab: _core.Vocabulary) -> None:
    check(
        {"type": "number", "exclusiveMinimum": 0.5, "maximum": 12.25},
        vocab,
        valid=[0.5000001, 1, 12.25, 12.2, 3.0],
        invalid=[0.5, 12.26, -1, 13, "12.250001"],
    )


def test_whitespace_styles_and_bound(vocab: _core.Vocabulary) -> None:
    from genai_rt.sampling.grammar_json_layout import MAX_WS_COLUMNS
    from genai_rt.sampling.params import SamplingParams

    schema = {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "integer"}},
                                               "b": {"type": "object"}}}
    value = {"a": [1, 2], "b": {}}
    g = Grammar.from_json_schema(schema, vocab)
    for text in (json.dumps(value), json.dumps(value, indent=2), json.dumps(value, indent="\t"),
                 compact(value), '{\r\n "a" : [ 1 ,2 ] , "b":{ }}'):
        assert accepts(g, text), text
    assert accepts(g, "{" + "\n" + " " * MAX_WS_COLUMNS + '"a": []}')
    assert not accepts(g, "{" + "\n" + " " * (MAX_WS_COLUMNS + 1) + '"a": []}')
    assert not accepts(g, ' {"a": []}') and not accepts(g, '{"a": []}\n')
    assert not accepts(g, '{\n\n"a": []}')  # one line break per gap
    g2 = Grammar.from_json_schema(schema, vocab, indent=2)
    assert accepts(g2, json.dumps(value, indent=2))
    assert not accepts(g2, json.dumps(value, indent=4)) and not accepts(g2, json.dumps(value))
    g0 = Grammar.from_json_schema(schema, vocab, whitespace="compact")
    assert accepts(g0, compact(value)) and not accepts(g0, json.dumps(value))
    with pytest.raises(ValueError, match="whitespace"):
        Grammar.from_json_schema(schema, vocab, whitespace="loose")
    with pytest.raises(ValueError, match="json_whitespace"):
        SamplingParams(json_whitespace="loose")
    with pytest.raises(ValueError, match="json_indent"):
        SamplingParams(json_indent=-1)
