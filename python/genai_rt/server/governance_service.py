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

    # --------------------------------------------------------------------- the review queue
    @property
    def reviews(self) -> Any:
        if self.server.pipeline is None:
            raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION,
                               "this server runs without an assistant pipeline, so it has no "
                               "review queue (start it with --pipeline-config)")
        return self.server.pipeline.review_queue

    async def ListReviews(self, request: pb.ListReviewsRequest,
                          context: grpc.aio.ServicerContext,
                          principal: Principal) -> pb.ListReviewsReply:
        may_review(principal)
        status = request.status or "open"
        if status not in REVIEW_STATUSES:
            raise invalid(f"status must be one of {REVIEW_STATUSES}, got {status!r}")
        if request.kind and request.kind not in REVIEW_KINDS:
            raise invalid(f"kind must be one of {REVIEW_KINDS} or empty, got {request.kind!r}")
        items = await asyncio.to_thread(
            self.reviews.list, None if status == "all" else status, principal.tenant,
            request.kind or None)
        return pb.ListReviewsReply(items=[review_message(i) for i in items])

    async def ResolveReview(self, request: pb.ResolveReviewRequest,
                            context: grpc.aio.ServicerContext,
                            principal: Principal) -> pb.ReviewItem:
        may_review(principal)
        if request.resolution not in REVIEW_RESOLUTIONS:
            raise invalid(f"resolution must be one of {REVIEW_RESOLUTIONS}, "
                          f"got {request.resolution!r}")
        queue = self.reviews
        try:
            item = await asyncio.to_thread(queue.get, request.id)
        except KeyError:
            item = None
        if item is None or item.tenant != principal.tenant:  # another tenant's: not disclosed
            raise ServiceError(grpc.StatusCode.NOT_FOUND, f"id {request.id}: no such review item")
        reviewer = principal.user or "reviewer"
        try:
            resolved = await asyncio.to_thread(queue.resolve, request.id, request.resolution,
                                               reviewer, request.note)
        except ValueError as err:  # already resolved
            raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION, f"id {request.id}: {err}") \
                from None
        return review_message(resolved)


REVIEWER_ROLE = "reviewer"
REVIEW_STATUSES = ("open", "resolved", "all")
REVIEW_KINDS = ("escalation", "signoff")
REVIEW_RESOLUTIONS = ("approved", "rejected", "answered")


def may_review(principal: Principal) -> None:
    if REVIEWER_ROLE not in principal.roles and "*" not in principal.roles:
        raise denied(f"the review queue needs the {REVIEWER_ROLE!r} role")


def review_message(item: Any) -> pb.ReviewItem:
    return pb.ReviewItem(id=item.id, kind=item.kind, created=item.created, user=item.user,
                         intent=item.intent, request=item.request, reasons=item.reasons,
                         drafts=item.drafts, status=item.status,
                         resolution=item.resolution or "", reviewer=item.reviewer or "",
                         note=item.note or "")
