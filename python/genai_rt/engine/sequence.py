"""One generated sequence: its tokens, how many have K/V in the cache, and its status.

A request with ``n > 1`` owns ``n`` sequences; children wait for the first one's prompt and then
share its full KV blocks (``KvCacheManager.fork_prefix``), recomputing only the partial tail.
"""

from __future__ import annotations

import enum
from typing import Any


class SequenceStatus(enum.Enum):
    WAITING = "waiting"
    RUNNING = "running"
    FINISHED = "finished"


class Sequence:
    """Scheduler-facing state of one sequence (the engine hangs its own state on ``owner``).

    Parameters
    ----------
    seq_id : int
        Unique id (also the key in the C++ ``KvCacheManager``).
    prompt_token_ids : list[int]
    max_total_len : int
        Prompt + output tokens at most (the request's ``max_tokens`` capped by the model).
    fork_parent : Sequence | None
        For children of an ``n > 1`` request: the sequence whose prompt blocks to share.
    owner : object
        The engine's per-sequence state (detokenizer, sampling row, ...).
    """

    __slots__ = (
        "seq_id",
        "prompt_token_ids",
        "output_token_ids",
        "num_tokens",
        "num_computed",
        "max_total_len",
        "status",
        "fork_parent",
        "owner",
        "num_preemptions",
        "num_cached_tokens",
    )

    def __init__(
        self,
        seq_id: int,
        prompt_token_ids: list[int],
        max_total_len: int,
        fork_parent: Sequence | None = None,
        owner: Any = None,
    ) -> None:
        self.seq_id = seq_id
        self.prompt_token_ids = prompt_token_ids
        self.output_token_ids: list[int] = []
        # A plain attribute, not a property: read several times per sequence per step.
        self.num_tokens = len(prompt_token_ids)
        self.num_computed = 0
        self.max_total_len = max_total_len
        self.status = SequenceStatus.WAITING
        self.fork_parent = fork_parent
        self.owner = owner
        self.num_preemptions = 0
        self.num_cached_tokens = 0

    def append(self, token_id: int) -> None:
        self.output_token_ids.append(token_id)
        self.num_tokens += 1

    @property
    def prompt_len(self) -> int:
        return len(self.prompt_token_ids)

    @property
    def num_uncomputed(self) -> int:
        return self.num_tokens - self.num_computed

    @property
    def is_finished(self) -> bool:
        return self.status is SequenceStatus.FINISHED

    def __repr__(self) -> str:
        return (
            f"Sequence(id={self.seq_id}, tokens={self.num_tokens}, computed={self.num_computed}, "
            f"{self.status.value})"
        )
