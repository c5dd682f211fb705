"""Assistant, Retrieval and the review queue over gRPC (and the assistant model over HTTP),
against a real server on localhost: the real default model, the demo enterprise's store and
pipeline config. The model-backed asks run concurrently once (module fixture) so the engine
decodes them in shared batches; the tests inspect the results."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest
from genai_rt.client import Client, ingest_document
from genai_rt.config import AuditConfig, ServerConfig
from genai_rt.server.auth import add_key

from tests.server.harness import ServerThread

HR_QUESTION = "How many weeks of paid parental leave do employees get?"
PRICING_QUESTION = "What is the floor price for the Enterprise plan?"


@pytest.fixture(scope="module")
def assistant_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    path = tmp_path_factory.mktemp("assistant_keys") / "keys.json"
    return {
        "file": str(path),
        "employee": add_key(path, "acme", ["employee"], "ann"),
        "sales": add_key(path, "acme", ["employee", "sales"], "sam"),
        "reviewer": add_key(path, "acme", ["reviewer"], "rita"),
        "ingest": add_key(path, "acme", ["ingest"], "loader"),
        "leadership": add_key(path, "acme", ["employee", "leadership"], "lee"),
        "globex": add_key(path, "globex", ["employee"], "gil"),
        "globex_reviewer": add_key(path, "globex", ["reviewer"], "gus"),
        "poor": add_key(path, "poor", ["employee"], "pat"),
    }


def _budgets(server: Any) -> None:
    """acme and globex get ample budgets; tenant `poor` less than one ask's worst case."""
    budgets = server.governance.budgets
    budgets.set_budget("acme", 1e6)
    budgets.set_budget("globex", 1e6)
    budgets.set_budget("poor", 0.0001)


