"""The Generation service: Generate (server streaming), Complete (unary), Chat, Abort."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc

from genai_rt.engine.outputs import RequestOutput
from genai_rt.principal import Principal
from genai_rt.proto.v1 import runtime_pb2 as pb
from genai_rt.sampling.params import SamplingParams
from genai_rt.server import convert
from genai_rt.server.front import EngineFront, require_generate
from genai_rt.server.governance import Receipt


class _Deltas:
    """Turns cumulative engine outputs into per-completion deltas (each token sent once)."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.tokens: dict[int, int] = {}
        self.chars: dict[int, int] = {}
        self.done: set[int] = set()

    def messages(self, out: RequestOutput) -> list[pb.GenerateResponse]:
        msgs = []
        for c in out.outputs:
            if c.index in self.done:
                continue
            start, chars = self.tokens.get(c.index, 0), self.chars.get(c.index, 0)
            new_ids = c.token_ids[start:]
            if not new_ids and c.finish_reason is None and len(c.text) == chars:
                continue
            msgs.append(pb.GenerateResponse(
                request_id=self.request_id, index=c.index, delta_text=c.text[chars:],
                delta_token_ids=new_ids, finished=c.finish_reason is not None,
                finish_reason=c.finish_reason or "", logprobs=convert.logprobs_of(c, start)))
            self.tokens[c.index], self.chars[c.index] = len(c.token_ids), len(c.text)
            if c.finish_reason is not None:
                self.done.add(c.index)
        if out.finished:
            if not msgs:
                msgs.append(pb.GenerateResponse(request_id=self.request_id, finished=True,
                                                finish_reason=out.outputs[0].finish_reason or ""))
            last = msgs[-1]
            last.usage.CopyFrom(convert.usage_of(out))
            last.timings.CopyFrom(convert.timings_of(out))
            last.error = out.error or ""
        return msgs


class GenerationServicer:
    def __init__(self, server: Any) -> None:
        self.server = server  # GrpcServer; its front exists once the model is loaded

    @property
    def front(self) -> EngineFront:
        front = self.server.front
        assert front is not None, "calls are refused (UNAVAILABLE) until the model is loaded"
        return front  # type: ignore[no-any-return]

    async def _stream(self, principal: Principal, given_id: str, prompt: Any,
                      params: SamplingParams) -> AsyncIterator[pb.GenerateResponse]:
        require_generate(principal)
        request_id = self.front.new_request_id(given_id)
        deltas = _Deltas(request_id)
        receipt = Receipt()
        gen = self.front.stream(principal, request_id, prompt, params, receipt)
        final: list[pb.GenerateResponse] = []
        async with contextlib.aclosing(gen):
            async for out in gen:
                if out.finished:  # held until the stream ends: the audit record exists then
                    final = deltas.messages(out)
                    continue
                for msg in deltas.messages(out):
                    yield msg
        if final:
            final[-1].audit_id = receipt.audit_id
        for msg in final:
            yield msg

    async def Generate(self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext,
                       principal: Principal) -> AsyncIterator[pb.GenerateResponse]:
        prompt = convert.prompt_of(request)
        params = convert.sampling_params(request.params)
        async for msg in self._stream(principal, request.request_id, prompt, params):
            yield msg

    async def Chat(self, request: pb.ChatRequest, context: grpc.aio.ServicerContext,
                   principal: Principal) -> AsyncIterator[pb.GenerateResponse]:
        params = convert.sampling_params(request.params)
        prompt = self.front.chat_prompt(convert.chat_messages(request))
        async for msg in self._stream(principal, request.request_id, prompt, params):
            yield msg

    async def Complete(self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext,
                       principal: Principal) -> pb.CompleteResponse:
        prompt = convert.prompt_of(request)
        params = convert.sampling_params(request.params)
        require_generate(principal)
        request_id = self.front.new_request_id(request.request_id)
        final: RequestOutput | None = None
        receipt = Receipt()
        gen = self.front.stream(principal, request_id, prompt, params, receipt)
        async with contextlib.aclosing(gen):
            async for out in gen:
                final = out
        assert final is not None and final.finished
        return pb.CompleteResponse(
            request_id=request_id,
            completions=[pb.Completion(index=c.index, text=c.text, token_ids=c.token_ids,
                                       finish_reason=c.finish_reason or "",
                                       logprobs=convert.logprobs_of(c, 0))
                         for c in final.outputs],
            usage=convert.usage_of(final), timings=convert.timings_of(final),
            error=final.error or "", audit_id=receipt.audit_id)

    async def Abort(self, request: pb.AbortRequest, context: grpc.aio.ServicerContext,
                    principal: Principal) -> pb.AbortResponse:
        require_generate(principal)
        if not request.request_id:
            raise convert.invalid("request_id must be non-empty")
        return pb.AbortResponse(found=await self.front.abort(principal, request.request_id))
