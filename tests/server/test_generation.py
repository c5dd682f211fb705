"""Generate (streaming), Complete (unary), Chat and Abort through a real server, against the
same engine run in process; cancels and deadlines free every KV block."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import grpc
import pytest
from genai_rt.client import Client
from genai_rt.engine import LLM, EngineCore
from genai_rt.sampling import SamplingParams

from tests.engine.tiny_model import VOCAB
from tests.server.harness import CHAT_TEMPLATE, ServerThread, engine_config

GREEDY = dict(temperature=0.0, max_tokens=12, ignore_eos=True)


@pytest.fixture(scope="module")
def llm(chat_model: Path) -> LLM:
    return LLM.from_engine(EngineCore(engine_config(chat_model)))


def wait_idle(client: Client, timeout: float = 10.0) -> None:
    """Until the engine holds no request and no KV block (aborts are processed async)."""
    deadline = time.monotonic() + timeout
    while True:
        load = client.load()
        if load.kv_blocks_used == 0 and load.running == 0 and load.in_flight == 0:
            return
        assert time.monotonic() < deadline, f"engine not idle: {load}"
        time.sleep(0.02)


def test_generate_streams_the_in_process_tokens(client: Client, llm: LLM) -> None:
    msgs = list(client.generate("Hello there", **GREEDY))
    expected = llm.generate(["Hello there"], SamplingParams(**GREEDY))[0].outputs[0]
    ids = [t for m in msgs for t in m.delta_token_ids]
    assert ids == expected.token_ids
    assert "".join(m.delta_text for m in msgs) == expected.text
    last = msgs[-1]
    assert last.finished and last.finish_reason == "length"
    assert not any(m.finished for m in msgs[:-1])
    assert last.usage.completion_tokens == 12 and last.usage.prompt_tokens == len("Hello there")
    assert last.timings.total_s >= last.timings.time_to_first_token_s > 0
    assert len({m.request_id for m in msgs}) == 1 and msgs[0].request_id


def test_complete_equals_generate(client: Client) -> None:
    reply = client.complete([5, 6, 7, 8], request_id="unary-1", **GREEDY)
    streamed = [t for m in client.generate([5, 6, 7, 8], **GREEDY) for t in m.delta_token_ids]
    assert reply.request_id == "unary-1"
    assert list(reply.completions[0].token_ids) == streamed
    assert reply.completions[0].finish_reason == "length"
    assert reply.usage.completion_tokens == 12


def test_n_completions_with_seeds_and_logprobs(client: Client, llm: LLM) -> None:
    opts = dict(n=2, temperature=0.9, seed=7, max_tokens=6, ignore_eos=True, logprobs=2)
    reply = client.complete("abc", **opts)
    expected = llm.generate(["abc"], SamplingParams(**opts))[0].outputs
    assert [list(c.token_ids) for c in reply.completions] == [c.token_ids for c in expected]
    lp = reply.completions[0].logprobs
    assert len(lp) == 6 and all(len(e.top) <= 2 and e.logprob <= 0 for e in lp)
    streamed = list(client.generate("abc", **opts))
    for index in (0, 1):
        ids = [t for m in streamed if m.index == index for t in m.delta_token_ids]
        assert ids == expected[index].token_ids
        assert sum(m.finished for m in streamed if m.index == index) == 1


def test_chat_renders_the_template(client: Client, llm: LLM) -> None:
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    msgs = list(client.chat(messages, **GREEDY))
    rendered = "system: be brief\nuser: hi\nassistant: "
    assert "assistant" in CHAT_TEMPLATE
    expected = llm.generate([rendered], SamplingParams(**GREEDY))[0].outputs[0]
    assert [t for m in msgs for t in m.delta_token_ids] == expected.token_ids
    assert msgs[-1].usage.prompt_tokens == len(rendered)


def test_grammar_choice_and_regex(client: Client) -> None:
    reply = client.complete("pick: ", temperature=1.0, seed=3, max_tokens=20,
                            grammar={"choice": ["yes", "no", "maybe"]})
    assert reply.completions[0].text in ("yes", "no", "maybe")
    reply = client.complete("num: ", temperature=1.0, seed=3, max_tokens=20,
                            grammar={"regex": "[0-9]{3}"})
    assert len(reply.completions[0].text) == 3 and reply.completions[0].text.isdigit()


def test_json_whitespace_option_reaches_the_grammar(client: Client) -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
              "additionalProperties": False}
    texts = {}
    for whitespace in ("compact", "any"):
        reply = client.complete("json: ", temperature=1.0, seed=5, max_tokens=40,
                                grammar={"json_schema": schema}, json_whitespace=whitespace)
        texts[whitespace] = reply.completions[0].text
    assert json.loads(texts["compact"]) in ({"ok": True}, {"ok": False})
    assert texts["compact"] in ('{"ok":true}', '{"ok":false}')


def test_cancel_mid_stream_frees_blocks(client: Client) -> None:
    call = client.generate("cancel me " * 5, temperature=0.0, max_tokens=200, ignore_eos=True)
    got = [next(call) for _ in range(3)]
    assert client.load().kv_blocks_used > 0
    call.cancel()
    with pytest.raises(grpc.RpcError) as err:
        list(call)
    assert err.value.code() == grpc.StatusCode.CANCELLED
    assert len(got) == 3
    wait_idle(client)


def test_abort_by_request_id_from_another_thread(client: Client, keys: dict[str, str],
                                                 server: ServerThread) -> None:
    call = client.generate("abort me", request_id="to-abort", temperature=0.0, max_tokens=200,
                           ignore_eos=True)
    next(call)
    with Client(server.target, api_key=keys["other"]) as other:
        assert other.abort("to-abort") is False  # another tenant cannot reach it
    found: list[bool] = []
    t = threading.Thread(target=lambda: found.append(client.abort("to-abort")))
    t.start()
    rest = list(call)
    t.join()
    assert found == [True]
    assert rest[-1].finished and rest[-1].finish_reason == "abort"
    assert client.abort("to-abort") is False
    wait_idle(client)


def test_deadline_exceeded_aborts_the_request(client: Client) -> None:
    call = client.generate("slow " * 4, timeout=0.3, temperature=0.0, max_tokens=200,
                           ignore_eos=True)
    with pytest.raises(grpc.RpcError) as err:
        for _ in call:
            time.sleep(0.01)  # a slow reader: the deadline passes mid-stream
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    wait_idle(client)


def test_info_service(client: Client, server: ServerThread) -> None:
    model = client.model_info()
    assert model.vocab_size == VOCAB and model.max_model_len == 256 and model.has_chat_template
    assert model.device == "cpu" and model.dtype == "float32"
    info = client.server_info()
    assert set(info.services) == {"genai_rt.v1.Generation", "genai_rt.v1.Info",
                                  "genai_rt.v1.Governance", "genai_rt.v1.Assistant",
                                  "genai_rt.v1.Retrieval"}
    assert info.auth and not info.tls and not info.draining
    load = client.load()
    assert load.kv_blocks_total == 2048 and 0 <= load.kv_usage <= 1


def test_assistant_and_store_say_what_is_missing_when_not_configured(client: Client) -> None:
    with pytest.raises(grpc.RpcError) as ask:
        list(client.ask("How many vacation days do I have?"))
    assert ask.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "--pipeline-config" in (ask.value.details() or "")
    with pytest.raises(grpc.RpcError) as search:
        client.search("vacation")
    assert search.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "--store-url" in (search.value.details() or "")


def test_one_audit_record_per_request_incl_cancelled(client: Client,
                                                     server: ServerThread) -> None:
    audit = server.server.governance.audit  # type: ignore[union-attr]
    reply = client.complete("audited", request_id="audit-1", **GREEDY)
    msgs = list(client.generate("audited", request_id="audit-2", **GREEDY))
    call = client.generate("audited", request_id="audit-3", temperature=0.0, max_tokens=200,
                           ignore_eos=True)
    next(call)
    call.cancel()
    wait_idle(client)
    audit.flush()
    assert reply.audit_id and msgs[-1].audit_id and reply.audit_id != msgs[-1].audit_id
    statuses = {}
    for _, record_id, body, *_ in audit.store.rows():
        record = json.loads(body)["record"]
        if record["request_id"].startswith("acme/audit-"):
            statuses.setdefault(record["request_id"], []).append(
                (record_id, record["status"]))
    assert statuses["acme/audit-1"] == [(reply.audit_id, "ok")]
    assert statuses["acme/audit-2"] == [(msgs[-1].audit_id, "ok")]
    assert [s for _, s in statuses["acme/audit-3"]] == ["cancelled"]


def test_budget_overrun_is_resource_exhausted(server: ServerThread,
                                              keys: dict[str, str]) -> None:
    with Client(server.target, api_key=keys["poor"], timeout=30) as poor:
        assert poor.complete("x", max_tokens=1).completions[0].token_ids  # $0.001 fits
        with pytest.raises(grpc.RpcError) as err:
            poor.complete("x", max_tokens=50)  # worst case $0.05 > what is left
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "budget" in err.value.details()
