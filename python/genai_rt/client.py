"""A typed Python client for ``genai-rt serve`` (gRPC), sync and async.

>>> from genai_rt.client import Client                                   # doctest: +SKIP
>>> with Client("localhost:50051", api_key="grt-...") as c:              # doctest: +SKIP
...     for msg in c.generate("Hello", max_tokens=8, temperature=0):
...         print(msg.delta_text, end="")

Sampling options are ``SamplingParams``' names as keyword arguments; ``grammar`` takes the
engine's spec form (``{"json_schema": {...}}``, ``{"regex": ...}``, ``{"ebnf": ...}``,
``{"choice": [...]}``). Responses are the generated protobuf messages (typed by their .pyi).
Server errors raise ``grpc.RpcError`` whose ``code()``/``details()`` name the field.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from genai_rt.proto.v1 import (
    assistant_pb2,
    assistant_pb2_grpc,
    governance_pb2,
    governance_pb2_grpc,
    info_pb2,
    info_pb2_grpc,
    retrieval_pb2,
    retrieval_pb2_grpc,
    runtime_pb2,
    runtime_pb2_grpc,
)

Prompt = str | Sequence[int]


def sampling_params(**options: Any) -> runtime_pb2.SamplingParams:
    """``SamplingParams`` keyword arguments -> the proto message (validated by the server)."""
    grammar = options.pop("grammar", None)
    whitespace = options.pop("json_whitespace", None)
    params = runtime_pb2.SamplingParams(**options)
    if grammar is not None:
        if not isinstance(grammar, dict) or len(grammar) != 1:
            raise ValueError("grammar must be one of {'json_schema': ...}, {'regex': ...}, "
                             "{'ebnf': ...}, {'choice': [...]}")
        kind, value = next(iter(grammar.items()))
        if kind == "json_schema":
            text = value if isinstance(value, str) else json.dumps(value)
            params.json_schema.schema = text
            if whitespace is not None:
                params.json_schema.whitespace = runtime_pb2.JsonWhitespace.Value(
                    f"JSON_WHITESPACE_{whitespace.upper()}")
        elif kind == "choice":
            params.choice.choices.extend(value)
        else:
            setattr(params, kind, value)
    return params


def _generate_request(prompt: Prompt, request_id: str,
                      options: dict[str, Any]) -> runtime_pb2.GenerateRequest:
    request = runtime_pb2.GenerateRequest(request_id=request_id,
                                          params=sampling_params(**options))
    if isinstance(prompt, str):
        request.prompt = prompt
    else:
        request.prompt_token_ids.ids.extend(prompt)
    return request


def _chat_request(messages: Sequence[dict[str, str]], request_id: str,
                  options: dict[str, Any]) -> runtime_pb2.ChatRequest:
    return runtime_pb2.ChatRequest(
        request_id=request_id, params=sampling_params(**options),
        messages=[runtime_pb2.ChatMessage(role=m["role"], content=m["content"])
                  for m in messages])


def _ask_request(text: str, history: Sequence[dict[str, str]] | None,
                 temperature: float | None, max_tokens: int | None) -> assistant_pb2.AskRequest:
    request = assistant_pb2.AskRequest(
        text=text, history=[assistant_pb2.Turn(role=t["role"], content=t["content"])
                            for t in history or ()])
    if temperature is not None:
        request.temperature = temperature
    if max_tokens is not None:
        request.max_tokens = max_tokens
    return request


def ingest_document(key: str, text: str, labels: Sequence[str] = (),
                    metadata: dict[str, Any] | None = None) -> retrieval_pb2.IngestDocument:
    return retrieval_pb2.IngestDocument(key=key, text=text, labels=list(labels),
                                        metadata_json=json.dumps(metadata or {}))


def _credentials(tls_ca_file: str | None, client_cert_file: str | None,
                 client_key_file: str | None) -> grpc.ChannelCredentials | None:
    if tls_ca_file is None:
        return None
    read = lambda p: Path(p).read_bytes() if p else None  # noqa: E731
    return grpc.ssl_channel_credentials(read(tls_ca_file), read(client_key_file),
                                        read(client_cert_file))


class _Base:
    def __init__(self, channel: Any, api_key: str | None, timeout: float | None) -> None:
        self.channel = channel
        self.metadata = (("authorization", f"Bearer {api_key}"),) if api_key else ()
        self.timeout = timeout
        self.generation = runtime_pb2_grpc.GenerationStub(channel)
        self.info = info_pb2_grpc.InfoStub(channel)
        self.health_stub = health_pb2_grpc.HealthStub(channel)
        self.governance = governance_pb2_grpc.GovernanceStub(channel)
        self.assistant = assistant_pb2_grpc.AssistantStub(channel)
        self.retrieval = retrieval_pb2_grpc.RetrievalStub(channel)

    def _kw(self, timeout: float | None) -> dict[str, Any]:
        return {"metadata": self.metadata, "timeout": timeout if timeout else self.timeout}


class Client(_Base):
    """Blocking client.

    Parameters
    ----------
    target : str
        ``host:port``.
    api_key : str | None
        Sent as ``authorization: Bearer <key>``.
    tls_ca_file : str | None
        PEM CA that signed the server certificate: turns TLS on.
    client_cert_file, client_key_file : str | None
        This client's certificate for mTLS.
    timeout : float | None
        Default deadline of each call, in seconds.
    """

    def __init__(self, target: str = "localhost:50051", api_key: str | None = None,
                 tls_ca_file: str | None = None, client_cert_file: str | None = None,
                 client_key_file: str | None = None, timeout: float | None = None,
                 options: Sequence[tuple[str, Any]] = ()) -> None:
        creds = _credentials(tls_ca_file, client_cert_file, client_key_file)
        channel = (grpc.secure_channel(target, creds, options=options) if creds
                   else grpc.insecure_channel(target, options=options))
        super().__init__(channel, api_key, timeout)

    def generate(self, prompt: Prompt, request_id: str = "", timeout: float | None = None,
                 **options: Any) -> Iterator[runtime_pb2.GenerateResponse]:
        """Stream deltas; cancel with ``.cancel()`` on the returned iterator."""
        request = _generate_request(prompt, request_id, options)
        return self.generation.Generate(request, **self._kw(timeout))  # type: ignore[no-any-return]

    def complete(self, prompt: Prompt, request_id: str = "", timeout: float | None = None,
                 **options: Any) -> runtime_pb2.CompleteResponse:
        request = _generate_request(prompt, request_id, options)
        return self.generation.Complete(request, **self._kw(timeout))  # type: ignore[no-any-return]

    def chat(self, messages: Sequence[dict[str, str]], request_id: str = "",
             timeout: float | None = None,
             **options: Any) -> Iterator[runtime_pb2.GenerateResponse]:
        request = _chat_request(messages, request_id, options)
        return self.generation.Chat(request, **self._kw(timeout))  # type: ignore[no-any-return]

    def abort(self, request_id: str) -> bool:
        reply = self.generation.Abort(runtime_pb2.AbortRequest(request_id=request_id),
                                      **self._kw(None))
        return bool(reply.found)

    def model_info(self) -> info_pb2.ModelInfo:
        return self.info.GetModelInfo(info_pb2.GetModelInfoRequest(), **self._kw(None))  # type: ignore[no-any-return]

    def server_info(self) -> info_pb2.ServerInfo:
        return self.info.GetServerInfo(info_pb2.GetServerInfoRequest(), **self._kw(None))  # type: ignore[no-any-return]

    def load(self) -> info_pb2.Load:
        return self.info.GetLoad(info_pb2.GetLoadRequest(), **self._kw(None))  # type: ignore[no-any-return]

    def audit_record(self, record_id: str) -> dict[str, Any]:
        """One of the caller's audit records (its ``index`` added)."""
        reply = self.governance.GetAuditRecord(
            governance_pb2.GetAuditRecordRequest(record_id=record_id), **self._kw(None))
        return {**json.loads(reply.record_json), "index": reply.index}

    def prove(self, record_id: str) -> dict[str, Any]:
        """The inclusion proof document of a record (``genai_rt.audit.verifier`` checks it)."""
        reply = self.governance.ProveInclusion(
            governance_pb2.ProveInclusionRequest(record_id=record_id), **self._kw(None))
        return json.loads(reply.proof_json)  # type: ignore[no-any-return]

    def verify_audit(self) -> governance_pb2.VerifyAuditReply:
        """Verify the whole audit log (needs the ``auditor`` role)."""
        return self.governance.VerifyAudit(governance_pb2.VerifyAuditRequest(),  # type: ignore[no-any-return]
                                           **self._kw(None))

    def feedback(self, record_id: str, rating: int, comment: str = "") -> None:
        self.governance.SubmitFeedback(governance_pb2.SubmitFeedbackRequest(
            record_id=record_id, rating=rating, comment=comment), **self._kw(None))

    # ---------------------------------------------------------------- assistant and store
    def ask(self, text: str, history: Sequence[dict[str, str]] | None = None,
            temperature: float | None = None, max_tokens: int | None = None,
            timeout: float | None = None) -> Iterator[assistant_pb2.AskEvent]:
        """Stream the pipeline's events: released lines (``delta_text``), then ``answer``."""
        request = _ask_request(text, history, temperature, max_tokens)
        return self.assistant.Ask(request, **self._kw(timeout))  # type: ignore[no-any-return]

    def ask_answer(self, text: str, **options: Any) -> assistant_pb2.AskAnswer:
        """The final ``AskAnswer`` of ``ask``."""
        answer = None
        for event in self.ask(text, **options):
            if event.HasField("answer"):
                answer = event.answer
        if answer is None:
            raise RuntimeError("the server ended the Ask stream without an answer")
        return answer

    def ingest(self, documents: Iterator[retrieval_pb2.IngestDocument] | Sequence[Any],
               timeout: float | None = None) -> retrieval_pb2.IngestReply:
        """Stream documents (``ingest_document(...)`` messages) into the caller's tenant."""
        return self.retrieval.Ingest(iter(documents), **self._kw(timeout))  # type: ignore[no-any-return]

    def search(self, query: str, k: int = 5, filters: dict[str, Any] | None = None,
               timeout: float | None = None) -> retrieval_pb2.SearchReply:
        request = retrieval_pb2.SearchRequest(query=query, k=k,
                                              filters_json=json.dumps(filters) if filters else "")
        return self.retrieval.Search(request, **self._kw(timeout))  # type: ignore[no-any-return]

    def delete(self, key: str) -> None:
        self.retrieval.Delete(retrieval_pb2.DeleteRequest(key=key), **self._kw(None))

    def reviews(self, status: str = "open", kind: str = "") -> list[governance_pb2.ReviewItem]:
        """The review queue of the caller's tenant (needs the ``reviewer`` role)."""
        reply = self.governance.ListReviews(
            governance_pb2.ListReviewsRequest(status=status, kind=kind), **self._kw(None))
        return list(reply.items)

    def resolve_review(self, item_id: int, resolution: str,
                       note: str = "") -> governance_pb2.ReviewItem:
        return self.governance.ResolveReview(governance_pb2.ResolveReviewRequest(  # type: ignore[no-any-return]
            id=item_id, resolution=resolution, note=note), **self._kw(None))

    def health(self, service: str = "", timeout: float | None = 5.0) -> str:
        """"SERVING", "NOT_SERVING", ... of ``service`` ("" = the whole server)."""
        reply = self.health_stub.Check(health_pb2.HealthCheckRequest(service=service),
                                       timeout=timeout)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)  # type: ignore[no-any-return]

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncClient(_Base):
    """The same calls for asyncio (``grpc.aio``); create it inside the running loop."""

    def __init__(self, target: str = "localhost:50051", api_key: str | None = None,
                 tls_ca_file: str | None = None, client_cert_file: str | None = None,
                 client_key_file: str | None = None, timeout: float | None = None,
                 options: Sequence[tuple[str, Any]] = ()) -> None:
        creds = _credentials(tls_ca_file, client_cert_file, client_key_file)
        channel = (grpc.aio.secure_channel(target, creds, options=options) if creds
                   else grpc.aio.insecure_channel(target, options=options))
        super().__init__(channel, api_key, timeout)

    def generate(self, prompt: Prompt, request_id: str = "", timeout: float | None = None,
                 **options: Any) -> AsyncIterator[runtime_pb2.GenerateResponse]:
        """An async iterator of deltas (a ``grpc.aio`` call: ``.cancel()`` cancels it)."""
        request = _generate_request(prompt, request_id, options)
        return self.generation.Generate(request, **self._kw(timeout))  # type: ignore[no-any-return]

    async def complete(self, prompt: Prompt, request_id: str = "", timeout: float | None = None,
                       **options: Any) -> runtime_pb2.CompleteResponse:
        request = _generate_request(prompt, request_id, options)
        return await self.generation.Complete(request, **self._kw(timeout))  # type: ignore[no-any-return]

    def chat(self, messages: Sequence[dict[str, str]], request_id: str = "",
             timeout: float | None = None,
             **options: Any) -> AsyncIterator[runtime_pb2.GenerateResponse]:
        request = _chat_request(messages, request_id, options)
        return self.generation.Chat(request, **self._kw(timeout))  # type: ignore[no-any-return]

    async def abort(self, request_id: str) -> bool:
        reply = await self.generation.Abort(runtime_pb2.AbortRequest(request_id=request_id),
                                            **self._kw(None))
        return bool(reply.found)

    async def load(self) -> info_pb2.Load:
        return await self.info.GetLoad(info_pb2.GetLoadRequest(), **self._kw(None))  # type: ignore[no-any-return]

    async def model_info(self) -> info_pb2.ModelInfo:
        return await self.info.GetModelInfo(info_pb2.GetModelInfoRequest(), **self._kw(None))  # type: ignore[no-any-return]

    def ask(self, text: str, history: Sequence[dict[str, str]] | None = None,
            temperature: float | None = None, max_tokens: int | None = None,
            timeout: float | None = None) -> AsyncIterator[assistant_pb2.AskEvent]:
        request = _ask_request(text, history, temperature, max_tokens)
        return self.assistant.Ask(request, **self._kw(timeout))  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
