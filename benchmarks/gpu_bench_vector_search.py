"""GPU exact vector search for the device check: kernels/vector_topk.py against torch.

1M x 768 fp16 rows, top-10 by inner product, at batch 1, 64 and 1024: our fused kernel (scores
never written to memory) against torch ``q @ x.T`` + ``torch.topk``, and the same kernel with a
50% allow-bitmap (the access boundary), which must be no slower than unfiltered. Achieved GB/s
counts the rows read once; batch 1024 is compute-bound, so its TFLOP/s is in the note.
"""

# ruff: noqa: B023
from __future__ import annotations

from typing import Any

import torch
from gpu_bench_common import Recorder, median_us

K = 10


def run_vector_search_benchmarks(rec: Recorder, dry_run: bool) -> None:
    from genai_rt.kernels.vector_topk import vector_topk, vector_topk_ref

    device = "cpu" if dry_run else "cuda"
    n, dim = (300, 32) if dry_run else (1_000_000, 768)
    gen = torch.Generator(device=device).manual_seed(0)
    rows = torch.randn(n, dim, device=device, generator=gen, dtype=torch.float16)
    words = (n + 31) // 32
    half = torch.full((words,), 0x55555555, dtype=torch.int32, device=device)  # every 2nd row
    for batch in ((2,) if dry_run else (1, 64, 1024)):
        shape = f"{n}x{dim} fp16, batch {batch}, k={K}"
        q = torch.randn(batch, dim, device=device, generator=gen)
        bytes_read = n * dim * 2
        flops = 2 * batch * n * dim
        try:
            got = vector_topk(q, rows, K)
            want = vector_topk_ref(q, rows, K)
            same = bool(torch.equal(got[1], want[1]))
            q16 = q.to(torch.float16)

            def torch_baseline() -> Any:
                return torch.topk((q16 @ rows.T).float(), K, dim=1)

            torch_us = median_us(torch_baseline, dry_run)
            for name, allow in (("vector_topk", None), ("vector_topk 50% allowed", half)):
                us = median_us(lambda: vector_topk(q, rows, K, allow=allow), dry_run)
                rec.add(name, shape, us, value=bytes_read / us / 1e3, unit="GB/s",
                        torch_us=torch_us, target=">=80% copy BW and 2x torch",
                        check="ok" if same else "MISMATCH (ids differ from the reference)",
                        note=f"{flops / us / 1e6:.1f} TFLOP/s; torch = fp16 matmul + topk")
        except Exception as exc:  # noqa: BLE001 - every case reports and goes on
            rec.error(f"vector_topk batch {batch}", exc)
