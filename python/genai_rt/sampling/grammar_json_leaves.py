"""Leaf schemas of the JSON Schema lowering: strings (lengths, pattern, format) and numbers.

Split from grammar_json_schema.py, which handles the structure (objects, arrays, refs).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from genai_rt.sampling.grammar_ebnf_util import ebnf_regex, integer_range_regex


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

FORMAT_REGEXES = {
    "date": _DATE,
    "time": _TIME,
    "date-time": _DATE + "T" + _TIME,
    "email": r"[A-Za-z0-9!#$%&'*+=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?",
    "uuid": r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    "uri": r"[A-Za-z][A-Za-z0-9+.-]*:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+",
    "ipv4": r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}",
}

# Formats whose values all have a length in [lo, hi]: minLength/maxLength around them are
# redundant when they admit that whole span (e.g. a date with maxLength 10).
FORMAT_LENGTHS = {"date": (10, 10), "uuid": (36, 36), "ipv4": (7, 15)}

_NUMBER = r'"-"? ("0" | [1-9] [0-9]*) ("." [0-9]+)? ([eE] [-+]? [0-9]+)?'
_NONNEGATIVE_NUMBER = r'("0" | [1-9] [0-9]*) ("." [0-9]+)? ([eE] [-+]? [0-9]+)?'


def string_expr(schema: Mapping[str, Any], path: str, *, lenient: bool) -> tuple[str, bool]:
    """GBNF for a string schema; the flag says whether it uses the json_char rule."""
    min_len = schema.get("minLength", 0)
    max_len = schema.get("maxLength")
    for key, val in (("minLength", min_len), ("maxLength", max_len)):
        if val is not None and (not isinstance(val, int) or isinstance(val, bool) or val < 0):
            raise SchemaError(f"{path_join(path, key)}: must be a non-negative integer")
    if max_len is not None and max_len < min_len:
        raise SchemaError(f"{path}: minLength {min_len} > maxLength {max_len}")
    pattern, fmt = schema.get("pattern"), schema.get("format")
    if pattern is not None or fmt is not None:
        span = FORMAT_LENGTHS.get(fmt) if isinstance(fmt, str) and pattern is None else None
        lengths_redundant = (
            span is not None and min_len <= span[0] and (max_len is None or span[1] <= max_len)
        )
        if ("minLength" in schema or "maxLength" in schema) and not lengths_redundant:
            raise SchemaError(
                f"{path}: pattern/format combined with minLength/maxLength is not supported"
                " (except lengths every value of the format already satisfies)"
            )
        if pattern is not None and fmt is not None:
            raise SchemaError(f"{path}: pattern combined with format is not supported")
        if fmt is not None:
            if fmt not in FORMAT_REGEXES:
                if lenient:
                    fmt = None
                else:
                    raise SchemaError(f"{path_join(path, 'format')}: unsupported format {fmt!r}")
            else:
                regex = ebnf_regex(FORMAT_REGEXES[fmt], json_string=True)
                return '"\\"" ' + regex + ' "\\""', False
        if pattern is not None:
            if not isinstance(pattern, str):
                raise SchemaError(f"{path_join(path, 'pattern')}: must be a string")
            regex = ebnf_regex(search_regex(pattern), json_string=True)
            return '"\\"" ' + regex + ' "\\""', False
    if max_len is None:
        repeat = "*" if min_len == 0 else f"{{{min_len},}}"
    else:
        repeat = f"{{{min_len},{max_len}}}"
    return f'"\\"" json_char{repeat} "\\""', True


def number_expr(schema: Mapping[str, Any], path: str, *, integer: bool) -> str:
    """GBNF for an integer/number schema (integer ranges become digit-level regexes)."""
    lo, hi = schema.get("minimum"), schema.get("maximum")
    xlo, xhi = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        v = schema.get(key)
        if v is not None and not isinstance(v, (int, float)):
            raise SchemaError(f"{path_join(path, key)}: must be a number")
    # Draft 4 booleans turn minimum/maximum exclusive.
    if xlo is True:
        xlo, lo = lo, None
    if xhi is True:
        xhi, hi = hi, None
    if xlo is False:
        xlo = None
    if xhi is False:
        xhi = None
    if not integer:
        bounded = [k for k, v in (("minimum", lo), ("maximum", hi), ("exclusiveMinimum", xlo),
                                  ("exclusiveMaximum", xhi)) if v is not None]  # fmt: skip
        if not bounded:
            return "(" + _NUMBER + ")"
        if bounded == ["minimum"] and lo == 0:
            return "(" + _NONNEGATIVE_NUMBER + ")"
        raise SchemaError(
            f"{path_join(path, bounded[0])}: bounds on non-integer numbers are not supported "
            "(only minimum: 0); use type integer for ranges"
        )
    low = None
    for bound, exclusive in ((lo, False), (xlo, True)):
        if bound is None:
            continue
        b = math.floor(bound) + 1 if exclusive else math.ceil(bound)
        low = b if low is None else max(low, b)
    high = None
    for bound, exclusive in ((hi, False), (xhi, True)):
        if bound is None:
            continue
        b = math.ceil(bound) - 1 if exclusive else math.floor(bound)
        high = b if high is None else min(high, b)
    try:
        regex = integer_range_regex(low, high)
    except ValueError as e:
        raise SchemaError(f"{path}: {e}") from None
    return ebnf_regex(regex)


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
