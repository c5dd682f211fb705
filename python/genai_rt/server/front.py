"""The transport-neutral front of the engine that both servers (gRPC, HTTP) call.

It owns what a request needs besides the engine itself: admission (a slot, or a refusal),
request ids scoped by tenant (two tenants may both say "r1"; neither can abort the other's),
and the set of live requests that a drain aborts when its grace period runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator
from typing import Any, cast

from genai_rt.engine.async_engine import Engine
from genai_rt.engine.outputs import RequestOutput
from genai_rt.principal import Principal
from genai_rt.sampling.params import SamplingParams
from genai_rt.server.admission import Admission
from genai_rt.server.errors import denied, invalid
from genai_rt.server.governance import Receipt

# Raw generation bypasses the pipeline's gates (grounding, policy): only keys holding this role
# (or the anonymous caller of a server without keys) may use it.
GENERATE_ROLE = "generate"
MAX_REQUEST_ID_CHARS = 128


def require_generate(principal: Principal) -> None:
    if GENERATE_ROLE not in principal.roles and "*" not in principal.roles:
        raise denied(f"raw generation needs the {GENERATE_ROLE!r} role; principal of tenant "
                     f"{principal.tenant!r} has {sorted(principal.roles)}")


def engine_request_id(principal: Principal, request_id: str) -> str:
    return f"{principal.tenant}/{request_id}"


class EngineFront:
    def __init__(self, engine: Engine, admission: Admission, governance: Any = None) -> None:
        self.engine = engine
        self.admission = admission
        self.governance = governance  # server.governance.Governance, or None: no audit
        self.live: set[str] = set()

    @property
    def tokenizer(self) -> Any:
        return self.engine.core.tokenizer

    def new_request_id(self, given: str) -> str:
        if not given:
            return uuid.uuid4().hex
        if len(given) > MAX_REQUEST_ID_CHARS or not given.isprintable():
            raise invalid(f"request_id must be at most {MAX_REQUEST_ID_CHARS} printable "
                          f"characters, got {len(given)} characters")
        return given

    async def stream(self, principal: Principal, request_id: str, prompt: Any,
                     params: SamplingParams,
                     receipt: Receipt | None = None) -> AsyncGenerator[RequestOutput, None]:
        """The engine's outputs of one request, inside an admission slot.

        Leaving early (client cancel, deadline, disconnect) aborts the request in the engine,
        which frees its KV blocks. With an audit log, ``receipt.audit_id`` names the request's
        one record once the stream has ended, however it ended.
        """
        engine_id = engine_request_id(principal, request_id)
        receipt = receipt if receipt is not None else Receipt()
        try:
            async with self.admission.slot():
                self.live.add(engine_id)
                try:
                    source = (self.engine.generate(prompt, params, request_id=engine_id)
                              if self.governance is None else
                              self.governance.generate(prompt, params, principal, engine_id,
                                                       receipt))
                    gen = cast(AsyncGenerator[RequestOutput, None], source)
                    async with contextlib.aclosing(gen):
                        async for out in gen:
                            yield out
                finally:
                    self.live.discard(engine_id)
        except (asyncio.CancelledError, GeneratorExit):
            if self.governance is not None and not receipt.audit_id and not receipt.refused:
                receipt.audit_id = self.governance.record_unstarted(
                    principal, engine_id, prompt, params, "cancelled")
            raise

    async def abort(self, principal: Principal, request_id: str) -> bool:
        return await self.engine.abort(engine_request_id(principal, request_id))

    async def abort_all(self) -> int:
        ids = list(self.live)
        for engine_id in ids:
            await self.engine.abort(engine_id)
        return len(ids)

    def chat_prompt(self, messages: list[dict[str, Any]], **template_kwargs: Any) -> list[int]:
        """Token ids of ``messages`` rendered with the model's chat template."""
        if self.tokenizer is None:
            raise invalid("messages: this model has no tokenizer, so no chat template")
        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                 tokenize=True, **template_kwargs)
        return list(ids)
