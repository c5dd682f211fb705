"""The grammar benchmark's workloads: one grammar, one valid output text each.

Every engine compiles the same language: compact JSON (no whitespace, ',' and ':' separators),
properties in schema order, no additional properties (set explicitly, since llguidance allows
them by default), and the same regex / EBNF text (llguidance gets the EBNF converted to Lark by
its own converter). ``check_valid_texts()`` proves each text is in its language with the
reference validators (jsonschema, re.fullmatch, a recursive-descent parser for the arithmetic).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any


def compact(value: Any) -> str:
    """JSON text in the compact form every engine is configured to produce."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Workload:
    """One benchmark case.

    Attributes
    ----------
    name : str
        Short label for the tables.
    kind : str
        'json_schema', 'any_json', 'regex' or 'ebnf'.
    grammar : str
        JSON schema text, regex, or GBNF-style EBNF with root rule ``root``; '' for any_json.
    valid_text : str
        An output in the grammar's language; it is tokenized for real and replayed.
    """

    name: str
    kind: str
    grammar: str
    valid_text: str


NESTED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer", "minimum": 1, "maximum": 100000},
        "name": {"type": "string", "maxLength": 40},
        "status": {"enum": ["active", "inactive", "pending"]},
        "score": {"type": "number"},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 16},
                 "minItems": 1, "maxItems": 5},
        "address": {
            "type": "object",
            "properties": {
                "street": {"type": "string"},
                "city": {"type": "string"},
                "zip": {"type": "string", "pattern": "^[0-9]{5}$"},
            },
            "required": ["street", "city", "zip"],
            "additionalProperties": False,
        },
        "verified": {"type": "boolean"},
        "created": {"type": "string", "format": "date"},
        "notes": {"type": ["string", "null"]},
    },
    "required": ["id", "name", "status", "score", "tags", "address", "verified", "created",
                 "notes"],
    "additionalProperties": False,
}
NESTED_INSTANCE = {
    "id": 48213,
    "name": "Ada Lovelace, Analytical Engine Co.",
    "status": "pending",
    "score": 87.25,
    "tags": ["math", "engines", "notes-g", "poetry"],
    "address": {"street": "12 St James's Square", "city": "London", "zip": "10115"},
    "verified": True,
    "created": "1843-07-10",
    "notes": "Translated Menabrea's memoir; added notes A to G, with the Bernoulli program.",
}


def _wide_schema(n: int = 60) -> tuple[dict[str, Any], dict[str, Any]]:
    """An n-property flat schema cycling through 6 value kinds, and an instance of it."""
    properties: dict[str, Any] = {}
    instance: dict[str, Any] = {}
    for i in range(n):
        key = f"field_{i:02d}"
        kind = i % 6
        if kind == 0:
            properties[key] = {"type": "string", "maxLength": 32}
            instance[key] = f"value number {i} ok"
        elif kind == 1:
            properties[key] = {"type": "integer", "minimum": 0, "maximum": 10000}
            instance[key] = i * 137 % 10000
        elif kind == 2:
            properties[key] = {"type": "boolean"}
            instance[key] = i % 4 == 2
        elif kind == 3:
            properties[key] = {"type": "number"}
            instance[key] = i * 1.5
        elif kind == 4:
            properties[key] = {"enum": ["red", "green", "blue", "cyan"]}
            instance[key] = ["red", "green", "blue", "cyan"][i % 4]
        else:
            properties[key] = {"type": "array", "items": {"type": "integer"}, "maxItems": 4}
            instance[key] = [i, i + 1, i * 2]
    schema = {"type": "object", "properties": properties, "required": list(properties),
              "additionalProperties": False}
    return schema, instance


WIDE_SCHEMA, WIDE_INSTANCE = _wide_schema()
ANY_JSON_INSTANCE = {
    "model": "genai-rt", "choices": [{"index": 0, "text": "Bonjour, ça va? 🙂", "logprob": -1.25e-3,
                                      "stop": None}],
    "usage": {"prompt": 17, "completion": 42, "cached": True}, "nested": [[1, 2], [], {"k": {}}],
    "escaped": "line\nbreak \"quoted\" tab\t",
}
EMAIL_REGEX = r"[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}"
ISO_DATE_REGEX = r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
ARITHMETIC_EBNF = r"""root ::= expr
expr ::= term (("+" | "-") term)*
term ::= factor (("*" | "/") factor)*
factor ::= number | "(" expr ")"
number ::= [0-9]+ ("." [0-9]+)?
"""
ARITHMETIC_TEXT = "(12+3.5)*4-8/(2+6)*10+(7*(3-1.25))/((9-4)*(1+1))-100.5*(2+3*(4-1))"

WORKLOADS = [
    Workload("nested-9prop", "json_schema", compact(NESTED_SCHEMA), compact(NESTED_INSTANCE)),
    Workload("wide-60prop", "json_schema", compact(WIDE_SCHEMA), compact(WIDE_INSTANCE)),
    Workload("any-json", "any_json", "", compact(ANY_JSON_INSTANCE)),
    Workload("email-regex", "regex", EMAIL_REGEX, "ada.lovelace+engines@analytical-engine.co.uk"),
    Workload("iso-date-regex", "regex", ISO_DATE_REGEX, "1843-07-10"),
    Workload("arith-ebnf", "ebnf", ARITHMETIC_EBNF, ARITHMETIC_TEXT),
]


def _is_arithmetic(text: str) -> bool:
    """Recursive-descent recognizer for ARITHMETIC_EBNF (the reference for its valid text)."""
    pos = 0

    def number() -> bool:
        nonlocal pos
        match = re.compile(r"[0-9]+(\.[0-9]+)?").match(text, pos)
        if not match:
            return False
        pos = match.end()
        return True

    def factor() -> bool:
        nonlocal pos
        if pos < len(text) and text[pos] == "(":
            pos += 1
            if not expr() or pos >= len(text) or text[pos] != ")":
                return False
            pos += 1
            return True
        return number()

    def chain(operand: Any, operators: str) -> bool:
        nonlocal pos
        if not operand():
            return False
        while pos < len(text) and text[pos] in operators:
            pos += 1
            if not operand():
                return False
        return True

    def term() -> bool:
        return chain(factor, "*/")

    def expr() -> bool:
        return chain(term, "+-")

    return expr() and pos == len(text)


def check_valid_texts() -> None:
    """Raise AssertionError if a workload's valid_text is outside its language."""
    import jsonschema

    for w in WORKLOADS:
        if w.kind == "json_schema":
            jsonschema.validate(json.loads(w.valid_text), json.loads(w.grammar),
                                format_checker=jsonschema.FormatChecker())
            assert compact(json.loads(w.valid_text)) == w.valid_text, w.name
        elif w.kind == "any_json":
            assert compact(json.loads(w.valid_text)) == w.valid_text, w.name
        elif w.kind == "regex":
            assert re.fullmatch(w.grammar, w.valid_text), w.name
        else:
            assert _is_arithmetic(w.valid_text), w.name
    assert not _is_arithmetic("1+(2"), "the arithmetic reference must reject bad text"
