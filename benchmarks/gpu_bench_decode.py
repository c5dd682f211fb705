"""End-to-end decode tokens/s of a Llama-3.2-1B-shaped random bf16 model, against the roofline.

The model is genai_rt's own decoder (genai_rt.model.llama) on the Triton attention backend and
Triton ops (the fused decode-layer kernels; batch 1 is timed again with the unfused ops),
replayed from CUDA graphs (CudaGraphDecodeRunner, LM head inside the graph). Every
sequence has CONTEXT tokens of random KV already cached; each step feeds the previous step's
greedy tokens back (no host sync inside the timed loop).

Roofline per step: bytes that must be read once (all weights, the LM head included, plus every
sequence's K/V over all layers) divided by the copy bandwidth measured in this run.
"""

# Closures in the case loops are timed and dropped within their own iteration:
# ruff: noqa: B023
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from gpu_bench_common import Recorder

LLAMA_1B = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 2048,
    "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
    "num_key_value_heads": 8, "head_dim": 64, "vocab_size": 128256, "rms_norm_eps": 1e-5,
    "rope_theta": 500000.0, "max_position_embeddings": 131072, "tie_word_embeddings": True,
    "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                     "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
    "torch_dtype": "bfloat16",
}
TINY = {**LLAMA_1B, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 211}
BLOCK_SIZE = 16


def _build_model(dry: bool, max_model_len: int) -> torch.nn.Module:
    from genai_rt.model.attention.triton_backend import TritonAttentionBackend, triton_model_ops
    from genai_rt.model.hf_config import HFModelConfig
    from genai_rt.model.llama import LlamaForCausalLM

    config = HFModelConfig.from_dict(TINY if dry else LLAMA_1B)
    dtype = torch.float32 if dry else torch.bfloat16
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device("cpu" if dry else "cuda"):  # parameters born on the device
            model = LlamaForCausalLM(config, TritonAttentionBackend(), max_model_len,
                                     triton_model_ops())
    finally:
        torch.set_default_dtype(previous)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name:
                param.fill_(1.0)
            else:
                param.normal_(0.0, 0.02)
    model.init_rotary_cache()
    return model.eval()


def _peak_copy_gbs(out_dir: Path) -> float | None:
    path = out_dir / "results.jsonl"
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if row["stage"] == "roofline" and row["name"] == "copy bandwidth":
            return row.get("value")
    return None


