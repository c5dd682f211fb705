"""Engine-level CPU comparison: genai_rt's LLM.generate vs transformers' generate.

One run, one machine, a random ~58M-parameter Llama in fp32 (hidden 512, 8 layers, GQA 8/4,
vocab 32000; the default model's byte-level tokenizer for text and grammars):

1. one sequence: a 256-token prompt, greedy;
2. many requests: prompts of 32-512 tokens, greedy (transformers: one left-padded batch with
   ``generate``'s default DynamicCache; ``--hf-cache static`` tries its static cache);
3. JSON-schema-constrained vs unconstrained genai_rt throughput (seeded sampling, same prompts).

Both sides produce the same greedy tokens (counted and printed). Reported: output tokens/s, the
speed-up, and genai_rt's TTFT / time-per-output-token percentiles from request metrics.

    .venv/bin/python benchmarks/compare_engine_cpu.py            # 64 x 128 tokens (minutes)
    .venv/bin/python benchmarks/compare_engine_cpu.py --quick    # 16 x 32 tokens

NOTE: on a shared, oversubscribed machine pass ``--threads 1`` (both sides): with 2 OpenMP
threads at load ~7 on 2 cores, one decode step of the tiny test model took 38.9 ms against
3.8 ms with one thread (SDPA's thread barriers), and run-to-run spread exceeded 2x.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from genai_rt.config import EngineConfig  # noqa: E402
from genai_rt.engine import LLM, EngineCore, RequestOutput  # noqa: E402
from genai_rt.sampling import SamplingParams  # noqa: E402
from hf_baseline import left_padded  # noqa: E402  (benchmarks/ is on the path as the script's folder)

VOCAB = 32000
SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string", "maxLength": 40},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 12}, "maxItems": 4},
        "active": {"type": "boolean"},
    },
    "required": ["id", "name", "tags", "active"],
    "additionalProperties": False,
}


def build_checkpoint(path: Path) -> torch.nn.Module:
    from genai_rt.model.init_default import DEFAULT_CORPUS, train_tokenizer
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=VOCAB, hidden_size=512, intermediate_size=1536, num_hidden_layers=8,
        num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=2048,
        eos_token_id=None, bos_token_id=None,
    )
    model = LlamaForCausalLM(config).eval()
    model.save_pretrained(path)
    train_tokenizer(DEFAULT_CORPUS).save(str(path / "tokenizer.json"))
    return model


def hf_generate(hf: torch.nn.Module, prompts: list[list[int]], new_tokens: int,
                cache: str | None) -> tuple[list[list[int]], float]:
    ids, mask = left_padded(prompts)
    width = ids.shape[1]
    kwargs: dict[str, Any] = {} if cache is None else {"cache_implementation": cache}
    start = time.perf_counter()
    with torch.no_grad():
        out = hf.generate(  # type: ignore[operator]
            input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens,
            min_new_tokens=new_tokens, do_sample=False, pad_token_id=0, **kwargs,
        )
    return [row[width:].tolist() for row in out], time.perf_counter() - start


def engine_generate(llm: LLM, prompts: list[Any], params: list[SamplingParams]
                    ) -> tuple[list[RequestOutput], float]:
    start = time.perf_counter()
    outs = llm.generate(prompts, params)
    return outs, time.perf_counter() - start


def percentiles(values: list[float]) -> str:
    if not values:
        return "-"
    qs = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else values * 99
    return f"p50 {qs[49] * 1e3:7.1f}  p90 {qs[89] * 1e3:7.1f}  p99 {qs[98] * 1e3:7.1f} ms"


def latency_lines(outs: list[RequestOutput]) -> tuple[str, str]:
    ttft = [o.metrics.first_token_time - o.metrics.arrival_time for o in outs
            if o.metrics.first_token_time is not None]
    tpot = []
    for o in outs:
        n = len(o.outputs[0].token_ids)
        m = o.metrics
        if n > 1 and m.first_token_time is not None and m.finished_time is not None:
            tpot.append((m.finished_time - m.first_token_time) / (n - 1))
    return percentiles(ttft), percentiles(tpot)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16 requests x 32 tokens")
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--hf-cache", default=None, help="transformers cache_implementation")
    parser.add_argument("--max-num-batched-tokens", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3,
                        help="alternating constrained/unconstrained runs (medians reported)")
    parser.add_argument("--skip-transformers", action="store_true",
                        help="only the constrained vs unconstrained comparison")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    if args.quick:
        args.requests, args.new_tokens = 16, 32
    torch.set_num_threads(args.threads)
    rng = random.Random(0)
    batch = [[rng.randrange(3, 1024) for _ in range(rng.randint(32, 512))]
             for _ in range(args.requests)]
    single = [[rng.randrange(3, 1024) for _ in range(256)]]
    greedy = SamplingParams(temperature=0, max_tokens=args.new_tokens, ignore_eos=True)
    rows: list[tuple[str, float, float, int, int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        hf = build_checkpoint(Path(tmp))
        blocks = sum(-(-(len(p) + args.new_tokens) // 16) for p in batch) + 64
        llm = LLM.from_engine(EngineCore(EngineConfig.from_model(
            tmp, dtype="float32", num_gpu_blocks=blocks, max_num_seqs=max(64, args.requests),
            max_num_batched_tokens=args.max_num_batched_tokens, enable_prefix_caching=False)))
        engine_generate(llm, [{"prompt_token_ids": single[0][:32]}], [greedy])  # warm-up
        hf_generate(hf, [single[0][:32]], 2, args.hf_cache)
        latencies = {}
        workloads = [("1 x 256 prompt", single), (f"{args.requests} x 32-512", batch)]
        for name, prompts in [] if args.skip_transformers else workloads:
            outs, t_ours = engine_generate(
                llm, [{"prompt_token_ids": p} for p in prompts], [greedy] * len(prompts))
            theirs, t_hf = hf_generate(hf, prompts, args.new_tokens, args.hf_cache)
            ours = [o.outputs[0].token_ids for o in outs]
            same = sum(a == b for a, b in zip(ours, theirs, strict=True))
            rows.append((name, t_ours, t_hf, same, len(prompts)))
            latencies[name] = latency_lines(outs)
        # constrained vs unconstrained: same prompts, seeded sampling
        text_prompts = [f"Record {i}: customer profile as JSON. " for i in range(args.requests)]
        sampled = [SamplingParams(temperature=0.8, seed=i, max_tokens=args.new_tokens)
                   for i in range(args.requests)]
        json_params = [SamplingParams(temperature=0.8, seed=i, max_tokens=args.new_tokens,
                                      grammar={"json_schema": SCHEMA})
                       for i in range(args.requests)]
        json_outs, _ = engine_generate(llm, text_prompts, json_params)  # compiles the schema
        # JSON documents end early (grammar_end): "free, same lengths" runs each request
        # unconstrained for exactly its JSON output length, isolating the per-token cost of
        # the constraint from the smaller batches at the tail.
        matched = [SamplingParams(temperature=0.8, seed=i, ignore_eos=True,
                                  max_tokens=len(o.outputs[0].token_ids))
                   for i, o in enumerate(json_outs)]
        # Alternate the runs and keep medians: on a shared machine load drifts between runs.
        rates: dict[str, list[float]] = {"free": [], "json": [], "matched": []}
        for _ in range(args.repeats):
            for kind, params in (("free", sampled), ("json", json_params), ("matched", matched)):
                outs, elapsed = engine_generate(llm, text_prompts, params)
                rates[kind].append(sum(len(o.outputs[0].token_ids) for o in outs) / elapsed)
                json_outs = outs if kind == "json" else json_outs
    free_rate, json_rate = statistics.median(rates["free"]), statistics.median(rates["json"])
    matched_rate = statistics.median(rates["matched"])
    print(f"# genai_rt engine vs transformers generate, CPU ({platform.processor() or 'cpu'}), "
          f"{args.threads} thread(s), torch {torch.__version__}, random Llama 58M fp32")
    print(f"# {args.new_tokens} new tokens per request; genai_rt max_num_batched_tokens="
          f"{args.max_num_batched_tokens}; transformers cache={args.hf_cache or 'dynamic'}")
    print(f"{'workload':<18}{'genai_rt tok/s':>15}{'transformers tok/s':>20}{'ratio':>8}"
          f"{'same tokens':>13}")
    for name, t_ours, t_hf, same, n in rows:
        tokens = n * args.new_tokens
        print(f"{name:<18}{tokens / t_ours:>15.1f}{tokens / t_hf:>20.1f}{t_hf / t_ours:>7.2f}x"
              f"{same:>9}/{n}")
    for name, (ttft, tpot) in latencies.items():
        print(f"genai_rt {name:<16} TTFT {ttft} | TPOT {tpot}")
    print(f"sampled, unconstrained: median {free_rate:8.1f} tok/s of {args.repeats} runs "
          f"{[round(r, 1) for r in rates['free']]}")
    print(f"sampled, JSON schema:   median {json_rate:8.1f} tok/s of {args.repeats} runs "
          f"{[round(r, 1) for r in rates['json']]}; ratio {json_rate / free_rate:.2f}")
    print(f"sampled, free, same lengths as JSON: median {matched_rate:8.1f} tok/s "
          f"{[round(r, 1) for r in rates['matched']]}; JSON / this {json_rate / matched_rate:.2f}")
    print("JSON finish reasons:", sorted({o.outputs[0].finish_reason or "" for o in json_outs}))


if __name__ == "__main__":
    main()
