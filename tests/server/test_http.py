"""The OpenAI-compatible endpoint, driven by the official `openai` client and by raw HTTP."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import openai
import pytest
from genai_rt.client import Client

from tests.server.test_generation import wait_idle

MODEL = "served_tiny_chat"  # the chat_model fixture's directory name
PERSON = {"type": "object", "properties": {
    "name": {"type": "string", "maxLength": 8}, "ok": {"type": "boolean"}},
    "required": ["name", "ok"], "additionalProperties": False}
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "weather in a city",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "maxLength": 10},
        "unit": {"enum": ["c", "f"]}}, "required": ["city", "unit"],
        "additionalProperties": False}}}
HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def oai(http_base: str, keys: dict[str, str]) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{http_base}/v1", api_key=keys["gen"], max_retries=0,
                         timeout=60)


@pytest.fixture(scope="module")
def model_name(client: Client) -> str:
    return client.model_info().model_id


def test_models_list(oai: openai.OpenAI, model_name: str) -> None:
    assert [m.id for m in oai.models.list()] == [model_name]


def test_chat_and_streaming_chat_agree(oai: openai.OpenAI, model_name: str,
                                       client: Client) -> None:
    reply = oai.chat.completions.create(model=model_name, messages=HELLO, temperature=0,
                                        max_tokens=10, extra_body={"ignore_eos": True})
    choice = reply.choices[0]
    assert choice.message.role == "assistant" and choice.finish_reason == "length"
    assert reply.usage.completion_tokens == 10
    grpc_text = "".join(m.delta_text for m in client.chat(HELLO, temperature=0.0, max_tokens=10,
                                                          ignore_eos=True))
    assert choice.message.content == grpc_text
    chunks = list(oai.chat.completions.create(
        model=model_name, messages=HELLO, temperature=0, max_tokens=10, stream=True,
        stream_options={"include_usage": True}, extra_body={"ignore_eos": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == grpc_text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].usage.completion_tokens == 10


def test_completions(oai: openai.OpenAI, model_name: str) -> None:
    reply = oai.completions.create(model=model_name, prompt=["abc", "xyz"], max_tokens=5,
                                   temperature=0, n=2, logprobs=2,
                                   extra_body={"ignore_eos": True})
    assert sorted(c.index for c in reply.choices) == [0, 1, 2, 3]
    assert all(len(c.logprobs.tokens) == 5 for c in reply.choices)
    assert reply.usage.completion_tokens == 20
    streamed = list(oai.completions.create(model=model_name, prompt="abc", max_tokens=5,
                                           temperature=0, stream=True,
                                           extra_body={"ignore_eos": True}))
    assert "".join(c.choices[0].text for c in streamed) == reply.choices[0].text


def test_response_format_json_schema(oai: openai.OpenAI, model_name: str) -> None:
    reply = oai.chat.completions.create(
        model=model_name, messages=HELLO, temperature=0.7, seed=1, max_tokens=60,
        response_format={"type": "json_schema",
                         "json_schema": {"name": "person", "schema": PERSON}})
    jsonschema.validate(json.loads(reply.choices[0].message.content), PERSON)
    reply = oai.chat.completions.create(model=model_name, messages=HELLO, max_tokens=60,
                                        seed=2, response_format={"type": "json_object"})
    assert isinstance(json.loads(reply.choices[0].message.content), dict)


@pytest.mark.parametrize("tool_choice", ["required",
                                         {"type": "function",
                                          "function": {"name": "get_weather"}}])
def test_tool_call_arguments_validate(oai: openai.OpenAI, model_name: str,
                                      tool_choice: Any) -> None:
    reply = oai.chat.completions.create(model=model_name, messages=HELLO, tools=[WEATHER],
                                        tool_choice=tool_choice, max_tokens=80, seed=3)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    jsonschema.validate(json.loads(call.function.arguments), WEATHER["function"]["parameters"])


def _post(base: str, path: str, body: Any, key: str | None) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    content = body if isinstance(body, str) else json.dumps(body)
    return httpx.post(base + path, content=content, timeout=30,
                      headers=headers | {"content-type": "application/json"})


@pytest.mark.parametrize("body, status, param", [
    ("{not json", 400, None),
    ({"model": MODEL, "messages": HELLO, "temperature": "hot"}, 400, "temperature"),
    ({"model": MODEL, "messages": HELLO, "temperature": 3}, 400, "temperature"),
    ({"model": MODEL, "messages": "hello"}, 400, "messages"),
    ({"model": MODEL, "messages": HELLO, "frobnicate": 1}, 400, "frobnicate"),
    ({"model": MODEL, "messages": HELLO, "functions": []}, 400, "functions"),
    ({"model": MODEL, "messages": [{"role": "wizard", "content": "x"}]}, 400,
     "messages.0.role"),
    ({"model": MODEL, "messages": HELLO, "logit_bias": {"5": 500}}, 400, "logit_bias[5]"),
    ({"model": MODEL, "messages": HELLO,
      "response_format": {"type": "json_schema",
                          "json_schema": {"name": "x", "schema": {"type": "object",
                                                                  "patternProperties": 5}}}},
     400, None),
    ({"model": MODEL, "messages": HELLO, "tool_choice": "required"}, 400, "tool_choice"),
    ({"model": "gpt-4o", "messages": HELLO}, 404, "model"),
])
def test_malformed_bodies(http_base: str, keys: dict[str, str], body: Any, status: int,
                          param: str | None) -> None:
    reply = _post(http_base, "/v1/chat/completions", body, keys["gen"])
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert error["param"] == param, error
    if param:
        assert param.split(".")[0] in error["message"]


def test_completions_refuse_echo_and_bad_prompt(http_base: str, keys: dict[str, str]) -> None:
    for body, param in [({"model": MODEL, "prompt": "x", "echo": True}, "echo"),
                        ({"model": MODEL, "prompt": [], "max_tokens": 2}, "prompt"),
                        ({"model": MODEL, "prompt": "x", "max_tokens": 0}, "max_tokens")]:
        reply = _post(http_base, "/v1/completions", body, keys["gen"])
        assert reply.status_code == 400 and reply.json()["error"]["param"] == param, reply.text


def test_auth_failures(http_base: str, keys: dict[str, str]) -> None:
    body = {"model": MODEL, "messages": HELLO, "max_tokens": 2}
    for key in (None, "grt-wrong"):
        reply = _post(http_base, "/v1/chat/completions", body, key)
        assert reply.status_code == 401 and reply.headers["www-authenticate"] == "Bearer"
    reply = _post(http_base, "/v1/chat/completions", body, keys["reader"])
    assert reply.status_code == 403 and "generate" in reply.json()["error"]["message"]


def test_disconnect_mid_stream_frees_blocks(http_base: str, keys: dict[str, str],
                                            client: Client) -> None:
    body = {"model": MODEL, "messages": HELLO, "max_tokens": 200, "stream": True,
            "temperature": 0, "ignore_eos": True}
    with httpx.stream("POST", http_base + "/v1/chat/completions", json=body, timeout=30,
                      headers={"authorization": f"Bearer {keys['gen']}"}) as reply:
        assert reply.status_code == 200
        lines = reply.iter_lines()
        got = [next(lines) for _ in range(6)]
        assert client.load().kv_blocks_used > 0
    assert any(line.startswith("data: {") for line in got)
    wait_idle(client)
    reply = httpx.get(http_base + "/health", timeout=10)
    assert reply.status_code == 200 and reply.json() == {"status": "ok"}


def test_budget_overrun_is_429_and_audit_id_is_an_extension(
        http_base: str, keys: dict[str, str], oai: openai.OpenAI, model_name: str) -> None:
    body = {"model": MODEL, "messages": HELLO, "max_tokens": 500}
    reply = _post(http_base, "/v1/chat/completions", body, keys["poor"])
    assert reply.status_code == 429 and "budget" in reply.json()["error"]["message"]
    chat = oai.chat.completions.create(model=model_name, messages=HELLO, max_tokens=3)
    assert chat.model_extra["genai_rt"]["audit_id"]
    metrics = httpx.get(http_base + "/metrics", timeout=10).text
    assert "genai_rt:num_requests_running" in metrics or "num_requests_running" in metrics
