"""Weight-only int8 / int4 dequant-GEMM (GPU): ``y = x @ dequant(W)^T``, dequant fused in the tile.

Weight formats (built by ``pack_int8`` / ``pack_int4``, the quantizers are the references too):

- int8 per channel: ``qweight`` int8 ``[N, K]``, ``scales`` ``[N]``; ``W = qweight * scales``.
- int4 per group of ``G`` inputs (asymmetric): ``qweight`` uint8 ``[N, ceil(K / G) * G / 2]``
  holding input ``2j`` in the low nibble and ``2j + 1`` in the high one; ``scales`` and ``mins``
  ``[N, ceil(K / G)]``; ``W[n, k] = q * scales[n, k // G] + mins[n, k // G]``. A ragged last
  group is zero-padded: its padding meets masked (zero) activations.

One kernel serves decode and prefill; the launcher picks the tile by the number of rows
(``_tile_for``): decode (1-64 rows) uses short, wide-K tiles across many programs so that the
weight stream, which bounds decode, is spread over every SM; prefill uses 64x64 tiles.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


def quantize_int8_ref(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-output-channel int8: ``weight [N, K]`` -> (int8 ``[N, K]``, scales ``[N]``)."""
    w = weight.float()
    scales = w.abs().amax(dim=1).clamp(min=1e-12) / 127.0
    q = torch.round(w / scales[:, None]).clamp(-127, 127).to(torch.int8)
    return q, scales.to(weight.dtype)


