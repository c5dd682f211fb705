"""Helpers that write GBNF text: literal quoting and regexes for integer ranges.

These are shared by the JSON Schema, choice and tagged front ends, which all lower to the GBNF
dialect the C++ core parses (csrc/grammar/ebnf.cc).
"""

from __future__ import annotations

import re

_RULE_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]+")


def ebnf_literal(text: str) -> str:
    """Quote ``text`` as a GBNF string literal (escapes backslash, quote and control chars)."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def ebnf_regex(pattern: str, *, json_string: bool = False) -> str:
    """Embed ``pattern`` as a /regex/ atom (the dialect's extension); ``json_string`` adds /j."""
    out: list[str] = []
    escaped = False
    for ch in pattern:
        if ch == "/" and not escaped:
            out.append("\\/")
        elif ch == "\n":
            out.append("\\n")
        else:
            out.append(ch)
        escaped = ch == "\\" and not escaped
    return "/" + "".join(out) + "/" + ("j" if json_string else "")


def rule_name(hint: str) -> str:
    """A GBNF-safe rule name derived from ``hint`` (a JSON path, a keyword...)."""
    name = _RULE_NAME_BAD.sub("_", hint).strip("_-")
    return name or "r"


def _same_length_range(lo: str, hi: str) -> str:
    """Regex for the decimal strings of equal length ``len(lo)`` in [lo, hi] (lo <= hi)."""
    if len(lo) == 1:
        return lo if lo == hi else f"[{lo}-{hi}]"
    if lo[0] == hi[0]:
        return lo[0] + "(?:" + _same_length_range(lo[1:], hi[1:]) + ")"
    rest = len(lo) - 1
    if lo[1:] == "0" * rest and hi[1:] == "9" * rest:
        return f"[{lo[0]}-{hi[0]}]\\d{{{rest}}}"
    parts = [lo[0] + "(?:" + _same_length_range(lo[1:], "9" * rest) + ")"]
    first, last = int(lo[0]) + 1, int(hi[0]) - 1
    if first <= last:
        digits = str(first) if first == last else f"[{first}-{last}]"
        parts.append(f"{digits}\\d{{{rest}}}")
    parts.append(hi[0] + "(?:" + _same_length_range("0" * rest, hi[1:]) + ")")
    return "|".join(parts)


def _nonnegative_range(lo: int, hi: int | None) -> str:
    """Regex for decimal integers in [lo, hi] (hi None: unbounded), no leading zeros."""
    parts: list[str] = []
    length = len(str(lo))
    while hi is None or length <= len(str(hi)):
        band_lo = max(lo, 0 if length == 1 else 10 ** (length - 1))
        band_hi = 10**length - 1 if hi is None else min(hi, 10**length - 1)
        if hi is None and band_lo == 10 ** (length - 1) and length > 1:
            parts.append(f"[1-9]\\d{{{length - 1},}}")  # every longer number too
            break
        if band_lo <= band_hi:
            parts.append(_same_length_range(str(band_lo), str(band_hi)))
        if hi is None and length >= len(str(lo)):
            # Next band starts at 10**length: all numbers of more digits.
            parts.append(f"[1-9]\\d{{{length},}}")
            break
        length += 1
    return "|".join(f"(?:{p})" for p in parts)


def integer_range_regex(lo: int | None, hi: int | None) -> str:
    """Regex for JSON integers (no leading zeros, no ``-0``) in [lo, hi]; None is unbounded.

    Raises
    ------
    ValueError
        If the range is empty.
    """
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"empty integer range [{lo}, {hi}]")
    parts: list[str] = []
    if hi is None or hi >= 0:
        parts.append(_nonnegative_range(max(lo, 0) if lo is not None else 0, hi))
    if lo is None or lo < 0:
        neg_hi = None if lo is None else -lo  # magnitudes of the negative part
        neg_lo = 1 if hi is None or hi >= 0 else -hi
        parts.append("-(?:" + _nonnegative_range(neg_lo, neg_hi) + ")")
    return "(?:" + "|".join(parts) + ")"


def _class_escape(ch: str) -> str:
    code = ord(ch)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def choices_ebnf(strings: list[str]) -> str:
    """GBNF for exactly one of ``strings``.

    Raises
    ------
    ValueError
        If ``strings`` is empty or holds a non-string.
    """
    if not strings:
        raise ValueError("choices must be a non-empty list of strings")
    for i, s in enumerate(strings):
        if not isinstance(s, str):
            raise ValueError(f"choices[{i}] is {type(s).__name__}, expected str")
    return "root ::= " + " | ".join(ebnf_literal(s) if s else '""' for s in strings) + "\n"


def free_text_until_ebnf(trigger: str, then_rule: str, *, trigger_required: bool) -> str:
    """GBNF rules ``root``/``tag_k``: any text without ``trigger``, then ``trigger then_rule``.

    The rules are the KMP automaton of ``trigger`` over code points: state k has matched the
    first k characters, so free text can never contain the trigger, and the first occurrence
    starts ``then_rule``. Without ``trigger_required`` the text may also end before it.
    """
    if not trigger:
        raise ValueError("trigger must be a non-empty string")
    n = len(trigger)
    fail = [0] * (n + 1)  # KMP failure function over prefixes
    k = 0
    for i in range(1, n):
        while k and trigger[i] != trigger[k]:
            k = fail[k]
        if trigger[i] == trigger[k]:
            k += 1
        fail[i + 1] = k
    alphabet = sorted(set(trigger))
    other = "[^" + "".join(_class_escape(c) for c in alphabet) + "]"
    lines = ["root ::= tag_0"]
    for state in range(n):
        alts = [f"{ebnf_regex(other)} tag_0"]
        for c in alphabet:
            nxt = state
            while nxt and trigger[nxt] != c:
                nxt = fail[nxt]
            nxt = nxt + 1 if trigger[nxt] == c else 0
            target = then_rule if nxt == n else f"tag_{nxt}"
            alts.append(f"{ebnf_literal(c)} {target}")
        if not trigger_required:
            alts.append('""')
        lines.append(f"tag_{state} ::= " + " | ".join(alts))
    return "\n".join(lines) + "\n"
