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


COMMANDS: dict[str, tuple[str, Callable[[argparse.Namespace], int]]] = {
    "info": ("show version, build flags, devices, Triton mode and optional backends", _cmd_info),
    "demo": ("run the end-to-end path that exists today and print what it did", _cmd_demo),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genai-rt", description="genai_rt runtime")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, handler) in COMMANDS.items():
        sub.add_parser(name, help=help_text).set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
