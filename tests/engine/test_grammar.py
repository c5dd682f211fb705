"""Grammar-constrained generation through the engine: outputs parse and validate."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import torch
from genai_rt.config import EngineConfig
from genai_rt.engine import LLM, EngineCore
from genai_rt.sampling import SamplingParams

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 8},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 3},
    },
    "required": ["name", "age", "tags"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def llm(tiny_checkpoint: tuple[Path, torch.nn.Module]) -> LLM:
    config = EngineConfig.from_model(str(tiny_checkpoint[0]), dtype="float32", block_size=4,
                                     num_gpu_blocks=512, max_num_batched_tokens=64)
    return LLM.from_engine(EngineCore(config))


def test_json_schema_outputs_parse_and_validate(llm: LLM) -> None:
    params = [SamplingParams(temperature=1.0, seed=s, max_tokens=120,
                             grammar={"json_schema": SCHEMA}) for s in range(6)]
    outs = llm.generate(["Person: "] * 6, params)
    for out in outs:
        completion = out.outputs[0]
        assert completion.finish_reason == "grammar_end", completion
        jsonschema.validate(json.loads(completion.text), SCHEMA)
    assert len({o.outputs[0].text for o in outs}) > 1  # different seeds, different documents
    assert llm.engine.stats()["kv_blocks_used"] == 0


def test_choice_and_regex_constraints_mixed_with_free_requests(llm: LLM) -> None:
    params = [
        SamplingParams(temperature=1.0, seed=1, max_tokens=20,
                       grammar={"choice": ["yes", "no", "maybe"]}),
        SamplingParams(temperature=0, max_tokens=20, ignore_eos=True),
        SamplingParams(temperature=1.0, seed=2, max_tokens=30,
                       grammar={"regex": r"[0-9]{3}-[a-z]{2,4}"}),
    ]
    free_alone = llm.generate(["Q: "], params[1])[0].outputs[0].token_ids
    outs = llm.generate(["Q: "] * 3, params)
    assert outs[0].outputs[0].text in ("yes", "no", "maybe")
    import re

    assert re.fullmatch(r"[0-9]{3}-[a-z]{2,4}", outs[2].outputs[0].text)
    assert outs[1].outputs[0].token_ids == free_alone  # masks touch only constrained rows


def test_bad_grammar_is_refused_at_submission(llm: LLM) -> None:
    with pytest.raises(ValueError):
        llm.generate(["x"], SamplingParams(grammar={"regex": "("}))
    assert llm.engine.stats()["requests"] == 0
