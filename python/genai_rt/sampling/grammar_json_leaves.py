"""Leaf schemas of the JSON Schema lowering: strings (lengths, pattern, format) and numbers.

Split from grammar_json_schema.py, which handles the structure (objects, arrays, refs).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from genai_rt.sampling.grammar_ebnf_util import ebnf_regex, integer_range_regex
from genai_rt.sampling.grammar_json_numbers import decimal_range_regex


class SchemaError(ValueError):
    """A schema that cannot be lowered: names the keyword and its JSON path."""


def path_join(path: str, *parts: object) -> str:
    return path + "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


# Calendar dates as date.fromisoformat accepts them: years 0001-9999, the right number of days
# per month, February 29 only in leap years (divisible by 4, centuries only by 400).
_YEAR = r"(?:[1-9]\d{3}|0[1-9]\d{2}|00[1-9]\d|000[1-9])"
_DIV4 = r"(?:[02468][48]|[13579][26]|[2468]0)"  # two digits divisible by 4, not 00
_LEAP_YEAR = rf"(?:\d\d{_DIV4}|{_DIV4}00)"
_DATE = (
    rf"(?:{_YEAR}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)"
    rf"|02-(?:0[1-9]|1\d|2[0-8]))|{_LEAP_YEAR}-02-29)"
)
_TIME = r"(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,9})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)"

_H16 = r"[0-9A-Fa-f]{1,4}"
_IPV4 = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}"
_IPV6 = (  # RFC 4291 text forms: full, "::"-compressed, and with a trailing IPv4
    rf"(?:(?:{_H16}:){{7}}{_H16}|(?:{_H16}:){{1,7}}:|(?:{_H16}:){{1,6}}:{_H16}"
    rf"|(?:{_H16}:){{1,5}}(?::{_H16}){{1,2}}|(?:{_H16}:){{1,4}}(?::{_H16}){{1,3}}"
    rf"|(?:{_H16}:){{1,3}}(?::{_H16}){{1,4}}|(?:{_H16}:){{1,2}}(?::{_H16}){{1,5}}"
    rf"|{_H16}:(?::{_H16}){{1,6}}|:(?::{_H16}){{1,7}}|::"
    rf"|(?:{_H16}:){{6}}{_IPV4}|::(?:{_H16}:){{0,5}}{_IPV4})"
)
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# RFC 3986 pieces; a subset of what rfc3986-validator accepts (no IP literals).
_PCT = r"%[0-9A-Fa-f]{2}"
_PCHAR = rf"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|{_PCT})"
_QUERY = rf"(?:{_PCHAR}|[/?])*"
_AUTHORITY = (rf"(?:(?:[A-Za-z0-9\-._~!$&'()*+,;=:]|{_PCT})*@)?"
              rf"(?:[A-Za-z0-9\-._~!$&'()*+,;=]|{_PCT})*(?::\d*)?")
_PATH_ABEMPTY = rf"(?:/{_PCHAR}*)*"
_HIER = rf"(?://{_AUTHORITY}{_PATH_ABEMPTY}|/(?:{_PCHAR}+{_PATH_ABEMPTY})?|{_PCHAR}+{_PATH_ABEMPTY}|)"
_URI = rf"[A-Za-z][A-Za-z0-9+.\-]*:{_HIER}(?:\?{_QUERY})?(?:#{_QUERY})?"
_SEGMENT_NC = rf"(?:[A-Za-z0-9\-._~!$&'()*+,;=@]|{_PCT})+"
_RELATIVE = (rf"(?://{_AUTHORITY}{_PATH_ABEMPTY}|/(?:{_PCHAR}+{_PATH_ABEMPTY})?"
             rf"|{_SEGMENT_NC}{_PATH_ABEMPTY}|)(?:\?{_QUERY})?(?:#{_QUERY})?")
_DURATION = (r"P(?:(?:\d+Y(?:\d+M)?(?:\d+D)?|\d+M(?:\d+D)?|\d+D)"
             r"(?:T(?:\d+H(?:\d+M)?(?:\d+S)?|\d+M(?:\d+S)?|\d+S))?"
             r"|T(?:\d+H(?:\d+M)?(?:\d+S)?|\d+M(?:\d+S)?|\d+S)|\d+W)")

FORMAT_REGEXES = {
    "date": _DATE,
    "time": _TIME,
    "date-time": _DATE + "T" + _TIME,
    "duration": _DURATION,
    "email": r"[A-Za-z0-9!#$%&'*+=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+=?^_`{|}~-]+)*"
    rf"@(?:{_LABEL}\.)+{_LABEL}",
    "uuid": r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    "uri": _URI,
    "uri-reference": f"(?:{_URI}|{_RELATIVE})",
    "iri": _URI,
    "iri-reference": f"(?:{_URI}|{_RELATIVE})",
    "hostname": rf"{_LABEL}(?:\.{_LABEL})*",
    "ipv4": _IPV4,
    "ipv6": _IPV6,
    "json-pointer": r"(?:/(?:[^~/]|~[01])*)*",
}
FORMAT_REGEXES["idn-email"] = FORMAT_REGEXES["email"]
FORMAT_REGEXES["idn-hostname"] = FORMAT_REGEXES["hostname"]

# Formats whose values all have a length in [lo, hi]: minLength/maxLength around them are
# redundant when they admit that whole span (e.g. a date with maxLength 10).
FORMAT_LENGTHS = {"date": (10, 10), "uuid": (36, 36), "ipv4": (7, 15), "ipv6": (2, 45)}

_NUMBER = r'"-"? ("0" | [1-9] [0-9]*) ("." [0-9]+)? ([eE] [-+]? [0-9]+)?'
# A pattern that is one character class repeated, anchored at both ends: its repeat bounds can
# take minLength/maxLength exactly ("^[a-z0-9_]+$" with maxLength 32 → [a-z0-9_]{1,32}).
_ONE_CLASS_REPEAT = re.compile(
    r"^\^(\[(?:[^\]\\]|\\.)+\]|\\[dwsDWS]|\.|[A-Za-z0-9 _-])(\*|\+|\?|\{\d+(?:,\d*)?\})?\$$")


def _pattern_width(regex: str) -> tuple[int, int] | None:
    """(min, max) code points of the strings ``regex`` matches, if Python's parser knows it."""
    try:
        lo, hi = re._parser.parse(regex).getwidth()  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001  (any parse problem: the core's parser reports it)
        return None
    return int(lo), int(hi)


def _length_bounded(pattern: str, min_len: int, max_len: int | None, path: str) -> str:
    """The pattern's search regex restricted to lengths [min_len, max_len], exactly."""
    regex = search_regex(pattern)
    width = _pattern_width(regex)
    if width is not None and min_len <= width[0] and (max_len is None or width[1] <= max_len):
        return regex  # every match already has an allowed length
    m = _ONE_CLASS_REPEAT.match(pattern)
    if m is not None:
        atom, quant = m.group(1), m.group(2) or "{1}"
        lo, hi = {"*": (0, None), "+": (1, None), "?": (0, 1)}.get(quant, (None, None))
        if lo is None:
            inner = quant[1:-1].split(",")
            lo = int(inner[0])
            hi = lo if len(inner) == 1 else (int(inner[1]) if inner[1] else None)
        lo = max(lo, min_len)
        if max_len is not None:
            hi = max_len if hi is None else min(hi, max_len)
        if hi is not None and hi < lo:
            raise SchemaError(f"{path}: pattern and lengths leave no string")
        return f"(?:{atom}){{{lo},{'' if hi is None else hi}}}"
    raise SchemaError(f"{path}: pattern combined with minLength/maxLength is supported when the "
                      "lengths are redundant or the pattern is one character class repeated")


def string_expr(schema: Mapping[str, Any], path: str) -> tuple[str, bool]:
    """GBNF for a string schema; the flag says whether it uses the json_char rule."""
    min_len = schema.get("minLength", 0)
    max_len = schema.get("maxLength")
    for key, val in (("minLength", min_len), ("maxLength", max_len)):
        if val is not None and (not isinstance(val, int) or isinstance(val, bool) or val < 0):
            raise SchemaError(f"{path_join(path, key)}: must be a non-negative integer")
    if max_len is not None and max_len < min_len:
        raise SchemaError(f"{path}: minLength {min_len} > maxLength {max_len}")
    pattern, fmt = schema.get("pattern"), schema.get("format")
    has_lengths = "minLength" in schema or "maxLength" in schema
    if pattern is not None and fmt is not None:
        raise SchemaError(f"{path}: pattern combined with format is not supported")
    if fmt is not None:
        if fmt not in FORMAT_REGEXES:
            raise SchemaError(f"{path_join(path, 'format')}: unsupported format {fmt!r}")
        span = FORMAT_LENGTHS.get(fmt)
        redundant = span is not None and min_len <= span[0] and (
            max_len is None or span[1] <= max_len)
        if has_lengths and not redundant:
            raise SchemaError(
                f"{path}: format {fmt!r} combined with minLength/maxLength is not supported"
                " (except lengths every value of the format already satisfies)")
        regex = ebnf_regex(FORMAT_REGEXES[fmt], json_string=True)
        return '"\\"" ' + regex + ' "\\""', False
    if pattern is not None:
        if not isinstance(pattern, str):
            raise SchemaError(f"{path_join(path, 'pattern')}: must be a string")
        body = _length_bounded(pattern, min_len, max_len, path) if has_lengths else \
            search_regex(pattern)
        return '"\\"" ' + ebnf_regex(body, json_string=True) + ' "\\""', False
    if max_len is None:
        repeat = "*" if min_len == 0 else f"{{{min_len},}}"
    else:
        repeat = f"{{{min_len},{max_len}}}"
    return f'"\\"" json_char{repeat} "\\""', True


def _decimal(value: Any) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def number_expr(schema: Mapping[str, Any], path: str, *, integer: bool) -> str | None:
    """GBNF for an integer/number schema; None when its bounds leave no value.

    Integer ranges become digit-level regexes; bounded non-integers are exact decimal ranges
    written without exponent (grammar_json_numbers.py).
    """
    bounds: dict[str, Decimal] = {}
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        v = schema.get(key)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise SchemaError(f"{path_join(path, key)}: must be a finite number")
        bounds[key] = _decimal(v)
    if "multipleOf" in schema and not (integer and schema["multipleOf"] == 1):
        raise SchemaError(f"{path_join(path, 'multipleOf')}: multipleOf is supported only as 1 "
                          "on integers")
    lo, lo_excl = _tightest(bounds, "minimum", "exclusiveMinimum", low=True)
    hi, hi_excl = _tightest(bounds, "maximum", "exclusiveMaximum", low=False)
    if not integer:
        if lo is None and hi is None:
            return "(" + _NUMBER + ")"
        regex = decimal_range_regex(lo, lo_excl, hi, hi_excl)
        return None if regex is None else ebnf_regex(regex)
    low = None if lo is None else (math.floor(lo) + 1 if lo_excl else math.ceil(lo))
    high = None if hi is None else (math.ceil(hi) - 1 if hi_excl else math.floor(hi))
    if low is not None and high is not None and low > high:
        return None
    return ebnf_regex(integer_range_regex(low, high))


def _tightest(bounds: Mapping[str, Decimal], inclusive: str, exclusive: str,
              *, low: bool) -> tuple[Decimal | None, bool]:
    a, b = bounds.get(inclusive), bounds.get(exclusive)
    if a is None:
        return b, b is not None
    if b is None:
        return a, False
    if low:
        return (b, True) if b >= a else (a, False)
    return (b, True) if b <= a else (a, False)


def has_type(value: Any, types: Any) -> bool:
    """JSON Schema type check of a Python value (``types``: None, a name or a list)."""
    if types is None:
        return True
    names = types if isinstance(types, list) else [types]
    checks = {
        "null": value is None,
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int)
        and not isinstance(value, bool)
        or isinstance(value, float)
        and value.is_integer(),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "string": isinstance(value, str),
        "array": isinstance(value, list),
        "object": isinstance(value, dict),
    }
    return any(checks.get(n, False) for n in names)


def search_regex(pattern: str) -> str:
    """JSON Schema patterns are unanchored: add ``[\\s\\S]*`` where ^ / $ are missing."""
    start = pattern.startswith("^")
    body = pattern[:-1]
    end = pattern.endswith("$") and (len(body) - len(body.rstrip("\\"))) % 2 == 0
    core = pattern[1 if start else 0 : len(pattern) - 1 if end else len(pattern)]
    any_text = r"[\s\S]*"
    return ("" if start else any_text) + "(?:" + core + ")" + ("" if end else any_text)
