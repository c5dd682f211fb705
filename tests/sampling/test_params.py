"""SamplingParams: defaults, normalization, and an error naming the field for every bad value."""

from __future__ import annotations

import dataclasses

import pytest
from genai_rt.sampling.params import SamplingParams, SamplingType


def test_defaults_match_vllm() -> None:
    p = SamplingParams()
    assert (p.n, p.temperature, p.top_k, p.top_p, p.min_p) == (1, 1.0, -1, 1.0, 0.0)
    assert (p.repetition_penalty, p.presence_penalty, p.frequency_penalty) == (1.0, 0.0, 0.0)
    assert (p.max_tokens, p.min_tokens, p.logprobs, p.seed) == (16, 0, None, None)
    assert p.skip_special_tokens and not p.ignore_eos and not p.include_stop_str_in_output
    assert p.stop == [] and p.stop_token_ids == [] and p.grammar is None


def test_stop_normalized_to_lists() -> None:
    assert SamplingParams(stop="###").stop == ["###"]
    assert SamplingParams(stop=("a", "bc")).stop == ["a", "bc"]
    assert SamplingParams(stop_token_ids=(5, 7)).stop_token_ids == [5, 7]


def test_real_fields_are_floats() -> None:
    p = SamplingParams(temperature=1, top_p=1, min_p=0, repetition_penalty=2)
    assert all(isinstance(v, float) for v in (p.temperature, p.top_p, p.min_p,
                                              p.repetition_penalty))
    assert p == SamplingParams(temperature=1.0, top_p=1.0, repetition_penalty=2.0)


def test_logit_bias_json_keys_normalized() -> None:
    assert SamplingParams(logit_bias={"50256": -100, 7: 2}).logit_bias == {50256: -100.0, 7: 2.0}


def test_sampling_type() -> None:
    assert SamplingParams(temperature=0).sampling_type is SamplingType.GREEDY
    assert SamplingParams(temperature=0).is_greedy
    assert SamplingParams(temperature=1e-6).is_greedy  # below GREEDY_TEMPERATURE_EPS
    assert SamplingParams(temperature=0.5).sampling_type is SamplingType.RANDOM
    assert SamplingParams(temperature=0.5, seed=3).sampling_type is SamplingType.RANDOM_SEED
    assert SamplingParams(temperature=0, seed=3).sampling_type is SamplingType.GREEDY


def test_all_stop_token_ids() -> None:
    assert SamplingParams(stop_token_ids=[4]).all_stop_token_ids([2]) == {2, 4}
    assert SamplingParams(stop_token_ids=[4], ignore_eos=True).all_stop_token_ids([2]) == {4}