def quantize_int4_ref(
    weight: torch.Tensor, group_size: int = 128
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Asymmetric int4 per group: ``weight [N, K]`` -> (packed uint8, scales, mins)."""
    if group_size % 2 or group_size <= 0:
        raise ValueError(f"group_size must be a positive even number, got {group_size}")
    n, k = weight.shape
    groups = -(-k // group_size)
    w = torch.zeros(n, groups * group_size, dtype=torch.float32, device=weight.device)
    w[:, :k] = weight.float()
    w = w.view(n, groups, group_size)
    lo = w.amin(dim=2)
    hi = w.amax(dim=2)
    scales = ((hi - lo) / 15.0).clamp(min=1e-12)
    q = torch.round((w - lo[..., None]) / scales[..., None]).clamp(0, 15).to(torch.uint8)
    q = q.view(n, groups * group_size)
    packed = q[:, 0::2] | (q[:, 1::2] << 4)
    return packed.contiguous(), scales.to(weight.dtype), lo.to(weight.dtype)


def dequantize_int8_ref(qweight: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    return qweight.float() * scales.float()[:, None]


def dequantize_int4_ref(
    qweight: torch.Tensor, scales: torch.Tensor, mins: torch.Tensor, k: int
) -> torch.Tensor:
    n = qweight.shape[0]
    q = torch.stack([qweight & 15, qweight >> 4], dim=-1).reshape(n, -1).float()
    group_size = q.shape[1] // scales.shape[1]
    s = scales.float().repeat_interleave(group_size, dim=1)
    m = mins.float().repeat_interleave(group_size, dim=1)
    return (q * s + m)[:, :k]


def quant_matmul_ref(x: torch.Tensor, w_dequantized: torch.Tensor) -> torch.Tensor:
    """Plain-torch reference: ``x [M, K] @ W^T`` in fp32, cast to x's dtype."""
    return (x.float() @ w_dequantized.float().t()).to(x.dtype)


@triton.jit
def _quant_matmul_kernel(
    x_ptr, w_ptr, scales_ptr, mins_ptr, y_ptr,
    M, N, K, x_stride, w_stride, s_stride, y_stride,
    INT4: tl.constexpr, GROUP: tl.constexpr,
    BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    rows = pid_m * BM + tl.arange(0, BM)
    cols = pid_n * BN + tl.arange(0, BN)  # output features
    row_ok = rows < M
    col_ok = cols < N
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for k0 in range(0, K, BK):
        ks = k0 + tl.arange(0, BK)
        x = tl.load(x_ptr + rows[:, None].to(tl.int64) * x_stride + ks[None, :],
                    mask=row_ok[:, None] & (ks[None, :] < K), other=0.0)
        if INT4:
            # [BN, BK / 2] bytes -> [BN, BK] nibbles (even input low, odd input high)
            half = k0 // 2 + tl.arange(0, BK // 2)
            packed = tl.load(w_ptr + cols[:, None].to(tl.int64) * w_stride + half[None, :],
                             mask=col_ok[:, None], other=0)
            q = tl.join(packed & 15, packed >> 4).reshape(BN, BK)
            group = k0 // GROUP  # BK divides GROUP: one group per tile
            s = tl.load(scales_ptr + cols.to(tl.int64) * s_stride + group, mask=col_ok, other=0.0)
            m = tl.load(mins_ptr + cols.to(tl.int64) * s_stride + group, mask=col_ok, other=0.0)
            w = q.to(tl.float32) * s.to(tl.float32)[:, None] + m.to(tl.float32)[:, None]
        else:
            q = tl.load(w_ptr + cols[:, None].to(tl.int64) * w_stride + ks[None, :],
                        mask=col_ok[:, None] & (ks[None, :] < K), other=0)
            w = q.to(tl.float32)
        acc = tl.dot(x, tl.trans(w.to(x.dtype)), acc)
    if not INT4:
        s = tl.load(scales_ptr + cols, mask=col_ok, other=0.0).to(tl.float32)
        acc = acc * s[None, :]
    tl.store(y_ptr + rows[:, None].to(tl.int64) * y_stride + cols[None, :],
             acc.to(y_ptr.dtype.element_ty), mask=row_ok[:, None] & col_ok[None, :])


def _tile_for(m: int, k_group: int | None) -> tuple[int, int, int, int]:
    """(BM, BN, BK, num_warps) for ``m`` rows; BK must divide the int4 group."""
    if m <= 16:
        bm, bn, bk, warps = 16, 32, 128, 4  # decode: many narrow programs stream the weights
    elif m <= 64:
        bm, bn, bk, warps = 64, 32, 128, 4
    else:
        bm, bn, bk, warps = 64, 64, 64, 4  # prefill
    if k_group is not None:
        while k_group % bk:
            bk //= 2
    return bm, bn, bk, warps


def _check_x(x: torch.Tensor, k: int, qweight: torch.Tensor) -> None:
    if x.dim() != 2 or x.shape[1] != k or x.stride(1) != 1:
        raise ValueError(f"x must be [M, {k}] with unit column stride, got {tuple(x.shape)} "
                         f"strides {x.stride()}")
    if x.device != qweight.device:
        raise ValueError(f"x on {x.device} but weights on {qweight.device}")
    if x.dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise ValueError(f"x must be float32/float16/bfloat16, got {x.dtype}")


def int8_matmul(x: torch.Tensor, qweight: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """``x [M, K] @ (qweight * scales[:, None])^T`` -> ``[M, N]`` (per-channel int8)."""
    if qweight.dtype != torch.int8 or qweight.dim() != 2 or not qweight.is_contiguous():
        raise ValueError(f"qweight must be contiguous int8 [N, K], got {qweight.dtype} "
                         f"{tuple(qweight.shape)}")
    n, k = qweight.shape
    _check_x(x, k, qweight)
    if scales.shape != (n,) or not scales.is_contiguous():
        raise ValueError(f"scales must be contiguous [{n}], got {tuple(scales.shape)}")
    m = x.shape[0]
    y = x.new_empty(m, n)
    if m == 0:
        return y
    bm, bn, bk, warps = _tile_for(m, None)
    grid = (triton.cdiv(m, bm), triton.cdiv(n, bn))
    _quant_matmul_kernel[grid](
        x, qweight, scales, scales, y, m, n, k, x.stride(0), qweight.stride(0), 1, y.stride(0),
        INT4=False, GROUP=1, BM=bm, BN=bn, BK=bk, num_warps=warps,
    )
    return y


def int4_matmul(
    x: torch.Tensor, qweight: torch.Tensor, scales: torch.Tensor, mins: torch.Tensor, k: int
) -> torch.Tensor:
    """``x [M, k] @ W^T`` for W in the per-group int4 format above -> ``[M, N]`` in x's dtype."""
    n = qweight.shape[0]
    _check_x(x, k, qweight)
    groups = scales.shape[1] if scales.dim() == 2 else 0
    if qweight.dtype != torch.uint8 or not qweight.is_contiguous() or groups == 0:
        raise ValueError(f"qweight must be contiguous uint8 [N, K/2], got {qweight.dtype} "
                         f"{tuple(qweight.shape)}")
    group_size = 2 * qweight.shape[1] // groups
    if (
        group_size * groups != 2 * qweight.shape[1]
        or group_size % 16
        or -(-k // group_size) != groups
        or scales.shape != (n, groups)
        or mins.shape != (n, groups)
        or not (scales.is_contiguous() and mins.is_contiguous())
    ):
        raise ValueError(
            f"int4 weights do not fit K={k}: qweight {tuple(qweight.shape)}, scales "
            f"{tuple(scales.shape)}, mins {tuple(mins.shape)} (group size a multiple of 16)"
        )
    m = x.shape[0]
    y = x.new_empty(m, n)
    if m == 0:
        return y
    bm, bn, bk, warps = _tile_for(m, group_size)
    grid = (triton.cdiv(m, bm), triton.cdiv(n, bn))
    _quant_matmul_kernel[grid](
        x, qweight, scales, mins, y, m, n, k, x.stride(0), qweight.stride(0), groups,
        y.stride(0), INT4=True, GROUP=group_size, BM=bm, BN=bn, BK=bk, num_warps=warps,
    )
    return y