@pytest.fixture(scope="module")
def assistant_server(assistant_keys: dict[str, str],
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    from genai_rt import Engine, EngineConfig
    from genai_rt.demo import default_model_dir
    from genai_rt.pipeline.demo_setup import ENTERPRISE_DIR, open_demo_store

    try:
        model = default_model_dir()
    except (RuntimeError, ImportError, OSError) as err:
        pytest.skip(f"the real default model is not available: {err}")
    tmp = tmp_path_factory.mktemp("assistant")
    prices = tmp / "prices.yaml"  # priced by the served model's name, as a deployment would
    prices.write_text(f"{model.name}: {{input_per_1k: 0.001, output_per_1k: 0.002}}\n")
    store = open_demo_store(tmp / "docs.db")
    engine = Engine(EngineConfig.from_model(str(model), dtype="float32", max_num_seqs=16))
    config = ServerConfig(port=0, api_keys_file=assistant_keys["file"],
                          store_url=str(tmp / "docs.db"),
                          pipeline_config=str(ENTERPRISE_DIR / "config.toml"),
                          review_queue=str(tmp / "reviews.sqlite3"), prices_file=str(prices))
    thread = ServerThread(config, engine=engine, store=store, on_loaded=_budgets,
                          audit=AuditConfig(audit_url=str(tmp / "audit.db"), audit_sync="NORMAL"))
    yield thread
    thread.stop()
    engine.shutdown()
    store.close()


def _client(server: ServerThread, key: str) -> Client:
    return Client(server.target, api_key=key, timeout=300)


@pytest.fixture(scope="module")
def asked(assistant_server: ServerThread, assistant_keys: dict[str, str],
          http_port: int) -> dict[str, Any]:
    """Every model-backed ask of this module at once (gRPC and HTTP share the batches)."""
    from genai_rt.server.demo_client import run_assistant

    personas = {"acme_employee": "employee", "acme_sales": "sales",
                "acme_leadership": "leadership", "acme_reviewer": "reviewer",
                "globex_employee": "globex"}
    demo_out = io.StringIO()
    with ThreadPoolExecutor(2) as pool:  # the demo's four asks and these two share batches
        futures = {"http_draft": pool.submit(_http_draft, http_port, assistant_keys["sales"]),
                   "http_streamed": pool.submit(_http_streamed, http_port,
                                                assistant_keys["employee"])}
        with contextlib.redirect_stdout(demo_out):
            results: dict[str, Any] = run_assistant(
                assistant_server.target, {p: assistant_keys[k] for p, k in personas.items()})
        results.update({name: f.result() for name, f in futures.items()})
    results["demo_output"] = demo_out.getvalue()
    return results


def test_hr_question_streams_released_lines_then_the_answer(
        asked: dict[str, Any], assistant_server: ServerThread,
        assistant_keys: dict[str, str]) -> None:
    lines, answer = asked["hr"]
    assert answer.status == "PASSED", list(answer.reasons)
    assert answer.citations and all(c.startswith("acme-") for c in answer.citations)
    assert "16 weeks" in answer.text  # acme's parental-leave policy, the one passage offered
    assert answer.verdicts and all(v.passed for v in answer.verdicts) and not answer.reasons
    assert {"frame", "ground", "generate", "validate", "total"} <= set(answer.timings)
    quotes = json.loads(answer.answer_json)["quotes"]
    assert lines == [f"{q['text']} [{q['source']}]\n" for q in quotes]
    with _client(assistant_server, assistant_keys["employee"]) as c:  # one audit record
        record = c.audit_record(answer.audit_id)
    assert record["kind"] == "pipeline" and record["status"] == "passed"
    assert record["principal"]["tenant"] == "acme"


def test_confidential_pricing_is_a_draft_in_the_tenants_review_queue(
        asked: dict[str, Any], assistant_server: ServerThread,
        assistant_keys: dict[str, str]) -> None:
    lines, answer = asked["pricing"]
    assert answer.status == "DRAFT_REQUIRES_SIGNOFF" and answer.HasField("review_id")
    assert lines == []  # a draft is never streamed as an answer
    with _client(assistant_server, assistant_keys["reviewer"]) as c:
        items = {i.id: i for i in c.reviews()}
        assert items[answer.review_id].kind == "signoff"
        assert items[answer.review_id].request == PRICING_QUESTION
        resolved = c.resolve_review(answer.review_id, "approved", "checked the list price")
        assert resolved.status == "resolved" and resolved.reviewer == "rita"
        with pytest.raises(grpc.RpcError) as again:
            c.resolve_review(answer.review_id, "approved")
        assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        with pytest.raises(grpc.RpcError) as bad:
            c.resolve_review(answer.review_id, "maybe")
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "resolution" in (bad.value.details() or "")
    with _client(assistant_server, assistant_keys["globex_reviewer"]) as c:  # tenant-isolated
        assert answer.review_id not in {i.id for i in c.reviews(status="all")}
        with pytest.raises(grpc.RpcError) as other:
            c.resolve_review(answer.review_id, "rejected")
        assert other.value.code() == grpc.StatusCode.NOT_FOUND
    with _client(assistant_server, assistant_keys["sales"]) as c:
        with pytest.raises(grpc.RpcError) as denied:
            c.reviews()
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_tenant_b_retrieves_nothing_of_tenant_a(
        asked: dict[str, Any], assistant_server: ServerThread,
        assistant_keys: dict[str, str]) -> None:
    _, answer = asked["globex"]
    assert all(c.startswith("globex-") for c in answer.citations)
    with _client(assistant_server, assistant_keys["globex"]) as c:
        found = c.search("parental leave weeks", k=50)
    assert found.passages and all(p.document_id.startswith("globex-") for p in found.passages)
    assert found.report.complete and found.report.k_returned == found.report.visible_rows


def test_ingest_search_delete_in_the_callers_tenant(
        assistant_server: ServerThread, assistant_keys: dict[str, str]) -> None:
    doc = ingest_document("acme-bike.json", "Employees may lease one bicycle per year through "
                          "the BikeWell scheme.", metadata={"classification": "internal"})
    with _client(assistant_server, assistant_keys["ingest"]) as c:
        reply = c.ingest([doc])
        assert reply.added == 1 and reply.chunks_in_store > 0
        assert c.ingest([doc]).unchanged == 1
        hits = c.search("bicycle lease scheme", k=1)
        assert hits.passages[0].document_id == "acme-bike.json"
        with pytest.raises(grpc.RpcError) as bad:
            c.ingest([ingest_document("x", "text"), doc.__class__(
                key="y", text="t", metadata_json="[1]")])
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "documents[1].metadata_json" in (bad.value.details() or "")
        c.delete("acme-bike.json")
        with pytest.raises(grpc.RpcError) as gone:
            c.delete("acme-bike.json")
        assert gone.value.code() == grpc.StatusCode.NOT_FOUND
    with _client(assistant_server, assistant_keys["globex"]) as c:
        with pytest.raises(grpc.RpcError) as denied:
            c.ingest([doc])
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert all(p.document_id != "acme-bike.json" for p in c.search("bicycle", k=5).passages)


def test_bad_asks_name_the_field(assistant_server: ServerThread,
                                 assistant_keys: dict[str, str]) -> None:
    with _client(assistant_server, assistant_keys["employee"]) as c:
        with pytest.raises(grpc.RpcError) as empty:
            list(c.ask("   "))
        assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "text" in (empty.value.details() or "")
        with pytest.raises(grpc.RpcError) as role:
            list(c.ask("hi", history=[{"role": "system", "content": "x"}]))
        assert role.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "history[0]" in (role.value.details() or "")
    with Client(assistant_server.target, api_key="grt-wrong", timeout=30) as c:
        with pytest.raises(grpc.RpcError) as unauth:
            list(c.ask(HR_QUESTION))
        assert unauth.value.code() == grpc.StatusCode.UNAUTHENTICATED



@pytest.fixture(scope="module")
def http_port(assistant_server: ServerThread) -> Iterator[int]:
    from genai_rt.server.http.serve import start_http

    http = assistant_server.loop.run(start_http(assistant_server.server))
    yield http.port
    assistant_server.loop.run(http.stop())


def _openai(port: int, key: str) -> Any:
    from openai import OpenAI

    return OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, timeout=300,
                  max_retries=0)


