"""How a failed attempt tightens the next one (no model needed)."""

from __future__ import annotations

from genai_rt.pipeline.gates import Verdict
from genai_rt.pipeline.grounding import parse_extractive
from genai_rt.pipeline.pipeline import _Attempt, _tighten

DRAFT = parse_extractive("[a#0] First good sentence.\n[b#0] Repeated bad sentence.")


def test_a_local_failure_keeps_the_passing_prefix_and_bans_the_rest() -> None:
    local = Verdict("quality", False, ("sentence repeated",), (),
                    ("Repeated bad sentence.",), local=True)
    nxt = _tighten(_Attempt("extractive", 3, 0.3, [], []), DRAFT,
                   [Verdict("format", True), local])
    assert nxt.kept == [("a#0", "First good sentence.")]
    assert nxt.banned == ["Repeated bad sentence."]
    assert nxt.temperature == 0.15 and nxt.k == 5


def test_a_global_failure_starts_over_stricter() -> None:
    whole = Verdict("grounding", False, ("number '7' is not in the cited sources",))
    nxt = _tighten(_Attempt("generative", 3, 0.04, [], []), DRAFT, [whole])
    assert nxt.kept == [] and nxt.mode == "extractive" and nxt.temperature == 0.0