def test_frozen_and_replaceable() -> None:
    p = SamplingParams(seed=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.seed = 2  # type: ignore[misc]
    assert dataclasses.replace(p, seed=2).seed == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "n must be >= 1, got 0"),
        ({"n": 1.5}, "n must be an int"),
        ({"temperature": -1}, "temperature must be >= 0, got -1"),
        ({"temperature": float("nan")}, "temperature must be a finite number"),
        ({"temperature": "hot"}, "temperature must be a finite number"),
        ({"top_k": -2}, "top_k must be >= -1, got -2"),
        ({"top_k": 2.0}, "top_k must be an int"),
        ({"top_p": 0.0}, "top_p must be in (0, 1], got 0.0"),
        ({"top_p": 1.5}, "top_p must be in (0, 1]"),
        ({"min_p": -0.1}, "min_p must be in [0, 1]"),
        ({"min_p": 1.1}, "min_p must be in [0, 1]"),
        ({"repetition_penalty": 0.0}, "repetition_penalty must be > 0"),
        ({"repetition_penalty": float("inf")}, "repetition_penalty must be a finite number"),
        ({"presence_penalty": 2.5}, "presence_penalty must be in [-2, 2]"),
        ({"frequency_penalty": -3}, "frequency_penalty must be in [-2, 2]"),
        ({"logit_bias": [1, 2]}, "logit_bias must be a dict"),
        ({"logit_bias": {-1: 1.0}}, "logit_bias keys must be token ids >= 0"),
        ({"logit_bias": {"a": 1.0}}, "logit_bias keys must be token ids >= 0"),
        ({"logit_bias": {"-3": 1.0}}, "logit_bias keys must be token ids >= 0, got '-3'"),
        ({"logit_bias": {"²": 1.0}}, "logit_bias keys must be token ids >= 0"),
        ({"logit_bias": {3: 101.0}}, "logit_bias[3] must be in [-100, 100]"),
        ({"logit_bias": {3: float("nan")}}, "logit_bias[3] must be a finite number"),
        ({"seed": -1}, "seed must be >= 0, got -1"),
        ({"seed": 2**63}, "seed must be <= 9223372036854775807"),
        ({"seed": "7"}, "seed must be an int"),
        ({"stop": ""}, "stop must be a non-empty string or a list of them"),
        ({"stop": ["ok", ""]}, "stop must be a non-empty string or a list of them"),
        ({"stop": 5}, "stop must be a non-empty string or a list of them"),
        ({"stop_token_ids": [1, -2]}, "stop_token_ids must be a list of token ids >= 0"),
        ({"stop_token_ids": 3}, "stop_token_ids must be a list of token ids >= 0"),
        ({"ignore_eos": 1}, "ignore_eos must be a bool"),
        ({"max_tokens": 0}, "max_tokens must be >= 1, got 0"),
        ({"max_tokens": None}, "max_tokens must be an int"),
        ({"min_tokens": -1}, "min_tokens must be >= 0"),
        ({"min_tokens": 20, "max_tokens": 10}, "min_tokens must be <= 10, got 20"),
        ({"logprobs": -1}, "logprobs must be >= 0"),
        ({"logprobs": 21}, "logprobs must be <= 20, got 21"),
        ({"skip_special_tokens": "yes"}, "skip_special_tokens must be a bool"),
        ({"include_stop_str_in_output": None}, "include_stop_str_in_output must be a bool"),
        ({"grammar": {"regex": "a", "ebnf": "b"}}, "grammar spec must have exactly one key"),
        ({"grammar": {"yaml": "a"}}, "grammar spec must have exactly one key"),
        ({"grammar": {}}, "grammar spec must have exactly one key"),
        ({"grammar": {"json_schema": "{not json"}}, "grammar json_schema is not valid JSON"),
        ({"grammar": {"json_schema": 3}}, "grammar json_schema must be a dict"),
        ({"grammar": {"choice": []}}, "grammar choice must be a non-empty list"),
        ({"grammar": {"choice": ["a", 1]}}, "grammar choice must be a non-empty list"),
        ({"grammar": {"regex": ""}}, "grammar regex must be a non-empty string"),
        ({"grammar": {"ebnf": None}}, "grammar ebnf must be a non-empty string"),
        ({"grammar": "root ::= 'a'"}, "grammar must be None, a Grammar or a dict spec"),
    ],
)
def test_bad_value_names_the_field(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as err:
        SamplingParams(**kwargs)  # type: ignore[arg-type]
    assert message in str(err.value)


@pytest.mark.parametrize(
    "grammar",
    [
        {"json_schema": {"type": "object"}},
        {"json_schema": '{"type": "string"}'},
        {"regex": "[a-z]+"},
        {"ebnf": 'root ::= "yes" | "no"'},
        {"choice": ["yes", "no"]},
    ],
)
def test_grammar_specs_accepted(grammar: dict[str, object]) -> None:
    assert SamplingParams(grammar=grammar).grammar == grammar


def test_edge_values_accepted() -> None:
    p = SamplingParams(top_p=1.0, min_p=1.0, top_k=0, temperature=0.0, presence_penalty=-2.0,
                       frequency_penalty=2, logit_bias={0: -100, 5: 100.0}, seed=0,
                       min_tokens=16, max_tokens=16, logprobs=20)
    assert p.top_k == 0 and p.logprobs == 20


def test_compiled_grammar_object_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Grammar instance passes; other objects are refused (the class comes from the grammar
    module when present, so it is stubbed here)."""
    import genai_rt.sampling.params as params_module

    class FakeGrammar:
        pass

    monkeypatch.setattr(params_module, "_grammar_type", lambda: FakeGrammar)
    grammar = FakeGrammar()
    assert SamplingParams(grammar=grammar).grammar is grammar
    with pytest.raises(ValueError, match="grammar must be None, a Grammar or a dict spec"):
        SamplingParams(grammar=object())
