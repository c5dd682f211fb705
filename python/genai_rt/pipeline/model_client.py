"""The pipeline's one door to the engine: chat rendering, generation, the deny-list vocabulary.

Kept small so that the pipeline depends on four engine facts only: ``Engine.generate`` (async,
batched with every other caller), ``core.tokenizer`` (chat template), ``core.vocab_size`` and
the model path (the audit record's model id).
"""

from __future__ import annotations

import uuid
import weakref
from dataclasses import dataclass
from typing import Any

from genai_rt.pipeline.denylist import DenyListFilter, TokenBanTable, automaton_for
from genai_rt.sampling.params import SamplingParams


@dataclass
class Completion:
    text: str
    finish_reason: str | None
    prompt_tokens: int
    output_tokens: int
    token_ids: list[int]
    first_logprobs: dict[int, float] | None
    error: str | None


class ModelClient:
    """Wraps an ``Engine`` for the pipeline.

    Parameters
    ----------
    engine : genai_rt.Engine
    """

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        core = engine.core
        self.tokenizer = core.tokenizer
        if self.tokenizer is None:
            raise ValueError("the pipeline needs a model with a tokenizer (chat template)")
        self.vocab_size = core.vocab_size
        self.model_id = str(core.config.model.path)
        self._vocab: Any = None
        self._ban_tables: dict[tuple[tuple[str, ...], tuple[str, ...]], TokenBanTable] = {}

    @classmethod
    def for_engine(cls, engine: Any) -> ModelClient:
        """One client per engine: pipelines sharing an engine share its vocabulary and the
        deny-list ban tables (whose per-state masks are worth keeping warm)."""
        client = _CLIENTS.get(engine)
        if client is None:
            client = _CLIENTS[engine] = cls(engine)
        return client

    def render(self, messages: list[dict[str, str]]) -> str:
        text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True)
        assert isinstance(text, str)
        return text

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    @property
    def vocabulary(self) -> Any:
        if self._vocab is None:
            from genai_rt.sampling.vocabulary import Vocabulary

            backend = getattr(self.tokenizer, "backend", self.tokenizer)
            self._vocab = Vocabulary.from_tokenizer(backend, vocab_size=self.vocab_size)
        return self._vocab

    def deny_filter(self, terms: tuple[str, ...], patterns: tuple[str, ...]) -> DenyListFilter:
        """A decode-time filter for these terms and patterns (tables cached per set)."""
        key = (tuple(sorted(set(terms))), tuple(sorted(set(patterns))))
        table = self._ban_tables.get(key)
        if table is None:
            table = TokenBanTable(automaton_for(*key), self.vocabulary.token_bytes)
            self._ban_tables[key] = table
        return DenyListFilter(table)

    async def complete(self, prompt: str, params: SamplingParams, tag: str = "pipe") -> Completion:
        """Run one request to the end (concurrent callers share the engine's batches)."""
        last = None
        # unique across clients: several pipelines may share one engine
        request_id = f"{tag}-{uuid.uuid4().hex[:16]}"
        async for out in self.engine.generate(prompt, params, request_id=request_id):
            last = out
        assert last is not None
        c = last.outputs[0]
        first = c.logprobs[0] if c.logprobs else None
        return Completion(c.text, c.finish_reason, len(last.prompt_token_ids), len(c.token_ids),
                          list(c.token_ids), first, last.error)


_CLIENTS: weakref.WeakKeyDictionary[Any, ModelClient] = weakref.WeakKeyDictionary()
