"""``genai-rt``: the command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from genai_rt.chat_cli import add_chat_args, cmd_chat
from genai_rt.cli_flags import add_dataclass_flags, given

# The genai-rt process is ours, so its OpenMP runtime (torch's) sleeps between parallel regions
# instead of spinning: spinning OpenMP workers hold the cores the quantized kernels' pool needs.
# Measured at 1 sequence on 2 cores (SmolLM2 Q4_1): 25 tok/s with libgomp's default, 31-34 with
# PASSIVE; dense fp32 15-16 either way. Not set by `import genai_rt`: it is process-wide, and
# llama.cpp in the same process ran 4x slower under it (84 -> 20 tok/s). A user's value is kept;
# OpenMP reads it when torch loads, which is after this module.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _cmd_info(args: argparse.Namespace) -> int:
    from genai_rt.info import collect, format_info

    print(format_info(collect()))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from genai_rt.demo import run_demo

    return run_demo()


def _cmd_model(args: argparse.Namespace) -> int:
    from genai_rt.model.default_model import DefaultModelMissing, init_smollm2
    from genai_rt.model.init_default import init_default_model

    if args.random:
        out = init_default_model(args.dir, args.corpus)
        print(f"wrote the random-weight test model to {out}")
        return 0
    try:
        out = init_smollm2(args.dir)
    except DefaultModelMissing as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"default model SmolLM2-135M-Instruct (GGUF) ready in {out}")
    return 0


def _retrieval_cli():  # type: ignore[no-untyped-def]
    from genai_rt.retrieval import cli

    return cli


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    init = actions.add_parser("init", help="make DIR the default model, SmolLM2-135M-Instruct")
    init.add_argument("dir", help="output directory")
    init.add_argument("--random", action="store_true",
                      help="write the small random-weight test model instead (fast tests)")
    init.add_argument("--corpus", default=None,
                      help="with --random: tokenizer training text (*.md files)")


def _add_generate_args(parser: argparse.ArgumentParser) -> None:
    from genai_rt.config import SECTIONS
    from genai_rt.sampling.params import SamplingParams

    parser.add_argument("prompts", nargs="+", help="prompt texts")
    parser.add_argument("--model", dest="path", default=None,
                        help="checkpoint directory or .gguf file (default: the default model)")
    parser.add_argument("--chat", action="store_true",
                        help="send each prompt as a user message through the chat template")
    parser.add_argument("--json-schema", default=None, help="constrain outputs to this schema "
                        "(a JSON file path or inline JSON)")
    engine_flags = [name for _, cls in SECTIONS
                    for name in add_dataclass_flags(parser, cls, skip=("path",))]
    sampling_flags = add_dataclass_flags(parser, SamplingParams)
    parser.set_defaults(engine_flags=engine_flags, sampling_flags=sampling_flags)


def _cmd_generate(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from genai_rt.chat_cli import model_path
    from genai_rt.engine import LLM
    from genai_rt.sampling.params import SamplingParams

    sampling = given(args, args.sampling_flags)
    if args.json_schema is not None:
        source = Path(args.json_schema)
        text = source.read_text() if source.is_file() else args.json_schema
        sampling["grammar"] = {"json_schema": json.loads(text)}
    llm = LLM(model_path(args.path), **given(args, args.engine_flags))
    params = SamplingParams(**sampling)
    if args.chat:
        outs = llm.chat([[{"role": "user", "content": p}] for p in args.prompts], params)
    else:
        outs = llm.generate(args.prompts, params)
    for out in outs:
        for completion in out.outputs:
            print(f"--- {out.request_id}[{completion.index}] "
                  f"({len(completion.token_ids)} tokens, {completion.finish_reason})")
            print("" if args.chat else out.prompt or "", end="")
            print(completion.text)
    return 0


def _server_cli():  # type: ignore[no-untyped-def]
    from genai_rt.server import cli_commands

    return cli_commands


def _client_cli():  # type: ignore[no-untyped-def]
    from genai_rt.server import client_commands

    return client_commands


def _audit_commands():  # type: ignore[no-untyped-def]
    from genai_rt.audit import cli_commands

    return cli_commands


COMMANDS: dict[str, tuple[str, Callable[[argparse.Namespace], int]]] = {
    "info": ("show version, build flags, devices, Triton mode and optional backends", _cmd_info),
    "demo": ("run the end-to-end path that exists today and print what it did", _cmd_demo),
    "model": ("model utilities: `model init DIR` sets up the default model (SmolLM2)",
              _cmd_model),
    "generate": ("generate text for prompts with a checkpoint (engine + sampling flags)",
                 _cmd_generate),
    # server (issue 13/14): handlers live in genai_rt.server.cli_commands
    "serve": ("serve the engine over gRPC (and OpenAI-compatible HTTP with --http-port)",
              lambda a: _server_cli().cmd_serve(a)),
    "keys": ("API keys for `serve`: `keys add --file F --tenant T --roles a,b --name N`",
             lambda a: _server_cli().cmd_keys(a)),
    "audit": ("audit log: `audit verify`, `audit checkpoint`, `audit prove ID`, "
              "`audit consistency N M`",
              lambda args: _audit_commands().cmd_audit(args)),
    "feedback": ("feedback on audit records: `feedback export`, `feedback add ID RATING`",
                 lambda args: _audit_commands().cmd_feedback(args)),
    "budget": ("per-tenant budgets: `budget set TENANT USD`, `budget show TENANT`",
               lambda args: _audit_commands().cmd_budget(args)),
    "ingest": ("ingest a folder of documents into the grounding store for a tenant "
               "(--server HOST:PORT: into a running server, as the API key's tenant)",
               lambda args: _client_cli().cmd_ingest(args, _retrieval_cli().cmd_ingest)),
    "search": ("search the grounding store as a principal (tenant:roles)",
               lambda args: _retrieval_cli().cmd_search(args)),
    # client commands against `serve` (issue 13): genai_rt.server.client_commands
    "ask": ("ask the assistant pipeline of a running server (streams released lines)",
            lambda args: _client_cli().cmd_ask(args)),
    "reviews": ("the review queue of a running server: `reviews [list]`, "
                "`reviews resolve ID approved|rejected|answered`",
                lambda args: _client_cli().cmd_reviews(args)),
    "chat": ("chat with a model interactively, answers streamed", cmd_chat),
}
# Subcommands that take arguments: name -> function adding them to the subparser.
ARGUMENTS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "model": _add_model_args,
    "generate": _add_generate_args,
    "serve": lambda p: _server_cli().add_serve_args(p),
    "keys": lambda p: _server_cli().add_keys_args(p),
    "audit": lambda parser: _audit_commands().add_audit_args(parser),
    "feedback": lambda parser: _audit_commands().add_feedback_args(parser),
    "budget": lambda parser: _audit_commands().add_budget_args(parser),
    "ingest": lambda parser: (_retrieval_cli().add_ingest_args(parser),
                              _client_cli().add_remote_ingest_args(parser))[-1],
    "search": lambda parser: _retrieval_cli().add_search_args(parser),
    "ask": lambda parser: _client_cli().add_ask_args(parser),
    "reviews": lambda parser: _client_cli().add_reviews_args(parser),
    "chat": add_chat_args,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genai-rt", description="genai_rt runtime")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, handler) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text)
        command.set_defaults(handler=handler)
        if name in ARGUMENTS:
            ARGUMENTS[name](command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
