"""The FastAPI app: /v1/chat/completions, /v1/completions, /v1/models, /health.

It shares the gRPC server's engine front (admission, tenant-scoped ids), API keys and drain
state, so both protocols see one set of limits. Errors use OpenAI's shape,
``{"error": {"message", "type", "param", "code"}}``, with ``param`` naming the field.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse

from genai_rt.engine.outputs import RequestOutput
from genai_rt.principal import Principal
from genai_rt.sampling.params import SamplingParams
from genai_rt.server.auth import ANONYMOUS, AuthError, bearer_token
from genai_rt.server.errors import HTTP_STATUS, ServiceError, invalid, to_service_error
from genai_rt.server.front import EngineFront, require_generate
from genai_rt.server.governance import Receipt
from genai_rt.server.http import assistant, mapping
from genai_rt.server.http.schemas import ChatCompletionRequest, CompletionRequest

# How often a non-streaming request checks whether its client went away.
DISCONNECT_POLL_S = 0.1


def _error(status: int, message: str, param: str | None = None, code: str | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    kind = {400: "invalid_request_error", 401: "authentication_error",
            403: "permission_error", 404: "not_found_error", 429: "rate_limit_error"}
    return JSONResponse(status_code=status, headers=headers, content={"error": {
        "message": message, "type": kind.get(status, "server_error"), "param": param,
        "code": code}})


def _param_of(message: str) -> str | None:
    head = message.split(" ", 1)[0].rstrip(":")
    return head if head and (head[0].isalpha() and head.replace("_", "").replace(".", "")
                             .replace("[", "").replace("]", "").isalnum()) else None


class _HttpGate:
    """Adapts the gRPC server's gate (keys, ready, draining) to HTTP headers."""

    def __init__(self, server: Any) -> None:
        self.server = server

    def principal(self, request: Request) -> Principal:
        srv = self.server
        if srv.draining:
            raise ServiceError(grpc.StatusCode.UNAVAILABLE, "server is draining")
        if not srv.ready:
            raise ServiceError(grpc.StatusCode.UNAVAILABLE, "server is loading the model")
        if srv.keys is None:
            return ANONYMOUS
        return srv.keys.authenticate(bearer_token(request.headers.get("authorization")))  # type: ignore[no-any-return]


