"""Per-kernel timings for the device check: ours against plain torch on the same inputs.

Each case reports achieved GB/s (bytes the op must move at least once) or TFLOP/s, and the torch
baseline's median: F.scaled_dot_product_attention (flash backend) over the same pages gathered
for attention; the model's plain-torch ops for the small ops; torch sort/softmax/multinomial for
sampling; torch.topk for top-k.
"""

# Closures in the case loops are timed and dropped within their own iteration:
# ruff: noqa: B023
from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from gpu_bench_common import Recorder, graph_median_us, median_us

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for tests.*
from tests.kernels.tolerances import TOLERANCES  # noqa: E402

BF16 = torch.bfloat16


def _compare(got: torch.Tensor, want: torch.Tensor) -> str:
    """Each timed output is first checked against its ``<op>_ref`` with the tests' tolerance."""
    atol, rtol = TOLERANCES[got.dtype]
    got, want = got.float(), want.float().to(got.device)
    ok = torch.allclose(got, want, atol=atol, rtol=rtol)
    err = float((got - want).abs().max()) if got.numel() else 0.0
    return f"{'ok' if ok else 'MISMATCH'} (max abs err {err:.2g})"


def _torch_median_us(fn: Callable[[], Any], dry: bool) -> tuple[float | None, str]:
    """The baseline's median, forcing SDPA's flash backend; another backend (said in the note)
    when flash refuses the inputs, None when torch fails outright."""
    try:
        with _sdpa_flash():
            return median_us(fn, dry), ("torch: SDPA flash" if torch.cuda.is_available()
                                        else "torch: SDPA (cpu)")
    except RuntimeError as exc:
        try:
            return median_us(fn, dry), f"torch: SDPA default (flash refused: {str(exc)[:60]})"
        except RuntimeError as exc2:
            return None, f"torch baseline failed: {str(exc2)[:80]}"


def _sdpa_flash() -> contextlib.AbstractContextManager[Any]:
    """Force SDPA's flash backend (GPU); plain SDPA on the CPU dry run."""
    if not torch.cuda.is_available():
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel(SDPBackend.FLASH_ATTENTION)


