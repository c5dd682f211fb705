"""argparse flags derived from dataclass fields, so each option is declared once (in its
dataclass) and the CLI follows it: ``max_num_seqs: int = 128`` becomes ``--max-num-seqs``."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any

SCALARS = (str, int, float)


def _scalar_type(annotation: Any) -> type | None:
    """``int`` for ``int`` and ``int | None``; None for anything that is not one scalar."""
    if annotation in SCALARS or annotation is bool:
        return annotation  # type: ignore[no-any-return]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1 and args[0] in SCALARS:
            return args[0]  # type: ignore[no-any-return]
    return None


def add_dataclass_flags(
    parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()
) -> list[str]:
    """Add ``--field-name`` for every scalar field of ``cls``; returns the field names added.

    Defaults are left as ``None`` so that only flags the user gave override the dataclass.
    """
    hints = typing.get_type_hints(cls)
    group = parser.add_argument_group(cls.__name__)
    added = []
    for f in dataclasses.fields(cls):
        kind = _scalar_type(hints[f.name])
        if kind is None or f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else None
        if kind is bool:
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction,
                               default=None, help=f"(default: {default})")
        else:
            group.add_argument(flag, dest=f.name, type=kind, default=None,
                               help=f"(default: {default})")
        added.append(f.name)
    return added


def given(args: argparse.Namespace, names: list[str]) -> dict[str, Any]:
    """The flags among ``names`` that were given on the command line."""
    return {n: getattr(args, n) for n in names if getattr(args, n) is not None}
