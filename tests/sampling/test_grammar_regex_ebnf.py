"""Regex and GBNF front ends: languages checked against Python `re`, and syntax errors."""

from __future__ import annotations

import itertools
import re

import pytest
from genai_rt import _core
from genai_rt.sampling import Grammar, GrammarError, GrammarMatcher


@pytest.fixture(scope="module")
def vocab() -> _core.Vocabulary:
    pieces = [bytes([b]) for b in range(256)]
    return _core.Vocabulary([*pieces, b""], len(pieces) + 1, [len(pieces)], [])


def accepts(grammar: Grammar, text: str) -> bool:
    m = GrammarMatcher(grammar)
    return m.accept_string(text) and m.is_accepting()


REGEXES = [
    r"[a-c]+\d{2,3}",
    r"(ab|cd)*e?",
    r"x{3}|y{2,}|z{,2}|w{,}",  # Python: {,2} is {0,2}, {,} is {0,}
    r"[^a-c\d]b",
    r"\w+@\w+\.(com|org)",
    r"\s?\S\.",
    r"(?:a|b)(?P<g>c+)",
    r"[\]\-^]+",
    r"\x41\u00e9.",
    r"a.c",
    r"(a|)+b",
    r"[é-ü]{2}",
    r"a*?b+?c??",
]
SAMPLES = [
    "", "a", "ab1", "abc12", "abc1234", "ababe", "cde", "e", "xxx", "yy", "yyyy", "z{,2}", "db",
    "ab", "1b", "foo@bar.com", "a_1@b.org", "x@y.net", " a.", "a.", "  a.", "ac", "abcc", "bc",
    "w{,}", "zz", "zzz", "]-^", "Aéz", "Aé\n", "abc", "a\nc", "b", "aab", "éü", "éa", "üü",
    "bb", "aabbc",
]  # fmt: skip


@pytest.mark.parametrize("pattern", REGEXES)
def test_regex_language_matches_python_re(vocab: _core.Vocabulary, pattern: str) -> None:
    g = Grammar.from_regex(pattern, vocab)
    compiled = re.compile(pattern, re.ASCII)
    for text in SAMPLES:
        assert accepts(g, text) == bool(compiled.fullmatch(text)), (pattern, text)


def test_regex_exhaustive_small_alphabet(vocab: _core.Vocabulary) -> None:
    pattern = r"(a[bc]{1,2}|b+)?c(a|bc)*"
    g = Grammar.from_regex(pattern, vocab)
    compiled = re.compile(pattern)
    for n in range(7):
        for chars in itertools.product("abc", repeat=n):
            text = "".join(chars)
            assert accepts(g, text) == bool(compiled.fullmatch(text)), text


@pytest.mark.parametrize(
    "pattern,needle",
    [
        ("(a", "missing ')'"),
        ("a)", "unbalanced"),
        ("[a-", "unterminated character class"),
        ("*a", "nothing to repeat"),
        ("a**", "multiple repeat"),
        ("(?=a)", "lookaround"),
        (r"(a)\1", "escape '\\1'"),
        (r"\bword", "word boundary"),
        (r"\p{L}", "escape '\\p'"),
        ("a^b", "anchor"),
        ("[z-a]", "reversed"),
        ("a{3,1}", "min repeat greater than max"),
        ("a{99999999}", "too large"),
        ("\\", "trailing backslash"),
        ("a++", "possessive"),
    ],
)
def test_bad_regexes_raise_clear_errors(vocab: _core.Vocabulary, pattern: str, needle: str) -> None:
    with pytest.raises(GrammarError) as info:
        Grammar.from_regex(pattern, vocab)
    assert needle in str(info.value)


ARITH = r"""
# integer arithmetic with parentheses
root   ::= expr
expr   ::= term (("+" | "-") term)*
term   ::= factor (("*" | "/") factor)*
factor ::= number | "(" expr ")" | "-" factor
number ::= [0-9]+
"""


def test_ebnf_arithmetic(vocab: _core.Vocabulary) -> None:
    g = Grammar.from_ebnf(ARITH, vocab)
    for text in ["1", "1+2*3", "(1+2)*-3", "((4))", "10/2-3", "-(-1)"]:
        assert accepts(g, text), text
        eval(compile(text, "<arith>", "eval"))  # the reference: valid Python arithmetic
    for text in ["", "1+", "(1", "1)", "+1", "1**2", "a"]:
        assert not accepts(g, text), text