def _paged(batch: int, seq_len: int, kv_heads: int, head_dim: int, block_size: int,
           dtype: torch.dtype, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A random cache with every sequence at seq_len in shuffled blocks, and its block tables."""
    per_seq = -(-seq_len // block_size)
    kv_cache = torch.randn(2, batch * per_seq, block_size, kv_heads, head_dim, dtype=dtype,
                           device=device)
    tables = torch.randperm(batch * per_seq, device=device).to(torch.int32).view(batch, per_seq)
    return kv_cache, tables


def _gathered(kv_cache: torch.Tensor, tables: torch.Tensor, seq_len: int):
    # [batch, kv_heads, seq_len, head_dim] contiguous K and V, for the SDPA baseline.
    k = kv_cache[0][tables.long()].flatten(1, 2)[:, :seq_len].transpose(1, 2).contiguous()
    v = kv_cache[1][tables.long()].flatten(1, 2)[:, :seq_len].transpose(1, 2).contiguous()
    return k, v


def bench_decode_attention(rec: Recorder, dry: bool, device: str) -> None:
    from genai_rt.kernels.decode_attention import decode_attention, decode_attention_ref

    cases = [(2, 70, 4, 2, 64)] if dry else [
        (64, 1024, 32, 8, 64), (16, 4096, 32, 8, 128), (1, 8192, 32, 8, 128), (64, 4096, 32, 8, 64)]
    for batch, seq_len, heads, kv_heads, head_dim in cases:
        name, shape = "decode attention", f"B{batch} L{seq_len} H{heads}/{kv_heads} D{head_dim}"
        try:
            dtype = torch.float32 if dry else BF16
            kv_cache, tables = _paged(batch, seq_len, kv_heads, head_dim, 16, dtype, device)
            lens = torch.full((batch,), seq_len, dtype=torch.int32, device=device)
            q = torch.randn(batch, heads, head_dim, dtype=dtype, device=device)
            out = torch.empty_like(q)
            scale = head_dim**-0.5
            us = median_us(lambda: decode_attention(q, kv_cache, tables, lens, scale, seq_len,
                                                    out=out), dry)
            k, v = _gathered(kv_cache, tables, seq_len)
            # GQA folded into the query axis: [B, kv_heads, group, D] against [B, kv_heads, L, D]
            qg = q.view(batch, kv_heads, heads // kv_heads, head_dim)
            torch_us, note = _torch_median_us(
                lambda: F.scaled_dot_product_attention(qg, k, v, scale=scale), dry)
            moved = 2 * k.numel() * k.element_size() + 2 * q.numel() * q.element_size()
            check = _compare(out, decode_attention_ref(q, kv_cache, tables, lens, scale))
            # Small shapes are bound by Python launch cost, which the engine's CUDA graphs remove:
            # also time both sides replayed from a graph (device time only).
            note += "; " + _graph_note(
                lambda: decode_attention(q, kv_cache, tables, lens, scale, seq_len, out=out),
                lambda: F.scaled_dot_product_attention(qg, k, v, scale=scale), moved, dry)
            rec.add(name, shape, us, value=moved / us / 1e3, unit="GB/s", torch_us=torch_us,
                    target=">=80% copy BW, faster than SDPA-flash", note=note, check=check)
        except Exception as exc:  # noqa: BLE001 - report and go on
            rec.error(f"{name} {shape}", exc)


def _graph_note(ours: Callable[[], Any], sdpa: Callable[[], Any], moved: int, dry: bool) -> str:
    """Graph-replay medians of our kernel and SDPA-flash, as a note ('' on the CPU)."""
    if dry:
        return "graph replay: n/a on CPU"
    try:
        ours_us = graph_median_us(ours, dry)
        with _sdpa_flash():
            sdpa_us = graph_median_us(sdpa, dry)
    except Exception as exc:  # noqa: BLE001 - a note, never a failed row
        return f"graph replay failed: {str(exc)[:60]}"
    assert ours_us is not None and sdpa_us is not None
    return (f"graph replay {ours_us:.1f} us ({moved / ours_us / 1e3:.0f} GB/s) vs SDPA "
            f"{sdpa_us:.1f} us ({sdpa_us / ours_us:.2f}x)")


def bench_extend_attention(rec: Recorder, dry: bool, device: str) -> None:
    from genai_rt.kernels.extend_attention import extend_attention, extend_attention_ref

    cases = [(1, 20, 4, 2, 64)] if dry else [(4, 1024, 32, 8, 128), (1, 4096, 32, 8, 64)]
    for batch, seq_len, heads, kv_heads, head_dim in cases:
        name, shape = "prefill attention", f"B{batch} L{seq_len} H{heads}/{kv_heads} D{head_dim}"
        try:
            dtype = torch.float32 if dry else BF16
            kv_cache, tables = _paged(batch, seq_len, kv_heads, head_dim, 16, dtype, device)
            lens = torch.full((batch,), seq_len, dtype=torch.int32, device=device)
            starts = torch.arange(batch + 1, dtype=torch.int32, device=device) * seq_len
            q = torch.randn(batch * seq_len, heads, head_dim, dtype=dtype, device=device)
            out = torch.empty_like(q)
            scale = head_dim**-0.5
            us = median_us(lambda: extend_attention(q, kv_cache, tables, starts, lens, scale,
                                                    seq_len, out=out), dry)
            k, v = _gathered(kv_cache, tables, seq_len)
            group = heads // kv_heads
            k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
            qb = q.view(batch, seq_len, heads, head_dim).transpose(1, 2)
            torch_us, note = _torch_median_us(lambda: F.scaled_dot_product_attention(
                qb, k, v, is_causal=True, scale=scale), dry)
            flops = 4 * batch * heads * head_dim * seq_len * (seq_len + 1) / 2  # causal half
            check = _compare(out, extend_attention_ref(q, kv_cache, tables, starts.cpu(),
                                                       lens.cpu(), scale))
            rec.add(name, shape, us, value=flops / us / 1e6, unit="TFLOP/s", torch_us=torch_us,
                    note=note + ", causal, K/V gathered and repeated per head", check=check)
        except Exception as exc:  # noqa: BLE001
            rec.error(f"{name} {shape}", exc)


def _bytes_case(rec: Recorder, dry: bool, name: str, shape: str, ours: Callable[[], Any],
                theirs: Callable[[], Any], moved: int, note: str,
                check: Callable[[], str]) -> None:
    verdict = check()
    us = median_us(ours, dry)
    torch_us = median_us(theirs, dry)
    rec.add(name, shape, us, value=moved / us / 1e3, unit="GB/s", torch_us=torch_us, note=note,
            check=verdict)


def _check_rotary(pos, q, k, cache, ours, ref) -> str:
    q1, k1, q2, k2 = q.clone(), k.clone(), q.clone(), k.clone()
    ours(pos, q1, k1, cache)
    ref(pos, q2, k2, cache)
    return _compare(torch.cat([q1.flatten(), k1.flatten()]),
                    torch.cat([q2.flatten(), k2.flatten()]))


def _check_kv_write(key, value, kv_cache, slots, ours, ref) -> str:
    a, b = torch.zeros_like(kv_cache), torch.zeros_like(kv_cache)
    ours(key, value, a, slots)
    ref(key, value, b, slots)
    return _compare(a, b)


def bench_small_ops(rec: Recorder, dry: bool, device: str) -> None:
    from genai_rt.kernels.kv_cache_write import write_kv_cache, write_kv_cache_ref
    from genai_rt.kernels.rms_norm import rms_norm, rms_norm_ref
    from genai_rt.kernels.rotary import rotary_embedding, rotary_embedding_ref
    from genai_rt.kernels.silu_and_mul import silu_and_mul, silu_and_mul_ref
    from genai_rt.model import layers
    from genai_rt.model.attention.torch_backend import write_kv_cache as torch_write_kv_cache

    dtype = torch.float32 if dry else BF16
    size = dtype.itemsize
    for tokens in ([3] if dry else [64, 4096]):
        hidden, inter, heads, kv_heads, head_dim = ((64, 96, 4, 2, 16) if dry
                                                    else (2048, 8192, 32, 8, 64))
        try:
            x = torch.randn(tokens, hidden, dtype=dtype, device=device)
            res = torch.randn_like(x)
            w = torch.randn(hidden, dtype=dtype, device=device)
            _bytes_case(rec, dry, "residual+rmsnorm", f"T{tokens} H{hidden}",
                        lambda: rms_norm(x, res, w, 1e-5), lambda: layers.rms_norm(x, res, w, 1e-5),
                        4 * x.numel() * size, "torch: model layers.rms_norm",
                        lambda: _compare(rms_norm(x, res, w, 1e-5)[0],
                                         rms_norm_ref(x, res, w, 1e-5)[0]))
        except Exception as exc:  # noqa: BLE001
            rec.error(f"residual+rmsnorm T{tokens}", exc)
        try:
            gate_up = torch.randn(tokens, 2 * inter, dtype=dtype, device=device)
            _bytes_case(rec, dry, "silu_and_mul", f"T{tokens} I{inter}",
                        lambda: silu_and_mul(gate_up), lambda: layers.silu_and_mul(gate_up),
                        3 * tokens * inter * size, "torch: model layers.silu_and_mul",
                        lambda: _compare(silu_and_mul(gate_up), silu_and_mul_ref(gate_up)))
        except Exception as exc:  # noqa: BLE001
            rec.error(f"silu_and_mul T{tokens}", exc)
        try:
            q = torch.randn(tokens, heads, head_dim, dtype=dtype, device=device)
            k = torch.randn(tokens, kv_heads, head_dim, dtype=dtype, device=device)
            pos = torch.randint(0, 4096, (tokens,), device=device)
            cache = torch.randn(4096, head_dim, dtype=dtype, device=device)
            _bytes_case(rec, dry, "rotary (q+k in place)", f"T{tokens} H{heads}/{kv_heads}",
                        lambda: rotary_embedding(pos, q, k, cache),
                        lambda: layers.rotary_embedding(pos, q, k, cache),
                        2 * (q.numel() + k.numel()) * size + tokens * head_dim * size,
                        "torch: model layers.rotary_embedding",
                        lambda: _check_rotary(pos, q, k, cache, rotary_embedding,
                                              rotary_embedding_ref))
        except Exception as exc:  # noqa: BLE001
            rec.error(f"rotary T{tokens}", exc)
        try:
            kv_cache = torch.zeros(2, tokens // 16 + 8, 16, kv_heads, head_dim, dtype=dtype,
                                   device=device)
            key = torch.randn(tokens, kv_heads, head_dim, dtype=dtype, device=device)
            value = torch.randn_like(key)
            slots = torch.randperm(kv_cache.shape[1] * 16, device=device)[:tokens]
            _bytes_case(rec, dry, "kv cache write", f"T{tokens} KV{kv_heads}x{head_dim}",
                        lambda: write_kv_cache(key, value, kv_cache, slots),
                        lambda: torch_write_kv_cache(key, value, kv_cache, slots),
                        4 * key.numel() * size, "torch: index_copy_ (model torch backend)",
                        lambda: _check_kv_write(key, value, kv_cache, slots, write_kv_cache,
                                                write_kv_cache_ref))
        except Exception as exc:  # noqa: BLE001
            rec.error(f"kv cache write T{tokens}", exc)


def bench_fused_decode(rec: Recorder, dry: bool, device: str) -> None:
    """The fused decode-layer kernels against the unfused pair they replace (Triton op + cuBLAS
    or two Triton ops), at decode sizes; graph replay is what the engine's decode runs."""
    from genai_rt.kernels.kv_cache_write import write_kv_cache
    from genai_rt.kernels.rms_norm import rms_norm
    from genai_rt.kernels.rms_norm_linear import rms_norm_linear, rms_norm_linear_ref
    from genai_rt.kernels.rotary import rotary_embedding
    from genai_rt.kernels.rotary_kv_write import rotary_kv_write, rotary_kv_write_ref
    from genai_rt.kernels.silu_and_mul import silu_and_mul
    from genai_rt.kernels.silu_mul_linear import silu_mul_linear, silu_mul_linear_ref

    dtype = torch.float32 if dry else BF16
    hidden, inter, heads, kv_heads, head_dim = (64, 96, 4, 2, 16) if dry else (2048, 8192, 32,
                                                                                8, 64)
    qkv_out = (heads + 2 * kv_heads) * head_dim
    for tokens in ([3] if dry else [1, 16]):
        cases: list[tuple[str, str, Callable[[], Any], Callable[[], Any], int, Callable[[], str]]]
        cases = []
        x = torch.randn(tokens, hidden, dtype=dtype, device=device)
        res = torch.randn_like(x)
        g = torch.randn(hidden, dtype=dtype, device=device)
        w_qkv = torch.randn(hidden, qkv_out, dtype=dtype, device=device) * hidden**-0.5
        cases.append((
            "rmsnorm+QKV proj (fused)", f"T{tokens} {hidden}->{qkv_out}",
            lambda: rms_norm_linear(x, res, g, 1e-5, w_qkv, True),
            lambda: torch.mm(rms_norm(x, res, g, 1e-5)[0], w_qkv),
            w_qkv.numel() * w_qkv.element_size(),
            lambda: _compare(rms_norm_linear(x, res, g, 1e-5, w_qkv, True)[0],
                             rms_norm_linear_ref(x, res, g, 1e-5, w_qkv, True)[0])))
        gate_up = torch.randn(tokens, 2 * inter, dtype=dtype, device=device)
        w_down = torch.randn(hidden, inter, dtype=dtype, device=device) * inter**-0.5
        cases.append((
            "SiLU-mul+down proj (fused)", f"T{tokens} {inter}->{hidden}",
            lambda: silu_mul_linear(gate_up, w_down, False),
            lambda: F.linear(silu_and_mul(gate_up), w_down),
            w_down.numel() * w_down.element_size(),
            lambda: _compare(silu_mul_linear(gate_up, w_down, False),
                             silu_mul_linear_ref(gate_up, w_down, False))))
        q = torch.randn(tokens, heads, head_dim, dtype=dtype, device=device)
        k = torch.randn(tokens, kv_heads, head_dim, dtype=dtype, device=device)
        v = torch.randn_like(k)
        pos = torch.randint(0, 4096, (tokens,), device=device)
        cos_sin = torch.randn(4096, head_dim, dtype=dtype, device=device)
        kv_cache = torch.zeros(2, tokens // 16 + 8, 16, kv_heads, head_dim, dtype=dtype,
                               device=device)
        slots = torch.randperm(kv_cache.shape[1] * 16, device=device)[:tokens]

        def rotary_check() -> str:
            ours, ref = [(q.clone(), k.clone(), torch.zeros_like(kv_cache)) for _ in range(2)]
            rotary_kv_write(pos, ours[0], ours[1], v, cos_sin, ours[2], slots)
            rotary_kv_write_ref(pos, ref[0], ref[1], v, cos_sin, ref[2], slots)
            return _compare(ours[2], ref[2])

        def unfused_rotary() -> None:
            rotary_embedding(pos, q, k, cos_sin)
            write_kv_cache(k, v, kv_cache, slots)

        cases.append((
            "rotary+KV write (fused)", f"T{tokens} H{heads}/{kv_heads}",
            lambda: rotary_kv_write(pos, q, k, v, cos_sin, kv_cache, slots), unfused_rotary,
            (2 * q.numel() + 4 * k.numel()) * q.element_size(), rotary_check))
        for name, shape, ours, unfused, moved, check in cases:
            try:
                verdict = check()
                us = median_us(ours, dry)
                unfused_us = median_us(unfused, dry)
                graph_us = graph_median_us(ours, dry)
                unfused_graph_us = graph_median_us(unfused, dry)
                graphs = ("graph replay: n/a on CPU" if graph_us is None or unfused_graph_us is None
                          else f"graph replay {graph_us:.1f} us fused vs {unfused_graph_us:.1f} us "
                               f"unfused ({unfused_graph_us / graph_us:.2f}x), "
                               f"{moved / graph_us / 1e3:.0f} GB/s")
                rec.add(name, shape, us, value=moved / us / 1e3, unit="GB/s",
                        torch_us=unfused_us, check=verdict,
                        note=f"'torch' column = the unfused pair it replaces; {graphs}")
            except Exception as exc:  # noqa: BLE001
                rec.error(f"{name} {shape}", exc)


def _torch_sample(logits: torch.Tensor, allowed: torch.Tensor, temperature: float,
                  top_k: int, top_p: float) -> torch.Tensor:
    """The plain-torch sampler: mask, temperature, sort-based top-k/top-p, multinomial."""
    x = logits.masked_fill(~allowed, float("-inf")) / temperature
    if top_k or top_p < 1:
        sorted_x, order = x.sort(dim=-1, descending=True)
        if top_k:
            sorted_x[:, top_k:] = float("-inf")
        if top_p < 1:
            cum = sorted_x.softmax(-1).cumsum(-1)
            sorted_x = sorted_x.masked_fill(cum - sorted_x.softmax(-1) >= top_p, float("-inf"))
        x = torch.full_like(x, float("-inf")).scatter(1, order, sorted_x)
    return torch.multinomial(x.softmax(-1), 1)


def bench_sampling(rec: Recorder, dry: bool, device: str) -> None:
    """The engine's sampling kernels with the grammar bitmask fused in, and the whole Sampler
    step (bitmask apply, kernels, validity, the one host copy) as the engine calls it."""
    from genai_rt.kernels.sampling_rejection import sample_rejection
    from genai_rt.kernels.sampling_temperature import sample_temperature
    from genai_rt.sampling import Sampler, SamplingParams, SamplingRow

    rows, vocab = (2, 1000) if dry else (64, 128256)
    logits = torch.randn(rows, vocab, device=device) * 3
    words = -(-vocab // 32)
    bitmask = torch.randint(-(2**31), 2**31 - 1, (rows, words), dtype=torch.int32, device=device)
    shifts = torch.arange(32, device=device, dtype=torch.int32)
    allowed = ((bitmask.unsqueeze(-1) >> shifts) & 1).bool().view(rows, -1)[:, :vocab]
    seeds = torch.arange(rows, device=device)
    per_program = 1 if device == "cuda" else 2
    temperature = torch.full((rows,), 0.7, device=device)
    for top_k, top_p in [(0, 1.0), (50, 0.9), (0, 0.9)]:
        name = f"bitmask+sample k={top_k} p={top_p}"
        shape = f"B{rows} V{vocab} fp32"
        try:
            tk = torch.full((rows,), top_k, dtype=torch.int32, device=device)
            tp = torch.full((rows,), top_p, device=device)
            mp = torch.zeros(rows, device=device)
            rounds = torch.zeros(rows, dtype=torch.int32, device=device)
            if top_k == 0 and top_p >= 1:
                path = "temperature (inverse CDF)"

                def ours(t: torch.Tensor = temperature) -> torch.Tensor:
                    return sample_temperature(logits, t, seeds, bitmask,
                                              rows_per_program=per_program)
            else:
                path = "rejection"

                def ours(t: torch.Tensor = temperature) -> torch.Tensor:
                    return sample_rejection(logits, t, tk, tp, mp, seeds, bitmask,
                                            rows_per_program=per_program, rounds=rounds,
                                            top_k_and_top_p=top_k > 0 and top_p < 1)

            greedy = ours(torch.zeros(rows, device=device))
            want = logits.masked_fill(~allowed, float("-inf")).argmax(-1)
            check = "ok (greedy = masked argmax)" if torch.equal(greedy, want) else "MISMATCH"
            us = median_us(ours, dry)
            graph_us = graph_median_us(ours, dry)
            torch_us = median_us(lambda: _torch_sample(logits, allowed, 0.7, top_k, top_p), dry)
            params = SamplingParams(temperature=0.7, top_k=top_k, top_p=top_p)
            sampler_rows = [SamplingRow(params, []) for _ in range(rows)]
            sampler = Sampler(vocab, [0], draw_backend="auto" if device == "cuda" else "triton")
            step_us = median_us(lambda: sampler(logits, sampler_rows, bitmask), dry)
            best = min(us, graph_us) if graph_us is not None else us
            target = 30 if top_k == 0 and top_p >= 1 else 100
            rec.add(name, shape, us, torch_us=torch_us,
                    target=f"<{target} us (B64 x 128k)",
                    status=("ok" if best < target else "below target") if not dry
                    else "dry-run",
                    check=check,
                    note=f"graph replay {'-' if graph_us is None else f'{graph_us:.1f}'} us; "
                         f"whole Sampler step (mask apply + kernels + host copy) {step_us:.1f} "
                         f"us; {path}, bitmask fused"
                         + (f", rounds max {int(rounds.max())}" if path == "rejection" else ""))
        except Exception as exc:  # noqa: BLE001
            rec.error(f"{name} {shape}", exc)


def bench_topk(rec: Recorder, dry: bool, device: str) -> None:
    from genai_rt import _core
    from genai_rt.sampling.topk import top_k

    backend = "cuda" if device == "cuda" and _core.built_with_cuda else "torch"
    rows, vocab = (2, 2000) if dry else (64, 128256)
    for k in (50, 1024):
        shape = f"B{rows} V{vocab} k={k} fp32"
        try:
            x = torch.randn(rows, vocab, device=device)
            values, _ = top_k(x, k, backend=backend)
            check = ("ok (values = torch.topk)" if torch.equal(values, torch.topk(x, k).values)
                     else "MISMATCH")
            us = median_us(lambda: top_k(x, k, backend=backend), dry)
            torch_us = median_us(lambda: torch.topk(x, k, dim=1), dry)
            rec.add("top-k (CUDA core)", shape, us, value=x.numel() * 4 / us / 1e3, unit="GB/s",
                    torch_us=torch_us, note=f"backend={backend}; torch: torch.topk", check=check)
        except Exception as exc:  # noqa: BLE001
            rec.error(f"top-k {shape}", exc)


def run_kernel_benchmarks(rec: Recorder, dry: bool) -> None:
    """Every kernel case; a failing case records an ERROR row and the rest still run."""
    device = "cpu" if dry else "cuda"
    torch.manual_seed(0)
    for bench in (bench_decode_attention, bench_extend_attention, bench_small_ops,
                  bench_fused_decode, bench_sampling, bench_topk):
        bench(rec, dry, device)
