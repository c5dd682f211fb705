"""What the engine returns: vLLM's RequestOutput / CompletionOutput shapes (see API.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

FINISH_REASONS = ("stop", "stop_string", "length", "abort", "grammar_end")


@dataclass
class CompletionOutput:
    """One of the ``n`` completions of a request, as of the latest step.

    Attributes
    ----------
    index : int
        Which of the ``n`` completions.
    text : str
        Cumulative text (while streaming, without a possibly partial stop string at its end).
    token_ids : list[int]
        Cumulative output token ids.
    delta_text, delta_token_ids
        The part new since the previous output of this request.
    finish_reason : str | None
        None while running; else one of ``FINISH_REASONS``.
    logprobs : list[dict[int, float]] | None
        Per output token: the chosen token's logprob plus the top-``logprobs`` alternatives
        (None when ``SamplingParams.logprobs`` is None).
    cumulative_logprob : float | None
        Sum of the chosen tokens' logprobs (when logprobs were requested).
    """

    index: int
    text: str
    token_ids: list[int]
    delta_text: str = ""
    delta_token_ids: list[int] = field(default_factory=list)
    finish_reason: str | None = None
    logprobs: list[dict[int, float]] | None = None
    cumulative_logprob: float | None = None

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None


@dataclass
class RequestMetrics:
    """Times (``time.monotonic()`` seconds) and token counts of one request."""

    arrival_time: float
    first_scheduled_time: float | None = None
    first_token_time: float | None = None
    finished_time: float | None = None
    num_prompt_tokens: int = 0
    num_generated_tokens: int = 0
    num_cached_tokens: int = 0
    num_preemptions: int = 0

    @property
    def time_to_first_token(self) -> float | None:
        if self.first_token_time is None:
            return None
        return self.first_token_time - self.arrival_time


@dataclass
class RequestOutput:
    """Everything known about a request after a step.

    Attributes
    ----------
    request_id : str
    prompt : str | None
        The prompt text when the request gave text.
    prompt_token_ids : list[int]
    outputs : list[CompletionOutput]
        One per completion (``n``), in index order.
    finished : bool
        True once every completion has finished.
    metrics : RequestMetrics
    error : str | None
        Why the engine stopped the request early (e.g. no token survives its constraints);
        its completions then end with finish_reason "abort".
    """

    request_id: str
    prompt: str | None
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput]
    finished: bool
    metrics: RequestMetrics
    error: str | None = None
