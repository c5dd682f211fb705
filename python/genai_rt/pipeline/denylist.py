"""Deny-listed terms and PII patterns blocked *while decoding*, over the output's bytes.

One DFA recognises "the output so far contains a match of any pattern" (Aho–Corasick for the
literal terms, generalised to byte classes and repeats for the PII patterns, built by subset
construction). A sequence's filter state is the DFA state after its output bytes. For a state,
the banned tokens are those whose bytes drive the DFA into a match: computed once for the whole
vocabulary with numpy (a few ms) and cached as an int32 bitmask, so each later step costs one
AND of a cached row into the engine's bitmask (``apply``).

Patterns: literal terms match case-insensitively. PII patterns use a small regex subset with no
groups or alternation (one pattern per alternative): literals, ``\\d \\w \\s .``, ``[a-z0-9_]``
classes (``^`` negates), escapes, and the quantifiers ``? * + {n} {n,m}``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

# Subset construction is exponential in the worst case; PII patterns stay far below this
# (the example config's 3 terms + 4 patterns build 214 states).
MAX_DFA_STATES = 20_000
_DIGITS = frozenset(b"0123456789")
_WORD = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_SPACE = frozenset(b" \t\r\n\f\v")
_ANY = frozenset(range(256)) - {ord("\n")}


class PatternError(ValueError):
    """A PII pattern uses syntax outside the supported subset."""


@dataclass(frozen=True)
class _Atom:
    byteset: frozenset[int]
    kind: str  # "one" | "opt" | "star"


def _case_fold(byteset: frozenset[int]) -> frozenset[int]:
    extra = {b ^ 0x20 for b in byteset if 0x41 <= (b & ~0x20) <= 0x5A}
    return byteset | extra


def _parse_class(pattern: str, i: int) -> tuple[frozenset[int], int]:
    negate = i < len(pattern) and pattern[i] == "^"
    i += negate
    members: set[int] = set()
    first = True
    while i < len(pattern) and (pattern[i] != "]" or first):
        first = False
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            members |= _escape(pattern[i + 1], pattern)
            i += 2
            continue
        if i + 2 < len(pattern) and pattern[i + 1] == "-" and pattern[i + 2] != "]":
            lo, hi = ord(ch), ord(pattern[i + 2])
            if lo > hi or hi > 127:
                raise PatternError(f"bad range {ch}-{pattern[i + 2]} in {pattern!r}")
            members |= set(range(lo, hi + 1))
            i += 3
            continue
        members |= set(ch.encode())
        i += 1
    if i >= len(pattern):
        raise PatternError(f"unterminated [ in {pattern!r}")
    result = frozenset(range(256)) - members if negate else frozenset(members)
    return result, i + 1


def _escape(ch: str, pattern: str) -> frozenset[int]:
    table = {"d": _DIGITS, "w": _WORD, "s": _SPACE}
    if ch in table:
        return table[ch]
    if ch.isalnum():
        raise PatternError(f"unsupported escape \\{ch} in {pattern!r}")
    return frozenset(ch.encode())


def parse_pattern(pattern: str) -> list[_Atom]:
    """The subset described in the module docstring, as a list of atoms."""
    if not pattern:
        raise PatternError("empty pattern")
    atoms: list[_Atom] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch in "()|":
            raise PatternError(f"groups and alternation are not supported ({ch!r} in "
                               f"{pattern!r}); declare one pattern per alternative")
        if ch == "[":
            byteset, i = _parse_class(pattern, i + 1)
        elif ch == "\\":
            if i + 1 >= len(pattern):
                raise PatternError(f"trailing backslash in {pattern!r}")
            byteset, i = _escape(pattern[i + 1], pattern), i + 2
        elif ch == ".":
            byteset, i = _ANY, i + 1
        elif ch in "?*+{":
            raise PatternError(f"quantifier {ch!r} with nothing to repeat in {pattern!r}")
        else:
            encoded = ch.encode()
            for b in encoded[:-1]:
                atoms.append(_Atom(frozenset([b]), "one"))
            byteset, i = frozenset([encoded[-1]]), i + 1
        i = _quantify(pattern, i, byteset, atoms)
    return atoms


def _quantify(pattern: str, i: int, byteset: frozenset[int], atoms: list[_Atom]) -> int:
    q = pattern[i] if i < len(pattern) else ""
    if q == "?":
        atoms.append(_Atom(byteset, "opt"))
        return i + 1
    if q == "*":
        atoms.append(_Atom(byteset, "star"))
        return i + 1
    if q == "+":
        atoms += [_Atom(byteset, "one"), _Atom(byteset, "star")]
        return i + 1
    if q == "{":
        end = pattern.find("}", i)
        if end < 0:
            raise PatternError(f"unterminated {{ in {pattern!r}")
        lo_text, _, hi_text = pattern[i + 1:end].partition(",")
        try:
            lo = int(lo_text)
            hi = lo if "," not in pattern[i:end] else int(hi_text)
        except ValueError:
            raise PatternError(f"bad repeat {pattern[i:end + 1]!r} in {pattern!r}") from None
        if hi < lo or hi > 64:
            raise PatternError(f"bad repeat {pattern[i:end + 1]!r} in {pattern!r}")
        atoms += [_Atom(byteset, "one")] * lo + [_Atom(byteset, "opt")] * (hi - lo)
        return end + 1
    atoms.append(_Atom(byteset, "one"))
    return i


class ByteAutomaton:
    """DFA over bytes: state 0 = nothing matched yet; ``accepting[s]`` = a pattern has matched.

    Parameters
    ----------
    terms : literal strings, matched case-insensitively
    patterns : PII regexes in the subset above (letters also case-insensitive)
    """

    def __init__(self, terms: Sequence[str] = (), patterns: Sequence[str] = ()) -> None:
        programs: list[list[_Atom]] = []
        for term in terms:
            if not term:
                raise PatternError("empty deny-list term")
            programs.append([_Atom(_case_fold(frozenset([b])), "one") for b in term.encode()])
        for pattern in patterns:
            programs.append([_Atom(_case_fold(a.byteset), a.kind)
                             for a in parse_pattern(pattern)])
        self.terms = tuple(terms)
        self.patterns = tuple(patterns)
        self.transitions, self.accepting = _build_dfa(programs)

    @property
    def num_states(self) -> int:
        return int(self.transitions.shape[0])

    def advance(self, state: int, data: bytes) -> int:
        table = self.transitions
        for b in data:
            state = int(table[state, b])
        return state

    def find(self, text: str) -> list[tuple[int, int]]:
        """End offsets (exclusive, in bytes) where some pattern completes: ``(end, state)``."""
        hits = []
        state = 0
        for i, b in enumerate(text.encode()):
            state = int(self.transitions[state, b])
            if self.accepting[state]:
                hits.append((i + 1, state))
                state = 0
        return hits

    def contains_match(self, text: str) -> bool:
        return bool(self.find(text))


def _build_dfa(programs: list[list[_Atom]]) -> tuple[np.ndarray, np.ndarray]:
    def closure(items: set[tuple[int, int]]) -> frozenset[tuple[int, int]]:
        stack = list(items)
        seen = set(items)
        while stack:
            p, pos = stack.pop()
            prog = programs[p]
            if pos < len(prog) and prog[pos].kind in ("opt", "star") and (p, pos + 1) not in seen:
                seen.add((p, pos + 1))
                stack.append((p, pos + 1))
        return frozenset(seen)

    start = closure({(p, 0) for p in range(len(programs))})
    index: dict[frozenset[tuple[int, int]], int] = {start: 0}
    order = [start]
    rows: list[list[int]] = []
    accepting: list[bool] = []
    i = 0
    while i < len(order):
        current = order[i]
        done = any(pos == len(programs[p]) for p, pos in current)
        accepting.append(done)
        row = []
        for b in range(256):
            if done:  # absorbing: a match stays a match
                row.append(i)
                continue
            moved: set[tuple[int, int]] = set()
            for p, pos in current:
                prog = programs[p]
                if pos < len(prog) and b in prog[pos].byteset:
                    moved.add((p, pos) if prog[pos].kind == "star" else (p, pos + 1))
            nxt = closure(moved) | start
            j = index.get(nxt)
            if j is None:
                j = index[nxt] = len(order)
                order.append(nxt)
                if len(order) > MAX_DFA_STATES:
                    raise PatternError(f"deny-list automaton exceeds {MAX_DFA_STATES} states; "
                                       "simplify the PII patterns")
            row.append(j)
        rows.append(row)
        i += 1
    return np.asarray(rows, dtype=np.int32), np.asarray(accepting, dtype=bool)


class TokenBanTable:
    """Per DFA state, the int32 bitmask of tokens that do NOT complete a match (cached).

    Parameters
    ----------
    automaton : ByteAutomaton
    token_bytes : what each token id appends to the output (``Vocabulary.token_bytes``)
    """

    def __init__(self, automaton: ByteAutomaton, token_bytes: Sequence[bytes]) -> None:
        self.automaton = automaton
        self.vocab_size = len(token_bytes)
        self.num_words = (self.vocab_size + 31) // 32
        lengths = np.fromiter((len(t) for t in token_bytes), dtype=np.int32,
                              count=self.vocab_size)
        width = int(lengths.max()) if self.vocab_size else 0
        # tokens: [V, max_token_bytes] uint8, zero padded
        tokens = np.zeros((self.vocab_size, max(width, 1)), dtype=np.uint8)
        for i, t in enumerate(token_bytes):
            tokens[i, : len(t)] = np.frombuffer(t, dtype=np.uint8)
        self._tokens = tokens
        self._lengths = lengths
        self._by_length = np.argsort(-lengths, kind="stable")
        self._cache: dict[int, torch.Tensor] = {}
        self._lock = threading.Lock()

    def allowed_words(self, state: int) -> torch.Tensor:
        """int32 [num_words]: bit t set when token t keeps the output match-free."""
        cached = self._cache.get(state)
        if cached is None:
            cached = self._compute(state)
            with self._lock:
                self._cache[state] = cached
        return cached

    def _compute(self, state: int) -> torch.Tensor:
        table, accepting = self.automaton.transitions, self.automaton.accepting
        banned = np.zeros(self.vocab_size, dtype=bool)
        states = np.full(self.vocab_size, state, dtype=np.int32)
        order = self._by_length  # longest first: the live rows are always a prefix
        sorted_lengths = self._lengths[order]
        for j in range(self._tokens.shape[1]):
            live = int(np.searchsorted(-sorted_lengths, -j, side="left"))
            if live == 0:
                break
            rows = order[:live]
            nxt = table[states[rows], self._tokens[rows, j]]
            states[rows] = nxt
            banned[rows] |= accepting[nxt]
        allowed = np.zeros(self.num_words * 32, dtype=bool)
        allowed[: self.vocab_size] = ~banned
        packed = np.packbits(allowed, bitorder="little").view("<i4")
        return torch.from_numpy(packed.astype(np.int32))


class DenyListFilter:
    """A ``SamplingParams.output_filter``: one shared ban table, one small state per sequence."""

    def __init__(self, table: TokenBanTable) -> None:
        self.table = table

    def new_state(self) -> DenyListState:
        return DenyListState(self.table)


class DenyListState:
    """Where one sequence's output stands in the automaton."""

    __slots__ = ("table", "state", "_tokens")

    def __init__(self, table: TokenBanTable) -> None:
        self.table = table
        self.state = 0
        self._tokens = table._tokens

    def apply(self, bitmask_row: torch.Tensor) -> None:
        """AND the allowed tokens into ``bitmask_row`` (int32 [words]) in place."""
        bitmask_row[: self.table.num_words] &= self.table.allowed_words(self.state)

    def accept(self, token_id: int, token_bytes: bytes | None = None) -> None:
        data = token_bytes
        if data is None:
            length = int(self.table._lengths[token_id]) if token_id < self.table.vocab_size else 0
            data = self._tokens[token_id, :length].tobytes()
        self.state = self.table.automaton.advance(self.state, data)


@functools.lru_cache(maxsize=64)
def automaton_for(terms: tuple[str, ...], patterns: tuple[str, ...]) -> ByteAutomaton:
    """One DFA per (terms, patterns) set: building one costs ~0.1-0.6 s (subset construction
    in Python), so requests of the same policies share it."""
    return ByteAutomaton(terms, patterns)
