"""Grammar constraints for the engine: compile a request's spec once, one matcher per sequence.

Thin glue over ``genai_rt.sampling.grammar`` (the grammar issue); masks are filled for the whole
step's constrained rows in one C++ call that releases the GIL.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import torch

# Compiled grammars kept per engine: a JSON schema reused across requests compiles once.
GRAMMAR_CACHE_SIZE = 64


def _grammar_module() -> Any:
    try:
        from genai_rt.sampling import grammar
    except ImportError as exc:
        raise ValueError(
            "grammar constraints need genai_rt.sampling.grammar, which this build lacks"
        ) from exc
    return grammar


class GrammarCompiler:
    """Turns ``SamplingParams.grammar`` (a Grammar or a one-key spec) into a compiled Grammar."""

    def __init__(self, tokenizer: Any, vocab_size: int) -> None:
        self.tokenizer = tokenizer
        self.vocab_size = vocab_size
        self._vocab: Any = None
        self._cache: OrderedDict[str, Any] = OrderedDict()

    def __call__(self, spec: Any, *, whitespace: str = "any", indent: int | None = None) -> Any:
        """``whitespace``/``indent`` lay out JSON (``json_schema`` specs; see SamplingParams)."""
        grammar = _grammar_module()
        if isinstance(spec, grammar.Grammar):
            return spec
        # Not sort_keys: a schema's property order is the order its output must follow, so two
        # schemas differing only in order need grammars of their own.
        key = json.dumps([spec, whitespace, indent])
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        if self.tokenizer is None:
            raise ValueError("grammar constraints need the model's tokenizer.json")
        if self._vocab is None:
            from genai_rt.sampling.vocabulary import Vocabulary

            backend = getattr(self.tokenizer, "backend", self.tokenizer)
            self._vocab = Vocabulary.from_tokenizer(backend, vocab_size=self.vocab_size)
        kind, value = next(iter(spec.items()))
        build = {
            "json_schema": grammar.Grammar.from_json_schema,
            "regex": grammar.Grammar.from_regex,
            "ebnf": grammar.Grammar.from_ebnf,
            "choice": grammar.Grammar.from_choices,
        }[kind]
        if kind == "json_schema":
            compiled = build(value, self._vocab, whitespace=whitespace, indent=indent)
        else:
            compiled = build(value, self._vocab)
        self._cache[key] = compiled
        if len(self._cache) > GRAMMAR_CACHE_SIZE:
            self._cache.popitem(last=False)
        return compiled


def new_matcher(compiled: Any) -> Any:
    return _grammar_module().GrammarMatcher(compiled)


def fill_masks(matchers: list[Any], bitmask: torch.Tensor, num_threads: int,
               rows: list[int] | None = None) -> None:
    """Fill row ``rows[i]`` (default i) of ``bitmask`` (int32 [M, ceil(V/32)]) with matcher
    i's allowed next tokens.

    ``num_threads`` 0 uses every core (GPU runs); on CPU the forward needs the cores, so the
    runner passes 1 and the fill overlaps the forward instead of competing with it.
    """
    _grammar_module().fill_next_token_bitmask_batch(matchers, bitmask, rows=rows,
                                                    num_threads=num_threads)
