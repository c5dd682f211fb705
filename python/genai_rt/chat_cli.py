"""``genai-rt chat``: an interactive conversation with a model, answers streamed as they decode."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any, TextIO

from genai_rt.cli_flags import add_dataclass_flags, given

EXIT_WORDS = ("/exit", "/quit")


def add_chat_args(parser: argparse.ArgumentParser) -> None:
    from genai_rt.config import SECTIONS
    from genai_rt.sampling.params import SamplingParams

    parser.add_argument("--model", dest="path", default=None,
                        help="checkpoint directory or .gguf file (default: the default model)")
    parser.add_argument("--system", default=None, help="a system message to start with")
    engine_flags = [name for _, cls in SECTIONS
                    for name in add_dataclass_flags(parser, cls, skip=("path",))]
    sampling_flags = add_dataclass_flags(parser, SamplingParams)
    parser.set_defaults(engine_flags=engine_flags, sampling_flags=sampling_flags)


def model_path(path: str | None) -> str:
    """``path``, or the default model (set up on first use)."""
    if path is not None:
        return path
    from genai_rt.demo import default_model_dir

    return str(default_model_dir())


async def converse(engine: Any, params: Any, history: list[dict[str, str]],
                   lines: TextIO, out: TextIO) -> int:
    """Read user turns from ``lines`` until EOF or /exit; stream each answer to ``out``."""
    turn = 0
    while True:
        print("you> ", end="", file=out, flush=True)
        line = lines.readline()
        if not line or line.strip() in EXIT_WORDS:
            print(file=out)
            return 0
        if not line.strip():
            continue
        history.append({"role": "user", "content": line.rstrip("\n")})
        print("assistant> ", end="", file=out, flush=True)
        start, text, tokens = time.perf_counter(), "", 0
        async for output in engine.chat(history, params, request_id=f"chat-{turn}"):
            completion = output.outputs[0]
            print(completion.delta_text, end="", file=out, flush=True)
            text, tokens = completion.text, len(completion.token_ids)
        elapsed = time.perf_counter() - start
        print(f"\n  [{tokens} tokens, {tokens / max(elapsed, 1e-9):.1f} tok/s]", file=out)
        history.append({"role": "assistant", "content": text})
        turn += 1


def cmd_chat(args: argparse.Namespace) -> int:
    from genai_rt.config import EngineConfig
    from genai_rt.engine import Engine
    from genai_rt.sampling.params import SamplingParams

    sampling = {"max_tokens": 256, "temperature": 0.2, **given(args, args.sampling_flags)}
    engine = Engine(EngineConfig.from_model(model_path(args.path),
                                            **given(args, args.engine_flags)))
    history = [] if args.system is None else [{"role": "system", "content": args.system}]
    print("chat with the model; /exit or Ctrl-D ends", file=sys.stderr)
    try:
        return asyncio.run(converse(engine, SamplingParams(**sampling), history,
                                    sys.stdin, sys.stdout))
    finally:
        engine.shutdown()