def test_ebnf_constructs(vocab: _core.Vocabulary) -> None:
    text = r"""
root ::= greeting " " name{1,2} punct? /[0-9]{2}/ tail
greeting ::= "hi" | "hello"   # alternation
name ::= [A-Z] [a-z]*
punct ::= [!?.]
tail ::= ("\n" | "\t" | "\x41" | "\u00e9")*
"""
    g = Grammar.from_ebnf(text, vocab)
    for ok in ["hi Bob42", "hello AnnBo!07\n\tAé", "hi X?00"]:
        assert accepts(g, ok), ok
    for bad in ["hi bob42", "hi Bob4", "hey Bob42", "hi BobAnnCy42"]:
        assert not accepts(g, bad), bad


def test_ebnf_custom_root_and_right_recursion(vocab: _core.Vocabulary) -> None:
    g = Grammar.from_ebnf('list ::= "x" list | "x"\n', vocab, root="list")
    m = GrammarMatcher(g)
    assert m.accept_string("x" * 5000)  # right recursion keeps a constant stack (tail calls)
    assert m.is_accepting()


@pytest.mark.parametrize(
    "text,needle",
    [
        ('root ::= "a" missing', "'missing' is used but never defined"),
        ('root ::= "a\n', "unterminated string literal"),
        ('root ::= ("a"', "missing ')'"),
        ('root ::= "a"\nroot ::= "b"', "defined twice"),
        ('start ::= "a"', "no rule named 'root'"),
        ('root ::= root "a" | "b"', "left-recursive"),
        ('root ::= a\na ::= b? a "x" | "y"\nb ::= "z"', "left-recursive"),
        ('root ::= "a" root', "matches no string"),
        ('root ::= "a"{3,1}', "m > n"),
        ("root ::= @", "unexpected character"),
        ('root "a"', "expected '::='"),
        ("root ::= [a-", "unterminated character class"),
    ],
)
def test_bad_ebnf_raises_clear_errors(vocab: _core.Vocabulary, text: str, needle: str) -> None:
    with pytest.raises(GrammarError) as info:
        Grammar.from_ebnf(text, vocab)
    assert needle in str(info.value)


def test_ebnf_error_names_line_and_column(vocab: _core.Vocabulary) -> None:
    with pytest.raises(GrammarError, match="line 3, column 11"):
        Grammar.from_ebnf('root ::= a\na ::= "x"\nb ::= "y" @', vocab)


def test_choices(vocab: _core.Vocabulary) -> None:
    g = Grammar.from_choices(["yes", "no", "yes, maybe", 'say "hi"\n'], vocab)
    for ok in ["yes", "no", "yes, maybe", 'say "hi"\n']:
        assert accepts(g, ok)
    for bad in ["ye", "yes,", "No", ""]:
        assert not accepts(g, bad)
    with pytest.raises(ValueError, match="non-empty"):
        Grammar.from_choices([], vocab)
    with pytest.raises(ValueError, match=r"choices\[1\]"):
        Grammar.from_choices(["a", 3], vocab)  # type: ignore[list-item]


def test_tagged_tool_call(vocab: _core.Vocabulary) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"const": "f"}, "x": {"type": "integer"}},
        "required": ["name", "x"],
    }
    # compact JSON: the jump-forward below is the forced run up to the first free choice
    g = Grammar.from_tagged("<tool>", schema, vocab, whitespace="compact")
    assert accepts(g, 'Let me call it. <too <tool>{"name":"f","x":3}')
    assert accepts(g, "no tool call at all < tool")
    assert not accepts(g, '<tool>{"name":"g","x":3}')
    assert not accepts(g, '<tool>{"name":"f","x":3} trailing')
    m = GrammarMatcher(g)
    assert m.accept_string("text <<too")
    assert not m.accept_string("x<tool>{}")  # after the first trigger only the JSON may follow
    assert m.accept_string("l>")
    assert m.jump_forward_text() == '{"name":"f","x":'
    required = Grammar.from_tagged("<<", {"type": "null"}, vocab, trigger_required=True)
    assert not accepts(required, "plain text")
    assert accepts(required, "a < b <<null")
