"""Chat: LLM.chat, Engine.chat, `genai-rt chat` and `generate --chat`, on the tiny model."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
from pathlib import Path

import pytest
import torch
from genai_rt.chat_cli import converse
from genai_rt.config import EngineConfig
from genai_rt.engine import LLM, Engine, EngineCore
from genai_rt.engine.chat import check_conversation
from genai_rt.model.init_default import CHAT_TEMPLATE
from genai_rt.sampling import SamplingParams

GREEDY = SamplingParams(temperature=0, max_tokens=8, ignore_eos=True)
HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]


@pytest.fixture(scope="module")
def chat_checkpoint(tiny_checkpoint: tuple[Path, torch.nn.Module],
                    tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny checkpoint with a ChatML template in its tokenizer_config.json."""
    path = tmp_path_factory.mktemp("tiny_chat")
    for file in tiny_checkpoint[0].iterdir():
        shutil.copy(file, path / file.name)
    config_file = path / "tokenizer_config.json"
    config = json.loads(config_file.read_text()) if config_file.is_file() else {}
    config["chat_template"] = CHAT_TEMPLATE
    config_file.write_text(json.dumps(config))
    return path


@pytest.fixture(scope="module")
def core(chat_checkpoint: Path) -> EngineCore:
    config = EngineConfig.from_model(str(chat_checkpoint), dtype="float32", block_size=4,
                                     num_gpu_blocks=256)
    return EngineCore(config)


def test_llm_chat_renders_the_models_template(core: EngineCore) -> None:
    llm = LLM.from_engine(core)
    ids = llm.tokenizer.apply_chat_template(HELLO, tokenize=True)
    text = llm.tokenizer.apply_chat_template(HELLO)
    assert text.endswith("<|im_start|>assistant\n") and "Be brief." in text
    expected = llm.generate([{"prompt_token_ids": ids}], GREEDY)[0]
    one = llm.chat(HELLO, GREEDY)
    two = llm.chat([HELLO, HELLO[1:]], GREEDY)
    assert one[0].prompt_token_ids == ids and len(two) == 2
    assert one[0].outputs[0].token_ids == expected.outputs[0].token_ids
    assert two[0].outputs[0].token_ids == expected.outputs[0].token_ids


@pytest.mark.parametrize("messages,message", [
    ("hello", "non-empty list"),
    ([], "non-empty list"),
    ([{"role": "user"}], "chat message 0 needs a string 'content'"),
    ([{"role": "user", "content": "a"}, "b"], "chat message 1 must be a dict"),
])
def test_bad_messages_are_named(messages: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_conversation(messages)


def test_engine_chat_streams_and_the_cli_loop_keeps_history(core: EngineCore) -> None:
    engine = Engine(core=core)

    async def stream() -> tuple[str, str]:
        deltas, last = [], None
        async for out in engine.chat(HELLO, GREEDY):
            deltas.append(out.outputs[0].delta_text)
            last = out
        assert last is not None and last.finished
        return "".join(deltas), last.outputs[0].text

    try:
        joined, final = asyncio.run(stream())
        assert joined == final
        history = [HELLO[0]]
        out = io.StringIO()
        code = asyncio.run(converse(engine, GREEDY, history, io.StringIO("Hello\n\n/exit\n"), out))
    finally:
        engine.shutdown()
    assert code == 0
    assert [m["role"] for m in history] == ["system", "user", "assistant"]
    assert history[2]["content"] == final  # same conversation, same greedy answer
    assert "assistant> " in out.getvalue() and "tok/s]" in out.getvalue()


def test_generate_chat_flag(chat_checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from genai_rt.cli import main

    assert main(["generate", "--model", str(chat_checkpoint), "--chat", "--temperature", "0",
                 "--max-tokens", "3", "--dtype", "float32", "Hello", "Bye"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("(3 tokens, length)") == 2
