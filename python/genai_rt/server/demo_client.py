"""The scripted client of ``make demo``: run it against a server you started.

    genai-rt serve --http-port 8000 &          # default model, audit log in ./genai_rt_audit.db
    python -m genai_rt.server.demo_client --target localhost:50051 --http http://localhost:8000

Each step prints what it shows. The assistant steps (pipeline answers with citations, policy
blocks, drafts for sign-off, tenant isolation in retrieval) run when the server has a pipeline
(``serve --store-url docs.db --pipeline-config examples/enterprise/config.toml``) and
``--assistant-keys FILE`` names a JSON file of API keys by persona: ``acme_employee``,
``acme_sales``, ``acme_leadership``, ``acme_reviewer``, ``globex_employee``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

SUMMARY_SCHEMA = {
    "type": "object",
    "properties": {
        "quarter": {"enum": ["Q1", "Q2", "Q3", "Q4"]},
        "headline": {"type": "string", "maxLength": 60},
        "risks": {"type": "array", "items": {"type": "string", "maxLength": 30}, "maxItems": 2},
    },
    "required": ["quarter", "headline", "risks"],
    "additionalProperties": False,
}


def _step(title: str) -> None:
    print(f"\n== {title} ==", flush=True)


def _wait_blocks_free(client: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    load = client.load()
    while (load.kv_blocks_used or load.running) and time.monotonic() < deadline:
        time.sleep(0.05)
        load = client.load()
    return load


HR_QUESTION = "How many weeks of paid parental leave do employees get?"
PRICING_QUESTION = "What is the floor price for the Enterprise plan?"
STRATEGY_REQUEST = "What are our strategic plans for 2027?"
SUMMARY_REQUEST = "Write the Q4 summary"


def _show(answer: Any) -> None:
    from genai_rt.server.client_commands import format_answer

    if answer.status == "PASSED":
        print(answer.text)
    print(format_answer(answer))


def run_assistant(target: str, keys: dict[str, str]) -> dict[str, tuple[list[str], Any]]:
    """The pipeline steps; the asks go out together so the engine batches them. Returns each
    ask's streamed lines and final answer."""
    from concurrent.futures import ThreadPoolExecutor

    from genai_rt.client import Client

    asks = {"hr": ("acme_employee", HR_QUESTION), "pricing": ("acme_sales", PRICING_QUESTION),
            "strategy": ("acme_leadership", STRATEGY_REQUEST),
            "summary": ("acme_employee", SUMMARY_REQUEST),
            "globex": ("globex_employee", HR_QUESTION)}

    def ask(persona: str, text: str) -> tuple[list[str], Any]:
        with Client(target, api_key=keys[persona], timeout=600) as c:
            events = list(c.ask(text))
        if not events or not events[-1].HasField("answer"):
            raise RuntimeError(f"the Ask stream for {text!r} ended without an answer")
        return [e.delta_text for e in events[:-1]], events[-1].answer

    with ThreadPoolExecutor(len(asks)) as pool:
        futures = {name: pool.submit(ask, *job) for name, job in asks.items()}
        results = {name: f.result() for name, f in futures.items()}
    answers = {name: answer for name, (_, answer) in results.items()}

    _step("assistant: an HR question answered with citations (acme employee)")
    print(f"Q: {HR_QUESTION}")
    _show(answers["hr"])
    _step(f'assistant: "{SUMMARY_REQUEST}" framed into a structured JSON summary '
          "(acme employee)")
    summary = answers["summary"]
    print(f"Q: {SUMMARY_REQUEST}")
    print(f"framed as intent {summary.intent!r}: up to 3 sentences quoted from the sources the "
          "caller may see (grammar-constrained), returned as JSON")
    if summary.answer_json:
        print(json.dumps(json.loads(summary.answer_json), indent=2))
    _show(summary)
    _step("assistant: confidential pricing is held for sign-off (acme sales)")
    print(f"Q: {PRICING_QUESTION}")
    _show(answers["pricing"])
    _step("assistant: a strategy request comes back as a draft that needs sign-off "
          "(acme leadership)")
    print(f"Q: {STRATEGY_REQUEST}")
    _show(answers["strategy"])
    _step("tenant isolation: globex retrieves nothing of acme")
    with Client(target, api_key=keys["globex_employee"], timeout=120) as c:
        found = c.search("parental leave weeks", k=20)
    docs = sorted({p.document_id for p in found.passages})
    print(f"globex search: {len(found.passages)} passages from {docs}; report: "
          f"{found.report.k_returned} of {found.report.visible_rows} visible rows, complete "
          f"{found.report.complete}")
    print(f"Q (globex): {HR_QUESTION}")
    _show(answers["globex"])
    leaked = [d for d in [*docs, *answers["globex"].citations] if d.startswith("acme-")]
    print(f"-> acme documents seen by globex: {leaked or 'none'}")
    if "acme_reviewer" in keys:
        _step("the review queue (acme reviewer): drafts and escalations awaiting a person")
        with Client(target, api_key=keys["acme_reviewer"], timeout=120) as c:
            for item in c.reviews():
                print(f"[{item.id}] {item.kind} {item.intent}: {item.request}")
    return results


