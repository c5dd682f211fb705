"""The scripted client of ``make demo``: run it against a server you started.

    genai-rt serve --http-port 8000 &          # default model, audit log in ./genai_rt_audit.db
    python -m genai_rt.server.demo_client --target localhost:50051 --http http://localhost:8000

Each step prints what it shows. Steps that need the Assistant service (pipeline answers with
citations, policy blocks, tenant isolation in retrieval) are not in this client yet.
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


def run(target: str, http: str | None, api_key: str | None) -> int:
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

        _step('"Write the Q4 summary" as structured JSON (grammar-constrained)')
        reply = client.complete("Write the Q4 summary.", max_tokens=120, temperature=0.7,
                                seed=4, grammar={"json_schema": SUMMARY_SCHEMA})
        text = reply.completions[0].text
        print(text)
        try:
            print(f"-> parses as JSON with keys {sorted(json.loads(text))}")
        except json.JSONDecodeError:
            print(f"-> cut at max_tokens ({reply.completions[0].finish_reason}): not complete")

        _step("a cancelled stream gives its KV blocks back")
        call: Any = client.generate("Cancel me after a few tokens", max_tokens=400,
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
    args = parser.parse_args(argv)
    return run(args.target, args.http, args.api_key)


if __name__ == "__main__":
    sys.exit(main())
