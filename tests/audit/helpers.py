"""Records for the audit tests."""

from __future__ import annotations

from genai_rt.audit import AuditRecord


def make_record(i: int, tenant: str = "acme") -> AuditRecord:
    return AuditRecord(kind="engine", request_id=f"r{i}", principal={"tenant": tenant},
                       status="ok", output_hash=f"{i:064x}", tokens_in=i, tokens_out=2 * i)
