"""JSON Schema → GBNF text for the C++ grammar core.

Whitespace follows a :class:`~genai_rt.sampling.grammar_json_layout.JsonLayout`: bounded JSON
whitespace by default, ``compact``, or a fixed ``indent``. Applicators (``allOf``, ``anyOf``,
``oneOf``, ``not``, ``if``, ``dependent*``, ``$ref`` with siblings) are first rewritten into a
union of flat schemas (grammar_json_normalize.py), exactly.

Semantics chosen where JSON Schema leaves freedom (each yields a subset of the valid instances,
never a superset):

- object properties appear in ``properties`` order; with ``additionalProperties`` absent no
  extra keys are generated (XGrammar's strict mode). Extra keys (``additionalProperties`` or
  ``patternProperties``) come after the declared ones, are written without escapes and never
  repeat a declared name.
- without ``type``, keywords of one type family (``properties``, ``minimum``...) imply that type.
- strings: ``\\uXXXX`` escapes never produce surrogates, so length counts are exact code points.
- ``pattern`` is unanchored (JSON Schema semantics) unless it starts with ``^`` / ends with ``$``.
- numbers with bounds are written without exponent; ``uniqueItems`` arrays of a few values list
  them in ``enum`` order.

Unknown keywords are annotations and ignored (``strict=True`` refuses them). Anything that
constrains instances and cannot be expressed exactly raises :class:`SchemaError` naming the
keyword and its JSON path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from genai_rt.sampling.grammar_ebnf_util import ebnf_literal, ebnf_regex, rule_name
from genai_rt.sampling.grammar_json_layout import JsonLayout
from genai_rt.sampling.grammar_json_leaves import (
    SchemaError,
    has_type,
    number_expr,
    path_join,
    search_regex,
    string_expr,
)
from genai_rt.sampling.grammar_json_normalize import (
    CONSTRAINTS,
    NOT_IN,
    REF,
    TYPES,
    Normalizer,
    generated_types,
)

# One JSON string character: raw (no quote, backslash or control char) or an escape; \u never
# spells a surrogate so one element is one code point.
_CHAR_RULES = r"""json_char ::= /[^"\\\x00-\x1f]/ | "\\" json_escape
json_escape ::= ["\\/bfnrt] | "u" ([0-9a-cA-Ce-fE-F] [0-9a-fA-F] | [dD] [0-7]) [0-9a-fA-F]{2}
json_string ::= "\"" json_char* "\""
json_number ::= "-"? ("0" | [1-9] [0-9]*) ("." [0-9]+)? ([eE] [-+]? [0-9]+)?
"""
_RESERVED_RULES = frozenset({"root", "json_char", "json_escape", "json_string", "json_number",
                             "json_ws"})

MAX_SCHEMA_DEPTH = 128
# Rules of one object's property chain (properties x counts for min/maxProperties).
MAX_OBJECT_RULES = 4096
MAX_UNIQUE_VALUES = 8


class JsonSchemaConverter:
    """Lowers one JSON Schema document to GBNF text (see the module docstring).

    Parameters
    ----------
    schema
        The schema as a mapping or a boolean.
    strict
        Refuse unknown keywords instead of ignoring them.
    layout
        Whitespace style (default: bounded JSON whitespace).
    """

    def __init__(self, schema: Any, *, strict: bool = False,
                 layout: JsonLayout | None = None) -> None:
        self.schema = schema
        self.layout = layout or JsonLayout()
        self.norm = Normalizer(schema, strict=strict)
        self.rules: dict[str, str] = {}
        self._memo: dict[tuple[str, int], str] = {}
        self._name_counts: dict[str, int] = {}
        self._need_chars = False

    # ---- output -------------------------------------------------------------------------------

    def to_ebnf(self) -> str:
        """Returns GBNF text whose ``root`` rule matches the schema's instances."""
        root_expr = self.visit(self.schema, "#", 0, 0)
        lines = [f"root ::= {root_expr}"]
        lines += [f"{name} ::= {body}" for name, body in self.rules.items()]
        return "\n".join(lines) + "\n" + self.layout.rules() + _CHAR_RULES

    def _new_rule(self, hint: str, body: str) -> str:
        base = rule_name(hint)
        name, i = base, self._name_counts.get(base, 0)
        while name in self.rules or name in _RESERVED_RULES:
            i += 1
            name = f"{base}_{i}"
        self._name_counts[base] = i  # next search starts here: O(1) per rule, not O(rules)
        self.rules[name] = body
        return name

    # ---- dispatch -----------------------------------------------------------------------------

    def visit(self, schema: Any, path: str, depth: int, level: int) -> str:
        """GBNF expression for ``schema`` at JSON pointer ``path``, nesting ``level``."""
        if depth > MAX_SCHEMA_DEPTH:
            raise SchemaError(f"{path}: schema nested deeper than {MAX_SCHEMA_DEPTH} levels")
        level = self.layout.level(level)
        if isinstance(schema, Mapping) and set(schema) & CONSTRAINTS == {"$ref"}:
            return self._ref(schema["$ref"], path, depth, level)
        flats = self.norm.dnf(schema, path)
        alts = []
        for flat in flats:
            expr = self._flat(flat, path, depth, level)
            if expr is not None:
                alts.append(expr)
        if not alts:
            raise EmptySchemaError(f"{path}: schema matches nothing (contradictory keywords)")
        return alts[0] if len(alts) == 1 else "(" + " | ".join(alts) + ")"

    def _ref(self, ref: Any, path: str, depth: int, level: int) -> str:
        key = (str(ref), level)
        if key in self._memo:
            return self._memo[key]
        target = self.norm.resolve(ref, path)
        name = self._new_rule(f"ref_{ref[1:] or 'root'}_{level}", "")
        self._memo[key] = name  # registered before visiting, so recursion refers back to it
        self.rules[name] = self.visit(target, ref, depth + 1, level)
        return name

    def _flat(self, flat: dict[str, Any], path: str, depth: int, level: int) -> str | None:
        if not flat:
            return self.any_json(level)
        if REF in flat:
            return self._ref(flat[REF], path, depth, level)
        if "enum" in flat:
            if set(flat) <= {"enum", "type", NOT_IN}:  # common case, without jsonschema
                values = [v for v in flat["enum"] if has_type(v, flat.get("type"))
                          and v not in flat.get(NOT_IN, [])]
            else:
                values = [v for v in flat["enum"] if self.norm.is_valid(v, flat)]
            if not values:
                return None
            return "(" + " | ".join(self._value(v, level) for v in values) + ")"
        types = generated_types(flat)
        if "number" in types and "integer" in types:
            types.remove("integer")
        alts = []
        for t in TYPES:
            if t not in types:
                continue
            try:
                expr = self._typed(flat, t, path, depth, level)
            except _Empty:
                continue
            alts.append(expr)
        if not alts:
            return None
        return alts[0] if len(alts) == 1 else "(" + " | ".join(alts) + ")"

    def _typed(self, flat: dict[str, Any], t: str, path: str, depth: int, level: int) -> str:
        not_in = flat.get(NOT_IN, [])
        if t in ("null", "boolean"):
            values: list[Any] = [None] if t == "null" else [True, False]
            values = [v for v in values if v not in not_in]
            if not values:
                raise _Empty
            return "(" + " | ".join(self._value(v, level) for v in values) + ")"
        if t == "string":
            strings = [v for v in not_in if isinstance(v, str)]
            if strings:
                if set(flat) & {"minLength", "maxLength", "pattern", "format"}:
                    raise SchemaError(f"{path}/not: excluding values of a string with length, "
                                      "pattern or format cannot be expressed exactly")
                return self._key_not_in(strings, path)
            expr, uses_chars = string_expr(flat, path)
            self._need_chars |= uses_chars
            return expr
        if any(has_type(v, t) for v in not_in):
            raise SchemaError(f"{path}/not: excluding {t} values cannot be expressed exactly")
        if t in ("integer", "number"):
            number = number_expr(flat, path, integer=t == "integer")
            if number is None:
                raise _Empty
            return number
        if t == "array":
            return self._array(flat, path, depth, level)
        return self._object(flat, path, depth, level)

    # ---- literal values -----------------------------------------------------------------------

    def _value(self, value: Any, level: int) -> str:
        """A fixed JSON value, spaced as the layout allows."""
        lay = self.layout
        if isinstance(value, dict) and value:
            pairs = [f"{self._json_literal(k)} {lay.key_sep()} {self._value(v, level + 1)}"
                     for k, v in value.items()]
            sep = f" {lay.item_sep(level)} "
            return f"{lay.open('{', level)} {sep.join(pairs)} {lay.close('}', level)}"
        if isinstance(value, list) and value:
            items = [self._value(v, level + 1) for v in value]
            sep = f" {lay.item_sep(level)} "
            return f"{lay.open('[', level)} {sep.join(items)} {lay.close(']', level)}"
        if isinstance(value, (dict, list)):
            return lay.empty("{}" if isinstance(value, dict) else "[]")
        return self._json_literal(value)

    def _json_literal(self, value: Any) -> str:
        return ebnf_literal(json.dumps(value, separators=(",", ":"), ensure_ascii=False))

    # ---- any JSON -----------------------------------------------------------------------------

    def any_json(self, level: int) -> str:
        """Rule for any JSON value at ``level``."""
        level = self.layout.level(level)
        key = ("$any", level)
        if key in self._memo:
            return self._memo[key]
        self._need_chars = True
        name = self._new_rule(f"json_value_{level}", "")
        self._memo[key] = name
        inner = self.any_json(level + 1)
        lay = self.layout
        pair = f"json_string {lay.key_sep()} {inner}"
        sep = lay.item_sep(level)
        obj = (f"{lay.empty('{}')} | {lay.open('{', level)} {pair} ({sep} {pair})* "
               f"{lay.close('}', level)}")
        arr = (f"{lay.empty('[]')} | {lay.open('[', level)} {inner} ({sep} {inner})* "
               f"{lay.close(']', level)}")
        self.rules[name] = (f'{obj} | {arr} | json_string | json_number | "true" | "false" '
                            '| "null"')
        return name

    # ---- arrays -------------------------------------------------------------------------------

    def _array(self, flat: dict[str, Any], path: str, depth: int, level: int) -> str:
        min_items = _count(flat, "minItems", path, 0)
        max_items = _count(flat, "maxItems", path, None)
        if max_items is not None and max_items < min_items:
            raise _Empty
        prefix = flat.get("prefixItems", [])
        if not isinstance(prefix, list):
            raise SchemaError(f"{path_join(path, 'prefixItems')}: must be a list")
        items = flat.get("items", True)
        if flat.get("uniqueItems") is True and (max_items is None or max_items > 1):
            return self._unique_array(flat, path, depth, level, min_items, max_items)
        if "contains" in flat:
            return self._contains_array(flat, path, depth, level, min_items, max_items)
        if max_items is not None:
            prefix = prefix[:max_items]
        inner = level + 1
        prefix_exprs = [self.visit(p, path_join(path, "prefixItems", i), depth + 1, inner)
                        for i, p in enumerate(prefix)]
        k = len(prefix_exprs)
        rest_hi: int | None
        if items is False or (max_items is not None and max_items <= k):
            if min_items > k:
                raise _Empty
            item_expr, rest_lo, rest_hi = "", 0, 0
        else:
            item_expr = self.visit(items, path_join(path, "items"), depth + 1, inner)
            rest_lo = max(0, min_items - k)
            rest_hi = None if max_items is None else max_items - k
        return self._sequence(prefix_exprs, item_expr, rest_lo, rest_hi, min_items, level)

    def _sequence(self, prefix: list[str], item: str, rest_lo: int, rest_hi: int | None,
                  min_items: int, level: int) -> str:
        """``[`` prefix items, then ``item`` repeated in [rest_lo, rest_hi], ``]``."""
        lay = self.layout
        sep = lay.item_sep(level)
        k = len(prefix)
        if k == 0:
            if rest_hi == 0:
                return lay.empty("[]")
            lo = max(rest_lo, 1)
            tail = ("*" if rest_hi is None else f"{{0,{rest_hi - 1}}}") if lo == 1 else (
                f"{{{lo - 1},}}" if rest_hi is None else f"{{{lo - 1},{rest_hi - 1}}}")
            body = f"{lay.open('[', level)} {item} ({sep} {item}){tail} {lay.close(']', level)}"
            return body if rest_lo > 0 else f"({lay.empty('[]')} | {body})"
        if rest_hi == 0:
            cont = ""
        else:
            rep = f"{{{rest_lo},}}" if rest_hi is None else f"{{{rest_lo},{rest_hi}}}"
            cont = f"({sep} {item}){rep}"
        for i in range(k - 1, 0, -1):
            part = f"{sep} {prefix[i]} {cont}".strip()
            cont = f"({part})" if i + 1 <= min_items else f"({part})?"
        body = f"{lay.open('[', level)} {prefix[0]} {cont} {lay.close(']', level)}"
        return body if min_items > 0 else f"({lay.empty('[]')} | {body})"

    def _unique_array(self, flat: dict[str, Any], path: str, depth: int, level: int,
                      min_items: int, max_items: int | None) -> str:
        where = path_join(path, "uniqueItems")
        if flat.get("prefixItems") or "contains" in flat:
            raise SchemaError(f"{where}: uniqueItems with prefixItems/contains is not supported")
        values = self.norm._finite(flat.get("items", True), path_join(path, "items"))
        if values is None or len(values) > MAX_UNIQUE_VALUES:
            raise SchemaError(f"{where}: uniqueItems is supported only for items with at most "
                              f"{MAX_UNIQUE_VALUES} values (enum/const/boolean)")
        values = [v for i, v in enumerate(values) if v not in values[:i]]
        hi = len(values) if max_items is None else min(max_items, len(values))
        if min_items > hi:
            raise _Empty
        lay = self.layout
        exprs = [self._value(v, level + 1) for v in values]
        sep = lay.item_sep(level)
        # after[i][c]: items after value i, c written so far; values appear in enum order.
        memo: dict[tuple[int, int], str | None] = {}

        def after(i: int, c: int) -> str | None:
            if (i, c) in memo:
                return memo[(i, c)]
            alts = [f"{sep} {exprs[j]} {r}".strip() for j in range(i + 1, len(values))
                    if c < hi and (r := after(j, c + 1)) is not None]
            if c >= min_items:
                alts.append('""')
            memo[(i, c)] = None if not alts else self._new_rule(
                f"{path.replace('#', 'uniq')}_{i}_{c}", " | ".join(alts))
            return memo[(i, c)]

        firsts = [f"{exprs[j]} {r}" for j in range(len(values))
                  if hi >= 1 and (r := after(j, 1)) is not None]
        alts = [f"{lay.open('[', level)} ({' | '.join(firsts)}) {lay.close(']', level)}"] \
            if firsts else []
        if min_items == 0:
            alts.append(lay.empty("[]"))
        return "(" + " | ".join(alts) + ")"

    def _contains_array(self, flat: dict[str, Any], path: str, depth: int, level: int,
                        min_items: int, max_items: int | None) -> str:
        where = path_join(path, "contains")
        if flat.get("prefixItems") or max_items is not None or min_items > 1 or \
                flat.get("minContains", 1) != 1 or "maxContains" in flat:
            raise SchemaError(f"{where}: contains is supported only without prefixItems, "
                              "maxItems, minItems > 1 and min/maxContains")
        items = flat.get("items", True)
        both = {"allOf": [items, flat["contains"]]}
        item = self.visit(items, path_join(path, "items"), depth + 1, level + 1)
        hit = self.visit(both, where, depth + 1, level + 1)
        lay = self.layout
        sep = lay.item_sep(level)
        return (f"{lay.open('[', level)} ({item} {sep})* {hit} ({sep} {item})* "
                f"{lay.close(']', level)}")

    # ---- objects ------------------------------------------------------------------------------

    def _object(self, flat: dict[str, Any], path: str, depth: int, level: int) -> str:
        props = dict(flat.get("properties", {}))
        if not isinstance(props, Mapping):
            raise SchemaError(f"{path_join(path, 'properties')}: must be an object")
        required = flat.get("required", [])
        if not isinstance(required, list):
            raise SchemaError(f"{path_join(path, 'required')}: must be a list")
        patterns = dict(flat.get("patternProperties", {}))
        # No extra keys unless the schema asks for them; an object with no keywords at all is
        # any object.
        extra = flat.get("additionalProperties",
                         False if set(flat) & {"properties", "patternProperties"} else True)
        names_schema = flat.get("propertyNames")
        for name in required:
            if name not in props:  # its value schema: matching patterns, else additional
                matched = [s for p, s in patterns.items() if re.search(p, name)]
                props[name] = {"allOf": matched} if matched else (
                    True if "additionalProperties" not in flat else extra)
        if names_schema is not None:
            for name in list(props):
                if not self.norm.is_valid(name, names_schema):
                    props[name] = False
            if patterns or extra is not False:
                pattern_only = isinstance(names_schema, Mapping) and set(names_schema) <= {
                    "pattern", "type"} and "pattern" in names_schema and not patterns
                if not pattern_only:
                    raise SchemaError(f"{path_join(path, 'propertyNames')}: propertyNames with "
                                      "extra keys is supported only as a lone pattern")
                patterns = {names_schema["pattern"]: extra}
                extra = False
        if any(props.get(r) is False for r in required):
            raise _Empty
        inner = level + 1
        lay = self.layout
        pairs: list[tuple[str, bool]] = []
        for name, sub in props.items():
            if sub is False:
                continue
            try:
                value = self.visit(sub, path_join(path, "properties", name), depth + 1, inner)
            except EmptySchemaError:
                if name in required:
                    raise _Empty from None
                continue  # no value fits: the property may only be absent
            pairs.append((f"{self._json_literal(name)} {lay.key_sep()} {value}", name in required))
        extras = self._extras(list(props), patterns, extra, path, depth, inner)
        min_p = _count(flat, "minProperties", path, 0)
        max_p = _count(flat, "maxProperties", path, None)
        chain = _Chain(self, pairs, extras, lay.item_sep(level), min_p, max_p, path)
        body = chain.expr(max(min_p, 1))
        alts = []
        if body is not None:
            alts.append(f"{lay.open('{', level)} {body} {lay.close('}', level)}")
        if min_p == 0 and not required:
            alts.append(lay.empty("{}"))
        if not alts:
            raise _Empty
        return alts[0] if len(alts) == 1 else "(" + " | ".join(alts) + ")"

    def _extras(self, names: list[str], patterns: dict[str, Any], extra: Any, path: str,
                depth: int, level: int) -> str | None:
        """One extra key-value pair (patternProperties / additionalProperties), or None."""
        alts = []
        sep = self.layout.key_sep()
        for pattern, sub in patterns.items():
            where = path_join(path, "patternProperties", pattern)
            if not isinstance(pattern, str):
                raise SchemaError(f"{where}: pattern must be a string")
            clash = [n for n in names if re.search(pattern, n)]
            if clash:
                raise SchemaError(f"{where}: declared property {clash[0]!r} also matches the "
                                  "pattern; excluding it from the keys is not supported")
            if len(patterns) > 1:  # a key may match several patterns: it must satisfy all
                sub = {"allOf": list(patterns.values())}
            try:
                value = self.visit(sub, where, depth + 1, level)
            except SchemaError:
                if len(patterns) == 1:
                    raise
                continue
            key = '"\\"" ' + ebnf_regex(search_regex(pattern), json_string=True) + ' "\\""'
            alts.append(f"{key} {sep} {value}")
        if extra is not False and extra is not None:
            if patterns:
                raise SchemaError(f"{path_join(path, 'additionalProperties')}: next to "
                                  "patternProperties (keys matching no pattern) is not supported")
            value = self.visit(extra, path_join(path, "additionalProperties"), depth + 1, level)
            alts.append(f"{self._key_not_in(names, path)} {sep} {value}")
        if not alts:
            return None
        return self._new_rule(rule_name(path.replace("#", "obj")) + "_extra", " | ".join(alts))

    def _key_not_in(self, names: list[str], path: str) -> str:
        """A JSON key (no escapes) that differs from every declared property name."""
        self._need_chars = True
        if not names:
            return "json_string"
        plain = r"[^\"\\\x00-\x1f]"
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


def _count(flat: Mapping[str, Any], key: str, path: str, default: int | None) -> Any:
    value = flat.get(key, default)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise SchemaError(f"{path_join(path, key)}: must be a non-negative integer")
    return value


class EmptySchemaError(SchemaError):
    """A schema no instance satisfies."""


class _Empty(Exception):
    """This type's branch of a flat schema matches nothing (dropped from the union)."""


class _Chain:
    """Property pairs in order, then extras, with min/maxProperties counted exactly.

    Rule (i, c): pairs i.. and extras after c pairs were written (c capped where counting
    no longer matters); c > 0 means the next pair needs a separator.
    """

    def __init__(self, conv: JsonSchemaConverter, pairs: list[tuple[str, bool]],
                 extras: str | None, sep: str, min_p: int, max_p: int | None, path: str):
        self.conv, self.pairs, self.extras, self.sep = conv, pairs, extras, sep
        self.max_p, self.path = max_p, path
        self.min_p = min_p
        self.hint = rule_name(path.replace("#", "obj") or "obj")

    def expr(self, min_p: int) -> str | None:
        self.min_p = min_p
        self.cap = max(min_p, 1) if self.max_p is None else self.max_p
        if self.cap > 1 and len(self.pairs) * (self.cap + 1) > MAX_OBJECT_RULES:
            raise SchemaError(f"{path_join(self.path, 'maxProperties')}: counting properties "
                              f"needs more than {MAX_OBJECT_RULES} rules")
        self.memo: dict[tuple[int, int], str | None] = {}
        # Bottom-up (last property first): a recursive walk would nest once per property.
        for i in range(len(self.pairs), -1, -1):
            for c in range(self.cap, -1, -1):
                self.memo[(i, c)] = self.rule(i, c)
        return self.memo[(0, 0)]

    def rule(self, i: int, c: int) -> str | None:
        alts = []
        if i == len(self.pairs):
            tail = self._extras(c)
            if tail is not None:
                alts.append(tail)
        else:
            pair, req = self.pairs[i]
            if self.max_p is None or c + 1 <= self.max_p:
                nxt = self.memo[(i + 1, min(c + 1, self.cap))]
                if nxt is not None:
                    lead = f"{self.sep} {pair}" if c > 0 else pair
                    alts.append(f"{lead} {nxt}")
            if not req:
                skip = self.memo[(i + 1, c)]
                if skip is not None:
                    alts.append(skip)
        if not alts:
            return None
        if alts == ['""']:
            return '""'
        return self.conv._new_rule(f"{self.hint}_p{i}_{c}", " | ".join(alts))

    def _extras(self, c: int) -> str | None:
        lo = max(0, self.min_p - c)
        hi = None if self.max_p is None else self.max_p - c
        if self.extras is None:
            return '""' if lo == 0 else None
        x, sep = self.extras, self.sep
        if c > 0:
            rep = f"{{{lo},}}" if hi is None else f"{{{lo},{hi}}}"
            return f"({sep} {x}){rep}" if hi != 0 else ('""' if lo == 0 else None)
        if hi == 0:
            return '""' if lo == 0 else None
        more = f"{{{max(lo - 1, 0)},}}" if hi is None else f"{{{max(lo - 1, 0)},{hi - 1}}}"
        body = f"{x} ({sep} {x}){more}"
        return body if lo > 0 else f"({body})?"


def json_schema_to_ebnf(schema: Any, *, strict: bool = False, whitespace: str = "any",
                        indent: int | None = None) -> str:
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
    layout = JsonLayout(whitespace, indent)
    return JsonSchemaConverter(schema, strict=strict, layout=layout).to_ebnf()


def any_json_ebnf(whitespace: str = "any", indent: int | None = None) -> str:
    """GBNF for any JSON value in the given layout."""
    return json_schema_to_ebnf(True, whitespace=whitespace, indent=indent)
