"""JSON Schema → a disjunction of *flat* schemas, exactly (never a superset).

A flat schema holds no applicator (``allOf``, ``anyOf``, ``oneOf``, ``not``, ``if``, ``$ref``,
``dependent*``): only ``type`` (a list), ``enum``, bounds, string, array and object keywords,
whose sub-schemas (``properties`` values, ``items``...) stay raw and are lowered later. The
rewrites are the identities of the specification:

- ``allOf`` and siblings: keyword-wise intersection (``merge``); a property's schemas from both
  sides are kept as ``{"allOf": [a, b]}``, with ``additionalProperties``/``patternProperties``
  applied to the other side's names as the specification says;
- ``anyOf``: union; ``oneOf``: union once its branches are shown disjoint, else refused;
- ``if``/``then``/``else``: ``(if ∧ then) ∨ (¬if ∧ else)``; ``not``: negation keyword by keyword
  where it is a schema again (types, bounds, lengths, ``required``, ``properties``, values);
- ``dependentRequired``/``dependentSchemas``/``dependencies``: ``(name absent) ∨ (name ∧ ...)``;
- ``enum``/``const``: the values are filtered with ``jsonschema`` against everything else.

A property whose schema is ``False`` may not appear. ``x-genai-not-in`` (internal) lists values a
string may not take. Unknown keywords are annotations and are ignored unless ``strict``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from genai_rt.sampling.grammar_json_leaves import SchemaError, has_type, path_join

TYPES = ("null", "boolean", "object", "array", "number", "integer", "string")
NUMBER_KEYWORDS = {"multipleOf", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}
STRING_KEYWORDS = {"minLength", "maxLength", "pattern", "format"}
ARRAY_KEYWORDS = {"items", "prefixItems", "additionalItems", "minItems", "maxItems",
                  "uniqueItems", "contains", "minContains", "maxContains", "unevaluatedItems"}
OBJECT_KEYWORDS = {"properties", "patternProperties", "additionalProperties", "required",
                   "minProperties", "maxProperties", "propertyNames", "dependentRequired",
                   "dependentSchemas", "dependencies", "unevaluatedProperties"}
APPLICATORS = {"allOf", "anyOf", "oneOf", "not", "if", "then", "else", "$ref"}
# Keywords whose value must be a JSON object (a bad one is a SchemaError naming it, not a crash).
_OBJECT_VALUED = {"properties", "patternProperties", "$defs", "definitions", "dependentRequired",
                  "dependentSchemas"}
# Keywords that constrain instances; anything else is an annotation (title, x-*, id, ...).
CONSTRAINTS = (NUMBER_KEYWORDS | STRING_KEYWORDS | ARRAY_KEYWORDS | OBJECT_KEYWORDS | APPLICATORS
               | {"type", "enum", "const", "$dynamicRef", "$recursiveRef"})
STRUCTURAL = {"$defs", "definitions", "$schema", "$id", "id", "$anchor", "$comment",
              "$dynamicAnchor", "$recursiveAnchor", "$vocabulary"}
DESCRIPTIVE = {"title", "description", "examples", "default", "deprecated", "readOnly",
               "writeOnly", "contentMediaType", "contentEncoding", "contentSchema", "example"}
NOT_IN = "x-genai-not-in"
# A flat schema that is only a reference, kept as one so that recursive schemas stay rules.
REF = "x-genai-ref"
MAX_DISJUNCTS = 256
_ROOT_URI = "urn:genai-rt:root"


class Normalizer:
    """Rewrites schemas of one document into disjunctions of flat schemas."""

    def __init__(self, root: Any, *, strict: bool) -> None:
        self.root = root
        self.strict = strict
        self._inlining: list[str] = []
        self._validators: dict[str, Any] = {}

    # ---- references and validation ----------------------------------------------------------

    def resolve(self, ref: Any, path: str) -> Any:
        """The target of a local ``$ref``; external or malformed references are refused."""
        where = path_join(path, "$ref")
        if not isinstance(ref, str):
            raise SchemaError(f"{where}: $ref must be a string, got {ref!r}")
        if not ref.startswith("#"):
            raise SchemaError(
                f"{where}: only local references ('#...') are supported, got {ref!r} "
                "(another document cannot be fetched)")
        pointer = ref[1:]
        if pointer and not pointer.startswith("/"):
            raise SchemaError(f"{where}: unsupported reference {ref!r} (anchors are not resolved)")
        target: Any = self.root
        for raw in pointer.split("/")[1:] if pointer else []:
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(target, Mapping) and part in target:
                target = target[part]
            elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
                target = target[int(part)]
            else:
                raise SchemaError(f"{where}: reference {ref!r} does not resolve")
        return target

    def is_valid(self, value: Any, schema: Any) -> bool:
        """``jsonschema``'s verdict (draft 2020-12), with ``#`` references into the root."""
        import jsonschema
        from referencing import Registry
        from referencing.jsonschema import DRAFT202012, specification_with

        key = json.dumps(schema, sort_keys=True, default=str)
        validator = self._validators.get(key)
        if validator is None:
            root = self.root if isinstance(self.root, (Mapping, bool)) else {}
            dialect = root.get("$schema", "") if isinstance(root, Mapping) else ""
            if "draft-0" in str(dialect) and not _has_prefix_items(schema):
                # Older drafts read "items": [...] as tuples: check with their own rules.
                cls = jsonschema.validators.validator_for(root)
                spec = specification_with(dialect, default=DRAFT202012)
            else:
                cls, spec = jsonschema.Draft202012Validator, DRAFT202012
            registry = Registry().with_resource(_ROOT_URI, spec.create_resource(root))
            resolver = registry.resolver(base_uri=_ROOT_URI)
            validator = cls(_without_internal(schema), registry=registry, _resolver=resolver)
            self._validators[key] = validator
        try:
            ok = bool(validator.is_valid(value))
        except Exception as exc:  # noqa: BLE001  (a reference or keyword jsonschema rejects)
            raise SchemaError(f"cannot check value {value!r} against the schema: {exc}") from None
        if ok and isinstance(schema, Mapping) and NOT_IN in schema:
            ok = value not in schema[NOT_IN]
        return ok

    # ---- disjunctive normal form ------------------------------------------------------------

    def dnf(self, schema: Any, path: str) -> list[dict[str, Any]]:
        """The flat schemas whose union is ``schema`` (an empty list matches nothing)."""
        if schema is True:
            return [{}]
        if schema is False:
            return []
        if not isinstance(schema, Mapping):
            raise SchemaError(f"{path}: a schema must be an object or a boolean, got {schema!r}")
        own = self._own_keywords(schema, path)
        parts: list[list[dict[str, Any]]] = [[own]]
        if "$ref" in schema:
            ref = schema["$ref"]
            if ref in self._inlining:
                raise SchemaError(f"{path_join(path, '$ref')}: {ref!r} refers to itself through "
                                  "allOf/$ref siblings (an infinite intersection)")
            self._inlining.append(ref)
            try:
                parts.append(self.dnf(self.resolve(ref, path), ref))
            finally:
                self._inlining.pop()
        for key in ("$dynamicRef", "$recursiveRef"):
            if key in schema:
                raise SchemaError(f"{path_join(path, key)}: {key} is not supported")
        if "allOf" in schema:
            for i, sub in enumerate(self._list(schema, "allOf", path)):
                parts.append(self.dnf(sub, path_join(path, "allOf", i)))
        if "anyOf" in schema:
            branches = self._list(schema, "anyOf", path)
            parts.append([f for i, b in enumerate(branches)
                          for f in self._branch(b, path_join(path, "anyOf", i))])
        if "oneOf" in schema:
            parts.append(self._one_of(self._list(schema, "oneOf", path), path_join(path, "oneOf"),
                                      own))
        if "not" in schema:
            parts.append(self.negate(schema["not"], path_join(path, "not")))
        if "if" in schema and ("then" in schema or "else" in schema):
            cond = schema["if"]
            then = self.product([self.dnf(cond, path_join(path, "if")),
                                 self.dnf(schema.get("then", True), path_join(path, "then"))],
                                path)
            other = self.product([self.negate(cond, path_join(path, "if")),
                                  self.dnf(schema.get("else", True), path_join(path, "else"))],
                                 path)
            parts.append(then + other)
        parts += self._dependencies(schema, path)
        flats = self.product(parts, path)
        for key, target in (("unevaluatedProperties", "additionalProperties"),
                            ("unevaluatedItems", "items")):
            if key in schema:
                # After flattening, every property/item the schema evaluates is in the flat
                # schema, so "unevaluated" is "additional" there.
                flats = [m for f in flats
                         if (m := self.merge(f, {target: schema[key]}, path)) is not None]
        return flats

    def _branch(self, schema: Any, path: str) -> list[dict[str, Any]]:
        if isinstance(schema, Mapping) and set(schema) & CONSTRAINTS == {"$ref"}:
            return [{REF: schema["$ref"]}]
        return self.dnf(schema, path)

    def expand(self, flat: dict[str, Any], path: str) -> list[dict[str, Any]]:
        """``flat`` itself, or the flat schemas of the reference it stands for."""
        if REF not in flat:
            return [flat]
        ref = flat[REF]
        if ref in self._inlining:
            raise SchemaError(f"{path}: {ref!r} refers to itself through allOf/$ref siblings "
                              "(an infinite intersection)")
        self._inlining.append(ref)
        try:
            return self.dnf(self.resolve(ref, path), ref)
        finally:
            self._inlining.pop()

    def product(self, parts: list[list[dict[str, Any]]], path: str) -> list[dict[str, Any]]:
        """Pairwise merges of one flat schema from each part (the distributive law)."""
        result: list[dict[str, Any]] = [{}]
        for part in parts:
            merged = []
            for a in result:
                for b in part:
                    if not a:
                        merged.append(b)
                        continue
                    if not b:
                        merged.append(a)
                        continue
                    for a2 in self.expand(a, path):
                        for b2 in self.expand(b, path):
                            m = self.merge(a2, b2, path)
                            if m is not None:
                                merged.append(m)
            if len(merged) > MAX_DISJUNCTS:
                raise SchemaError(f"{path}: more than {MAX_DISJUNCTS} alternatives after "
                                  "distributing anyOf/oneOf/if/not over allOf")
            result = merged
        return result

    def _list(self, schema: Mapping[str, Any], key: str, path: str) -> list[Any]:
        value = schema[key]
        if not isinstance(value, list) or not value:
            raise SchemaError(f"{path_join(path, key)}: must be a non-empty list")
        return value

    def _own_keywords(self, schema: Mapping[str, Any], path: str) -> dict[str, Any]:
        """The schema's own non-applicator keywords, draft-4 forms rewritten."""
        own: dict[str, Any] = {}
        for key, value in schema.items():
            if key in _OBJECT_VALUED and not isinstance(value, Mapping):
                raise SchemaError(f"{path_join(path, key)}: must be an object, got "
                                  f"{type(value).__name__}")
            if key in APPLICATORS or key in STRUCTURAL or key in DESCRIPTIVE:
                continue
            if key in {"dependentRequired", "dependentSchemas", "dependencies",
                       "unevaluatedProperties", "unevaluatedItems"}:
                continue
            if key not in CONSTRAINTS:
                if self.strict:
                    raise SchemaError(f"{path_join(path, key)}: unknown keyword '{key}' (strict)")
                continue
            own[key] = value
        if "type" in own:
            types = own["type"] if isinstance(own["type"], list) else [own["type"]]
            for t in types:
                if t not in TYPES:
                    raise SchemaError(f"{path_join(path, 'type')}: unknown type {t!r}")
            own["type"] = list(dict.fromkeys(types))
        if "const" in own:
            own["enum"] = [own.pop("const")] if "enum" not in own else [
                v for v in own["enum"] if v == own["const"]]
            own.pop("const", None)
        if "enum" in own and (not isinstance(own["enum"], list) or not own["enum"]):
            raise SchemaError(f"{path_join(path, 'enum')}: enum must be a non-empty list")
        for key in ("exclusiveMinimum", "exclusiveMaximum"):  # draft 4 booleans
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            if own.get(key) is True and bound in own:
                own[key] = own.pop(bound)
            elif isinstance(own.get(key), bool):
                del own[key]
        if isinstance(own.get("items"), list):  # draft 4 tuples
            own["prefixItems"] = own.pop("items")
            if "additionalItems" in own:
                own["items"] = own.pop("additionalItems")
        own.pop("additionalItems", None)
        if "minContains" in own or "maxContains" in own:
            if "contains" not in own:
                own.pop("minContains", None)
                own.pop("maxContains", None)
        return own

    def _dependencies(self, schema: Mapping[str, Any], path: str) -> list[list[dict[str, Any]]]:
        parts: list[list[dict[str, Any]]] = []
        deps: list[tuple[str, Any, str]] = []
        for key in ("dependentRequired", "dependentSchemas", "dependencies"):
            value = schema.get(key)
            if value is None:
                continue
            if not isinstance(value, Mapping):
                raise SchemaError(f"{path_join(path, key)}: must be an object")
            deps += [(name, sub, path_join(path, key, name)) for name, sub in value.items()]
        for name, sub, where in deps:
            absent = {"properties": {name: False}}
            if isinstance(sub, list):
                present = [{"required": [name, *sub]}]
            else:
                present = self.product([[{"required": [name]}], self.dnf(sub, where)], where)
            parts.append([absent, *present])
        return parts

    # ---- oneOf --------------------------------------------------------------------------------

    def _one_of(self, branches: list[Any], path: str,
                context: dict[str, Any]) -> list[dict[str, Any]]:
        """Union of the branches once shown pairwise disjoint (``context``: the siblings, which
        every instance satisfies too, so they may tell branches apart)."""
        kept = [self._branch(b, path_join(path, i)) for i, b in enumerate(branches)]
        flats = [[m for f in fs for e in self.expand(f, path)
                  if (m := self.merge(e, context, path)) is not None] for fs in kept]
        out: list[dict[str, Any]] = []
        for i, fi in enumerate(flats):
            others = [b for j, b in enumerate(branches) if j != i]
            if all(REF in f for f in kept[i]) and all(
                    self._excludes(f, g) for f in fi for j, fj in enumerate(flats) if j != i
                    for g in fj):
                out += kept[i]  # disjoint from the others: keep the reference (recursion)
                continue
            for f in fi:
                if "enum" in f:  # finite: keep the values no other branch accepts
                    values = [v for v in f["enum"]
                              if not any(self.is_valid(v, o) for o in others)]
                    if values:
                        out.append({**f, "enum": values})
                    continue
                overlapping = [j for j, fj in enumerate(flats)
                               if j != i and not all(self._excludes(f, g) for g in fj)]
                if not overlapping:
                    out.append(f)
                    continue
                # Not provably disjoint: refused. NOTE: lowering it as branch i AND NOT the
                # others accepted 3 for oneOf [integer, {minimum: 0}] (both branches match it):
                # "not integer" has no exact grammar over JSON numbers, so it became a superset.
                raise SchemaError(
                    f"{path}: branches {i} and {overlapping[0]} may both match one instance, "
                    "so oneOf cannot be lowered as a union (make them disjoint, or use anyOf)"
                )
        return out

    def _excludes(self, f: dict[str, Any], g: dict[str, Any]) -> bool:
        """True if every instance generated from ``f`` fails ``g``."""
        gen = generated_types(f)
        if "enum" in g:
            return not any(has_type(v, gen) for v in g["enum"])
        if "type" in g and not set(gen) & _widen(g["type"]):
            return True
        if gen != ["object"]:
            return False
        f_props = f.get("properties", {})
        closed = "additionalProperties" not in f or f["additionalProperties"] is False
        closed = closed and not f.get("patternProperties")
        for q in g.get("required", []):
            if closed and f_props.get(q, False) is False:
                return True
        for p in f.get("required", []):  # always written by f, never allowed by g
            if p not in g.get("properties", {}) and not g.get("patternProperties") and \
                    g.get("additionalProperties", True) is False:
                return True
            if g.get("properties", {}).get(p, True) is False:
                return True
        g_props = g.get("properties", {})
        for p in set(f.get("required", [])) & set(g_props):
            fv, gv = self._finite(f_props.get(p), p), self._finite(g_props[p], p)
            if fv is not None and gv is not None and not any(v in gv for v in fv):
                return True
        return False

    def _finite(self, schema: Any, where: str) -> list[Any] | None:
        if schema is None:
            return None
        try:
            flats = self.dnf(schema, where)
        except SchemaError:
            return None
        if not all("enum" in f for f in flats):
            return None
        return [v for f in flats for v in f["enum"]]

    # ---- not ----------------------------------------------------------------------------------

    def negate(self, schema: Any, path: str) -> list[dict[str, Any]]:
        """Flat schemas whose union is exactly the complement of ``schema``."""
        if schema is True:
            return []
        if schema is False:
            return [{}]
        if not isinstance(schema, Mapping):
            raise SchemaError(f"{path}: a schema must be an object or a boolean")
        if "$ref" in schema and len(set(schema) & CONSTRAINTS) == 1:
            return self.negate(self.resolve(schema["$ref"], path), schema["$ref"])
        out: list[dict[str, Any]] = []
        for key, value in schema.items():
            if key not in CONSTRAINTS or key in {"then", "else"}:
                continue
            where = path_join(path, key)
            out += self._negate_keyword(schema, key, value, where)
        if len(out) > MAX_DISJUNCTS:
            raise SchemaError(f"{path}: negation has more than {MAX_DISJUNCTS} alternatives")
        return out

    def _negate_keyword(self, schema: Mapping[str, Any], key: str, value: Any,
                        where: str) -> list[dict[str, Any]]:
        def others(*kept: str) -> list[str]:
            return [t for t in TYPES if t not in kept and t != "integer"]

        if key == "type":
            types = set(value if isinstance(value, list) else [value])
            if "integer" in types and "number" not in types:
                raise SchemaError(f"{where}: 'not' of type integer (non-integer numbers) is not "
                                  "supported")
            return [{"type": [t for t in TYPES if t not in types and
                              not (t == "integer" and "number" in types)]}]
        if key in ("enum", "const"):
            values = value if key == "enum" else [value]
            return [{NOT_IN: list(values)}]
        if key in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
            if isinstance(value, bool):
                return []
            flip = {"minimum": "exclusiveMaximum", "exclusiveMinimum": "maximum",
                    "maximum": "exclusiveMinimum", "exclusiveMaximum": "minimum"}[key]
            return [{"type": others("number")}, {"type": ["number"], flip: value}]
        if key in ("minLength", "maxLength", "minItems", "maxItems", "minProperties",
                   "maxProperties"):
            family = {"L": "string", "I": "array", "P": "object"}[key[3]]
            low = key.startswith("min")
            if low and value == 0:
                return []
            flip = key.replace("min", "max") if low else key.replace("max", "min")
            return [{"type": others(family)}, {"type": [family], flip: value - 1 if low
                                               else value + 1}]
        if key == "required":
            return [{"type": others("object")}] + [
                {"properties": {name: False}} for name in value]
        if key == "properties":
            out: list[dict[str, Any]] = []
            for name, sub in value.items():
                out.append({"type": ["object"], "required": [name],
                            "properties": {name: {"not": sub}}})
            return out
        if key == "anyOf":
            return self.product([self.negate(b, path_join(where, i))
                                 for i, b in enumerate(value)], where)
        if key == "allOf":
            return [f for i, b in enumerate(value) for f in self.negate(b, path_join(where, i))]
        if key == "not":
            return self.dnf(value, where)
        if key == "$ref":
            return self.negate(self.resolve(value, where), value)
        raise SchemaError(f"{where}: 'not'/'if' on keyword '{key}' cannot be expressed exactly")

    # ---- allOf --------------------------------------------------------------------------------

    def merge(self, a: dict[str, Any], b: dict[str, Any], path: str) -> dict[str, Any] | None:
        """The flat intersection of two flat schemas; None if they contradict."""
        if not a:
            return dict(b)
        if not b:
            return dict(a)
        out = dict(a)
        for key, value in b.items():
            if key not in out:
                out[key] = value
                continue
            mine = out[key]
            if key == "type":
                out[key] = [t for t in _widen(mine) if t in _widen(value)
                            and not (t == "number" and not ("number" in mine and
                                                            "number" in value))]
                if not out[key]:
                    return None
            elif key == "enum":
                out[key] = [v for v in mine if v in value]
            elif key == NOT_IN:
                out[key] = mine + value
            elif key in ("minimum", "exclusiveMinimum", "minLength", "minItems",
                         "minProperties", "minContains"):
                out[key] = max(mine, value)
            elif key in ("maximum", "exclusiveMaximum", "maxLength", "maxItems",
                         "maxProperties", "maxContains"):
                out[key] = min(mine, value)
            elif key == "required":
                out[key] = list(dict.fromkeys([*mine, *value]))
            elif key == "uniqueItems":
                out[key] = bool(mine) or bool(value)
            elif key in ("items", "contains", "propertyNames"):
                out[key] = {"allOf": [mine, value]}
            elif key == "prefixItems":
                out[key] = _merge_prefix(a, b)
            elif key in ("properties", "patternProperties", "additionalProperties"):
                continue  # below, together
            elif mine != value:
                raise SchemaError(f"{path}: allOf combines two different '{key}' "
                                  f"({mine!r} and {value!r}), which cannot be expressed exactly")
        if "prefixItems" in b and "prefixItems" not in a and "items" in a:
            out["prefixItems"] = _merge_prefix(a, b)
        if "prefixItems" in a and "prefixItems" not in b and "items" in b:
            out["prefixItems"] = _merge_prefix(a, b)
        if any(k in a for k in ("properties", "patternProperties", "additionalProperties")) or \
                any(k in b for k in ("properties", "patternProperties", "additionalProperties")):
            self._merge_objects(a, b, out, path)
        return self._prune(out)

    def _merge_objects(self, a: dict[str, Any], b: dict[str, Any], out: dict[str, Any],
                       path: str) -> None:
        pa, pb = a.get("patternProperties", {}), b.get("patternProperties", {})
        if pa and pb and pa != pb:
            raise SchemaError(f"{path}: allOf combines two different patternProperties, which "
                              "cannot be expressed exactly")
        names = list(dict.fromkeys([*a.get("properties", {}), *b.get("properties", {})]))
        props = {}
        for name in names:
            sa, sb = _applicable(a, name), _applicable(b, name)
            props[name] = sa if sb is True else sb if sa is True else {"allOf": [sa, sb]}
            if sa is False or sb is False:
                props[name] = False
        out["properties"] = props
        if pa or pb:
            other_extra = b.get("additionalProperties", True) if pa else a.get(
                "additionalProperties", True)
            out["patternProperties"] = {
                p: s if other_extra is True else {"allOf": [s, other_extra]}
                for p, s in (pa or pb).items()}
        if "additionalProperties" in a or "additionalProperties" in b:
            xa, xb = a.get("additionalProperties", True), b.get("additionalProperties", True)
            out["additionalProperties"] = (
                False if xa is False or xb is False else xa if xb is True else xb if xa is True
                else {"allOf": [xa, xb]})

    def _prune(self, flat: dict[str, Any]) -> dict[str, Any] | None:
        """None for flat schemas that are obviously empty (enum exhausted, required ∧ absent)."""
        if "enum" in flat:
            if NOT_IN in flat:
                flat["enum"] = [v for v in flat["enum"] if v not in flat[NOT_IN]]
            if not flat["enum"]:
                return None
        props = flat.get("properties", {})
        if any(props.get(r, True) is False for r in flat.get("required", [])):
            if "type" in flat and flat["type"] == ["object"]:
                return None
        return flat


