"""What the Sampler returns for one step, and the error it raises for a row with no valid token."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SamplerOutput:
    """One step's tokens for a batch of N rows.

    Attributes
    ----------
    token_ids : list[int]
        The chosen token per row.
    logprobs : list[float]
        The chosen token's logprob under the raw model distribution, ``log_softmax(logits)``
        before bias, penalties, masks and temperature (vLLM's default ``raw_logprobs``): it says
        how likely the model found the token, whatever the request did to pick it. NaN for rows
        whose ``params.logprobs`` is None (they skip the log-normalizer pass).
    top_logprobs : list[list[tuple[int, float]]] | None
        None when no row asked for top logprobs; else per row its ``params.logprobs`` most likely
        ``(token_id, logprob)`` pairs of the same raw distribution, most likely first (an empty
        list for rows with ``logprobs`` None or 0).
    """

    token_ids: list[int]
    logprobs: list[float]
    top_logprobs: list[list[tuple[int, float]]] | None = None


class SamplingError(ValueError):
    """Some rows cannot be sampled (no token survives the masks, or non-finite logits).

    ``rows`` lists the offending batch rows so the engine can finish those requests alone.
    """

    def __init__(self, rows: list[int], message: str) -> None:
        super().__init__(message)
        self.rows = rows
