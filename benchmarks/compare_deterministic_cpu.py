"""The throughput cost of deterministic mode on CPU: the same engine, default vs deterministic.

One run, one process, interleaved: for each batch size, each mode runs the same greedy requests
(random prompts of 64-128 tokens) ``--repeats`` times; the table gives median output tokens/s
per mode and their ratio. Deterministic mode's outputs are also checked against each request's
solo run (they must be identical; the default mode's are counted, not required).

    .venv/bin/python benchmarks/compare_deterministic_cpu.py --model DIR   # any checkpoint
    .venv/bin/python benchmarks/compare_deterministic_cpu.py              # random 58M Llama

``DIR`` may be a Hugging Face folder or whatever ``LLM`` loads (the default model too).
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

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from genai_rt.config import EngineConfig  # noqa: E402
from genai_rt.engine import LLM, EngineCore  # noqa: E402
from genai_rt.sampling import SamplingParams  # noqa: E402


def make_llm(path: str, deterministic: bool, quantize: str) -> LLM:
    config = EngineConfig.from_model(path, dtype="float32", deterministic=deterministic,
                                     max_num_batched_tokens=2048, quantize=quantize)
    return LLM.from_engine(EngineCore(config))


def timed(llm: LLM, prompts: list[list[int]], new_tokens: int) -> tuple[float, list[list[int]]]:
    params = SamplingParams(temperature=0, max_tokens=new_tokens, ignore_eos=True)
    start = time.perf_counter()
    outs = llm.generate([{"prompt_token_ids": p} for p in prompts], params)
    elapsed = time.perf_counter() - start
    return elapsed, [o.outputs[0].token_ids for o in outs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="checkpoint (default: random 58M Llama)")
    parser.add_argument("--batches", default="1,16,64")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quantize", default="none", help="none (dense fp32, where the "
                        "fixed-order kernel replaces BLAS) or auto (a GGUF's quantized blocks)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tmp = None
    path = args.model
    if path is None:
        from compare_engine_cpu import build_checkpoint  # noqa: PLC0415 (benchmarks/ on path)

        tmp = tempfile.TemporaryDirectory()
        build_checkpoint(Path(tmp.name))
        path = tmp.name
    llms = {mode: make_llm(path, mode == "deterministic", args.quantize)
            for mode in ("default", "deterministic")}
    vocab = llms["default"].engine.model.config.vocab_size  # type: ignore[attr-defined]
    rng = random.Random(0)
    print(f"# {platform.processor() or platform.machine()}, {args.threads} threads, torch "
          f"{torch.__version__}, model {args.model or 'random 58M Llama'} "
          f"(quantize={args.quantize}), "
          f"{args.new_tokens} new tokens, median of {args.repeats}")
    print("| batch | default tok/s | deterministic tok/s | det / default | det = solo |")
    print("|---|---|---|---|---|")
    for batch in [int(b) for b in args.batches.split(",")]:
        prompts = [[rng.randrange(vocab) for _ in range(rng.randrange(64, 129))]
                   for _ in range(batch)]
        times: dict[str, list[float]] = {"default": [], "deterministic": []}
        outputs: dict[str, list[list[int]]] = {}
        for _ in range(args.repeats):
            for mode, llm in llms.items():
                elapsed, outputs[mode] = timed(llm, prompts, args.new_tokens)
                times[mode].append(elapsed)
        solo = [timed(llms["deterministic"], [p], args.new_tokens)[1][0] for p in prompts[:4]]
        same = all(solo[i] == outputs["deterministic"][i] for i in range(len(solo)))
        rate = {m: batch * args.new_tokens / statistics.median(t) for m, t in times.items()}
        print(f"| {batch} | {rate['default']:.1f} | {rate['deterministic']:.1f} | "
              f"{rate['deterministic'] / rate['default']:.2f} | {'yes' if same else 'NO'} |")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
