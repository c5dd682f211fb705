"""Proto messages <-> engine objects. Every refusal names the field by its message path."""

from __future__ import annotations

import json
from typing import Any

from genai_rt.engine.outputs import CompletionOutput, RequestOutput
from genai_rt.proto.v1 import runtime_pb2 as pb
from genai_rt.sampling.params import SamplingParams
from genai_rt.server.errors import invalid

# Scalar fields copied as they are when the client set them (proto3 `optional`).
_SCALARS = (
    "n", "temperature", "top_k", "top_p", "min_p", "seed", "max_tokens", "min_tokens",
    "repetition_penalty", "presence_penalty", "frequency_penalty", "logprobs", "ignore_eos",
    "skip_special_tokens", "include_stop_str_in_output",
)
# float32 on the wire: 0.7 arrives as 0.699999988; rounding to 7 significant digits gives the
# client's decimal back (float32 holds 7.2 of them).
_FLOATS = {"temperature", "top_p", "min_p", "repetition_penalty", "presence_penalty",
           "frequency_penalty"}


def grammar_spec(params: pb.SamplingParams, prefix: str = "params") -> dict[str, Any] | None:
    kind = params.WhichOneof("grammar")
    if kind is None:
        return None
    if kind == "json_schema":
        js = params.json_schema
        try:
            schema = json.loads(js.schema)
        except json.JSONDecodeError as err:
            raise invalid(f"{prefix}.json_schema.schema is not valid JSON: {err}") from None
        return {"json_schema": schema}
    if kind == "choice":
        return {"choice": list(params.choice.choices)}
    return {kind: getattr(params, kind)}


# The wire's whitespace option -> SamplingParams.json_whitespace (DEFAULT leaves the engine's).
_WHITESPACE = {pb.JSON_WHITESPACE_COMPACT: "compact", pb.JSON_WHITESPACE_ANY: "any"}


def json_whitespace(params: pb.SamplingParams, prefix: str = "params") -> str | None:
    if params.WhichOneof("grammar") != "json_schema":
        return None
    value = params.json_schema.whitespace
    if value == pb.JSON_WHITESPACE_DEFAULT:
        return None
    if value not in _WHITESPACE:
        raise invalid(f"{prefix}.json_schema.whitespace: unknown value {value}")
    return _WHITESPACE[value]


def sampling_params(params: pb.SamplingParams, prefix: str = "params") -> SamplingParams:
    """A validated ``SamplingParams``; ``ValueError`` messages become ``prefix.field ...``."""
    kwargs: dict[str, Any] = {}
    for name in _SCALARS:
        if params.HasField(name):
            value = getattr(params, name)
            kwargs[name] = float(f"{value:.7g}") if name in _FLOATS else value
    if params.stop:
        kwargs["stop"] = list(params.stop)
    if params.stop_token_ids:
        kwargs["stop_token_ids"] = list(params.stop_token_ids)
    if params.logit_bias:
        kwargs["logit_bias"] = dict(params.logit_bias)
    spec = grammar_spec(params, prefix)
    if spec is not None:
        kwargs["grammar"] = spec
    whitespace = json_whitespace(params, prefix)
    if whitespace is not None:
        kwargs["json_whitespace"] = whitespace
    try:
        return SamplingParams(**kwargs)
    except ValueError as err:
        raise invalid(f"{prefix}.{err}") from None


def prompt_of(request: pb.GenerateRequest) -> str | list[int]:
    kind = request.WhichOneof("input")
    if kind == "prompt":
        if not request.prompt:
            raise invalid("prompt must be non-empty")
        return request.prompt
    if kind == "prompt_token_ids":
        if not request.prompt_token_ids.ids:
            raise invalid("prompt_token_ids.ids must be non-empty")
        return list(request.prompt_token_ids.ids)
    raise invalid("input: set one of prompt or prompt_token_ids")


def chat_messages(request: pb.ChatRequest) -> list[dict[str, str]]:
    if not request.messages:
        raise invalid("messages must be non-empty")
    out = []
    for i, message in enumerate(request.messages):
        if message.role not in ("system", "user", "assistant", "tool"):
            raise invalid(f"messages[{i}].role must be system, user, assistant or tool, "
                          f"got {message.role!r}")
        out.append({"role": message.role, "content": message.content})
    return out


def logprobs_of(completion: CompletionOutput, start: int) -> list[pb.TokenLogprob]:
    """Logprob entries of output tokens ``start:`` (empty when none were requested)."""
    if completion.logprobs is None:
        return []
    entries = []
    for token_id, table in zip(completion.token_ids[start:], completion.logprobs[start:],
                               strict=False):
        entries.append(pb.TokenLogprob(
            token_id=token_id, logprob=table.get(token_id, 0.0),
            top={t: lp for t, lp in table.items() if t != token_id}))
    return entries


def usage_of(out: RequestOutput) -> pb.Usage:
    m = out.metrics
    return pb.Usage(prompt_tokens=len(out.prompt_token_ids),
                    completion_tokens=sum(len(c.token_ids) for c in out.outputs),
                    cached_tokens=m.num_cached_tokens)


def timings_of(out: RequestOutput) -> pb.Timings:
    m = out.metrics
    end = m.finished_time if m.finished_time is not None else m.arrival_time
    return pb.Timings(
        queue_s=(m.first_scheduled_time - m.arrival_time) if m.first_scheduled_time else 0.0,
        time_to_first_token_s=m.time_to_first_token or 0.0,
        total_s=end - m.arrival_time,
    )
