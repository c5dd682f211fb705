"""Model-level CPU timings: genai_rt's paged decoder vs transformers' forward, side by side.

The workload of the engine benchmark, at the model level: a random ~50M-parameter Llama in
fp32; 64 prompts of 32-512 tokens (prefill, then one decode step over all 64), and one
sequence of 256 tokens (decode step). transformers runs what ``generate`` runs: a left-padded
batch with an attention mask and a DynamicCache. Prints medians and the speed-up ratio.

    .venv/bin/python benchmarks/compare_model_forward.py [--quick]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from genai_rt.model.attention.torch_backend import TorchAttentionBackend  # noqa: E402
from genai_rt.model.loader import load_model  # noqa: E402
from tests.model.paged_batch import PagedDriver  # noqa: E402

BLOCK_SIZE = 16


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def build_checkpoint(path: Path) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=32000, hidden_size=512, intermediate_size=1536, num_hidden_layers=8,
        num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=2048,
    )
    model = LlamaForCausalLM(config).eval()
    model.save_pretrained(path)
    return model


def hf_padded_batch(prompts: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(map(len, prompts))
    ids = torch.zeros(len(prompts), width, dtype=torch.long)
    mask = torch.zeros(len(prompts), width, dtype=torch.long)
    for row, p in enumerate(prompts):
        ids[row, width - len(p):] = torch.tensor(p)
        mask[row, width - len(p):] = 1
    return ids, mask


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="8 prompts instead of 64")
    args = parser.parse_args()
    rng = random.Random(0)
    num_prompts = 8 if args.quick else 64
    prompts = [[rng.randrange(32000) for _ in range(rng.randint(32, 512))]
               for _ in range(num_prompts)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        hf = build_checkpoint(Path(tmp))
        model = load_model(tmp, TorchAttentionBackend())
        params = sum(p.numel() for p in model.parameters())
        for name, batch in [("1 seq x 256", [prompts[0][:32] * 8]), (f"{num_prompts} seqs", prompts)]:
            total_blocks = sum(-(-(len(p) + 8) // BLOCK_SIZE) for p in batch) + 4

            def ours_prefill(batch: list[list[int]] = batch) -> PagedDriver:
                driver = PagedDriver(model, total_blocks, BLOCK_SIZE)
                hidden = driver.step(list(enumerate(batch)))
                ends = torch.tensor([len(p) for p in batch]).cumsum(0) - 1
                model.compute_logits(hidden[ends])
                return driver

            driver = ours_prefill()

            def ours_decode(driver: PagedDriver = driver, n: int = len(batch)) -> None:
                model.compute_logits(driver.step([(s, [7]) for s in range(n)]))
                for s in range(n):  # rewind: every repeat decodes at the same length
                    driver.lengths[s] -= 1

            ids, mask = hf_padded_batch(batch)

            def hf_prefill(ids: torch.Tensor = ids, mask: torch.Tensor = mask) -> object:
                with torch.no_grad():
                    return hf(input_ids=ids, attention_mask=mask, use_cache=True,
                              logits_to_keep=1).past_key_values

            cache = hf_prefill()
            step_mask = torch.cat([mask, torch.ones(len(batch), 1, dtype=torch.long)], 1)

            def hf_decode(cache: object = cache, step_mask: torch.Tensor = step_mask) -> None:
                with torch.no_grad():
                    hf(input_ids=torch.full((len(batch), 1), 7), attention_mask=step_mask,
                       past_key_values=cache, use_cache=True)
                cache.crop(-1)  # type: ignore[attr-defined]  # drop the step just added

            reps = 3 if len(batch) > 1 else 20
            for phase, ours, theirs in [("prefill", ours_prefill, hf_prefill),
                                        ("decode step", ours_decode, hf_decode)]:
                t_ours = median_seconds(ours, reps)
                t_hf = median_seconds(theirs, reps)
                rows.append((name, phase, t_ours * 1e3, t_hf * 1e3, t_hf / t_ours))
    print(f"random Llama, {params / 1e6:.1f}M params, fp32, {torch.get_num_threads()} threads")
    print(f"{'workload':<14}{'phase':<13}{'genai_rt ms':>12}{'transformers ms':>17}{'ratio':>8}")
    for name, phase, ours_ms, hf_ms, ratio in rows:
        print(f"{name:<14}{phase:<13}{ours_ms:>12.1f}{hf_ms:>17.1f}{ratio:>7.2f}x")


if __name__ == "__main__":
    main()