def run_decode_benchmark(rec: Recorder, dry: bool, out_dir: Path) -> None:
    """Decode tokens/s at batch 1, 16, 64 (tiny model, eager, on the CPU dry run), and batch 1
    again with the unfused ops."""
    from genai_rt.model.cuda_graph import CudaGraphDecodeRunner

    device = "cpu" if dry else "cuda"
    context, steps = (20, 2) if dry else (1024, 32)
    batches = (1, 3) if dry else (1, 16, 64)
    max_model_len = context + steps + 16
    which = "genai_rt llama + triton backend"
    try:
        if os.environ.get("GPU_CHECK_KERNEL_ONLY_MODEL"):
            raise RuntimeError("GPU_CHECK_KERNEL_ONLY_MODEL is set")
        model = _build_model(dry, max_model_len)
    except Exception as exc:  # noqa: BLE001 - fall back to the kernels-only decoder
        rec.error("decode: genai_rt.model build (falling back)", exc)
        from gpu_decode_model import KernelOnlyLlama

        which = "self-contained kernels-only decoder (gpu_decode_model.py)"
        try:
            model = KernelOnlyLlama(TINY if dry else LLAMA_1B, max_model_len,
                                    torch.float32 if dry else torch.bfloat16, device)
        except Exception as exc2:  # noqa: BLE001 - report and stop this stage
            rec.error("decode model build", exc2)
            return
    cfg = model.config
    per_seq_blocks = -(-max_model_len // BLOCK_SIZE)
    num_blocks = max(batches) * per_seq_blocks + 1
    kv_caches = [torch.randn(2, num_blocks, BLOCK_SIZE, cfg.num_key_value_heads, cfg.head_dim,
                             dtype=model.embed_tokens.dtype, device=device)
                 for _ in range(cfg.num_hidden_layers)]
    runner = None
    if not dry:
        try:
            runner = CudaGraphDecodeRunner(model, kv_caches, batch_sizes=batches,
                                           with_logits=True)
            runner.capture()
        except Exception as exc:  # noqa: BLE001 - fall back to eager and say so
            rec.error("decode CUDA graph capture", exc)
            runner = None
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    copy_gbs = _peak_copy_gbs(out_dir)
    shape = DecodeShape(context, steps, num_blocks, per_seq_blocks, weight_bytes, copy_gbs, which)
    for batch in batches:
        _measure_batch(rec, f"decode e2e batch {batch}", batch, model, runner, kv_caches, shape,
                       dry)
    # The same model with the unfused ops (the fusions' effect at batch 1); graphs re-captured.
    if not hasattr(model, "ops"):
        return  # the kernels-only fallback decoder has no ops to swap
    try:
        from genai_rt.model.attention.triton_backend import triton_model_ops

        fused_ops = model.ops
        model.ops = triton_model_ops(fused=False)
        unfused_runner = None
        if not dry:
            unfused_runner = CudaGraphDecodeRunner(model, kv_caches, batch_sizes=(1,),
                                                   with_logits=True)
            unfused_runner.capture()
        _measure_batch(rec, "decode e2e batch 1 unfused ops", 1, model, unfused_runner,
                       kv_caches, shape, dry)
        model.ops = fused_ops
    except Exception as exc:  # noqa: BLE001
        rec.error("decode e2e batch 1 unfused ops", exc)


@dataclass(frozen=True)
class DecodeShape:
    context: int
    steps: int
    num_blocks: int
    per_seq_blocks: int
    weight_bytes: int
    copy_gbs: float | None
    which: str


def _measure_batch(rec: Recorder, name: str, batch: int, model: Any, runner: Any,
                   kv_caches: list[torch.Tensor], shape: DecodeShape, dry: bool) -> None:
    """Time ``shape.steps`` decode steps of ``batch`` sequences and record one row."""
    from genai_rt.model.attention.base import AttentionMetadata

    device = "cpu" if dry else "cuda"
    cfg = model.config
    context, steps, num_blocks = shape.context, shape.steps, shape.num_blocks
    per_seq_blocks, weight_bytes = shape.per_seq_blocks, shape.weight_bytes
    copy_gbs = shape.copy_gbs
    try:
        tables = (1 + torch.randperm(num_blocks - 1, device=device)[: batch * per_seq_blocks]
                  ).to(torch.int32).view(batch, per_seq_blocks)
        metas, positions = [], []
        for step in range(steps):
            seq_len = context + step + 1
            pos = torch.full((batch,), seq_len - 1, dtype=torch.int64, device=device)
            block = tables[:, (seq_len - 1) // BLOCK_SIZE].long()
            metas.append(AttentionMetadata(
                query_start_loc=torch.arange(batch + 1, dtype=torch.int32, device=device),
                seq_lens=torch.full((batch,), seq_len, dtype=torch.int32, device=device),
                block_tables=tables,
                slot_mapping=block * BLOCK_SIZE + (seq_len - 1) % BLOCK_SIZE,
                query_lens_host=[1] * batch, seq_lens_host=[seq_len] * batch,
                max_query_len=1, max_seq_len=seq_len, block_size=BLOCK_SIZE))
            positions.append(pos)

        def step_fn(ids: torch.Tensor, i: int) -> torch.Tensor:
            if runner is not None:
                return runner.forward(ids, positions[i], metas[i])
            return model.compute_logits(model(ids, positions[i], kv_caches, metas[i]))

        ids = torch.zeros(batch, dtype=torch.int64, device=device)
        check = None
        if runner is not None:  # the replayed step must equal the eager one (same KV)
            replayed = runner.forward(ids, positions[0], metas[0]).clone()
            eager = model.compute_logits(model(ids, positions[0], kv_caches, metas[0]))
            err = float((replayed - eager).abs().max())
            check = f"{'ok' if err <= 1.6e-2 else 'MISMATCH'} (graph vs eager {err:.2g})"
        for i in range(min(3, steps)):  # warm-up (compiles in the eager/dry path)
            ids = step_fn(ids, i).argmax(-1)
        if not dry:
            torch.cuda.synchronize()
        start = time.perf_counter()
        for i in range(steps):
            ids = step_fn(ids, i).argmax(-1)
        if not dry:
            torch.cuda.synchronize()
        step_s = (time.perf_counter() - start) / steps
        kv_bytes = (batch * (context + steps / 2) * cfg.num_hidden_layers * 2
                    * cfg.num_key_value_heads * cfg.head_dim * kv_caches[0].element_size())
        roof_tps = batch / ((weight_bytes + kv_bytes) / (copy_gbs * 1e9)) if copy_gbs else None
        tps = batch / step_s
        rec.add(name, f"ctx {context} + {steps} steps", step_s * 1e6,
                value=tps, unit="tok/s",
                pct_of_peak=100 * tps / roof_tps if roof_tps else None,
                target=">=70% of roofline (batch 1)" if name == "decode e2e batch 1" else None,
                status=("dry-run" if dry else "ok" if roof_tps and tps >= 0.7 * roof_tps
                        else "below target" if name == "decode e2e batch 1" else None),
                check=check,
                note=(f"{shape.which}, "
                      f"{'CUDA graphs' if runner is not None else 'eager'}; roofline "
                      f"{roof_tps and round(roof_tps)} tok/s "
                      f"(weights {weight_bytes / 1e9:.2f} GB + KV {kv_bytes / 1e9:.2f} GB)"))
    except Exception as exc:  # noqa: BLE001
        rec.error(name, exc)
