"""Where JSON output may put whitespace: ``any`` (default), ``compact`` or a fixed ``indent``.

``any`` accepts what models write: ``json.dumps(x)`` (``", "`` and ``": "``), pretty-printed
``json.dumps(x, indent=2)`` and compact text alike. It is bounded so that a weak model cannot
loop on blanks: each gap between tokens of the JSON syntax holds at most one line break and at
most ``MAX_WS_COLUMNS`` spaces or tabs after it. 48 columns is indent 4 twelve levels deep (or
indent 2, 24 levels), deeper than the objects models write in practice; a deeper document is
still accepted, only with less indentation. No whitespace before or after the whole value.

``compact`` allows no whitespace (``json.dumps(x, separators=(",", ":"))``).
``indent=N`` is exactly the layout of ``json.dumps(x, indent=N)``: a line per item, ``": "``
after keys, ``{}``/``[]`` for empty containers. Past ``MAX_INDENT_LEVELS`` levels of nesting the
indentation stops growing (a recursive schema needs one copy of its rules per level).
"""

from __future__ import annotations

from genai_rt.sampling.grammar_ebnf_util import ebnf_literal

MAX_WS_COLUMNS = 48
MAX_INDENT_LEVELS = 16
WHITESPACE_STYLES = ("any", "compact")

_WS_RULE = f'json_ws ::= ("\\r"? "\\n")? [ \\t]{{0,{MAX_WS_COLUMNS}}}\n'


class JsonLayout:
    """Separators and brackets of JSON output, as GBNF expressions.

    Parameters
    ----------
    whitespace
        ``"any"`` (bounded JSON whitespace) or ``"compact"``.
    indent
        Spaces per level for the fixed ``json.dumps(x, indent=N)`` layout; overrides
        ``whitespace``.
    """

    def __init__(self, whitespace: str = "any", indent: int | None = None) -> None:
        if whitespace not in WHITESPACE_STYLES:
            raise ValueError(f"whitespace must be one of {WHITESPACE_STYLES}, got {whitespace!r}")
        if indent is not None and (
            not isinstance(indent, int) or isinstance(indent, bool) or not 0 <= indent <= 8
        ):
            raise ValueError(f"indent must be an int in [0, 8] or None, got {indent!r}")
        self.whitespace = whitespace
        self.indent = indent
        self.uses_ws_rule = False

    @property
    def key(self) -> str:
        """Names the layout (part of grammar cache keys)."""
        return f"indent={self.indent}" if self.indent is not None else self.whitespace

    def level(self, level: int) -> int:
        """The nesting level that matters for this layout (0 unless indenting)."""
        return min(level, MAX_INDENT_LEVELS) if self.indent is not None else 0

    def _ws(self) -> str:
        self.uses_ws_rule = True
        return "json_ws"

    def _newline(self, level: int) -> str:
        assert self.indent is not None
        return "\n" + " " * (self.indent * min(level, MAX_INDENT_LEVELS))

    def open(self, bracket: str, level: int) -> str:
        """``{`` or ``[`` starting a non-empty container whose items are at ``level + 1``."""
        if self.indent is not None:
            return ebnf_literal(bracket + self._newline(level + 1))
        if self.whitespace == "compact":
            return ebnf_literal(bracket)
        return f"{ebnf_literal(bracket)} {self._ws()}"

    def close(self, bracket: str, level: int) -> str:
        """``}`` or ``]`` ending a non-empty container at ``level``."""
        if self.indent is not None:
            return ebnf_literal(self._newline(level) + bracket)
        if self.whitespace == "compact":
            return ebnf_literal(bracket)
        return f"{self._ws()} {ebnf_literal(bracket)}"

    def empty(self, brackets: str) -> str:
        """An empty container, ``{}`` or ``[]``."""
        if self.indent is not None or self.whitespace == "compact":
            return ebnf_literal(brackets)
        return f"{ebnf_literal(brackets[0])} {self._ws()} {ebnf_literal(brackets[1])}"

    def item_sep(self, level: int) -> str:
        """Between items of a container whose items are at ``level + 1``."""
        if self.indent is not None:
            return ebnf_literal("," + self._newline(level + 1))
        if self.whitespace == "compact":
            return '","'
        ws = self._ws()
        return f'{ws} "," {ws}'

    def key_sep(self) -> str:
        """Between a key and its value."""
        if self.indent is not None:
            return '": "'
        if self.whitespace == "compact":
            return '":"'
        ws = self._ws()
        return f'{ws} ":" {ws}'

    def rules(self) -> str:
        """GBNF text for the rules the expressions above used."""
        return _WS_RULE if self.uses_ws_rule else ""
