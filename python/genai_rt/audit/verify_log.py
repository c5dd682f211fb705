"""``genai-rt audit verify``: check the whole log and name every record that is wrong.

What is checked, in order:

1. (SQLite) the file is as long as its header says: a truncated file is named as such;
2. each row: its body hashes to its stored leaf hash and names the row's record id
   (else *altered*);
3. the indices the bodies claim (the writer put each leaf's position into the hashed body):
   a claimed index missing is a *removed* record, a second row claiming an index is an
   *inserted* one (the copy that does not fit the signed tree), as is a row past the tree head;
   rows whose claims are out of order are *reordered*;
4. every signed checkpoint, stored or kept outside (``--checkpoint``): its Ed25519 signature
   with the trusted key, and the root of the first ``tree_size`` leaves recomputed from the
   bodies (an edit that also rewrote the stored hashes still changes that root, and a truncated
   log falls short of its last checkpoint);
5. the tree head: its size and root against the records.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from genai_rt.audit.checkpoints import SignedCheckpoint
from genai_rt.audit.merkle import Frontier, leaf_hash, tree_root
from genai_rt.audit.store import TreeStore

PROBLEM_KINDS = ("altered", "removed", "reordered", "inserted", "truncated", "checkpoint",
                 "signature", "corrupt")
SQLITE_HEADER = 100


@dataclass(frozen=True)
class Problem:
    """One finding: its kind (``PROBLEM_KINDS``), the record index it concerns, and why."""

    kind: str
    index: int | None
    detail: str

    def __str__(self) -> str:
        where = f"record {self.index}" if self.index is not None else "log"
        return f"{self.kind.upper()}: {where}: {self.detail}"


@dataclass
class VerifyReport:
    records: int = 0
    tree_size: int = 0
    checkpoints: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def kinds(self) -> set[tuple[str, int | None]]:
        return {(p.kind, p.index) for p in self.problems}

    def format(self) -> str:
        lines = [str(p) for p in self.problems]
        verdict = "OK" if self.ok else f"FAILED ({len(self.problems)} problems)"
        lines.append(f"{verdict}: {self.records} records, tree size {self.tree_size}, "
                     f"{self.checkpoints} signed checkpoints checked")
        return "\n".join(lines)


def check_sqlite_length(path: str) -> Problem | None:
    """A truncated SQLite file: shorter than its header's page size x page count."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        header = f.read(SQLITE_HEADER)
    if len(header) < SQLITE_HEADER:
        return Problem("truncated", None, f"database file is {size} bytes, shorter than the "
                                          f"SQLite header")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    if size < page_size * pages:
        return Problem("truncated", None, f"database file is {size} bytes but its header "
                                          f"says {pages} pages of {page_size} bytes "
                                          f"({page_size * pages} bytes)")
    return None


@dataclass
class _Row:
    position: int  # the idx column
    record_id: str
    body: bytes
    leaf: bytes  # recomputed from the body
    claim: int | None  # the index the body claims


def verify_store(store: TreeStore, public_key: bytes,
                 external: Sequence[SignedCheckpoint] = ()) -> VerifyReport:
    """Check everything listed in the module docstring; never raises on a damaged log.

    ``external`` are checkpoints kept outside the database (by a client, a witness, a backup):
    a log cut back to before one of them, even with its own checkpoints rewritten, fails here.
    """
    report = VerifyReport()
    if store.db.path is not None and os.path.exists(store.db.path):
        truncated = check_sqlite_length(store.db.path)
        if truncated is not None:
            report.problems.append(truncated)
    try:
        with store.db.snapshot():
            raw = list(store.rows())
            head_size, head_root = store.head()
            checkpoints = store.checkpoints()
    except Exception as exc:  # sqlite3.DatabaseError / psycopg errors on a damaged database
        report.problems.append(Problem("corrupt", None, f"the database cannot be read: {exc}"))
        return report
    report.records, report.tree_size = len(raw), head_size
    rows = [_check_row(report, *r) for r in raw]
    genuine = _resolve_claims(report, rows, checkpoints)
    for row in genuine:
        if row.claim is not None and row.claim >= head_size:
            report.problems.append(Problem("inserted", row.claim, f"the row at position "
                                           f"{row.position} is beyond the tree head "
                                           f"({head_size} records): no append wrote it"))
    _check_order(report, genuine, rows, max(head_size, _max_claim(rows) + 1))
    stored = {(cp.tree_size, cp.root) for cp in checkpoints}
    extra = [cp for cp in external if (cp.tree_size, cp.root) not in stored]
    all_checkpoints = sorted([*checkpoints, *extra], key=lambda cp: cp.tree_size)
    _check_checkpoints(report, [r.leaf for r in genuine], all_checkpoints, public_key)
    leaves = [r.leaf for r in genuine]
    if len(leaves) == head_size and tree_root(leaves) != head_root:
        report.problems.append(Problem("checkpoint", None, "the tree head's root does not "
                                                           "match the records"))
    return report