def _http_draft(port: int, key: str) -> Any:
    return _openai(port, key).chat.completions.create(
        model="genai-rt-assistant", messages=[{"role": "user", "content": PRICING_QUESTION}])


def _http_streamed(port: int, key: str) -> list[Any]:
    return list(_openai(port, key).chat.completions.create(
        model="genai-rt-assistant", stream=True,
        messages=[{"role": "user", "content": HR_QUESTION}]))


def test_assistant_model_over_http_with_the_official_client(
        asked: dict[str, Any], http_port: int, assistant_keys: dict[str, str]) -> None:
    from openai import BadRequestError

    drafted, chunks = asked["http_draft"], asked["http_streamed"]
    ext = (drafted.model_extra or {})["genai_rt"]
    assert ext["status"] == "DRAFT_REQUIRES_SIGNOFF" and ext["review_id"] is not None
    choice = drafted.choices[0]
    assert choice.finish_reason == "content_filter"  # never presented as a plain answer
    assert "not an answer" in (choice.message.content or "")
    assert ext["draft"] not in (choice.message.content or "")
    final = (chunks[-1].model_extra or {})["genai_rt"]
    assert final["status"] == "PASSED" and final["citations"]
    assert all(v["passed"] for v in final["verdicts"])
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert all(f"[{q['source']}]" in text for q in final["answer_json"]["quotes"])
    client = _openai(http_port, assistant_keys["employee"])
    assert "genai-rt-assistant" in {m.id for m in client.models.list()}
    with pytest.raises(BadRequestError, match="messages\\[0\\].role"):
        client.chat.completions.create(
            model="genai-rt-assistant", messages=[{"role": "system", "content": "hi"},
                                                  {"role": "user", "content": "hi"}])


def test_client_commands(asked: dict[str, Any], assistant_server: ServerThread,
                         assistant_keys: dict[str, str], tmp_path: Any,
                         capsys: pytest.CaptureFixture[str]) -> None:
    from genai_rt.cli import main

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "acme-canteen.md").write_text("The canteen serves lunch from noon to two.")
    server = ["--server", assistant_server.target]
    assert main(["ingest", str(folder), *server, "--api-key", assistant_keys["ingest"]]) == 0
    assert "1 added" in capsys.readouterr().out
    assert main(["ingest", str(folder), "--tenant", "acme", *server]) == 2  # tenant: the key's
    assert "--tenant cannot be combined" in capsys.readouterr().err
    # Framed without a model call: below the intent threshold -> NEEDS_CLARIFICATION (exit 2).
    assert main(["ask", "purple elephant banana keyboard", *server,
                 "--api-key", assistant_keys["employee"]]) == 2
    assert "status: NEEDS_CLARIFICATION" in capsys.readouterr().out
    assert main(["reviews", "--status", "all", *server,
                 "--api-key", assistant_keys["reviewer"]]) == 0
    assert PRICING_QUESTION in capsys.readouterr().out
    assert main(["reviews", *server, "--api-key", assistant_keys["employee"]]) == 1
    assert "PERMISSION_DENIED" in capsys.readouterr().err


