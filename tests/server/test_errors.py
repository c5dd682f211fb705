"""Malformed requests, field by field: each gets its status code and a message naming the
field, and the server keeps serving. Hypothesis generates parameter sets both valid and not;
the expected verdict comes from SamplingParams itself, the one place that validates them."""

from __future__ import annotations

import math
import string
from typing import Any

import grpc
import pytest
from genai_rt.client import Client, sampling_params
from genai_rt.proto.v1 import runtime_pb2 as pb
from genai_rt.sampling import SamplingParams
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server.harness import ServerThread

OK = dict(temperature=0.0, max_tokens=2)


def code_and_details(fn: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        result = fn()
        if not hasattr(result, "completions"):
            list(result)  # a stream raises when iterated
    return err.value.code(), err.value.details()


@pytest.mark.parametrize("options, field", [
    (dict(temperature=-1.0), "params.temperature"),
    (dict(top_p=1.5), "params.top_p"),
    (dict(top_p=0.0), "params.top_p"),
    (dict(max_tokens=0), "params.max_tokens"),
    (dict(min_tokens=9, max_tokens=3), "params.min_tokens"),
    (dict(logprobs=21), "params.logprobs"),
    (dict(presence_penalty=3.0), "params.presence_penalty"),
    (dict(repetition_penalty=0.0), "params.repetition_penalty"),
    (dict(n=0), "params.n"),
    (dict(logit_bias={3: 500.0}), "params.logit_bias[3]"),
    (dict(stop=[""]), "params.stop"),
    (dict(temperature=math.nan), "params.temperature"),
    (dict(grammar={"json_schema": "{not json"}), "params.json_schema.schema"),
    (dict(grammar={"regex": "(unclosed"}), "regex"),
    (dict(grammar={"choice": []}), "choice"),
])
def test_bad_parameter_names_the_field(client: Client, options: dict[str, Any],
                                       field: str) -> None:
    for call in (lambda: client.complete("x", **options), lambda: client.generate("x", **options)):
        code, details = code_and_details(call)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, details
        assert field in details, details


@pytest.mark.parametrize("prompt, field", [
    ("", "prompt"), ([], "prompt_token_ids"), ([5, 97], "prompt token ids"),
    ("x" * 300, "max_model_len"),
])
def test_bad_prompt(client: Client, prompt: Any, field: str) -> None:
    code, details = code_and_details(lambda: client.complete(prompt, **OK))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and field in details, details


def test_unknown_json_whitespace_value_names_the_field(client: Client) -> None:
    params = sampling_params(temperature=0.0, max_tokens=2,
                             grammar={"json_schema": {"type": "object"}})
    params.json_schema.whitespace = 7  # proto3 enums are open: a newer client may send this
    request = pb.GenerateRequest(prompt="x", params=params)
    code, details = code_and_details(
        lambda: client.generation.Complete(request, metadata=client.metadata, timeout=10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "params.json_schema.whitespace" in details, details


def test_bad_chat_and_ids(client: Client) -> None:
    with pytest.raises(grpc.RpcError) as err:
        client.generation.Complete(pb.GenerateRequest(), metadata=client.metadata, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "input" in err.value.details()
    code, details = code_and_details(
        lambda: client.chat([{"role": "wizard", "content": "hi"}], **OK))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "messages[0].role" in details
    code, details = code_and_details(lambda: client.chat([], **OK))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "messages" in details
    code, details = code_and_details(lambda: client.complete("x", request_id="r" * 200, **OK))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "request_id" in details
    code, details = code_and_details(lambda: client.abort(""))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "request_id" in details


def test_oversized_and_unparsable_messages(client: Client) -> None:
    code, _ = code_and_details(lambda: client.complete("y" * (2 << 20), **OK))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    raw = client.channel.unary_unary("/genai_rt.v1.Generation/Complete")
    with pytest.raises(grpc.RpcError) as err:
        raw(b"\x12\xff\xff\xff\xff\x0f", metadata=client.metadata, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "genai_rt.v1.GenerateRequest" in err.value.details()
    # a float where the schema says string: wire type 5 for field 2 (prompt)
    with pytest.raises(grpc.RpcError) as err:
        raw(b"\x15\x00\x00\x80\x3f", metadata=client.metadata, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _expected_ok(options: dict[str, Any]) -> bool:
    kwargs = {k: v for k, v in options.items() if k != "grammar"}
    # the wire rounds floats to float32 and the server reads back 7 significant digits
    for k, v in kwargs.items():
        if isinstance(v, float) and math.isfinite(v):
            kwargs[k] = float(f"{float(pb.SamplingParams(**{k: v}).__getattribute__(k)):.7g}")
    try:
        SamplingParams(**kwargs, grammar=options.get("grammar"))
        return True
    except ValueError:
        return False


finite = st.floats(-5, 5, allow_nan=False, width=32)
param_sets = st.fixed_dictionaries({}, optional={
    "temperature": st.one_of(finite, st.just(math.nan), st.just(math.inf)),
    "top_p": finite, "min_p": finite, "presence_penalty": finite,
    "frequency_penalty": finite, "repetition_penalty": finite,
    "top_k": st.integers(-3, 50), "max_tokens": st.integers(0, 4),
    "min_tokens": st.integers(0, 6), "n": st.integers(0, 2), "logprobs": st.integers(0, 25),
    "stop": st.lists(st.text(max_size=3), max_size=2),
    "logit_bias": st.dictionaries(st.integers(0, 96), st.floats(-150, 150, width=32),
                                  max_size=2),
    "grammar": st.sampled_from([{"choice": ["a", "b"]}, {"regex": "[a-c]{1,3}"},
                                {"json_schema": {"type": "integer"}}]),
})


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(options=param_sets, prompt=st.one_of(st.text(string.ascii_letters + " ", min_size=1,
                                                    max_size=8),
                                            st.lists(st.integers(0, 96), min_size=1, max_size=8)))
def test_generated_requests_get_the_right_status(client: Client, options: dict[str, Any],
                                                 prompt: Any) -> None:
    expect_ok = _expected_ok(options)
    try:
        reply = client.complete(prompt, **options)
    except grpc.RpcError as err:
        assert not expect_ok, (options, err.details())
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
        assert err.details().startswith("params."), err.details()
    else:
        assert expect_ok, options
        assert len(reply.completions) == options.get("n", 1)


@settings(max_examples=15, deadline=None)
@given(data=st.binary(max_size=64))
def test_random_bytes_never_break_the_server(client: Client, data: bytes) -> None:
    raw = client.channel.unary_unary("/genai_rt.v1.Generation/Complete")
    try:
        raw(data, metadata=client.metadata, timeout=10)
    except grpc.RpcError as err:
        assert err.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.OK), err
    assert client.health() == "SERVING"


def test_server_still_serves(client: Client) -> None:
    assert client.complete("still up", **OK).completions[0].finish_reason == "length"


# ----------------------------------------------------------------------------------- auth
def test_auth_failures(server: ServerThread, keys: dict[str, str]) -> None:
    for key in (None, "grt-wrong"):
        with Client(server.target, api_key=key, timeout=10) as c:
            code, details = code_and_details(lambda c=c: c.complete("x", **OK))
            assert code == grpc.StatusCode.UNAUTHENTICATED, details
            code, _ = code_and_details(lambda c=c: c.load())
            assert code == grpc.StatusCode.UNAUTHENTICATED
    bad_header = (("authorization", "Basic abc"),)
    with pytest.raises(grpc.RpcError) as err:
        Client(server.target).generation.Complete(pb.GenerateRequest(prompt="x"),
                                                  metadata=bad_header, timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "Bearer" in err.value.details()
    with Client(server.target, api_key=keys["reader"], timeout=10) as reader:
        code, details = code_and_details(lambda: reader.complete("x", **OK))
        assert code == grpc.StatusCode.PERMISSION_DENIED and "generate" in details
        assert reader.load().kv_blocks_total > 0  # Info needs only a valid key


def test_grpc_params_round_trip() -> None:
    params = sampling_params(temperature=0.7, grammar={"choice": ["a"]}, logit_bias={1: 2.0})
    assert params.HasField("temperature") and not params.HasField("top_p")
    assert list(params.choice.choices) == ["a"] and params.logit_bias[1] == 2.0
