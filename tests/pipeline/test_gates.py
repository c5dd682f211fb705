"""Each gate on crafted passing and failing outputs."""

from __future__ import annotations

import json

from genai_rt.pipeline.denylist import ByteAutomaton
from genai_rt.pipeline.gates import (
    FormatGate,
    GateContext,
    GroundingGate,
    PolicyGate,
    QualityGate,
    run_gates,
)
from genai_rt.pipeline.grounding import Passage, parse_extractive, parse_generative
from genai_rt.pipeline.taskspec import TaskSpec

LEAVE = Passage("leave#0", "leave.json", "Employees receive 16 weeks of paid parental leave. "
                "Leave is requested in the HR portal.", 0.9, "h1", ("internal",))
PRICE = Passage("price#0", "price.json", "The floor price is 310 EUR per month.", 0.5, "h2",
                ("confidential_pricing",))


def spec(**kw: object) -> TaskSpec:
    base = dict(
        intent="hr_benefits", confidence=0.9, classifier="embedding", prompt="p", policies=(),
        grounding="extractive", output_schema={}, max_tokens=96, max_words=40, temperature=0.3,
        top_p=0.9, exclusions=("confidential_pricing",),
        excluded_classifications=("confidential_pricing",), deny_terms=("Project Nightingale",),
        pii_patterns=(r"\d{3}-\d{2}-\d{4}",), citations_required=True, risk_tier="low",
        max_sentences=2,
    )
    base.update(kw)
    return TaskSpec(**base)  # type: ignore[arg-type]


def ctx(**kw: object) -> GateContext:
    s = spec(**kw)
    return GateContext(s, [LEAVE, PRICE], ByteAutomaton(s.deny_terms, s.pii_patterns))


GOOD = parse_extractive("[leave#0] Employees receive 16 weeks of paid parental leave.")


def test_a_grounded_answer_passes_every_gate() -> None:
    verdicts = run_gates(GOOD, ctx())
    assert [v.gate for v in verdicts] == ["format", "grounding", "policy", "quality"]
    assert all(v.passed for v in verdicts), verdicts


def test_format_gate() -> None:
    assert not FormatGate().check(parse_generative('{"answer": "x", "cit'), ctx()).passed
    bad = FormatGate().check(parse_extractive("no tag here"), ctx())
    assert not bad.passed and "not '[id] sentence'" in bad.reasons[0]
    wrong_type = parse_generative(json.dumps({"answer": 3, "citations": ["leave#0"]}))
    assert "#/answer must be a string" in FormatGate().check(wrong_type, ctx()).reasons[0]


def test_grounding_gate_citations_quotes_and_numbers() -> None:
    g = GroundingGate()
    fabricated = parse_generative(json.dumps({"answer": "16 weeks.", "citations": ["hr#9"]}))
    v = g.check(fabricated, ctx())
    assert not v.passed and "not among the retrieved ids" in v.reasons[0]
    uncited = parse_generative(json.dumps({"answer": "16 weeks.", "citations": []}))
    assert "no citation" in g.check(uncited, ctx()).reasons
    misquote = parse_extractive("[leave#0] Employees receive 20 weeks of paid parental leave.")
    v = g.check(misquote, ctx())
    assert not v.passed and any("quote not found" in r for r in v.reasons)
    assert any(s.text == "20" for s in v.spans)  # the unsupported number, located
    number = parse_generative(json.dumps({"answer": "You get 18 weeks.",
                                          "citations": ["leave#0"]}))
    v = g.check(number, ctx())
    assert v.reasons == ("number '18' is not in the cited sources",)
    assert v.spans[0].text == "18" and number.answer[v.spans[0].start:v.spans[0].end] == "18"
    assert g.check(GOOD, ctx()).passed


def test_policy_gate_terms_pii_and_exclusions() -> None:
    p = PolicyGate()
    leak = parse_generative(json.dumps({"answer": "Ask about project nightingale, ssn "
                                        "123-45-6789.", "citations": ["leave#0"]}))
    v = p.check(leak, ctx())
    assert not v.passed and len(v.reasons) == 2
    assert [s.text.lower() for s in v.spans] == ["project nightingale", "123-45-6789"]
    excluded = parse_extractive("[price#0] The floor price is 310 EUR per month.")
    v = p.check(excluded, ctx(deny_terms=()))
    assert any("confidential_pricing" in r for r in v.reasons)
    assert p.check(GOOD, ctx()).passed


def test_quality_gate_length_language_repetition() -> None:
    q = QualityGate()
    loop = parse_generative(json.dumps({"answer": "16 weeks of paid leave, " * 4,
                                        "citations": ["leave#0"]}))
    v = q.check(loop, ctx())
    assert not v.passed and "repeats 'weeks of paid'" in v.reasons[0]
    long = parse_generative(json.dumps({"answer": "the leave " * 30, "citations": ["leave#0"]}))
    assert any("words > limit 40" in r for r in q.check(long, ctx()).reasons)
    german = parse_generative(json.dumps({"answer": "Mitarbeiter erhalten sechzehn Wochen "
                                          "bezahlten Elternurlaub nach Geburt oder Adoption",
                                          "citations": ["leave#0"]}))
    assert "does not read as English" in q.check(german, ctx()).reasons[0]
    twice = parse_extractive("[leave#0] Leave is requested in the HR portal.\n"
                             "[leave#0] Leave is requested in the HR portal.")
    v = q.check(twice, ctx())
    assert not v.passed and v.local and v.banned == ("Leave is requested in the HR portal.",)
    assert q.check(GOOD, ctx()).passed
