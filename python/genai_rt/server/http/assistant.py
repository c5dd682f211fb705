"""Chat requests for the configured assistant model (``genai-rt-assistant``) go through the
pipeline, not straight to the engine.

The reply's ``genai_rt`` extension field (the official client keeps it in ``model_extra``)
carries the status, citations, gate verdicts, timings, review id and audit id. Only a PASSED
answer is message content; a draft that needs sign-off or an escalation comes back with a
notice as content, ``finish_reason: "content_filter"``, and the draft only inside the extension,
labelled as such.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from genai_rt.principal import Principal
from genai_rt.server.errors import invalid
from genai_rt.server.http import mapping
from genai_rt.server.http.schemas import ChatCompletionRequest

# Fields that mean something for raw generation only; the pipeline's TaskSpec decides them.
_ENGINE_ONLY = ("top_p", "stop", "seed", "presence_penalty", "frequency_penalty", "logit_bias",
                "top_k", "min_p", "repetition_penalty", "min_tokens", "ignore_eos",
                "response_format", "tools", "tool_choice", "parallel_tool_calls",
                "top_logprobs")

NOTICES = {
    "DRAFT_REQUIRES_SIGNOFF": "This is not an answer yet: a draft is awaiting sign-off "
                              "(review {review_id}).",
    "ESCALATED": "This request was escalated to a person (review {review_id}); no answer was "
                 "released.",
}


def check_request(body: ChatCompletionRequest) -> tuple[str, list[dict[str, str]]]:
    """(question, history) of an assistant chat; other fields are refused by name."""
    mapping.refuse_unsupported(body)
    for name in _ENGINE_ONLY:
        if getattr(body, name) is not None:
            raise invalid(f"{name} is not supported for the assistant model (its TaskSpec "
                          "decides generation)")
    if body.logprobs:
        raise invalid("logprobs is not supported for the assistant model")
    if body.n != 1:
        raise invalid("n must be 1 for the assistant model")
    turns = []
    for i, m in enumerate(body.messages):
        if m.role not in ("user", "assistant"):
            raise invalid(f"messages[{i}].role must be user or assistant for the assistant "
                          f"model, got {m.role!r}")
        turns.append({"role": m.role, "content": m.text()})
    if turns[-1]["role"] != "user":
        raise invalid("messages: the last message must be the user's question")
    return turns[-1]["content"], turns[:-1]


def extension(answer: Any) -> dict[str, Any]:
    status = answer.status.value
    ext: dict[str, Any] = {
        "status": status, "citations": list(answer.citations), "verdicts": answer.verdicts,
        "timings": answer.timings, "intent": answer.intent, "retries": answer.retries,
        "review_id": answer.review_id, "audit_id": str(answer.audit_id or ""),
        "answer_json": answer.json if status == "PASSED" else None,
    }
    if status in NOTICES:
        ext["draft"] = answer.text  # visible to the caller, never as the answer
    return ext


def content_of(answer: Any) -> tuple[str, str]:
    """(message content, finish_reason)."""
    status = answer.status.value
    if status == "PASSED":
        return answer.text, "stop"
    if status in NOTICES:
        return NOTICES[status].format(review_id=answer.review_id), "content_filter"
    return answer.text, "stop"  # NEEDS_CLARIFICATION / REFUSED: the text says why


async def ask(server: Any, body: ChatCompletionRequest, principal: Principal) -> Any:
    text, history = check_request(body)
    return await server.assistant.ask(text, history, principal, body.temperature,
                                      body.max_completion_tokens or body.max_tokens)


def completion(body: ChatCompletionRequest, answer: Any) -> dict[str, Any]:
    content, finish = content_of(answer)
    return mapping.envelope("chat.completion", f"chatcmpl-{uuid.uuid4().hex}", body.model) | {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": finish, "logprobs": None}],
        "genai_rt": extension(answer)}


async def chunks(body: ChatCompletionRequest, answer: Any) -> AsyncIterator[dict[str, Any]]:
    """SSE chunks: the released lines of a PASSED extractive answer one by one (as gRPC)."""
    from genai_rt.server.assistant_service import streamable_lines

    base = mapping.envelope("chat.completion.chunk", f"chatcmpl-{uuid.uuid4().hex}",
                            body.model)
    content, finish = content_of(answer)
    lines = streamable_lines(answer) if finish == "stop" else []
    pieces = [line + "\n" for line in lines] if lines else [content]
    yield base | {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                               "finish_reason": None}]}
    for piece in pieces:
        yield base | {"choices": [{"index": 0, "delta": {"content": piece},
                                   "finish_reason": None}]}
    yield base | {"choices": [{"index": 0, "delta": {}, "finish_reason": finish}],
                  "genai_rt": extension(answer)}
