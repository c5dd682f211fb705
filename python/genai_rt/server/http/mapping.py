"""OpenAI request fields -> SamplingParams (+ grammar); engine outputs -> OpenAI responses.

``response_format`` and ``tools`` become grammar constraints, so a JSON answer or a tool call
is valid by construction, not by retrying. Tool calls use the tagged form: with
``tool_choice="auto"`` the model writes free text or ``<tool_call>{"name":..,"arguments":..}``
(``Grammar.from_tagged``); with ``"required"`` or a named function the output is exactly the
call object (its JSON schema), since a random-weight or small model may never reach the tag.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from genai_rt.engine.outputs import CompletionOutput, RequestOutput
from genai_rt.sampling.params import SamplingParams
from genai_rt.server.errors import invalid
from genai_rt.server.http.schemas import (
    UNSUPPORTED,
    ChatCompletionRequest,
    CompletionRequest,
    Tool,
)

TOOL_TRIGGER = "<tool_call>"
FINISH = {"stop": "stop", "stop_string": "stop", "grammar_end": "stop", "length": "length",
          "abort": "stop"}


def refuse_unsupported(body: ChatCompletionRequest | CompletionRequest) -> None:
    for name in UNSUPPORTED[type(body)]:
        if getattr(body, name) is not None:
            raise invalid(f"{name} is not supported by this server")
    if isinstance(body, CompletionRequest):
        if body.echo:
            raise invalid("echo is not supported by this server")
        if body.best_of is not None and body.best_of != body.n:
            raise invalid("best_of must equal n (server-side best-of is not supported)")
    if body.stream_options is not None and not body.stream:
        raise invalid("stream_options is only allowed when stream is true")


def _call_schema(tool: Tool) -> dict[str, Any]:
    return {"type": "object", "properties": {
        "name": {"const": tool.function.name}, "arguments": tool.function.parameters},
        "required": ["name", "arguments"], "additionalProperties": False}


def tools_grammar(body: ChatCompletionRequest, vocab: Any) -> tuple[Any, bool]:
    """(grammar or spec, tagged) for the request's tools; (None, False) when tools are off."""
    if not body.tools:
        if body.tool_choice not in (None, "none"):
            raise invalid("tool_choice needs tools")
        return None, False
    choice = body.tool_choice or "auto"
    if choice == "none":
        return None, False
    tools = body.tools
    if not isinstance(choice, str):
        tools = [t for t in tools if t.function.name == choice.function.name]
        if not tools:
            raise invalid(f"tool_choice.function.name {choice.function.name!r} is not in tools")
    schemas = [_call_schema(t) for t in tools]
    schema = schemas[0] if len(schemas) == 1 else {"anyOf": schemas}
    if choice == "auto":
        from genai_rt.sampling.grammar import Grammar

        try:
            return Grammar.from_tagged(TOOL_TRIGGER, schema, vocab, whitespace="compact"), True
        except ValueError as err:
            raise invalid(f"tools: {err}") from None
    return {"json_schema": schema}, False


def response_format_grammar(body: ChatCompletionRequest) -> dict[str, Any] | None:
    fmt = body.response_format
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return {"json_schema": {"type": "object"}}
    if fmt.json_schema is None:
        raise invalid("response_format.json_schema is required when type is json_schema")
    return {"json_schema": fmt.json_schema.schema_}


def sampling_params(body: ChatCompletionRequest | CompletionRequest, max_tokens: int | None,
                    logprobs: int | None, grammar: Any) -> SamplingParams:
    kwargs: dict[str, Any] = {"n": body.n}
    for name in ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty",
                 "logit_bias", "stop", "top_k", "min_p", "repetition_penalty", "min_tokens",
                 "ignore_eos"):
        value = getattr(body, name)
        if value is not None:
            kwargs[name] = value
    if max_tokens is not None:
        kwargs["max_tokens"] = max_tokens
    if logprobs is not None:
        kwargs["logprobs"] = logprobs
    if grammar is not None:
        kwargs["grammar"] = grammar
    if body.seed is not None and body.seed < 0:
        raise invalid(f"seed must be >= 0, got {body.seed}")
    try:
        return SamplingParams(**kwargs)
    except ValueError as err:
        raise invalid(str(err)) from None


def parse_tool_call(text: str, tagged: bool) -> tuple[str | None, list[dict[str, Any]]]:
    """(content, tool_calls) of a completion produced under a tools grammar."""
    content, _, block = text.partition(TOOL_TRIGGER) if tagged else ("", "", text)
    if tagged and not block:
        return text, []
    try:
        call = json.loads(block)
    except json.JSONDecodeError:  # cut by max_tokens: return what was written as text
        return text, []
    return content or None, [{
        "id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
        "function": {"name": call["name"], "arguments": json.dumps(call["arguments"])}}]


def chat_logprobs(c: CompletionOutput, start: int, decode: Any) -> dict[str, Any] | None:
    if c.logprobs is None:
        return None
    content = []
    for token_id, table in zip(c.token_ids[start:], c.logprobs[start:], strict=False):
        text = decode(token_id)
        content.append({
            "token": text, "logprob": table.get(token_id, 0.0),
            "bytes": list(text.encode()),
            "top_logprobs": [{"token": decode(t), "logprob": lp,
                              "bytes": list(decode(t).encode())}
                             for t, lp in sorted(table.items(), key=lambda kv: -kv[1])
                             if t != token_id]})
    return {"content": content}


def usage(outs: list[RequestOutput]) -> dict[str, int]:
    prompt = sum(len(o.prompt_token_ids) for o in outs)
    completion = sum(len(c.token_ids) for o in outs for c in o.outputs)
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def envelope(kind: str, request_id: str, model: str) -> dict[str, Any]:
    return {"id": request_id, "object": kind, "created": int(time.time()), "model": model}
