"""Feedback export: each rating with the lineage of the record it rates, as JSONL.

Nothing learns online; the export is for offline evaluation. A line holds the rating, the
comment, and the record as logged (principal, TaskSpec, retrieved chunk ids and hashes, model and
weights hash, grammar, sampling, output hash, gate verdicts) with its leaf index and leaf hash, so
an evaluator can prove (``genai-rt audit prove``) that the rated record is the one in the log.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

from genai_rt.audit.store import TreeStore


def feedback_lines(store: TreeStore) -> Iterator[dict[str, Any]]:
    for record_id, rating, comment, created_at in store.feedback():
        found = store.find(record_id)
        line: dict[str, Any] = {"record_id": record_id, "rating": rating, "comment": comment,
                                "created_at": created_at, "index": None, "record": None}
        if found is not None:
            index, body = found
            line["index"] = index
            line["record"] = json.loads(body)["record"]
        yield line


def export_feedback(store: TreeStore, out: IO[str]) -> int:
    """Write one JSON line per rating; returns how many."""
    count = 0
    for line in feedback_lines(store):
        out.write(json.dumps(line, sort_keys=True) + "\n")
        count += 1
    return count
