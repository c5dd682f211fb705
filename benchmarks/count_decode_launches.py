"""Kernel launches per decoder layer in one pure-decode step, fused vs unfused ops.

    .venv/bin/python benchmarks/count_decode_launches.py

Counts, does not time: runs the tiny decoder of the device check in the Triton interpreter on
the CPU and records every Triton launch and every matmul call of one forward (batch 1 and 32).
On a GPU the decode attention adds its merge launch whenever it splits the KV (batch 1 does).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ["TRITON_INTERPRET"] = "1"  # before any genai_rt.kernels import
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
import triton.runtime.interpreter as interpreter  # noqa: E402
from torch.overrides import TorchFunctionMode  # noqa: E402

MATMULS = (torch.mm, torch.addmm, torch.nn.functional.linear, torch.matmul)


class _CountMatmuls(TorchFunctionMode):
    def __init__(self, launches: list[str]) -> None:
        super().__init__()
        self.launches = launches

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        if func in MATMULS:
            self.launches.append(func.__name__)
        return func(*args, **(kwargs or {}))


def main() -> None:
    from genai_rt.model.attention.base import AttentionMetadata
    from genai_rt.model.attention.triton_backend import triton_model_ops
    from gpu_bench_decode import _build_model

    launches: list[str] = []
    run = interpreter.InterpretedFunction.run

    def counted(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        launches.append(self.fn.__name__)
        return run(self, *args, **kwargs)

    interpreter.InterpretedFunction.run = counted  # type: ignore[method-assign]
    model = _build_model(True, 64)
    cfg = model.config
    for batch in (1, 32):
        for fused in (True, False):
            model.ops = triton_model_ops(fused=fused)
            kv = [torch.zeros(2, 200, 16, cfg.num_key_value_heads, cfg.head_dim)
                  for _ in range(cfg.num_hidden_layers)]
            tables = torch.arange(1, 1 + batch * 3, dtype=torch.int32).view(batch, 3)
            meta = AttentionMetadata(
                query_start_loc=torch.arange(batch + 1, dtype=torch.int32),
                seq_lens=torch.full((batch,), 40, dtype=torch.int32), block_tables=tables,
                slot_mapping=tables[:, 2].long() * 16 + 7, query_lens_host=[1] * batch,
                seq_lens_host=[40] * batch, max_query_len=1, max_seq_len=40, block_size=16)
            launches.clear()
            with _CountMatmuls(launches):
                model(torch.zeros(batch, dtype=torch.long), torch.full((batch,), 39), kv, meta)
            per_layer = launches[: (len(launches) - 1) // cfg.num_hidden_layers]
            print(f"batch {batch}, {'fused' if fused else 'unfused'} ops: {len(per_layer)} "
                  f"launches a layer: {', '.join(per_layer)}")


if __name__ == "__main__":
    main()
