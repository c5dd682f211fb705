"""Quantized CPU decode, side by side on the default model's own file (SmolLM2-135M Q4_1 GGUF).

Engines, all in this one process, same thread count, greedy, EOS ignored:

- genai_rt quantized: ``LLM(gguf)``, the default (blocks kept, C++ kernels, fp32
  activations: weight-only);
- genai_rt dense: ``LLM(gguf, quantize="none")`` (blocks dequantized to fp32 at load);
- llama.cpp: ``llama_cpp.Llama`` on the same file (skipped, and said so, when llama-cpp-python
  is not installed; see the ``bench`` extra in pyproject.toml);
- transformers: ``from_pretrained(dir, gguf_file=...)`` at 1 sequence (``--transformers``:
  its GGUF import takes minutes on a loaded 2-core box).

1 sequence: one prompt, ``--tokens`` new tokens, ``--repeats`` runs interleaved across engines;
the median tokens/s is reported. 64 concurrent: 64 prompts submitted at once; genai_rt batches
them; llama-cpp-python's ``Llama`` serves one sequence at a time (its high-level API has no
continuous batching), so its 64-request figure is its requests run back to back.

    .venv/bin/python benchmarks/compare_quant_cpu.py --threads 2 --tokens 64 --repeats 3
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from genai_rt import LLM, SamplingParams  # noqa: E402
from genai_rt.model.default_model import smollm2_gguf  # noqa: E402

PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."


def _timed(fn: Callable[[], int]) -> float:
    start = time.perf_counter()
    tokens = fn()
    return tokens / (time.perf_counter() - start)


Runner = Callable[[int, int], int]  # (requests, new tokens each) -> tokens generated


def genai_rt_runner(quantize: str) -> Runner:
    llm = LLM(str(smollm2_gguf()), quantize=quantize, max_model_len=1024)

    def run(batch: int, tokens: int) -> int:
        params = SamplingParams(temperature=0, max_tokens=tokens, ignore_eos=True)
        outs = llm.generate([PROMPT] * batch, params)
        return sum(len(o.outputs[0].token_ids) for o in outs)

    return run


def llama_cpp_runner(threads: int) -> Runner | None:
    if importlib.util.find_spec("llama_cpp") is None:
        print("llama.cpp: llama-cpp-python is not installed here; its rows are not measured")
        return None
    import llama_cpp

    model = llama_cpp.Llama(model_path=str(smollm2_gguf()), n_threads=threads,
                            n_threads_batch=threads, n_ctx=1024, verbose=False)

    def run(batch: int, tokens: int) -> int:
        total = 0
        for _ in range(batch):  # one sequence at a time: Llama has no batching of requests
            out = model.create_completion(PROMPT, max_tokens=tokens, temperature=0.0,
                                          top_k=1, logit_bias={model.token_eos(): -1e9})
            total += int(out["usage"]["completion_tokens"])
        return total

    return run


def transformers_runner() -> Runner:
    import transformers

    path = smollm2_gguf()
    tok = transformers.AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        path.parent, gguf_file=path.name, dtype=torch.float32).eval()
    ids = tok(PROMPT, return_tensors="pt").input_ids

    def run(batch: int, tokens: int) -> int:
        assert batch == 1
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=tokens, min_new_tokens=tokens,
                                 do_sample=False)
        return int(out.shape[1] - ids.shape[1])

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--batch-tokens", type=int, default=32,
                        help="new tokens per request at 64 concurrent")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--transformers", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{platform.processor() or platform.machine()}, torch threads {args.threads}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")

    runners: dict[str, Runner] = {
        "genai_rt quantized": genai_rt_runner("auto"),
        "genai_rt dense fp32": genai_rt_runner("none"),
    }
    llama = llama_cpp_runner(args.threads)
    if llama is not None:
        runners["llama.cpp"] = llama
    if args.transformers:
        runners["transformers"] = transformers_runner()

    single: dict[str, list[float]] = {name: [] for name in runners}
    for run in runners.values():
        run(1, 4)  # warm-up
    for _ in range(args.repeats):  # interleaved: load drifts hit every engine alike
        for name, run in runners.items():
            single[name].append(_timed(lambda run=run: run(1, args.tokens)))
    print(f"\n1 sequence, {args.tokens} new tokens, median of {args.repeats} (tokens/s)")
    base = statistics.median(single["genai_rt quantized"])
    for name, values in single.items():
        med = statistics.median(values)
        print(f"| {name:<20} | {med:8.1f} | genai_rt quantized / this: {base / med:5.2f}x |")

    print(f"\n{args.concurrency} concurrent requests, {args.batch_tokens} new tokens each "
          "(total output tokens/s, one run)")
    many = {
        name: _timed(lambda run=run: run(args.concurrency, args.batch_tokens))
        for name, run in runners.items() if name != "transformers"
    }
    base = many["genai_rt quantized"]
    for name, value in many.items():
        print(f"| {name:<20} | {value:8.1f} | genai_rt quantized / this: {base / value:5.2f}x |")

if __name__ == "__main__":
    main()