def _widen(types: Any) -> set[str]:
    names = set(types if isinstance(types, list) else [types])
    return names | {"integer"} if "number" in names else names


def generated_types(flat: Mapping[str, Any]) -> list[str]:
    """The JSON types a flat schema's lowering produces (keywords of one family imply it)."""
    if "type" in flat:
        return list(flat["type"])
    if "enum" in flat:
        return [t for t in TYPES if any(has_type(v, t) for v in flat["enum"])]
    families = [("number", NUMBER_KEYWORDS), ("string", STRING_KEYWORDS | {NOT_IN}),
                ("array", ARRAY_KEYWORDS), ("object", OBJECT_KEYWORDS)]
    found = [t for t, kws in families if kws & set(flat)]
    return found or list(TYPES)


def _applicable(flat: Mapping[str, Any], name: str) -> Any:
    """The schema ``flat`` applies to property ``name`` (properties, patterns, additional)."""
    import re

    props = flat.get("properties", {})
    if name in props:
        return props[name]
    matched = [s for p, s in flat.get("patternProperties", {}).items() if re.search(p, name)]
    if matched:
        return matched[0] if len(matched) == 1 else {"allOf": matched}
    return flat.get("additionalProperties", True)


def _merge_prefix(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[Any]:
    pa, pb = a.get("prefixItems", []), b.get("prefixItems", [])
    out = []
    for i in range(max(len(pa), len(pb))):
        sa = pa[i] if i < len(pa) else a.get("items", True)
        sb = pb[i] if i < len(pb) else b.get("items", True)
        out.append(sa if sb is True else sb if sa is True else {"allOf": [sa, sb]})
    return out


def _has_prefix_items(schema: Any) -> bool:
    if isinstance(schema, Mapping):
        return "prefixItems" in schema or any(_has_prefix_items(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_has_prefix_items(v) for v in schema)
    return False


def _without_internal(schema: Any) -> Any:
    if isinstance(schema, Mapping):
        return {k: _without_internal(v) for k, v in schema.items() if not k.startswith("x-genai")}
    if isinstance(schema, list):
        return [_without_internal(v) for v in schema]
    return copy.copy(schema)