def run(target: str, http: str | None, api_key: str | None,
        assistant_keys: dict[str, str] | None = None) -> int:
    import grpc

    from genai_rt.audit.verifier import verify_proof_document
    from genai_rt.client import Client

    with Client(target, api_key=api_key, timeout=120) as client:
        _step("server")
        info, model = client.server_info(), client.model_info()
        print(f"genai_rt {info.version}: services {', '.join(info.services)}; "
              f"health {client.health()}")
        print(f"model {model.model_id}: {model.architecture}, vocab {model.vocab_size}, "
              f"context {model.max_model_len}, {model.dtype} on {model.device}")

        _step("streamed generation (token deltas as they are sampled)")
        t0 = time.perf_counter()
        msgs = list(client.generate("The benefits enrollment window", max_tokens=24,
                                    temperature=0.0))
        last = msgs[-1]
        print("".join(m.delta_text for m in msgs))
        print(f"-> {len(msgs)} messages, finish {last.finish_reason}, "
              f"{last.usage.completion_tokens} tokens, TTFT "
              f"{last.timings.time_to_first_token_s * 1000:.0f} ms, total "
              f"{(time.perf_counter() - t0) * 1000:.0f} ms, audit record {last.audit_id}")

        _step("raw engine: a JSON-schema-constrained completion (no pipeline, no grounding)")
        reply = client.complete("Write the Q4 summary.", max_tokens=120, temperature=0.7,
                                seed=4, grammar={"json_schema": SUMMARY_SCHEMA})
        text = reply.completions[0].text
        print(text)
        try:
            print(f"-> parses as JSON with keys {sorted(json.loads(text))}")
        except json.JSONDecodeError:
            print(f"-> cut at max_tokens ({reply.completions[0].finish_reason}): not complete")

        if assistant_keys:
            run_assistant(target, assistant_keys)

        _step("a cancelled stream gives its KV blocks back")
        call: Any = client.generate("Cancel me after a few tokens", max_tokens=200,
                                    temperature=0.0, ignore_eos=True)
        got = [next(call) for _ in range(5)]
        during = client.load()
        call.cancel()
        try:
            list(call)
        except grpc.RpcError as err:
            print(f"stream ended with {err.code().name} after {len(got)} messages")
        after = _wait_blocks_free(client)
        print(f"KV blocks in use: {during.kv_blocks_used} while streaming -> "
              f"{after.kv_blocks_used} after the cancel (of {after.kv_blocks_total})")

        _step("audit: verify the whole log, then an inclusion proof for one record")
        try:
            report = client.verify_audit()
            print(report.report)
            proof = client.prove(last.audit_id)
            failures = verify_proof_document(proof)
            print(f"record {last.audit_id}: leaf {proof['index']} of tree size "
                  f"{proof['checkpoint']['tree_size']}, proof "
                  f"{'verifies' if not failures else 'FAILS: ' + '; '.join(failures)} "
                  f"(standard-library verifier)")
        except grpc.RpcError as err:
            print(f"audit unavailable: {err.code().name}: {err.details()}")

        if http:
            import httpx
            import openai

            _step("the same engine through the OpenAI API (official client)")
            oai = openai.OpenAI(base_url=f"{http}/v1", api_key=api_key or "none")
            chat = oai.chat.completions.create(
                model=model.model_id, max_tokens=16, temperature=0,
                messages=[{"role": "user", "content": "Who approves travel?"}])
            tokens = chat.usage.completion_tokens if chat.usage else 0
            extra = chat.model_extra or {}
            print(f"{chat.choices[0].message.content!r} ({tokens} tokens, "
                  f"audit {extra.get('genai_rt', {}).get('audit_id')})")

            _step("metrics snapshot")
            lines = httpx.get(f"{http}/metrics", timeout=10).text.splitlines()
            wanted = ("genai_rt:num_requests_running", "genai_rt:kv_cache_usage_perc",
                      "genai_rt:requests_total", "genai_rt:generation_tokens_total",
                      "genai_rt:time_to_first_token_seconds_count")
            for line in lines:
                if line.startswith(wanted):
                    print(line)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", default="localhost:50051")
    parser.add_argument("--http", default=None, help="the server's HTTP base URL, if on")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--assistant-keys", default=None,
                        help="JSON file of API keys by persona (runs the assistant steps)")
    args = parser.parse_args(argv)
    keys = json.loads(open(args.assistant_keys).read()) if args.assistant_keys else None
    return run(args.target, args.http, args.api_key, keys)


if __name__ == "__main__":
    sys.exit(main())
