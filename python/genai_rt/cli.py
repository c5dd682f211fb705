"""``genai-rt``: the command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence


def _cmd_info(args: argparse.Namespace) -> int:
    from genai_rt.info import collect, format_info

    print(format_info(collect()))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from genai_rt.demo import run_demo

    return run_demo()


def _cmd_model(args: argparse.Namespace) -> int:
    from genai_rt.model.init_default import init_default_model

    out = init_default_model(args.dir, args.corpus)
    print(f"wrote the default model (random weights) to {out}")
    return 0


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    init = actions.add_parser("init", help="write the small deterministic default checkpoint")
    init.add_argument("dir", help="output directory (Hugging Face layout)")
    init.add_argument("--corpus", default=None, help="tokenizer training text (*.md files)")


COMMANDS: dict[str, tuple[str, Callable[[argparse.Namespace], int]]] = {
    "info": ("show version, build flags, devices, Triton mode and optional backends", _cmd_info),
    "demo": ("run the end-to-end path that exists today and print what it did", _cmd_demo),
    "model": ("model utilities: `model init DIR` writes the default checkpoint", _cmd_model),
}
# Subcommands that take arguments: name -> function adding them to the subparser.
ARGUMENTS: dict[str, Callable[[argparse.ArgumentParser], None]] = {"model": _add_model_args}


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
