"""Tokenizer wrapper against transformers' AutoTokenizer on the same files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from genai_rt.model.init_default import init_default_model
from genai_rt.model.tokenizer import Tokenizer, TokenizerError

TEXTS = ["Hello world", "Invoices: 38 currencies, 0.40 EUR per extra invoice.",
         "Ünïcödé — 日本語 🚀", "  leading spaces\nand\ttabs", ""]
MESSAGES = [
    {"role": "system", "content": "You answer questions about company policy."},
    {"role": "user", "content": "What is the hotel limit in Zurich?"},
    {"role": "assistant", "content": "260 EUR per night."},
    {"role": "user", "content": "And meals?"},
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_default_model(tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="module")
def hf_tokenizer(model_dir: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)


@pytest.mark.parametrize("text", TEXTS)
def test_encode_decode_match_transformers(model_dir: Path, hf_tokenizer, text: str) -> None:
    tok = Tokenizer(model_dir)
    ids = tok.encode(text)
    assert ids == hf_tokenizer.encode(text)
    assert ids[0] == tok.bos_token_id
    assert tok.encode(text, add_special_tokens=False) == hf_tokenizer.encode(
        text, add_special_tokens=False
    )
    assert tok.decode(ids) == hf_tokenizer.decode(ids, skip_special_tokens=True) == text


@pytest.mark.parametrize("add_generation_prompt", [True, False])
def test_chat_template_matches_transformers(
    model_dir: Path, hf_tokenizer, add_generation_prompt: bool
) -> None:
    tok = Tokenizer(model_dir)
    text = tok.apply_chat_template(MESSAGES, add_generation_prompt=add_generation_prompt)
    expected = hf_tokenizer.apply_chat_template(
        MESSAGES, add_generation_prompt=add_generation_prompt, tokenize=False
    )
    assert text == expected
    assert isinstance(text, str) and text.endswith("<|im_start|>assistant\n") is (
        add_generation_prompt
    )
    ids = tok.apply_chat_template(MESSAGES, add_generation_prompt=add_generation_prompt,
                                  tokenize=True)
    assert ids == hf_tokenizer.encode(expected, add_special_tokens=False)
    assert isinstance(ids, list) and ids.count(tok.bos_token_id) == 1


def test_template_raise_exception_and_list_templates(model_dir: Path, tmp_path: Path) -> None:
    for name in ("tokenizer.json",):
        (tmp_path / name).write_bytes((model_dir / name).read_bytes())
    config = json.loads((model_dir / "tokenizer_config.json").read_text())
    config["chat_template"] = [
        {"name": "tool_use", "template": "tools"},
        {"name": "default", "template": "{% if messages[0]['role'] != 'user' %}"
         "{{ raise_exception('first message must be from the user') }}{% endif %}"
         "{{ messages[0]['content'] | tojson }}"
         "{% if tools is not none %} tools={{ tools | length }}{% endif %}"},
    ]
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    tok = Tokenizer(tmp_path)
    assert tok.apply_chat_template([{"role": "user", "content": "é"}]) == '"é"'
    assert tok.apply_chat_template([{"role": "user", "content": "x"}], tools=[{}, {}]) == (
        '"x" tools=2'
    )
    with pytest.raises(TokenizerError, match="first message must be from the user"):
        tok.apply_chat_template([{"role": "system", "content": "x"}])


def test_missing_files_are_named(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(TokenizerError, match="tokenizer.json"):
        Tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_bytes((model_dir / "tokenizer.json").read_bytes())
    tok = Tokenizer(tmp_path)  # no tokenizer_config.json: usable, but no chat template
    assert tok.decode(tok.encode("pricing")) == "pricing"
    with pytest.raises(TokenizerError, match="no chat_template"):
        tok.apply_chat_template(MESSAGES)
