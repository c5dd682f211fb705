"""How many KV splits a paged decode-attention launch uses (flash-decoding), and the log line
that says why.

One split program handles (sequence, kv head, split). With many sequences there is already one
program per SM or more and splitting only adds the merge pass (one more launch and a round trip
of fp32 partials), so the answer is 1 (the kernel then writes its output directly). With few
sequences (batch 1 x 8 kv heads = 8 programs on 132 SMs) the KV of each sequence must be split
so that every SM streams: a bandwidth-bound kernel keeps ~bandwidth x latency bytes in flight
(4.8 TB/s x ~1 us ~ 36 KiB an SM on an H200), about two 64-token K+V tiles of head_dim 128 in
bf16, so each SM needs several programs resident.

NOTE: the previous rule (2 programs an SM, splits >= 1 tile) measured 64% of copy bandwidth at
B1 L8192 H32/8 D128 on an H200 (85-94% at batch >= 16, where it picks 1-3 splits). This one aims
at 4 programs an SM with splits of >= 2 tiles (64 splits there); not measured yet (no GPU in the
session that wrote it): `make gpu-check` times it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

logger = logging.getLogger(__name__)

PROGRAMS_PER_SM = 4
# Below this many programs per SM without splitting, the launch is split.
DIRECT_PROGRAMS_PER_SM = 2
MIN_TOKENS_PER_SPLIT = 128  # 2 tiles of BLOCK_N = 64
MAX_SPLITS = 64  # the merge kernel reduces up to 64 partials in registers

_logged: set[tuple[int, int, int, int]] = set()


@dataclass(frozen=True)
class SplitChoice:
    """The split count and the reason, as logged."""

    num_splits: int
    programs: int
    reason: str


def choose_num_splits(num_seqs: int, kv_heads: int, max_seq_len: int, num_sms: int) -> SplitChoice:
    """The split count for ``num_seqs x kv_heads`` programs over up to ``max_seq_len`` tokens on
    ``num_sms`` SMs (see the module docstring). Logged at INFO the first time a (batch, kv
    heads, splits, SMs) combination is chosen, so a CUDA graph's capture shows each size once.

    >>> choose_num_splits(64, 8, 1024, 132).num_splits
    1
    >>> choose_num_splits(1, 8, 8192, 132).num_splits
    64
    """
    if min(num_seqs, kv_heads, num_sms) < 1:
        raise ValueError(f"num_seqs ({num_seqs}), kv_heads ({kv_heads}) and num_sms ({num_sms}) "
                         "must be positive")
    work = num_seqs * kv_heads
    longest = max(1, max_seq_len)
    if work >= DIRECT_PROGRAMS_PER_SM * num_sms:
        splits = 1
        reason = f"{work} programs >= {DIRECT_PROGRAMS_PER_SM} per SM without splitting"
    else:
        wanted = math.ceil(PROGRAMS_PER_SM * num_sms / work)
        by_length = max(1, longest // MIN_TOKENS_PER_SPLIT)
        splits = max(1, min(wanted, by_length, MAX_SPLITS))
        limit = (f"{PROGRAMS_PER_SM} programs per SM" if splits == wanted
                 else f"splits of >= {MIN_TOKENS_PER_SPLIT} tokens" if splits == by_length
                 else f"the {MAX_SPLITS}-split cap")
        reason = f"{work} programs < {DIRECT_PROGRAMS_PER_SM} per SM: split, limited by {limit}"
    choice = SplitChoice(splits, work * splits, reason)
    key = (num_seqs, kv_heads, splits, num_sms)
    if key not in _logged:
        _logged.add(key)
        logger.info("decode attention: %d KV splits for %d seqs x %d kv heads x %d tokens on %d "
                    "SMs (%d programs; %s)", splits, num_seqs, kv_heads, longest, num_sms,
                    choice.programs, reason)
    return choice