def test_demo_client_assistant_steps(asked: dict[str, Any]) -> None:
    out = asked["demo_output"]
    for title in ("an HR question answered with citations", "Write the Q4 summary",
                  "confidential pricing",
                  "needs sign-off", "globex retrieves nothing of acme", "the review queue"):
        assert title in out, out
    assert "-> acme documents seen by globex: none" in out
    _, strategy = asked["strategy"]
    assert strategy.status in ("DRAFT_REQUIRES_SIGNOFF", "ESCALATED"), strategy.status
    assert "not an answer: review item" in out
    _, summary = asked["summary"]
    assert summary.intent == "quarterly_report"  # framed, then grounded in the Q4 report
    assert summary.status in ("PASSED", "ESCALATED"), summary.status
    if summary.status == "PASSED":
        assert summary.citations and all(c.startswith("acme-q4-report#")
                                         for c in summary.citations)


def _audit_bodies(server: ServerThread) -> list[dict[str, Any]]:
    audit = server.server.governance.audit  # type: ignore[union-attr]
    audit.flush()
    return [json.loads(body)["record"] for _, _, body, _ in audit.store.rows()]


def test_asks_settle_their_budget(asked: dict[str, Any], assistant_server: ServerThread) -> None:
    budgets = assistant_server.server.governance.budgets  # type: ignore[union-attr]
    usage = budgets.usage("acme")
    assert usage.reserved == 0 and usage.spent > 0  # every reservation settled on its use
    priced = [b for b in _audit_bodies(assistant_server)
              if b["kind"] == "pipeline" and b["principal"]["tenant"] == "acme"]
    assert priced and all(b["cost"] > 0 for b in priced if b["tokens_out"] > 0)
    assert usage.spent == pytest.approx(sum(b["cost"] for b in priced), abs=1e-5)


def test_an_ask_past_the_tenants_budget_is_resource_exhausted(
        assistant_server: ServerThread, assistant_keys: dict[str, str]) -> None:
    with _client(assistant_server, assistant_keys["poor"]) as c:
        with pytest.raises(grpc.RpcError) as err:
            list(c.ask(HR_QUESTION))
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "budget" in (err.value.details() or "")
    budgets = assistant_server.server.governance.budgets  # type: ignore[union-attr]
    assert budgets.usage("poor").reserved == 0 and budgets.usage("poor").spent == 0


def test_an_ask_past_its_deadline_frees_its_blocks_and_budget(
        asked: dict[str, Any], assistant_server: ServerThread,
        assistant_keys: dict[str, str]) -> None:
    import time

    question = "How many vacation days do full-time employees get?"
    with _client(assistant_server, assistant_keys["employee"]) as c:
        with pytest.raises(grpc.RpcError) as late:
            list(c.ask(question, timeout=1.5))
        assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        deadline = time.monotonic() + 3  # a finished-anyway ask would take ~10 s here
        load = c.load()
        while (load.kv_blocks_used or load.running or load.waiting) \
                and time.monotonic() < deadline:
            time.sleep(0.1)
            load = c.load()
    assert load.kv_blocks_used == 0 and load.running == 0 and load.waiting == 0
    assert assistant_server.server.admission.in_flight == 0
    cancelled = [b for b in _audit_bodies(assistant_server)
                 if b["kind"] == "pipeline" and b["prompt"]["text"] == question]
    assert [b["status"] for b in cancelled] == ["cancelled"]  # exactly one record
    budgets = assistant_server.server.governance.budgets  # type: ignore[union-attr]
    assert budgets.usage("acme").reserved == 0
