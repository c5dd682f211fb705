"""JSON Schema → GBNF text for the C++ grammar core.

Output style (fixed, documented): compact JSON with no whitespace at all, separators ``,`` and
``:`` (what ``json.dumps(v, separators=(",", ":"))`` writes). Optional whitespace would let the
model pad output and multiply parser states; compact keeps masks cacheable and short.

Semantics chosen where JSON Schema leaves freedom (each yields a subset of the valid instances,
never a superset):

- object properties appear in ``properties`` order; with ``additionalProperties`` absent no
  extra keys are generated (XGrammar's strict mode). Extra keys (``additionalProperties: true``
  or a schema) come after the declared ones, are written without escapes and never repeat a
  declared name.
- ``oneOf`` is lowered like ``anyOf`` (branches are assumed disjoint, as in tool schemas).
- strings: ``\\uXXXX`` escapes never produce surrogates, so length counts are exact code points.
- ``pattern`` is unanchored (JSON Schema semantics) unless it starts with ``^`` / ends with ``$``.

Anything else that constrains instances and is not handled raises :class:`SchemaError` naming
the keyword and its JSON path; ``lenient=True`` ignores only purely descriptive keywords.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from genai_rt.sampling.grammar_ebnf_util import ebnf_literal, ebnf_regex, rule_name
from genai_rt.sampling.grammar_json_leaves import (
    SchemaError,
    has_type,
    number_expr,
    path_join,
    string_expr,
)

# Keywords that never change which instances are valid.
DESCRIPTIVE_KEYWORDS = frozenset(
    {
        "title", "description", "examples", "default", "$comment", "$schema", "$id", "$anchor",
        "deprecated", "readOnly", "writeOnly", "contentMediaType", "contentEncoding", "example",
    }
)  # fmt: skip

# One JSON string character: raw (no quote, backslash or control char) or an escape; \u never
# spells a surrogate so one element is one code point.
_CHAR_RULES = r"""json_char ::= /[^"\\\x00-\x1f]/ | "\\" json_escape
json_escape ::= ["\\/bfnrt] | "u" ([0-9a-cA-Ce-fE-F] [0-9a-fA-F] | [dD] [0-7]) [0-9a-fA-F]{2}
"""

_ANY_JSON_RULES = r"""json_value ::= json_object | json_array | json_string | json_number | json_lit
json_lit ::= "true" | "false" | "null"
json_object ::= "{" (json_string ":" json_value ("," json_string ":" json_value)*)? "}"
json_array ::= "[" (json_value ("," json_value)*)? "]"
json_string ::= "\"" json_char* "\""
json_number ::= "-"? ("0" | [1-9] [0-9]*) ("." [0-9]+)? ([eE] [-+]? [0-9]+)?
"""

# Names the fixed rule texts above define; generated rules must not collide with them.
_RESERVED_RULES = frozenset(
    line.split(" ::= ")[0] for line in (_CHAR_RULES + _ANY_JSON_RULES).splitlines()
) | {"root"}

MAX_SCHEMA_DEPTH = 128


class JsonSchemaConverter:
    """Lowers one JSON Schema document to GBNF text (see the module docstring).

    Parameters
    ----------
    schema
        The schema as a mapping or a boolean.
    lenient
        Ignore unknown keywords that are purely descriptive instead of raising.
    """

    def __init__(self, schema: Any, *, lenient: bool = False) -> None:
        self.schema = schema
        self.lenient = lenient
        self.rules: dict[str, str] = {}
        self._ref_rules: dict[str, str] = {}
        self._name_counts: dict[str, int] = {}
        self._need_chars = False
        self._need_any = False

    # ---- output -------------------------------------------------------------------------------

    def to_ebnf(self) -> str:
        """Returns GBNF text whose ``root`` rule matches the schema's compact JSON instances."""
        root_expr = self.visit(self.schema, "#", 0)
        lines = [f"root ::= {root_expr}"]
        lines += [f"{name} ::= {body}" for name, body in self.rules.items()]
        text = "\n".join(lines) + "\n"
        if self._need_any:
            text += _ANY_JSON_RULES
        if self._need_chars or self._need_any:
            text += _CHAR_RULES
        return text

    def _new_rule(self, hint: str, body: str) -> str:
        base = rule_name(hint)
        name, i = base, self._name_counts.get(base, 0)
        while name in self.rules or name in _RESERVED_RULES:
            i += 1
            name = f"{base}_{i}"
        self._name_counts[base] = i  # next search starts here: O(1) per rule, not O(rules)
        self.rules[name] = body
        return name

    def _any_json(self) -> str:
        self._need_any = True
        self._need_chars = True
        return "json_value"

    # ---- dispatch -----------------------------------------------------------------------------

    def visit(self, schema: Any, path: str, depth: int) -> str:
        """GBNF expression for ``schema`` at JSON pointer ``path``."""
        if depth > MAX_SCHEMA_DEPTH:
            raise SchemaError(f"{path}: schema nested deeper than {MAX_SCHEMA_DEPTH} levels")
        if schema is True or schema == {}:
            return self._any_json()
        if schema is False:
            raise SchemaError(f"{path}: schema 'false' matches nothing")
        if not isinstance(schema, Mapping):
            raise SchemaError(f"{path}: a schema must be an object or a boolean, got {schema!r}")
        if "$ref" in schema:
            others = set(schema) - {"$ref", "$defs", "definitions"} - DESCRIPTIVE_KEYWORDS
            if others:
                raise SchemaError(
                    f"{path_join(path, sorted(others)[0])}: keyword '{sorted(others)[0]}' next "
                    "to $ref is not supported"
                )
            return self._ref(schema["$ref"], path, depth)
        if "const" in schema or "enum" in schema:
            key = "const" if "const" in schema else "enum"
            self._check_only(schema, path, {key, "type", "$defs", "definitions"})
            values = [schema["const"]] if key == "const" else schema["enum"]
            if not isinstance(values, list) or not values:
                raise SchemaError(f"{path_join(path, 'enum')}: enum must be a non-empty list")
            # Next to "type", only values of that type are valid instances.
            values = [v for v in values if has_type(v, schema.get("type"))]
            if not values:
                raise SchemaError(f"{path_join(path, key)}: no value has the schema's type")
            return "(" + " | ".join(self._json_literal(v) for v in values) + ")"
        for key in ("anyOf", "oneOf"):
            if key in schema:
                self._check_only(schema, path, {key, "$defs", "definitions"})
                branches = schema[key]
                if not isinstance(branches, list) or not branches:
                    raise SchemaError(f"{path_join(path, key)}: must be a non-empty list")
                alts = [
                    self.visit(b, path_join(path, key, i), depth + 1)
                    for i, b in enumerate(branches)
                ]
                return "(" + " | ".join(alts) + ")"
        if "allOf" in schema:
            return self.visit(self._merge_all_of(schema, path), path, depth + 1)
        types = schema.get("type")
        if types is None:
            types = self._infer_type(schema, path)
        if isinstance(types, list):
            if not types:
                raise SchemaError(f"{path_join(path, 'type')}: empty type list matches nothing")
            alts = [self._typed(schema, t, path, depth) for t in types]
            return alts[0] if len(alts) == 1 else "(" + " | ".join(alts) + ")"
        return self._typed(schema, types, path, depth)

    _TYPE_KEYWORDS = {
        "object": {"properties", "required", "additionalProperties"},
        "array": {"items", "prefixItems", "minItems", "maxItems"},
        "string": {"minLength", "maxLength", "pattern", "format"},
        "integer": {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"},
        "number": {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"},
        "boolean": set(),
        "null": set(),
    }

    def _infer_type(self, schema: Mapping[str, Any], path: str) -> Any:
        found = [t for t, kws in self._TYPE_KEYWORDS.items() if kws & set(schema)]
        if not found:
            self._check_only(schema, path, {"$defs", "definitions", "type"})
            return "any"
        # Keywords of several types (e.g. minimum alone) apply only to that type.
        if "integer" in found and "number" in found:
            found.remove("integer")
        if len(found) > 1:
            raise SchemaError(
                f"{path}: keywords of several types ({', '.join(found)}) without 'type'"
            )
        return found[0]

    def _check_only(self, schema: Mapping[str, Any], path: str, allowed: set[str]) -> None:
        for key in schema:
            if key in allowed:
                continue
            if key in DESCRIPTIVE_KEYWORDS or (self.lenient and key.startswith("x-")):
                continue
            if key == "uniqueItems" and schema[key] is False:
                continue
            raise SchemaError(f"{path_join(path, key)}: unsupported keyword '{key}'")

    def _typed(self, schema: Mapping[str, Any], type_name: Any, path: str, depth: int) -> str:
        base = {"$defs", "definitions", "type"}
        if type_name == "any":
            return self._any_json()
        if type_name not in self._TYPE_KEYWORDS:
            raise SchemaError(f"{path_join(path, 'type')}: unknown type {type_name!r}")
        multi = isinstance(schema.get("type"), list)
        allowed = base | (
            set().union(*self._TYPE_KEYWORDS.values()) if multi else self._TYPE_KEYWORDS[type_name]
        )
        self._check_only(schema, path, allowed)
        if type_name == "null":
            return '"null"'
        if type_name == "boolean":
            return '("true" | "false")'
        if type_name == "string":
            expr, uses_chars = string_expr(schema, path, lenient=self.lenient)
            self._need_chars |= uses_chars
            return expr
        if type_name in ("integer", "number"):
            return number_expr(schema, path, integer=type_name == "integer")
        if type_name == "array":
            return self._array(schema, path, depth)
        return self._object(schema, path, depth)

    # ---- leaves -------------------------------------------------------------------------------

    def _json_literal(self, value: Any) -> str:
        return ebnf_literal(json.dumps(value, separators=(",", ":"), ensure_ascii=False))

    def _ref(self, ref: Any, path: str, depth: int) -> str:
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise SchemaError(
                f"{path_join(path, '$ref')}: only local references ('#...') are supported, "
                f"got {ref!r}"
            )
        if ref in self._ref_rules:
            return self._ref_rules[ref]
        target: Any = self.schema
        pointer = ref[1:]
        if pointer and not pointer.startswith("/"):
            raise SchemaError(f"{path_join(path, '$ref')}: unsupported reference {ref!r}")
        for raw in pointer.split("/")[1:]:
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(target, Mapping) and part in target:
                target = target[part]
            elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
                target = target[int(part)]
            else:
                raise SchemaError(f"{path_join(path, '$ref')}: reference {ref!r} does not resolve")
        name = self._new_rule("ref_" + (pointer or "root"), "")
        self._ref_rules[ref] = name  # registered before visiting, so recursion refers back to it
        self.rules[name] = self.visit(target, ref, depth + 1)
        return name

    # ---- containers ---------------------------------------------------------------------------

    def _array(self, schema: Mapping[str, Any], path: str, depth: int) -> str:
        min_items = schema.get("minItems", 0)
        max_items = schema.get("maxItems")
        for key, val in (("minItems", min_items), ("maxItems", max_items)):
            if val is not None and (not isinstance(val, int) or isinstance(val, bool) or val < 0):
                raise SchemaError(f"{path_join(path, key)}: must be a non-negative integer")
        if max_items is not None and max_items < min_items:
            raise SchemaError(f"{path}: minItems {min_items} > maxItems {max_items}")
        prefix = schema.get("prefixItems", [])
        if not isinstance(prefix, list):
            raise SchemaError(f"{path_join(path, 'prefixItems')}: must be a list")
        items = schema.get("items", True)
        if isinstance(items, list):
            raise SchemaError(
                f"{path_join(path, 'items')}: array form of items (draft 4 tuples) is not "
                "supported; use prefixItems"
            )
        if max_items is not None:
            prefix = prefix[:max_items]
        prefix_exprs = [
            self.visit(p, path_join(path, "prefixItems", i), depth + 1)
            for i, p in enumerate(prefix)
        ]
        k = len(prefix_exprs)
        rest_hi: int | None
        if items is False:
            if min_items > k:
                raise SchemaError(
                    f"{path}: minItems {min_items} exceeds prefixItems with items false"
                )
            rest_lo, rest_hi = 0, 0
            item_expr = ""
        else:
            item_expr = self.visit(items, path_join(path, "items"), depth + 1)
            if max_items is not None and max_items - k <= 0:
                rest_hi = 0
            else:
                rest_hi = None if max_items is None else max_items - k
            rest_lo = max(0, min_items - k)
        if k == 0:
            if rest_hi == 0:
                if min_items > 0:
                    raise SchemaError(f"{path}: array can hold no items but minItems > 0")
                return '"[" "]"'
            tail = "*" if rest_hi is None else f"{{0,{rest_hi - 1}}}"
            if rest_lo > 0:
                tail = (
                    f"{{{rest_lo - 1},}}" if rest_hi is None else f"{{{rest_lo - 1},{rest_hi - 1}}}"
                )
            body = f'{item_expr} ("," {item_expr}){tail}'
            return f'"[" {body} "]"' if rest_lo > 0 else f'"[" ({body})? "]"'
        # With a prefix: nest from the end so each position is optional once minItems is met.
        if rest_hi == 0:
            cont = ""
        else:
            rep = f"{{{rest_lo},}}" if rest_hi is None else f"{{{rest_lo},{rest_hi}}}"
            cont = f'("," {item_expr}){rep}'
        for i in range(k - 1, -1, -1):
            sep = '"," ' if i > 0 else ""
            part = f"{sep}{prefix_exprs[i]} {cont}".strip()
            cont = f"({part})" if i + 1 <= min_items else f"({part})?"
        return f'"[" {cont} "]"'

    def _object(self, schema: Mapping[str, Any], path: str, depth: int) -> str:
        props = schema.get("properties", {})
        if not isinstance(props, Mapping):
            raise SchemaError(f"{path_join(path, 'properties')}: must be an object")
        required = schema.get("required", [])
        if not isinstance(required, list):
            raise SchemaError(f"{path_join(path, 'required')}: must be a list")
        for name in required:
            if name not in props:
                raise SchemaError(
                    f"{path_join(path, 'required')}: required property {name!r} has no schema "
                    "in 'properties'"
                )
        extra = schema.get("additionalProperties", False)
        pairs = []
        for name, sub in props.items():
            value = self.visit(sub, path_join(path, "properties", name), depth + 1)
            pairs.append((self._json_literal(name) + ' ":" ' + value, name in required))
        extra_pair = None
        if extra is not False:
            value = self.visit(extra, path_join(path, "additionalProperties"), depth + 1)
            key = self._key_not_in(list(props), path)
            extra_pair = f'{key} ":" {value}'
        if all(req for _, req in pairs) and extra_pair is None:
            return '"{" ' + ' "," '.join(p for p, _ in pairs) + ' "}"' if pairs else '"{" "}"'
        # first[i]/rest[i]: properties i.. when nothing / something was written before.
        hint = rule_name(path.replace("#", "obj") or "obj")
        if extra_pair is None:
            first_next, rest_next = "", ""
        else:
            first_next = self._new_rule(hint + "_xf", f'({extra_pair} ("," {extra_pair})*)?')
            rest_next = self._new_rule(hint + "_xr", f'("," {extra_pair})*')
        for pair, req in reversed(pairs):
            first_body = f"{pair} {rest_next}".strip()
            rest_body = f'"," {pair} {rest_next}'.strip()
            if not req:
                first_body = (
                    f"{first_body} | {first_next}".strip() if first_next else f"({first_body})?"
                )
                rest_body = f"{rest_body} | {rest_next}".strip() if rest_next else f"({rest_body})?"
            if first_body.endswith("|"):
                first_body += ' ""'
            first_next = self._new_rule(hint + "_f", first_body)
            rest_next = self._new_rule(hint + "_r", rest_body)
        return f'"{{" {first_next} "}}"'

    def _key_not_in(self, names: list[str], path: str) -> str:
        """A JSON key (no escapes) that differs from every declared property name."""
        self._need_chars = True
        if not names:
            return '"\\"" json_char* "\\""'
        plain = r"[^\"\\\x00-\x1f]"
        # Trie of the names: at each node, a character that leaves the trie frees the key.
        trie: dict[str, Any] = {}
        for n in names:
            node = trie
            for ch in n:
                node = node.setdefault(ch, {})
            node["$end"] = True
        hint = rule_name(path.replace("#", "obj")) + "_key"
        free = self._new_rule(hint + "_free", f'{ebnf_regex(plain + "*")} "\\""')

        def build(node: dict[str, Any]) -> str:
            chars = [c for c in node if c != "$end"]
            alts = []
            if chars:
                excluded = "".join("\\" + c if c in "]\\^-" else c for c in chars)
                cls = f'[^"\\\\\\x00-\\x1f{excluded}]'
                alts.append(f"{ebnf_regex(cls)} {free}")
                for c in chars:
                    alts.append(f"{ebnf_literal(c)} {build(node[c])}")
            else:
                alts.append(f"{ebnf_regex(plain)} {free}")
            if "$end" not in node:
                alts.append('"\\""')
            return self._new_rule(hint, " | ".join(alts))

        return f'"\\"" {build(trie)}'

    def _merge_all_of(self, schema: Mapping[str, Any], path: str) -> dict[str, Any]:
        merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        parts = [dict(schema)]
        del parts[0]["allOf"]
        subs = schema["allOf"]
        if not isinstance(subs, list):
            raise SchemaError(f"{path_join(path, 'allOf')}: must be a list")
        for i, sub in enumerate(subs):
            while isinstance(sub, Mapping) and "$ref" in sub and len(sub) == 1:
                sub = self._resolve(sub["$ref"], path_join(path, "allOf", i))
            parts.append(sub)
        for i, part in enumerate(parts):
            where = path_join(path, "allOf", i - 1) if i else path
            if not isinstance(part, Mapping):
                raise SchemaError(f"{where}: allOf is supported only for object schemas")
            if part.get("type", "object") != "object" or set(part) - (
                {"type", "properties", "required", "additionalProperties", "$defs", "definitions"}
                | DESCRIPTIVE_KEYWORDS
            ):
                bad = sorted(
                    set(part)
                    - {"type", "properties", "required", "additionalProperties"}
                    - DESCRIPTIVE_KEYWORDS
                )
                raise SchemaError(
                    f"{where}: allOf is supported only for object schemas"
                    + (f" (found keyword '{bad[0]}')" if bad else "")
                )
            merged["properties"].update(part.get("properties", {}))
            merged["required"] += [
                r for r in part.get("required", []) if r not in merged["required"]
            ]
            if "additionalProperties" in part:
                merged["additionalProperties"] = part["additionalProperties"]
        return merged

    def _resolve(self, ref: str, path: str) -> Any:
        target: Any = self.schema
        for raw in ref[1:].split("/")[1:]:
            part = raw.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, Mapping) or part not in target:
                raise SchemaError(f"{path}/$ref: reference {ref!r} does not resolve")
            target = target[part]
        return target


def json_schema_to_ebnf(schema: Any, *, lenient: bool = False) -> str:
    """Lowers a JSON Schema (mapping, boolean or JSON text) to GBNF text with rule ``root``.

    Raises
    ------
    SchemaError
        On malformed or unsupported schemas, naming the keyword and JSON path.
    """
    if isinstance(schema, (str, bytes)):
        try:
            schema = json.loads(schema)
        except json.JSONDecodeError as e:
            raise SchemaError(f"schema is not valid JSON: {e}") from None
    return JsonSchemaConverter(schema, lenient=lenient).to_ebnf()


def any_json_ebnf() -> str:
    """GBNF for any compact JSON value."""
    return "root ::= json_value\n" + _ANY_JSON_RULES + _CHAR_RULES
