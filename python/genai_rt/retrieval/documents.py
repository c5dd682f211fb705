"""Reading documents from disk: .txt, .md and .json, as UTF-8 text or a clear error."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUFFIXES = (".txt", ".md", ".json")


class NotTextError(ValueError):
    """A file that is not UTF-8 text (or not valid JSON for a .json file)."""


@dataclass(frozen=True)
class SourceDocument:
    """One document read from a file: its text, plus labels and metadata a .json may carry."""

    text: str
    labels: frozenset[str] = frozenset()
    metadata: dict[str, Any] = field(default_factory=dict)


def read_document(path: Path) -> SourceDocument:
    """Read one file. A .json file is either ``{"text": ..., "labels": [...], "metadata":
    {...}}`` or any other JSON value, whose pretty-printed form is the text."""
    raw = path.read_bytes()
    if b"\x00" in raw:
        raise NotTextError(f"{path}: not a text file (holds NUL bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NotTextError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    if path.suffix.lower() != ".json":
        return SourceDocument(text)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise NotTextError(f"{path}: invalid JSON ({e.msg} at line {e.lineno})") from None
    if isinstance(value, dict) and isinstance(value.get("text"), str):
        labels = value.get("labels", [])
        metadata = value.get("metadata", {})
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise NotTextError(f"{path}: 'labels' must be a list of strings")
        if not isinstance(metadata, dict):
            raise NotTextError(f"{path}: 'metadata' must be an object")
        return SourceDocument(value["text"], frozenset(labels), metadata)
    return SourceDocument(json.dumps(value, indent=2, ensure_ascii=False))


def find_documents(folder: Path) -> list[Path]:
    """Every .txt, .md and .json file under ``folder``, sorted (hidden folders skipped)."""
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder}: not a folder")
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and p.suffix.lower() in SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))
