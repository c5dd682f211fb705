"""The split-KV heuristic of paged decode attention: its choices and its log line."""

from __future__ import annotations

import logging

import pytest
from genai_rt.kernels import split_kv
from genai_rt.kernels.split_kv import MAX_SPLITS, MIN_TOKENS_PER_SPLIT, choose_num_splits

H200_SMS = 132


@pytest.mark.parametrize("num_seqs,kv_heads,length,expected", [
    (64, 8, 1024, 1),     # 512 programs: >= 2 per SM, no merge pass
    (33, 8, 4096, 1),     # 264 = exactly 2 per SM
    (16, 8, 4096, 5),     # 128 programs: ceil(4 * 132 / 128) = 5 splits
    (1, 8, 8192, 64),     # 8 programs: 66 wanted, the 64-split cap
    (1, 8, 1000, 7),      # short: splits of >= 128 tokens
    (1, 8, 1, 1),         # one token: nothing to split
    (4, 2, 100_000, 64),  # long and few programs: the cap
])
def test_split_counts(num_seqs, kv_heads, length, expected) -> None:
    choice = choose_num_splits(num_seqs, kv_heads, length, H200_SMS)
    assert choice.num_splits == expected
    assert choice.programs == num_seqs * kv_heads * expected
    if expected > 1:  # every split covers at least MIN_TOKENS_PER_SPLIT tokens
        assert length // expected >= MIN_TOKENS_PER_SPLIT or expected == MAX_SPLITS


def test_more_sms_or_fewer_programs_never_split_less() -> None:
    for length in (300, 4096, 32768):
        counts = [choose_num_splits(b, 8, length, H200_SMS).num_splits for b in (1, 2, 4, 8, 16)]
        assert counts == sorted(counts, reverse=True)
        assert (choose_num_splits(2, 8, length, 264).num_splits
                >= choose_num_splits(2, 8, length, 132).num_splits)


def test_choice_is_logged_once_per_shape(caplog: pytest.LogCaptureFixture) -> None:
    split_kv._logged.clear()
    with caplog.at_level(logging.INFO, logger="genai_rt.kernels.split_kv"):
        for _ in range(3):
            choose_num_splits(3, 4, 5000, 100)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert "34 KV splits for 3 seqs x 4 kv heads x 5000 tokens on 100 SMs" in lines[0]
    assert "4 programs per SM" in lines[0]


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="num_seqs"):
        choose_num_splits(0, 8, 10, H200_SMS)