def _check_row(report: VerifyReport, idx: int, record_id: str, body: bytes,
               stored_leaf: bytes) -> _Row:
    leaf = leaf_hash(body)
    claim: int | None = None
    try:
        data: Any = json.loads(body)
        claim = int(data["index"])
        claimed_id = data["record_id"]
        if not isinstance(data["record"], dict):
            raise TypeError("record is not an object")
    except (ValueError, KeyError, TypeError):
        report.problems.append(Problem("altered", idx, "its body is not a valid record"))
        return _Row(idx, record_id, body, leaf, None)
    if leaf != stored_leaf:
        report.problems.append(Problem("altered", claim, "its content does not match the leaf "
                                                         "hash stored when it was written"))
    elif claimed_id != record_id:
        report.problems.append(Problem("altered", claim, f"its body names record id "
                                                         f"{claimed_id!r}, the row {record_id!r}"))
    return _Row(idx, record_id, body, leaf, claim)


def _max_claim(rows: list[_Row]) -> int:
    return max((r.claim for r in rows if r.claim is not None), default=-1)


def _resolve_claims(report: VerifyReport, rows: list[_Row], checkpoints: list[Any]) -> list[_Row]:
    """One row per claimed index, in claim order; extra rows claiming a taken index are inserted.

    Of several rows claiming one index, the genuine one is the one with which the latest signed
    checkpoint covering it verifies (else the one at its own position).
    """
    by_claim: dict[int, list[_Row]] = {}
    for row in rows:
        if row.claim is not None:
            by_claim.setdefault(row.claim, []).append(row)
    chosen = {claim: cands[0] for claim, cands in by_claim.items()}
    for claim, cands in by_claim.items():
        if len(cands) == 1:
            continue
        keep = _pick_genuine(claim, cands, chosen, checkpoints)
        chosen[claim] = keep
        for row in cands:
            if row is not keep:
                report.problems.append(Problem("inserted", claim, f"the row at position "
                                               f"{row.position} is a second record claiming "
                                               f"index {claim} and is not the signed one"))
    return [chosen[c] for c in sorted(chosen)]


def _pick_genuine(claim: int, cands: list[_Row], chosen: dict[int, _Row],
                  checkpoints: list[Any]) -> _Row:
    covering = [cp for cp in checkpoints if cp.tree_size > claim]
    if covering:
        cp = covering[-1]
        for cand in cands:
            trial = {**chosen, claim: cand}
            leaves = [trial[i].leaf for i in range(cp.tree_size) if i in trial]
            if len(leaves) == cp.tree_size and tree_root(leaves).hex() == cp.root:
                return cand
    at_home = [c for c in cands if c.position == claim]
    return at_home[0] if at_home else cands[0]


def _check_order(report: VerifyReport, genuine: list[_Row], rows: list[_Row], size: int) -> None:
    claims = {r.claim for r in genuine}
    for missing in sorted(set(range(size)) - claims):
        report.problems.append(Problem("removed", missing, "no row holds this record"))
    kept = {id(r) for r in genuine}
    in_row_order = [r.claim for r in rows if id(r) in kept and r.claim is not None]
    for seen, expected in zip(in_row_order, sorted(in_row_order), strict=True):
        if seen != expected:
            report.problems.append(Problem("reordered", seen, f"it is stored where record "
                                                              f"{expected} belongs"))


def _check_checkpoints(report: VerifyReport, leaves: list[bytes], checkpoints: list[Any],
                       public_key: bytes) -> None:
    frontier = Frontier()
    for cp in checkpoints:
        report.checkpoints += 1
        if not cp.verify(public_key):
            report.problems.append(Problem("signature", None, f"the checkpoint at tree size "
                                           f"{cp.tree_size} is not signed by the trusted key"))
        if cp.tree_size > len(leaves):
            report.problems.append(Problem("truncated", None, f"a signed checkpoint covers "
                                           f"{cp.tree_size} records but the log holds only "
                                           f"{len(leaves)}"))
            continue
        while frontier.size < cp.tree_size:
            frontier.append(leaves[frontier.size])
        if frontier.root().hex() != cp.root:
            report.problems.append(Problem("checkpoint", None, f"the first {cp.tree_size} "
                                           f"records do not hash to the signed root: records "
                                           f"were altered, removed or inserted"))
