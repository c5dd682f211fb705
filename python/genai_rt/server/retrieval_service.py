"""The Retrieval service: the grounding store, one tenant per API key.

The tenant is always the caller's; writing (Ingest, Delete) needs the ``ingest`` role. Store
calls embed on the CPU, so they run in worker threads to keep the event loop serving.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc

from genai_rt.principal import Principal
from genai_rt.proto.v1 import retrieval_pb2 as pb
from genai_rt.retrieval.store import UnknownPrincipalError
from genai_rt.server.errors import ServiceError, denied, invalid

INGEST_ROLE = "ingest"
DEFAULT_K = 5
MAX_K = 100


def may_write(principal: Principal) -> None:
    if INGEST_ROLE not in principal.roles and "*" not in principal.roles:
        raise denied(f"writing documents needs the {INGEST_ROLE!r} role")


def json_object(field: str, text: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise invalid(f"{field} is not valid JSON: {err}") from None
    if not isinstance(value, dict):
        raise invalid(f"{field} must be a JSON object, got {type(value).__name__}")
    return value


def report_message(report: Any) -> pb.SearchReport:
    msg = pb.SearchReport(k_asked=report.k_asked, k_returned=report.k_returned,
                          visible_rows=report.visible_rows, backend=report.backend,
                          fallback=report.fallback or "", complete=report.complete)
    if report.candidates_scanned is not None:
        msg.candidates_scanned = report.candidates_scanned
    return msg


class RetrievalServicer:
    def __init__(self, server: Any) -> None:
        self.server = server  # GrpcServer; its store exists once loaded with a store url

    @property
    def store(self) -> Any:
        if self.server.store is None:
            raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION,
                               "this server runs without a document store (--store-url)")
        return self.server.store

    async def Ingest(self, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext,
                     principal: Principal) -> pb.IngestReply:
        from genai_rt.server.rpc import check_message

        may_write(principal)
        store = self.store
        counts = {"added": 0, "updated": 0, "unchanged": 0}
        n = 0
        async for doc in requests:
            check_message(doc)
            where = f"documents[{n}]"
            if not doc.key:
                raise invalid(f"{where}.key must be non-empty")
            if not doc.text.strip():
                raise invalid(f"{where}.text must be non-empty (document {doc.key!r})")
            metadata = json_object(f"{where}.metadata_json", doc.metadata_json)
            try:
                outcome = await asyncio.to_thread(
                    store.add_document, principal.tenant, doc.key, doc.text, list(doc.labels),
                    metadata, "grpc")
            except ValueError as err:
                raise invalid(f"{where}: {err}") from None
            counts[outcome] += 1
            n += 1
        if n:
            await asyncio.to_thread(store.save_index)
        return pb.IngestReply(chunks_in_store=len(store), **counts)

    async def Search(self, request: pb.SearchRequest, context: grpc.aio.ServicerContext,
                     principal: Principal) -> pb.SearchReply:
        if not request.query.strip():
            raise invalid("query must be a non-empty string")
        k = request.k or DEFAULT_K
        if k > MAX_K:
            raise invalid(f"k must be at most {MAX_K}, got {k}")
        filters = json_object("filters_json", request.filters_json) or None
        try:
            found = await asyncio.to_thread(self.store.retrieve, request.query, principal,
                                            min(k, max(len(self.store), 1)), filters)
        except UnknownPrincipalError:  # a tenant with no documents sees an empty result
            return pb.SearchReply(report=pb.SearchReport(k_asked=k, backend="none",
                                                         complete=True))
        # The store's k is capped at its size: report the caller's k (complete stays exact).
        report = report_message(found.report)
        report.k_asked = k
        report.complete = found.report.k_returned == min(k, found.report.visible_rows)
        return pb.SearchReply(
            passages=[pb.SearchPassage(document_id=p.document_id, chunk_id=p.chunk_id,
                                       text=p.text, score=p.score, content_hash=p.content_hash,
                                       metadata_json=json.dumps(p.metadata, sort_keys=True))
                      for p in found.passages],
            report=report)

    async def Delete(self, request: pb.DeleteRequest, context: grpc.aio.ServicerContext,
                     principal: Principal) -> pb.DeleteReply:
        may_write(principal)
        if not request.key:
            raise invalid("key must be non-empty")
        try:
            await asyncio.to_thread(self.store.delete_document, principal.tenant, request.key)
        except KeyError:
            raise ServiceError(grpc.StatusCode.NOT_FOUND,
                               f"key {request.key!r}: no such document") from None
        await asyncio.to_thread(self.store.save_index)
        return pb.DeleteReply()
