"""Governance: the tamper-evident audit log, feedback, prices and budgets.

- ``AuditLog``: records as leaves of an RFC 6962 Merkle tree in SQLite (WAL, synchronous=FULL)
  or PostgreSQL, written by a group-committing writer thread; signed Ed25519 checkpoints;
  ``verify`` names altered, removed, reordered and inserted records; ``prove`` gives inclusion
  proofs that ``genai_rt.audit.verifier`` (standard library only) checks.
- ``AuditRecord``: the one schema of a record (``genai_rt.audit.records``).
- ``PriceTable`` and ``BudgetStore``: cost per request, atomic per-tenant reservations.
- ``AuditedEngine``: ``Engine.generate`` with admission (budget, audit queue), a record per
  request whatever its end, and metrics.
"""

from __future__ import annotations

from genai_rt.audit.log import AuditLog, AuditQueueFull, AuditSlot, PendingRecord
from genai_rt.audit.records import AuditRecord

__all__ = ["AuditLog", "AuditQueueFull", "AuditRecord", "AuditSlot", "PendingRecord"]
