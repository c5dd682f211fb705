"""Sampler step time, side by side: genai_rt's batched Sampler against two baselines.

- per-row: tests/sampling/reference_sampler.py, what a straightforward implementation does (per
  row, HF's logits processors then ``torch.multinomial``);
- batched-sort: the shape of vLLM's native torch sampler (the same processing, then one full sort
  for top-k/top-p whenever a row asks for either, and exponential-race noise for the draw).

All see the same logits and rows; the table prints median step times and genai_rt's speed-up.

Usage: ``python benchmarks/compare_sampler.py [--rows 64] [--vocab 32000] [--threads 1]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genai_rt.sampling import Sampler, SamplingParams, SamplingRow, make_generator  # noqa: E402
from genai_rt.sampling.truncation import apply_min_p, apply_top_k_top_p  # noqa: E402

from tests.sampling.reference_sampler import reference_sample_step  # noqa: E402

EOS = [2]


def _workloads(rows: int) -> dict[str, Callable[[int], SamplingParams]]:
    return {
        "greedy": lambda i: SamplingParams(temperature=0),
        "temperature": lambda i: SamplingParams(temperature=0.8),
        "top_k=50": lambda i: SamplingParams(temperature=0.8, top_k=50),
        "top_p=0.9": lambda i: SamplingParams(temperature=0.8, top_p=0.9),
        "min_p=0.05": lambda i: SamplingParams(temperature=0.8, min_p=0.05),
        "penalties": lambda i: SamplingParams(temperature=0.8, repetition_penalty=1.1,
                                              presence_penalty=0.2, frequency_penalty=0.3),
        "seeded top_p": lambda i: SamplingParams(temperature=0.8, top_p=0.95, seed=i),
        "mixed": lambda i: [SamplingParams(temperature=0),
                            SamplingParams(temperature=0.7, top_p=0.9),
                            SamplingParams(temperature=1.0, seed=i, top_k=40),
                            SamplingParams(repetition_penalty=1.2, min_p=0.1)][i % 4],
    }


def _rows(make: Callable[[int], SamplingParams], count: int, vocab: int) -> list[SamplingRow]:
    g = torch.Generator().manual_seed(0)
    rows = []
    for i in range(count):
        params = make(i)
        prompt = torch.randint(0, vocab, (32 + (i * 37) % 480,), generator=g).tolist()
        output = torch.randint(0, vocab, (64,), generator=g).tolist()
        generator = make_generator(params.seed) if params.seed is not None else None
        rows.append(SamplingRow(params, prompt, output, generator))
    return rows


def batched_sort_step(sampler: Sampler, logits: torch.Tensor, rows: list[SamplingRow]) -> list[int]:
    """vLLM-style batched baseline: full sort for top-k/top-p, exponential-race draw."""
    x = sampler.process_logits(logits, rows)
    greedy = torch.tensor([r.params.is_greedy for r in rows])
    if bool(greedy.all()):
        return x.argmax(dim=-1).tolist()
    temperature = torch.tensor([1.0 if r.params.is_greedy else r.params.temperature for r in rows])
    x = x / temperature.unsqueeze(1)
    top_k = torch.tensor([r.params.top_k if r.params.top_k > 0 else x.shape[1] for r in rows])
    top_p = torch.tensor([r.params.top_p for r in rows])
    if bool((top_k < x.shape[1]).any() or (top_p < 1).any()):
        apply_top_k_top_p(x, top_k, top_p)
    min_p = torch.tensor([r.params.min_p for r in rows])
    if bool((min_p > 0).any()):
        apply_min_p(x, min_p)
    probs = x.softmax(dim=-1)
    noise = torch.empty_like(probs).exponential_()
    for i, row in enumerate(rows):
        if row.generator is not None:
            noise[i].exponential_(generator=row.generator)
    tokens = torch.where(greedy, x.argmax(dim=-1), (probs / noise).argmax(dim=-1))
    return tokens.tolist()


def _median_ms(steps: list[Callable[[], object]], repeats: int) -> list[float]:
    """Median ms of each step, run interleaved so that load changes hit all of them alike."""
    times: list[list[float]] = [[] for _ in steps]
    for step in steps:
        step()
    for _ in range(repeats):
        for i, step in enumerate(steps):
            start = time.perf_counter()
            step()
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) * 1e3 for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--peaked", type=float, default=8.0,
                        help="logit scale: LM-like peaked rows (8) or flat random ones (1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logits = torch.randn(args.rows, args.vocab, generator=torch.Generator().manual_seed(1))
    logits *= args.peaked
    sampler = Sampler(args.vocab, EOS)
    print(f"rows={args.rows} vocab={args.vocab} threads={args.threads} logit scale={args.peaked}")
    print(f"{'workload':14s} {'genai_rt ms':>12s} {'batched-sort ms':>16s} {'per-row ms':>11s} "
          f"{'vs sort':>8s} {'vs per-row':>11s}")
    for name, make in _workloads(args.rows).items():
        rows = _rows(make, args.rows, args.vocab)
        ours, batched, ref = _median_ms(
            [lambda rows=rows: sampler(logits, rows),
             lambda rows=rows: batched_sort_step(sampler, logits, rows),
             lambda rows=rows: reference_sample_step(logits, rows, EOS)],
            args.repeats)
        print(f"{name:14s} {ours:12.2f} {batched:16.2f} {ref:11.2f} {batched / ours:7.1f}x "
              f"{ref / ours:10.1f}x")


if __name__ == "__main__":
    main()
