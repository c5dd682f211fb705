"""Per-request and per-sequence engine state: detokenization, stop checks, logprobs, outputs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from genai_rt.engine.outputs import CompletionOutput, RequestMetrics
from genai_rt.engine.sequence import Sequence
from genai_rt.sampling.detokenizer import IncrementalDetokenizer
from genai_rt.sampling.params import SamplingParams, SamplingRow
from genai_rt.sampling.stop import StopChecker

PromptInput = str | list[int] | dict[str, list[int]]


@dataclass(eq=False)
class RequestState:
    """One request: its prompt, parameters, ``n`` sequences and metrics."""

    request_id: str
    prompt: str | None
    prompt_token_ids: list[int]
    params: SamplingParams
    metrics: RequestMetrics
    stream: bool
    seqs: list[Sequence] = field(default_factory=list)
    num_finished: int = 0
    error: str | None = None


class SeqState:
    """What the engine tracks for one sequence beyond the scheduler's token counts."""

    __slots__ = (
        "request", "index", "row", "stop_ids", "detok", "stop_checker", "matcher", "output_filter",
        "text",
        "finish_reason", "logprobs", "cumulative_logprob", "emitted_text_len", "emitted_tokens",
    )

    def __init__(
        self,
        request: RequestState,
        index: int,
        row: SamplingRow,
        stop_ids: frozenset[int],
        detok: IncrementalDetokenizer | None,
        stop_checker: StopChecker | None,
        matcher: Any,
    ) -> None:
        self.request = request
        self.index = index
        self.row = row
        self.stop_ids = stop_ids
        self.detok = detok
        self.stop_checker = stop_checker
        self.matcher = matcher
        # per-sequence state of params.output_filter (apply(bitmask_row), accept(token))
        filt = row.params.output_filter
        self.output_filter: Any = filt.new_state() if filt is not None else None
        self.text = ""
        self.finish_reason: str | None = None
        self.logprobs: list[dict[int, float]] | None = (
            None if row.params.logprobs is None else []
        )
        self.cumulative_logprob = 0.0
        self.emitted_text_len = 0
        self.emitted_tokens = 0

    @classmethod
    def create(
        cls, request: RequestState, index: int, row: SamplingRow, stop_ids: frozenset[int],
        tokenizer: Any, grammar: Any,
    ) -> SeqState:
        params = row.params
        detok = None
        if tokenizer is not None:
            detok = IncrementalDetokenizer(tokenizer, row.prompt_token_ids,
                                           params.skip_special_tokens)
        checker = None
        if params.stop:
            if detok is None:
                raise ValueError("stop strings need a tokenizer (the model has no tokenizer.json)")
            checker = StopChecker(params.stop, params.include_stop_str_in_output)
        matcher = None
        if grammar is not None:
            from genai_rt.engine.constraints import new_matcher

            matcher = new_matcher(grammar)
        return cls(request, index, row, stop_ids, detok, checker, matcher)

    def record_logprobs(
        self, token: int, logprob: float, top: Iterable[tuple[int, float]] | None
    ) -> None:
        if self.logprobs is None:
            return
        entry = {token: logprob}
        if top:
            for tid, lp in top:
                entry.setdefault(tid, lp)
        self.logprobs.append(entry)
        self.cumulative_logprob += logprob

    def observe(self, token: int, num_output_tokens: int) -> str | None:
        """Take the sampled token into the text, grammar and stops; the finish reason or None."""
        delta = ""
        if self.detok is not None:
            delta = self.detok.step((token,))
            if delta:
                self.text += delta
        if self.output_filter is not None:
            self.output_filter.accept(token)
        if self.matcher is not None:
            if not self.matcher.accept_token(token):
                raise RuntimeError(f"grammar rejected token {token} that its own mask allowed")
            if self.matcher.is_terminated():
                return "grammar_end"
        if token in self.stop_ids:
            return "stop"
        if self.stop_checker is not None and delta:
            stopped, text = self.stop_checker.check(self.text, len(delta))
            if stopped:
                self.text = text
                return "stop_string"
        return None

    def finish(self, reason: str) -> None:
        self.finish_reason = reason
        if self.detok is not None and reason != "stop_string":
            tail = self.detok.flush()
            if tail:
                self.text += tail
                if self.stop_checker is not None:
                    stopped, text = self.stop_checker.check(self.text, len(tail))
                    if stopped:
                        self.text, self.finish_reason = text, "stop_string"

    def snapshot(self, seq: Sequence) -> CompletionOutput:
        """Cumulative output plus the delta since the previous snapshot."""
        text = self.text
        if self.finish_reason is None and self.stop_checker is not None:
            text = text[: self.stop_checker.safe_emit_len(text)]
        tokens = seq.output_token_ids
        out = CompletionOutput(
            index=self.index,
            text=text,
            token_ids=list(tokens),
            delta_text=text[self.emitted_text_len:],
            delta_token_ids=tokens[self.emitted_tokens:],
            finish_reason=self.finish_reason,
            logprobs=None if self.logprobs is None else list(self.logprobs),
            cumulative_logprob=None if self.logprobs is None else self.cumulative_logprob,
        )
        self.emitted_text_len = max(self.emitted_text_len, len(text))
        self.emitted_tokens = len(tokens)
        return out
