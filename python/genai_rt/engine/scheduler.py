"""Continuous batching over the paged KV cache.

Each step the scheduler fills a token budget: running sequences first (decodes before unfinished
prefill chunks), then waiting ones in arrival order. When blocks run out, the most recently
arrived running sequence is preempted by recompute (its blocks freed, it goes back to the front
of the queue). A request is admitted only if it could run alone, so the oldest sequence always
makes progress: no crash, no hang.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from genai_rt._core import KvCacheManager
from genai_rt.config import CacheConfig, SchedulerConfig, blocks_for_tokens
from genai_rt.engine.sequence import Sequence, SequenceStatus


class RequestTooLargeError(ValueError):
    """A request that can never be scheduled under this configuration."""


@dataclass
class SchedulerOutput:
    """What one step computes: ``num_new[i]`` tokens of ``seqs[i]``, starting at its computed
    length. ``preempted`` lost their blocks this step and wait for recompute."""

    seqs: list[Sequence] = field(default_factory=list)
    num_new: list[int] = field(default_factory=list)
    preempted: list[Sequence] = field(default_factory=list)

    @property
    def num_tokens(self) -> int:
        return sum(self.num_new)

    def __bool__(self) -> bool:
        return bool(self.seqs)


class Scheduler:
    """Decides which tokens each step computes; owns the C++ ``KvCacheManager``.

    Parameters
    ----------
    scheduler_config : SchedulerConfig
    cache_config : CacheConfig
    num_blocks : int
        Blocks in the KV pool (from the cache config and the model's per-block size).
    max_model_len : int
        Longest prompt + output.
    """

    def __init__(
        self,
        scheduler_config: SchedulerConfig,
        cache_config: CacheConfig,
        num_blocks: int,
        max_model_len: int,
    ) -> None:
        self.config = scheduler_config
        self.block_size = cache_config.block_size
        self.max_model_len = max_model_len
        self.kv = KvCacheManager(num_blocks, cache_config.block_size,
                                 cache_config.enable_prefix_caching)
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []  # priority (arrival) order: preempt from the end
        self.num_preemptions = 0

    # ----------------------------------------------------------------------------- admission
    def check_admissible(self, prompt_len: int, max_total_len: int) -> None:
        """Raise ``RequestTooLargeError`` naming the limit a request breaks; else return."""
        if prompt_len <= 0:
            raise RequestTooLargeError("prompt is empty: at least one token is needed")
        if prompt_len >= self.max_model_len:
            raise RequestTooLargeError(
                f"prompt of {prompt_len} tokens leaves no room for output within "
                f"max_model_len={self.max_model_len}"
            )
        needed = blocks_for_tokens(max_total_len, self.block_size)
        if needed > self.kv.num_blocks:
            raise RequestTooLargeError(
                f"request needs up to {needed} KV blocks ({max_total_len} tokens) but the "
                f"cache has {self.kv.num_blocks}; lower max_tokens or enlarge the KV cache"
            )
        if not self.config.enable_chunked_prefill and max_total_len > (
            self.config.max_num_batched_tokens
        ):
            raise RequestTooLargeError(
                f"request of up to {max_total_len} tokens exceeds max_num_batched_tokens="
                f"{self.config.max_num_batched_tokens} and chunked prefill is off"
            )

    def add(self, seq: Sequence) -> None:
        """Queue a sequence (call ``check_admissible`` first)."""
        self.kv.add_sequence(seq.seq_id, seq.prompt_token_ids + seq.output_token_ids)
        seq.status = SequenceStatus.WAITING
        self.waiting.append(seq)

    def remove(self, seq: Sequence) -> None:
        """Drop a sequence wherever it is and free every block it holds (finish or abort)."""
        if seq.status is SequenceStatus.RUNNING:
            self.running.remove(seq)
        elif seq.status is SequenceStatus.WAITING:
            self.waiting.remove(seq)
        if self.kv.has_sequence(seq.seq_id):
            self.kv.free(seq.seq_id)
        seq.status = SequenceStatus.FINISHED
        seq.num_computed = 0

    @property
    def has_unfinished(self) -> bool:
        return bool(self.waiting or self.running)

    # ----------------------------------------------------------------------------- one step
    def schedule(self) -> SchedulerOutput:
        """Choose this step's tokens; allocates their blocks."""
        out = SchedulerOutput()
        budget = self.config.max_num_batched_tokens
        decodes = [s for s in self.running if s.num_uncomputed == 1]
        prefills = [s for s in self.running if s.num_uncomputed > 1]
        for seq in decodes + prefills:
            if budget == 0:
                break
            if seq.status is not SequenceStatus.RUNNING:  # preempted earlier in this loop
                continue
            n = min(seq.num_uncomputed, budget)
            if self._allocate_or_preempt(seq, n, out):
                out.seqs.append(seq)
                out.num_new.append(n)
                budget -= n
            if out.preempted:  # rare: victims scheduled earlier may have given tokens back
                budget = self.config.max_num_batched_tokens - out.num_tokens
        budget = self.config.max_num_batched_tokens - out.num_tokens
        if not out.preempted:
            self._admit_waiting(out, budget)
        return out

    def _allocate_or_preempt(self, seq: Sequence, n: int, out: SchedulerOutput) -> bool:
        while not self.kv.allocate(seq.seq_id, n):
            victim = self.running[-1]
            self._preempt(victim, out)
            if victim is seq:
                return False
        return True

    def _preempt(self, seq: Sequence, out: SchedulerOutput) -> None:
        if seq in out.seqs:  # scheduled earlier this step: give its tokens back
            i = out.seqs.index(seq)
            del out.seqs[i]
            del out.num_new[i]
        self.running.remove(seq)
        self.kv.reset(seq.seq_id)
        seq.num_computed = 0
        seq.num_preemptions += 1
        seq.status = SequenceStatus.WAITING
        self.waiting.appendleft(seq)  # victims leave lowest priority first: order is kept
        self.num_preemptions += 1
        out.preempted.append(seq)

    def _admit_waiting(self, out: SchedulerOutput, budget: int) -> None:
        while self.waiting and budget > 0 and len(self.running) < self.config.max_num_seqs:
            seq = self.waiting[0]
            parent = seq.fork_parent
            if parent is not None and parent.status is SequenceStatus.RUNNING:
                if parent.num_computed < seq.prompt_len - 1:
                    break  # the first sibling is still prefilling the shared prompt
            if seq.num_computed == 0:
                if parent is not None and parent.status is SequenceStatus.RUNNING:
                    seq.num_computed = self.kv.fork_prefix(parent.seq_id, seq.seq_id,
                                                           seq.prompt_len)
                else:
                    seq.num_computed = self.kv.match_prefix(seq.seq_id)
                seq.num_cached_tokens = max(seq.num_cached_tokens, seq.num_computed)
            remaining = seq.num_uncomputed
            if not self.config.enable_chunked_prefill and remaining > budget:
                self._release(seq)
                break
            n = min(remaining, budget)
            if not self.kv.allocate(seq.seq_id, n):
                self._release(seq)
                break
            self.waiting.popleft()
            seq.status = SequenceStatus.RUNNING
            self.running.append(seq)
            out.seqs.append(seq)
            out.num_new.append(n)
            budget -= n

    def _release(self, seq: Sequence) -> None:
        self.kv.reset(seq.seq_id)
        seq.num_computed = 0

    def commit(self, out: SchedulerOutput) -> None:
        """After the forward: the scheduled tokens now have K/V in the cache."""
        self.kv.commit_batch([s.seq_id for s in out.seqs], out.num_new)
        for seq, n in zip(out.seqs, out.num_new, strict=True):
            seq.num_computed += n

    def append_tokens(self, seqs: list[Sequence], token_ids: list[int]) -> None:
        """Append one sampled token to each sequence (one C++ call for the step)."""
        self.kv.append_token_batch([s.seq_id for s in seqs], token_ids)
        for seq, token in zip(seqs, token_ids, strict=True):
            seq.append(token)

    def append_token(self, seq: Sequence, token_id: int) -> None:
        self.append_tokens([seq], [token_id])

    # ----------------------------------------------------------------------------- stats
    @property
    def kv_usage(self) -> float:
        """Fraction of KV blocks held by live sequences."""
        return self.kv.num_used_blocks / self.kv.num_blocks

    @property
    def prefix_cache_hit_rate(self) -> float:
        queried = self.kv.prefix_query_tokens
        return self.kv.prefix_hit_tokens / queried if queried else 0.0
