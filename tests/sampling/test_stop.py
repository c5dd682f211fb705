"""StopChecker: stop strings across token boundaries, several stops, held-back emission."""

from __future__ import annotations

import random

import pytest
from genai_rt.sampling import StopChecker


def _reference_stop(text: str, stops: list[str], include: bool) -> tuple[bool, str]:
    """Scan end positions left to right: the first stop to complete wins (longest on a tie)."""
    for end in range(1, len(text) + 1):
        matches = [s for s in stops if text[:end].endswith(s)]
        if matches:
            longest = max(matches, key=len)
            return True, text[:end] if include else text[: end - len(longest)]
    return False, text


def test_stop_inside_one_delta() -> None:
    checker = StopChecker(["STOP"], include_stop_str_in_output=False)
    assert checker.check("abc", 3) == (False, "abc")
    assert checker.check("abc and STOP here", 14) == (True, "abc and ")


def test_stop_across_token_boundaries() -> None:
    checker = StopChecker("STOP", include_stop_str_in_output=True)
    text = ""
    results = []
    for delta in ["He said S", "T", "O", "P! then more"]:
        text += delta
        results.append(checker.check(text, len(delta)))
    assert results[:3] == [(False, "He said S"), (False, "He said ST"), (False, "He said STO")]
    assert results[3] == (True, "He said STOP")


def test_earliest_ending_stop_wins() -> None:
    checker = StopChecker(["abcd", "bc", "xyz"], include_stop_str_in_output=False)
    assert checker.check("00abcd", 4) == (True, "00a")
    tie = StopChecker(["c", "bc"], include_stop_str_in_output=False)
    assert tie.check("abc", 3) == (True, "a")  # same end: the longer match
    assert StopChecker(["bc", "c"], True).check("abc", 3) == (True, "abc")


def test_stop_at_start_and_unicode() -> None:
    assert StopChecker(["👍"], False).check("👍 ok", 4) == (True, "")
    assert StopChecker(["。\n"], True).check("好的。\n下一", 5) == (True, "好的。\n")


def test_only_the_tail_window_is_searched() -> None:
    checker = StopChecker(["STOP"], False)
    # the match ends before the window (delta + 3 chars): earlier calls would have found it
    assert checker.check("STOP then abc", 3) == (False, "STOP then abc")
    assert checker.check("xxSTOPabc", 6) == (True, "xx")


def test_no_stops() -> None:
    checker = StopChecker(None, False)
    assert checker.check("anything", 8) == (False, "anything")
    assert checker.safe_emit_len("anything") == 8


def test_empty_stop_string_rejected() -> None:
    with pytest.raises(ValueError, match="stop strings must be non-empty"):
        StopChecker(["ok", ""], False)


def test_safe_emit_len_holds_back_only_partial_stops() -> None:
    checker = StopChecker(["\n\nUser:", "END"], False)
    assert checker.safe_emit_len("hello") == 5
    assert checker.safe_emit_len("hello\n") == 5
    assert checker.safe_emit_len("hello\n\nUs") == 5
    assert checker.safe_emit_len("hello E") == 6
    assert checker.safe_emit_len("hello EN") == 6
    assert checker.safe_emit_len("hello ENx") == 9
    assert checker.safe_emit_len("") == 0


@pytest.mark.parametrize("include", [False, True])
def test_streaming_never_emits_what_a_stop_later_removes(include: bool) -> None:
    """Random texts in random token-sized deltas: the streamed text is always a prefix of the
    final output, and the final output equals a character-by-character reference."""
    rng = random.Random(4 if include else 5)
    alphabet = "ab\n😀"  # small, so that stops overlap and tie often
    for _ in range(500):
        stops = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4)))
                 for _ in range(rng.randint(1, 3))]
        full = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        checker = StopChecker(stops, include)
        text, emitted, stopped, final, i = "", "", False, full, 0
        while i < len(full) and not stopped:
            n = rng.randint(1, 4)
            delta = full[i : i + n]
            i += n
            text += delta
            stopped, truncated = checker.check(text, len(delta))
            if stopped:
                final = truncated
            else:
                safe = text[: checker.safe_emit_len(text)]
                assert len(text) - len(safe) <= checker.max_stop_len - 1
                emitted = safe
            assert final.startswith(emitted) or not stopped and full.startswith(emitted)
        expected_stopped, expected = _reference_stop(full, stops, include)
        assert stopped == expected_stopped and (final if stopped else text) == expected
        assert expected.startswith(emitted), (stops, full, emitted)
