"""The Governance service: a tenant's audit records, their inclusion proofs and feedback; the
whole-log verification for the ``auditor`` role."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc

from genai_rt.principal import Principal
from genai_rt.proto.v1 import governance_pb2 as pb
from genai_rt.server.errors import ServiceError, denied, invalid

AUDITOR_ROLE = "auditor"


def _not_found(record_id: str) -> ServiceError:
    # Another tenant's record reads as absent: its existence is not disclosed.
    return ServiceError(grpc.StatusCode.NOT_FOUND, f"record_id {record_id!r}: no such record")


class GovernanceServicer:
    def __init__(self, server: Any) -> None:
        self.server = server  # GrpcServer; its governance exists once loaded (with an audit log)

    @property
    def audit(self) -> Any:
        if self.server.governance is None:
            raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION,
                               "this server runs without an audit log")
        return self.server.governance.audit

    def _own_record(self, record_id: str, principal: Principal) -> tuple[int, dict[str, Any]]:
        if not record_id:
            raise invalid("record_id must be non-empty")
        audit = self.audit
        found = audit.store.find(record_id)
        if found is None:
            audit.flush()  # it may still be queued for the writer
            found = audit.store.find(record_id)
        if found is None:
            raise _not_found(record_id)
        index, body = found
        record = json.loads(body)["record"]
        tenant = (record.get("principal") or {}).get("tenant")
        if tenant != principal.tenant and AUDITOR_ROLE not in principal.roles \
                and "*" not in principal.roles:
            raise _not_found(record_id)
        return index, record

    async def GetAuditRecord(self, request: pb.GetAuditRecordRequest,
                             context: grpc.aio.ServicerContext,
                             principal: Principal) -> pb.AuditRecordReply:
        index, record = await asyncio.to_thread(self._own_record, request.record_id, principal)
        return pb.AuditRecordReply(record_id=request.record_id, index=index,
                                   record_json=json.dumps(record, sort_keys=True))

    async def ProveInclusion(self, request: pb.ProveInclusionRequest,
                             context: grpc.aio.ServicerContext,
                             principal: Principal) -> pb.InclusionProofReply:
        await asyncio.to_thread(self._own_record, request.record_id, principal)
        proof = await asyncio.to_thread(self.audit.prove, request.record_id)
        return pb.InclusionProofReply(record_id=request.record_id, proof_json=json.dumps(proof))

    async def SubmitFeedback(self, request: pb.SubmitFeedbackRequest,
                             context: grpc.aio.ServicerContext,
                             principal: Principal) -> pb.SubmitFeedbackReply:
        await asyncio.to_thread(self._own_record, request.record_id, principal)
        try:
            await asyncio.to_thread(self.audit.add_feedback, request.record_id, request.rating,
                                    request.comment)
        except ValueError as err:
            raise invalid(str(err)) from None
        return pb.SubmitFeedbackReply()

    async def VerifyAudit(self, request: pb.VerifyAuditRequest,
                          context: grpc.aio.ServicerContext,
                          principal: Principal) -> pb.VerifyAuditReply:
        if AUDITOR_ROLE not in principal.roles and "*" not in principal.roles:
            raise denied(f"verifying the whole audit log needs the {AUDITOR_ROLE!r} role")
        report = await asyncio.to_thread(self.audit.verify)
        return pb.VerifyAuditReply(ok=report.ok, records=report.records,
                                   tree_size=report.tree_size, checkpoints=report.checkpoints,
                                   problems=[str(p) for p in report.problems],
                                   report=report.format())
