"""Exact regexes for JSON numbers between decimal bounds (inclusive or exclusive).

A bounded number is written without an exponent (``12.5``, never ``1.25e1``): a subset of the
valid texts, chosen because comparing mantissa-and-exponent forms needs a counter a regex
lacks. Bounds are compared as the decimals the schema wrote (``0.1`` is one tenth), not as
binary floats; the two differ only past 17 significant digits.
"""

from __future__ import annotations

from decimal import Decimal

from genai_rt.sampling.grammar_ebnf_util import integer_range_regex

# Digit strings D (the fraction after the point) and whether D may be empty (no point at all).
_Frac = tuple[str | None, bool]


def _alts(parts: list[str]) -> str | None:
    return None if not parts else parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"


def _fraction(lo: str, lo_excl: bool, hi: str | None, hi_excl: bool) -> _Frac:
    """Digit strings D with 0.lo <(=) 0.D <(=) 0.hi; ``lo``/``hi`` carry no trailing zeros.

    ``hi`` None means no upper bound below 1. Returns (regex for the non-empty D or None,
    whether the empty D, value 0, qualifies).
    """
    if hi is None and not lo:
        return (r"0*[1-9]\d*", False) if lo_excl else (r"\d+", True)
    if hi == "" and not lo:
        return (None, False) if lo_excl or hi_excl else ("0+", True)
    if hi == "":
        return None, False  # lo > 0 = hi
    empty_ok = not lo and not lo_excl
    lo_c = int(lo[0]) if lo else 0
    hi_c = 9 if hi is None else int(hi[0])
    parts: list[str] = []
    if lo_c + 1 <= hi_c - 1 or (hi is None and lo_c + 1 <= 9):
        top = 9 if hi is None else hi_c - 1
        digits = str(lo_c + 1) if lo_c + 1 == top else f"[{lo_c + 1}-{top}]"
        parts.append(digits + r"\d*")
    for c in sorted({lo_c, hi_c}):
        if c < lo_c or c > hi_c:
            continue
        if c == lo_c and c == hi_c and hi is not None:
            rest = _fraction(lo[1:], lo_excl, hi[1:], hi_excl)
        elif c == lo_c:
            rest = _fraction(lo[1:], lo_excl, None, False)
        elif hi is not None:
            rest = _fraction("", False, hi[1:], hi_excl)
        else:
            continue
        body, rest_empty = rest
        if body is None and not rest_empty:
            continue
        if body is None:
            parts.append(str(c))
        elif rest_empty:
            parts.append(f"{c}(?:{body})?")
        else:
            parts.append(f"{c}(?:{body})")
    return _alts(parts), empty_ok


def _split(value: Decimal) -> tuple[int, str]:
    """Integer part and fraction digits (no trailing zeros) of a non-negative decimal."""
    text = format(value, "f")
    whole, _, frac = text.partition(".")
    return int(whole), frac.rstrip("0")


def _with_point(frac: _Frac) -> str | None:
    body, empty = frac
    if body is None:
        return "" if empty else None
    return f"(?:\\.{body})?" if empty else f"\\.{body}"


def _magnitude(lo: Decimal, lo_excl: bool, hi: Decimal | None, hi_excl: bool) -> str | None:
    """Regex for unsigned decimals m (no exponent) with lo <(=) m <(=) hi, lo >= 0."""
    if hi is not None and (lo > hi or (lo == hi and (lo_excl or hi_excl))):
        return None
    a, a_frac = _split(lo)
    parts: list[str] = []
    if hi is None:
        head = _with_point(_fraction(a_frac, lo_excl, None, False))
        if head is not None:
            parts.append(f"{a}{head}")
        parts.append(integer_range_regex(a + 1, None) + r"(?:\.\d+)?")
        return _alts(parts)
    h, h_frac = _split(hi)
    if a == h:
        head = _with_point(_fraction(a_frac, lo_excl, h_frac, hi_excl))
        return None if head is None else f"{a}{head}"
    head = _with_point(_fraction(a_frac, lo_excl, None, False))
    if head is not None:
        parts.append(f"{a}{head}")
    if a + 1 <= h - 1:
        parts.append(integer_range_regex(a + 1, h - 1) + r"(?:\.\d+)?")
    tail = _with_point(_fraction("", False, h_frac, hi_excl))
    if tail is not None:
        parts.append(f"{h}{tail}")
    return _alts(parts)


def decimal_range_regex(
    lo: Decimal | None, lo_excl: bool, hi: Decimal | None, hi_excl: bool
) -> str | None:
    """Regex for JSON numbers without exponent in the range; None when the range is empty.

    ``-0`` and ``-0.0`` count as zero, as JSON Schema validators read them.
    """
    parts: list[str] = []
    # Non-negative side: magnitudes in [max(lo, 0), hi].
    if hi is None or hi > 0 or (hi == 0 and not hi_excl):
        if lo is None or lo < 0:
            p_lo, p_excl = Decimal(0), False
        else:
            p_lo, p_excl = lo, lo_excl
        positive = _magnitude(p_lo, p_excl, hi, hi_excl)
        if positive is not None:
            parts.append(positive)
    # Negative side: -m for magnitudes m in [max(-hi, 0), -lo].
    if lo is None or lo < 0 or (lo == 0 and not lo_excl):
        if hi is None or hi > 0:
            n_lo, n_excl = Decimal(0), False
        else:
            n_lo, n_excl = -hi, hi_excl
        n_hi = None if lo is None else -lo
        negative = _magnitude(n_lo, n_excl, n_hi, lo_excl)
        if negative is not None:
            parts.append("-" + negative)
    return _alts(parts)
