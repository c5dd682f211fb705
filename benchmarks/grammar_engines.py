"""One adapter per grammar engine (genai_rt, xgrammar, llguidance) behind the same six calls.

Each adapter is built once per vocabulary (its tokenizer set-up is timed apart from compiles) and
then: ``clear_caches()``, ``compile(workload)``, ``matcher(compiled)``,
``fill(matcher, bitmask)`` (the only call timed per step), ``accept(matcher, token) -> bool``,
``memory_bytes(compiled)`` (None when the engine has no API for it: the benchmark then measures
the RSS delta).
Bitmasks are int32 torch tensors [1, ceil(V/32)] in all three (bit i of word w = token 32w+i).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from grammar_workloads import Workload


@dataclass
class VocabSetup:
    """A real vocabulary as every engine needs it."""

    name: str
    token_bytes: list[bytes]
    size: int
    eos_token_ids: list[int]
    special_token_ids: list[int]
    genai_vocab: Any  # genai_rt.sampling.Vocabulary
    tokenizer_json: str | None  # tokenizer.json text (HF tokenizers) or None for tiktoken
    tiktoken_encoding: Any  # tiktoken.Encoding or None
    encode: Any  # str -> list[int]


def _threads() -> int:
    return os.cpu_count() or 1


class XGrammarEngine:
    """xgrammar: compact JSON via any_whitespace=False and separators (',', ':')."""

    name = "xgrammar"

    def __init__(self, vocab: VocabSetup) -> None:
        import xgrammar as xgr

        self.xgr = xgr
        # Raw token bytes: exactly the bytes genai_rt uses. xgrammar treats a token whose bytes
        # are empty as special, so the specials (whose text would otherwise be matchable) are
        # given empty bytes here, as xgrammar's own from_huggingface does.
        special = set(vocab.special_token_ids) - set(vocab.eos_token_ids)
        encoded = [b"" if i in special else t for i, t in enumerate(vocab.token_bytes)]
        self.info = xgr.TokenizerInfo(encoded, xgr.VocabType.RAW, vocab_size=vocab.size,
                                      stop_token_ids=vocab.eos_token_ids)
        # Cache off: every compile is a real compile.
        self.compiler = xgr.GrammarCompiler(self.info, max_threads=_threads(),
                                            cache_enabled=False)
        self.vocab_size = vocab.size

    def compile(self, w: Workload) -> Any:
        if w.kind == "json_schema":
            return self.compiler.compile_json_schema(w.grammar, any_whitespace=False,
                                                     separators=(",", ":"), strict_mode=True)
        if w.kind == "any_json":
            return self.compiler.compile_grammar(self._compact_any_json_ebnf())
        if w.kind == "regex":
            return self.compiler.compile_regex(w.grammar)
        return self.compiler.compile_grammar(w.grammar, root_rule_name="root")

    def _compact_any_json_ebnf(self) -> str:
        # xgrammar 0.2.8's compile_json_schema("{}", any_whitespace=False, separators=(",", ":"))
        # still puts ", " between array items and properties (its basic_any rules ignore the
        # separators), so it rejects compact JSON such as [1,2]; its builtin JSON grammar allows
        # whitespace. So: its own any-value grammar with the separator fixed. A hand-written
        # JSON EBNF without its lookahead annotations masked 1000x slower (57 ms mean, Qwen2.5).
        text = str(self.compiler.compile_json_schema("{}", any_whitespace=False,
                                                     separators=(",", ":")).grammar)
        fixed = text.replace('(", " basic_any)', '("," basic_any)').replace(
            '(", " basic_string ":" basic_any)', '("," basic_string ":" basic_any)')
        assert '", "' not in fixed, "xgrammar's any-JSON grammar changed; update this fix"
        return fixed

    def clear_caches(self) -> None:
        """Nothing to clear: the compiler was made with cache_enabled=False."""

    def matcher(self, compiled: Any) -> Any:
        return self.xgr.GrammarMatcher(compiled)

    def fill(self, matcher: Any, bitmask: Any) -> None:
        matcher.fill_next_token_bitmask(bitmask, 0)

    def accept(self, matcher: Any, token: int) -> bool:
        return bool(matcher.accept_token(token))

    def memory_bytes(self, compiled: Any) -> int | None:
        return int(compiled.memory_size_bytes)


class LLGuidanceEngine:
    """llguidance: compact JSON via whitespace_flexible=False (',' and ':' are its defaults)."""

    name = "llguidance"

    def __init__(self, vocab: VocabSetup) -> None:
        import llguidance
        import llguidance.torch

        self.llg = llguidance
        self.fill_mask = llguidance.torch.fill_next_token_bitmask
        if vocab.tiktoken_encoding is not None:
            from llguidance.tiktoken import lltokenizer_from_encoding

            self.tokenizer = lltokenizer_from_encoding(
                vocab.tiktoken_encoding, n_vocab=vocab.size, eos_token=vocab.eos_token_ids)
        else:
            self.tokenizer = llguidance.LLTokenizer(
                vocab.tokenizer_json, n_vocab=vocab.size, eos_token=vocab.eos_token_ids)

    def _grammar(self, w: Workload) -> str:
        matcher_cls = self.llg.LLMatcher
        options = {"whitespace_flexible": False, "item_separator": ",", "key_separator": ":"}
        if w.kind == "json_schema":
            return matcher_cls.grammar_from_json_schema(w.grammar, defaults=options)
        if w.kind == "any_json":
            return matcher_cls.grammar_from_json_schema("{}", defaults=options)
        if w.kind == "regex":
            return matcher_cls.grammar_from_regex(w.grammar)
        from llguidance.gbnf_to_lark import gbnf_to_lark

        return matcher_cls.grammar_from_lark(gbnf_to_lark(w.grammar))

    def compile(self, w: Workload) -> Any:
        # Only the grammar text here; matcher() parses it and reports errors (calling
        # validate_grammar as well would build the parser twice and double its compile time).
        return self._grammar(w)

    def clear_caches(self) -> None:
        """Nothing to clear: each matcher() parses the grammar text afresh."""

    def matcher(self, compiled: Any) -> Any:
        # llguidance builds its parser and lexer here, from the grammar text: this is its compile
        # step, so the benchmark times compile() + the first matcher() as llguidance's compile.
        m = self.llg.LLMatcher(self.tokenizer, compiled, log_level=0)
        if m.is_error():
            raise ValueError(f"llguidance matcher error: {m.get_error()}")
        return m

    def fill(self, matcher: Any, bitmask: Any) -> None:
        self.fill_mask(matcher, bitmask, 0)

    def accept(self, matcher: Any, token: int) -> bool:
        return bool(matcher.consume_token(token)) and not matcher.is_error()

    def memory_bytes(self, compiled: Any) -> int | None:
        return None


class GenaiRtEngine:
    """genai_rt: compact JSON via whitespace="compact"."""

    name = "genai_rt"

    def __init__(self, vocab: VocabSetup) -> None:
        from genai_rt.sampling import Grammar, GrammarMatcher

        self.grammar_cls = Grammar
        self.matcher_cls = GrammarMatcher
        self.vocab = vocab.genai_vocab
        self.vocab.native()  # timed as vocabulary set-up

    def compile(self, w: Workload) -> Any:
        g = self.grammar_cls
        if w.kind == "json_schema":
            return g.from_json_schema(w.grammar, self.vocab, whitespace="compact")
        if w.kind == "any_json":
            return g.any_json(self.vocab, whitespace="compact")
        if w.kind == "regex":
            return g.from_regex(w.grammar, self.vocab)
        return g.from_ebnf(w.grammar, self.vocab, root="root")

    def clear_caches(self) -> None:
        # Grammar.from_* returns a cached Grammar for a source seen before; a cold run compiles.
        from genai_rt.sampling.grammar import clear_grammar_cache

        clear_grammar_cache()

    def matcher(self, compiled: Any) -> Any:
        return self.matcher_cls(compiled)

    def fill(self, matcher: Any, bitmask: Any) -> None:
        matcher.fill_next_token_bitmask(bitmask, 0)

    def accept(self, matcher: Any, token: int) -> bool:
        return bool(matcher.accept_token(token))

    def memory_bytes(self, compiled: Any) -> int | None:
        # The core's CompiledGrammar.memory_bytes counts its tables and the mask cache as filled
        # so far (the benchmark asks after one full replay); a method or property, on the
        # wrapper or on its native handle.
        for holder in (compiled, getattr(compiled, "_handle", None),
                       getattr(compiled, "_native", None)):
            value = getattr(holder, "memory_bytes", None)
            if value is not None:
                return int(value() if callable(value) else value)
        return None


ENGINE_CLASSES = {"genai_rt": GenaiRtEngine, "xgrammar": XGrammarEngine,
                  "llguidance": LLGuidanceEngine}


def engine_available(name: str) -> str | None:
    """None when the engine can run here, else why not."""
    try:
        if name == "genai_rt":
            import genai_rt.sampling as sampling

            if not hasattr(sampling, "Grammar"):
                return "genai_rt.sampling has no Grammar yet (grammar engine not merged)"
        elif name == "xgrammar":
            import xgrammar  # noqa: F401
        else:
            import llguidance  # noqa: F401
    except ImportError as exc:
        return f"not installed ({exc}); pip install -e '.[bench]'"
    return None
