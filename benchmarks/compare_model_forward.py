"""Model-level CPU comparison: greedy decoding with genai_rt's paged decoder vs transformers.

A random ~58M-parameter Llama in fp32 (hidden 512, 8 layers, GQA 8/4, vocab 32000). genai_rt
runs a bare greedy loop on the model (all prompts prefilled in steps of at most
``--prefill-tokens`` tokens, then one decode step for every sequence at a time); transformers
runs ``generate`` on the left-padded batch (greedy, DynamicCache). Both must produce the same
tokens; the script prints wall times and the speed-up. This measures the model and attention
backend, not the engine (no scheduler or sampler).

    .venv/bin/python benchmarks/compare_model_forward.py                  # 16 prompts x 32
    .venv/bin/python benchmarks/compare_model_forward.py --prompts 64 --new-tokens 128
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from genai_rt.model.attention.torch_backend import TorchAttentionBackend  # noqa: E402
from genai_rt.model.llama import LlamaForCausalLM  # noqa: E402
from genai_rt.model.loader import load_model  # noqa: E402
from hf_baseline import left_padded  # noqa: E402  (benchmarks/ is on the path as the script's folder)

from tests.model.paged_batch import PagedDriver  # noqa: E402

BLOCK_SIZE = 16
VOCAB = 32000


def build_checkpoint(path: Path) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=VOCAB, hidden_size=512, intermediate_size=1536, num_hidden_layers=8,
        num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=2048,
    )
    model = LlamaForCausalLM(config).eval()
    model.save_pretrained(path)
    return model


def genai_rt_greedy(
    model: LlamaForCausalLM, prompts: list[list[int]], new_tokens: int, prefill_tokens: int
) -> list[list[int]]:
    driver = PagedDriver(
        model, sum(-(-(len(p) + new_tokens) // BLOCK_SIZE) for p in prompts), BLOCK_SIZE
    )
    last: list[int] = []
    batch: list[tuple[int, list[int]]] = []
    for seq, prompt in enumerate(prompts + [[]]):  # the empty sentinel flushes the last batch
        if batch and (not prompt or sum(len(t) for _, t in batch) + len(prompt) > prefill_tokens):
            hidden = driver.step(batch)
            ends = torch.tensor([len(t) for _, t in batch]).cumsum(0) - 1
            last += model.compute_logits(hidden[ends]).argmax(-1).tolist()
            batch = []
        if prompt:
            batch.append((seq, prompt))
    outputs = [[token] for token in last]
    for _ in range(new_tokens - 1):
        hidden = driver.step([(seq, [out[-1]]) for seq, out in enumerate(outputs)])
        for out, token in zip(outputs, model.compute_logits(hidden).argmax(-1).tolist(),
                              strict=True):
            out.append(token)
    return outputs


def transformers_greedy(
    hf: torch.nn.Module, prompts: list[list[int]], new_tokens: int
) -> list[list[int]]:
    ids, mask = left_padded(prompts)
    width = ids.shape[1]
    with torch.no_grad():
        out = hf.generate(  # type: ignore[operator]
            input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens,
            min_new_tokens=new_tokens, do_sample=False, pad_token_id=0,
        )
    return [row[width:].tolist() for row in out]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--prefill-tokens", type=int, default=512,
                        help="most prompt tokens per genai_rt prefill step")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = random.Random(0)
    batch = [[rng.randrange(3, VOCAB) for _ in range(rng.randint(32, 512))]
             for _ in range(args.prompts)]
    single = [[rng.randrange(3, VOCAB) for _ in range(256)]]
    with tempfile.TemporaryDirectory() as tmp:
        hf = build_checkpoint(Path(tmp))
        model = load_model(tmp, TorchAttentionBackend())
        genai_rt_greedy(model, single, 2, args.prefill_tokens)  # warm-up
        rows = []
        for name, prompts in [("1 x 256 prompt", single), (f"{args.prompts} x 32-512", batch)]:
            start = time.perf_counter()
            ours = genai_rt_greedy(model, prompts, args.new_tokens, args.prefill_tokens)
            t_ours = time.perf_counter() - start
            start = time.perf_counter()
            theirs = transformers_greedy(hf, prompts, args.new_tokens)
            t_hf = time.perf_counter() - start
            same = sum(a == b for a, b in zip(ours, theirs, strict=True))
            rows.append((name, t_ours, t_hf, same, len(prompts)))
    print(f"random Llama 58M fp32, {args.threads} thread(s), {args.new_tokens} new tokens, "
          f"greedy; genai_rt prefill steps <= {args.prefill_tokens} tokens")
    print(f"{'workload':<18}{'genai_rt s':>11}{'transformers s':>16}{'speed-up':>10}{'same':>8}")
    for name, t_ours, t_hf, same, n in rows:
        print(f"{name:<18}{t_ours:>11.2f}{t_hf:>16.2f}{t_hf / t_ours:>9.2f}x{same:>5}/{n}")


if __name__ == "__main__":
    main()
