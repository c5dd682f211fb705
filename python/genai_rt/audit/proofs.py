"""Proof documents an outside party checks with ``verifier.py`` alone.

``prove_record`` gives a record's body, its leaf index, the inclusion proof and the signed
checkpoint it leads to; ``prove_consistency`` shows an earlier checkpoint's tree is a prefix of a
later one's (the log only grew).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from genai_rt.audit.checkpoints import SignedCheckpoint
from genai_rt.audit.merkle import consistency_proof, inclusion_proof

if TYPE_CHECKING:
    from genai_rt.audit.log import AuditLog


def _covering_checkpoint(log: AuditLog, index: int) -> SignedCheckpoint:
    """The newest signed checkpoint that includes leaf ``index``, signing one if none does."""
    checkpoints = [cp for cp in log.store.checkpoints() if cp.tree_size > index]
    if not checkpoints:
        log.checkpoint()
        checkpoints = [cp for cp in log.store.checkpoints() if cp.tree_size > index]
    if not checkpoints:
        raise ValueError(f"no checkpoint covers leaf {index}")
    return checkpoints[-1]


def prove_record(log: AuditLog, record_id: str) -> dict[str, Any]:
    """The inclusion proof document for a record id (or a leaf index given as digits)."""
    log.flush()
    found = log.store.find(record_id)
    if found is None and record_id.isdigit():
        by_index = log.store.body_at(int(record_id))
        if by_index is not None:
            found = int(record_id), by_index[1]
            record_id = by_index[0]
    if found is None:
        raise KeyError(f"no audit record with id {record_id!r}")
    index, body = found
    checkpoint = _covering_checkpoint(log, index)
    leaves = log.store.leaf_hashes(checkpoint.tree_size)
    return {
        "record_id": record_id,
        "index": index,
        "record": body.decode(),
        "leaf_hash": leaves[index].hex(),
        "inclusion_proof": [h.hex() for h in inclusion_proof(index, leaves)],
        "checkpoint": checkpoint.to_dict(),
    }


def prove_consistency(log: AuditLog, size1: int, size2: int) -> dict[str, Any]:
    """A consistency proof between the signed checkpoints at ``size1`` and ``size2``."""
    by_size = {cp.tree_size: cp for cp in log.store.checkpoints()}
    missing = [s for s in (size1, size2) if s not in by_size]
    if missing:
        raise KeyError(f"no signed checkpoint at tree size {missing}; have {sorted(by_size)}")
    leaves = log.store.leaf_hashes(size2)
    return {
        "first": by_size[size1].to_dict(),
        "second": by_size[size2].to_dict(),
        "consistency_proof": [h.hex() for h in consistency_proof(size1, leaves)],
    }
