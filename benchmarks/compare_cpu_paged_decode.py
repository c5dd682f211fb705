"""CPU decode attention side by side: the core's paged kernel against gather + SDPA.

64 decode sequences of 100-576 context tokens, 8 heads over 4 KV heads of 64, fp32, block 16,
through ``TorchAttentionBackend.forward`` (cache write included). Prints medians and the ratio
at 1 thread and at torch's default thread count.

    .venv/bin/python benchmarks/compare_cpu_paged_decode.py [--repeats 9]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from genai_rt.model.attention.base import AttentionMetadata
from genai_rt.model.attention.torch_backend import TorchAttentionBackend


def decode_step(
    num_seqs: int, heads: int, kv_heads: int, dim: int, block: int, seed: int
) -> tuple[torch.Tensor, ...]:
    """A cache, q/k/v and metadata for one decode token per sequence."""
    gen = torch.Generator().manual_seed(seed)
    lens = torch.randint(100, 577, (num_seqs,), generator=gen).tolist()
    width = max(-(-n // block) for n in lens)
    num_blocks = sum(-(-n // block) for n in lens)
    pool = torch.randperm(num_blocks, generator=gen).tolist()
    tables = torch.full((num_seqs, width), -1, dtype=torch.int32)
    slots = []
    for seq, n in enumerate(lens):
        count = -(-n // block)
        tables[seq, :count] = torch.tensor([pool.pop() for _ in range(count)], dtype=torch.int32)
        slots.append(int(tables[seq, (n - 1) // block]) * block + (n - 1) % block)
    cache = torch.randn(2, num_blocks, block, kv_heads, dim, generator=gen)
    q = torch.randn(num_seqs, heads, dim, generator=gen)
    k = torch.randn(num_seqs, kv_heads, dim, generator=gen)
    v = torch.randn(num_seqs, kv_heads, dim, generator=gen)
    meta = AttentionMetadata(
        query_start_loc=torch.arange(num_seqs + 1, dtype=torch.int32),
        seq_lens=torch.tensor(lens, dtype=torch.int32), block_tables=tables,
        slot_mapping=torch.tensor(slots), query_lens_host=[1] * num_seqs, seq_lens_host=lens,
        max_query_len=1, max_seq_len=max(lens), block_size=block,
    )
    return cache, q, k, v, meta


def median_ms(
    backend: TorchAttentionBackend, args: tuple[torch.Tensor, ...], repeats: int
) -> float:
    cache, q, k, v, meta = args
    backend.forward(q, k, v, cache, meta, scale=0.125)  # warm-up (plan, workspace)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        backend.forward(q, k, v, cache, meta, scale=0.125)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    step = decode_step(64, heads=8, kv_heads=4, dim=64, block=16, seed=0)
    default_threads = torch.get_num_threads()
    print(f"{'threads':>7} {'kernel ms':>10} {'gather+SDPA ms':>15} {'ratio':>6}")
    for threads in sorted({1, default_threads}):
        torch.set_num_threads(threads)
        kernel = median_ms(TorchAttentionBackend(cpu_kernel=True), step, args.repeats)
        gather = median_ms(TorchAttentionBackend(cpu_kernel=False), step, args.repeats)
        print(f"{threads:>7} {kernel:>10.2f} {gather:>15.2f} {gather / kernel:>5.2f}x")
    torch.set_num_threads(default_threads)


if __name__ == "__main__":
    main()
