"""GGUF dequantization at load: genai_rt's torch decoders vs ``gguf.quants.dequantize`` (numpy).

Random blocks of each legacy type (the k-quants use gguf's routine on both sides, so they are
not compared), one process, median of ``--repeats`` alternating runs, and the whole SmolLM2 file
dequantized once with genai_rt's decoders.

    .venv/bin/python benchmarks/compare_gguf_dequant.py --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, quants

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from genai_rt.model.gguf_dequant import dequantize  # noqa: E402
from genai_rt.model.gguf_file import GGUFFile, GGUFTensor  # noqa: E402

TYPES = ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"]


def random_tensor(kind: GGMLQuantizationType, values: int) -> GGUFTensor:
    block_values, block_bytes = GGML_QUANT_SIZES[kind]
    blocks = values // block_values
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, size=(blocks, block_bytes), dtype=np.uint8)
    raw[:, 0:2] = rng.standard_normal(blocks).astype(np.float16).view(np.uint8).reshape(-1, 2)
    return GGUFTensor("w", kind, (values // 576, 576), raw.reshape(values // 576, -1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=576 * 1536 * 8, help="values per tensor")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, {args.values} values per tensor")
    print("| type | genai_rt torch ms | gguf.quants ms | speed-up |")
    print("|---|---:|---:|---:|")
    for name in TYPES:
        tensor = random_tensor(GGMLQuantizationType[name], args.values)
        ours, theirs = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            dequantize(tensor)
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            quants.dequantize(tensor.raw, tensor.ggml_type)
            theirs.append(time.perf_counter() - start)
        a, b = statistics.median(ours) * 1e3, statistics.median(theirs) * 1e3
        print(f"| {name} | {a:.1f} | {b:.1f} | {b / a:.2f}x |")
    try:
        from genai_rt.model.default_model import smollm2_gguf

        start = time.perf_counter()
        gguf = GGUFFile(smollm2_gguf())
        opened = time.perf_counter() - start
        start = time.perf_counter()
        count = sum(dequantize(t).numel() for t in gguf.tensors())
        print(f"\nSmolLM2 GGUF: open {opened:.2f}s, dequantize {count / 1e6:.0f}M values "
              f"in {time.perf_counter() - start:.2f}s")
    except RuntimeError as err:
        print(f"\nSmolLM2 GGUF: skipped ({err})")


if __name__ == "__main__":
    main()