async def _merge(gens: Sequence[AsyncIterator[RequestOutput]]) -> AsyncIterator[
        tuple[int, RequestOutput]]:
    """Outputs of several requests as they come, tagged with the request's position."""
    if len(gens) == 1:
        async for out in gens[0]:
            yield 0, out
        return
    queue: asyncio.Queue[tuple[int, RequestOutput] | BaseException | None] = asyncio.Queue()

    async def pump(i: int, gen: AsyncIterator[RequestOutput]) -> None:
        try:
            async for out in gen:
                await queue.put((i, out))
            await queue.put(None)
        except BaseException as exc:  # noqa: BLE001 (re-raised in the consumer)
            await queue.put(exc)

    tasks = [asyncio.create_task(pump(i, g)) for i, g in enumerate(gens)]
    try:
        remaining = len(tasks)
        while remaining:
            item = await queue.get()
            if item is None:
                remaining -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _until_disconnect(request: Request, work: Any) -> Any:
    """Run ``work`` (a coroutine); cancel it (aborting its requests) if the client leaves."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=DISCONNECT_POLL_S)
            if done:
                return task.result()
            if await request.is_disconnected():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                raise ServiceError(grpc.StatusCode.CANCELLED, "client disconnected")
    finally:
        if not task.done():
            task.cancel()


def create_app(server: Any) -> FastAPI:
    """The HTTP app over ``server`` (a GrpcServer: front, keys, model name, drain state)."""
    app = FastAPI(title="genai_rt", docs_url=None, redoc_url=None, openapi_url=None)
    gate = _HttpGate(server)

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        loc = [str(p) for p in first.get("loc", ()) if p != "body"]
        param = ".".join(loc) or None
        if first.get("type") == "json_invalid":
            return _error(400, f"body is not valid JSON: {first.get('msg')}", None)
        return _error(400, f"{param}: {first.get('msg')}", param)

    @app.exception_handler(ServiceError)
    async def on_service_error(request: Request, exc: ServiceError) -> JSONResponse:
        status = HTTP_STATUS.get(exc.code, 500)
        headers = {}
        if exc.retry_after_s is not None:
            headers["Retry-After"] = str(max(1, round(exc.retry_after_s)))
        if status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return _error(status, str(exc), _param_of(str(exc)), headers=headers)

    @app.exception_handler(AuthError)
    async def on_auth(request: Request, exc: AuthError) -> JSONResponse:
        return _error(401, str(exc), headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(ValueError)
    async def on_value(request: Request, exc: ValueError) -> JSONResponse:
        return await on_service_error(request, to_service_error(exc))

    def front() -> EngineFront:
        assert server.front is not None
        return server.front  # type: ignore[no-any-return]

    def check_model(name: str) -> None:
        if name != server.model_name:
            raise ServiceError(grpc.StatusCode.NOT_FOUND,
                               f"model {name!r} does not exist; this server has "
                               f"{server.model_name!r}")

    @app.get("/health")
    async def health() -> JSONResponse:
        if server.ready and not server.draining:
            return JSONResponse({"status": "ok"})
        state = "draining" if server.draining else "loading"
        return JSONResponse({"status": state}, status_code=503)

    @app.get("/metrics")
    async def metrics() -> Response:
        if server.governance is None:
            raise ServiceError(grpc.StatusCode.NOT_FOUND, "metrics are off: the server runs "
                               "without an audit/metrics configuration")
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(server.governance.metrics.registry),
                        media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        gate.principal(request)
        names = [server.model_name]
        if server.pipeline is not None:
            names.append(server.config.assistant_model)
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0,
                                            "owned_by": "genai_rt"} for name in names]}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(body: ChatCompletionRequest,
                   request: Request) -> JSONResponse | StreamingResponse:
        principal = gate.principal(request)
        if body.model == server.config.assistant_model and server.pipeline is not None:
            answer = await _until_disconnect(request, assistant.ask(server, body, principal))
            if body.stream:
                return _sse(assistant.chunks(body, answer))
            return JSONResponse(assistant.completion(body, answer))
        require_generate(principal)
        check_model(body.model)
        mapping.refuse_unsupported(body)
        if body.max_tokens is not None and body.max_completion_tokens is not None \
                and body.max_tokens != body.max_completion_tokens:
            raise invalid("max_completion_tokens and max_tokens disagree; set one")
        if body.top_logprobs is not None and not body.logprobs:
            raise invalid("top_logprobs needs logprobs: true")
        tool_grammar, tagged = mapping.tools_grammar(body, server.vocabulary())
        fmt_grammar = mapping.response_format_grammar(body)
        if tool_grammar is not None and fmt_grammar is not None:
            raise invalid("response_format cannot be combined with tools (tool_choice != none)")
        logprobs = (body.top_logprobs or 0) if body.logprobs else None
        params = mapping.sampling_params(
            body, body.max_completion_tokens or body.max_tokens, logprobs,
            tool_grammar if tool_grammar is not None else fmt_grammar)
        if tool_grammar is not None:
            # Tool-call arguments are compact JSON, as OpenAI writes them: whitespace there is
            # room for a weak model to loop in until max_tokens.
            params = dataclasses.replace(params, json_whitespace="compact")
        messages = [m.model_dump(exclude_none=True) | {"content": m.text()}
                    for m in body.messages]
        for m in messages:
            m["role"] = "system" if m["role"] == "developer" else m["role"]
        template_kwargs = {"tools": [t.model_dump() for t in body.tools]} if body.tools else {}
        prompt = front().chat_prompt(messages, **template_kwargs)
        request_id = f"chatcmpl-{uuid.uuid4().hex}"
        receipt = Receipt()
        gens = [front().stream(principal, request_id, prompt, params, receipt)]
        tools_on = tool_grammar is not None
        if body.stream:
            primed = [await _primed(g) for g in gens]
            return _sse(_chat_chunks(body, request_id, primed, tools_on, tagged))
        outs = await _until_disconnect(request, _collect(gens))
        out = outs[0]
        choices = []
        for c in out.outputs:
            message: dict[str, Any] = {"role": "assistant", "content": c.text}
            finish = mapping.FINISH[c.finish_reason or "stop"]
            if tools_on:
                content, calls = mapping.parse_tool_call(c.text, tagged)
                message["content"] = content
                if calls:
                    message["tool_calls"] = calls
                    finish = "tool_calls"
            choices.append({"index": c.index, "message": message, "finish_reason": finish,
                            "logprobs": mapping.chat_logprobs(c, 0, server.decode_token)})
        return JSONResponse(mapping.envelope("chat.completion", request_id, body.model)
                            | {"choices": choices, "usage": mapping.usage(outs),
                               "genai_rt": {"audit_id": receipt.audit_id}})

    async def _chat_chunks(body: ChatCompletionRequest, request_id: str,
                           gens: list[AsyncIterator[RequestOutput]], tools_on: bool,
                           tagged: bool) -> AsyncIterator[dict[str, Any]]:
        base = mapping.envelope("chat.completion.chunk", request_id, body.model)
        sent_tokens: dict[int, int] = {}
        sent_chars: dict[int, int] = {}
        last: RequestOutput | None = None
        for index in range(body.n):
            yield base | {"choices": [{"index": index, "delta": {"role": "assistant",
                                                                 "content": ""},
                                       "finish_reason": None, "logprobs": None}]}
        async for _, out in _merge(gens):
            last = out
            for c in out.outputs:
                start, chars = sent_tokens.get(c.index, 0), sent_chars.get(c.index, 0)
                if chars == -1:
                    continue  # this choice already finished
                delta: dict[str, Any] = {}
                finish = None
                if not tools_on and len(c.text) > chars:
                    delta["content"] = c.text[chars:]
                if c.finish_reason is not None:
                    finish = mapping.FINISH[c.finish_reason]
                    if tools_on:
                        content, calls = mapping.parse_tool_call(c.text, tagged)
                        if content:
                            delta["content"] = content
                        if calls:
                            delta["tool_calls"] = [call | {"index": k}
                                                   for k, call in enumerate(calls)]
                            finish = "tool_calls"
                if not delta and finish is None and len(c.token_ids) == start:
                    continue
                yield base | {"choices": [{
                    "index": c.index, "delta": delta, "finish_reason": finish,
                    "logprobs": mapping.chat_logprobs(c, start, server.decode_token)}]}
                sent_tokens[c.index] = len(c.token_ids)
                sent_chars[c.index] = -1 if finish is not None else len(c.text)
        if body.stream_options is not None and body.stream_options.include_usage and last:
            yield base | {"choices": [], "usage": mapping.usage([last])}

    @app.post("/v1/completions", response_model=None)
    async def completions(body: CompletionRequest,
                          request: Request) -> JSONResponse | StreamingResponse:
        principal = gate.principal(request)
        require_generate(principal)
        check_model(body.model)
        mapping.refuse_unsupported(body)
        params = mapping.sampling_params(body, body.max_tokens, body.logprobs, None)
        prompts = _prompts(body.prompt)
        base_id = f"cmpl-{uuid.uuid4().hex}"
        ids = [base_id if len(prompts) == 1 else f"{base_id}-{i}" for i in range(len(prompts))]
        receipts = [Receipt() for _ in prompts]
        gens = [front().stream(principal, rid, p, params, r)
                for rid, p, r in zip(ids, prompts, receipts, strict=True)]
        if body.stream:
            primed = [await _primed(g) for g in gens]
            return _sse(_completion_chunks(body, base_id, primed, params))
        outs = await _until_disconnect(request, _collect(gens))
        choices = [_completion_choice(i * body.n + c.index, c.text, c, 0, server.decode_token)
                   for i, out in enumerate(outs) for c in out.outputs]
        audit_ids = [r.audit_id for r in receipts]
        return JSONResponse(mapping.envelope("text_completion", base_id, body.model)
                            | {"choices": choices, "usage": mapping.usage(outs),
                               "genai_rt": {"audit_ids": audit_ids}})

    async def _completion_chunks(body: CompletionRequest, request_id: str,
                                 gens: list[AsyncIterator[RequestOutput]],
                                 params: SamplingParams) -> AsyncIterator[dict[str, Any]]:
        base = mapping.envelope("text_completion", request_id, body.model)
        sent: dict[tuple[int, int], tuple[int, int]] = {}
        finals: dict[int, RequestOutput] = {}
        async for i, out in _merge(gens):
            if out.finished:
                finals[i] = out
            for c in out.outputs:
                start, chars = sent.get((i, c.index), (0, 0))
                if chars == -1 or (len(c.text) == chars and c.finish_reason is None):
                    continue
                finish = mapping.FINISH[c.finish_reason] if c.finish_reason else None
                choice = _completion_choice(i * body.n + c.index, c.text[chars:], c, start,
                                            server.decode_token) | {"finish_reason": finish}
                yield base | {"choices": [choice]}
                sent[(i, c.index)] = (len(c.token_ids), -1 if finish else len(c.text))
        if body.stream_options is not None and body.stream_options.include_usage:
            yield base | {"choices": [], "usage": mapping.usage(list(finals.values()))}

    return app


def _prompts(prompt: Any) -> list[Any]:
    if isinstance(prompt, str):
        return [prompt]
    if not prompt:
        raise invalid("prompt must be non-empty")
    if all(isinstance(p, int) for p in prompt):
        return [list(prompt)]
    return list(prompt)


def _completion_choice(index: int, text: str, c: Any, start: int, decode: Any) -> dict[str, Any]:
    logprobs = None
    if c.logprobs is not None:
        tokens = [decode(t) for t in c.token_ids[start:]]
        logprobs = {
            "tokens": tokens,
            "token_logprobs": [tab.get(t, 0.0) for t, tab in zip(c.token_ids[start:],
                                                                  c.logprobs[start:],
                                                                  strict=False)],
            "top_logprobs": [{decode(t): lp for t, lp in tab.items()}
                             for tab in c.logprobs[start:]],
            "text_offset": [], }
    return {"index": index, "text": text, "logprobs": logprobs,
            "finish_reason": mapping.FINISH[c.finish_reason] if c.finish_reason else None}


async def _primed(gen: AsyncGenerator[RequestOutput, None]) -> AsyncIterator[RequestOutput]:
    """``gen`` with its first output already awaited: admission, prompt and parameter errors
    surface here, as an HTTP status, before a streaming response has sent its 200."""
    try:
        first = await gen.__anext__()
    except StopAsyncIteration:
        first = None

    async def chained() -> AsyncIterator[RequestOutput]:
        async with contextlib.aclosing(gen):
            if first is not None:
                yield first
                async for out in gen:
                    yield out

    return chained()


async def _collect(gens: Sequence[AsyncIterator[RequestOutput]]) -> list[RequestOutput]:
    finals: dict[int, RequestOutput] = {}
    async for i, out in _merge(gens):
        if out.finished:
            finals[i] = out
    return [finals[i] for i in range(len(gens))]


def _sse(chunks: AsyncIterator[dict[str, Any]]) -> StreamingResponse:
    async def body() -> AsyncIterator[str]:
        try:
            async for chunk in chunks:
                yield f"data: {json.dumps(chunk)}\n\n"
        except ServiceError as err:  # after the 200 went out: report in-band, as OpenAI does
            yield f"data: {json.dumps({'error': {'message': str(err), 'code': err.code.name}})}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})
