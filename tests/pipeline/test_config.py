"""The config file is validated at load, with errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from genai_rt.pipeline.config import PipelineConfig, PipelineConfigError

INTENT = {"description": "d", "examples": ["a", "b"], "prompt": "p"}


def test_example_config_loads(enterprise_config: PipelineConfig) -> None:
    assert set(enterprise_config.intents) == {
        "hr_benefits", "sales_pipeline", "finance", "quarterly_report", "pricing", "strategy"}
    assert enterprise_config.is_high_risk("pricing")
    assert not enterprise_config.is_high_risk("hr_benefits")
    assert enterprise_config.intents["sales_pipeline"].exclusions == ("confidential_pricing",)


@pytest.mark.parametrize("raw, message", [
    ({"intents": {}}, "at least one intent"),
    ({"intents": {"x": {**INTENT, "risk_tier": "hgih"}}}, "intents.x.risk_tier must be one of"),
    ({"intents": {"x": {**INTENT, "examples": ["only one"]}}}, "intents.x.examples needs"),
    ({"intents": {"x": {**INTENT, "exclusions": ["nope"]}}}, "unknown exclusion 'nope'"),
    ({"intents": {"x": {**INTENT, "temperature": 5}}}, "intents.x.temperature must be in"),
    ({"intents": {"x": {**INTENT, "colour": "red"}}}, "unknown key(s) ['colour'] in [intents.x]"),
    ({"intents": {"x": INTENT}, "pipeline": {"default_intent": "y"}}, "default_intent 'y'"),
    ({"intents": {"x": INTENT}, "pipeline": {"confidence_threshold": 2}}, "confidence_threshold"),
    ({"intents": {"x": INTENT}, "pipeline": {"high_risk_intents": ["z"]}}, "unknown intent 'z'"),
    ({"intents": {"x": INTENT}, "exclusions": {"e": {"classifications": ["secret"]}}},
     "not declared in pipeline.classifications"),
    ({"intents": {"x": INTENT}, "policies": {"deny_terms": "one"}}, "policies.deny_terms must"),
])
def test_bad_config_names_the_key(raw: dict, message: str) -> None:
    with pytest.raises(PipelineConfigError) as err:
        PipelineConfig.from_dict(raw)
    assert message in str(err.value)


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "c.toml"
    bad.write_text("[intents\n")
    with pytest.raises(PipelineConfigError, match="not valid TOML"):
        PipelineConfig.load(bad)
    with pytest.raises(PipelineConfigError, match="does not exist"):
        PipelineConfig.load(tmp_path / "missing.toml")
