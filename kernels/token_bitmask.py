"""Apply an int32 token bitmask to logits in place (bit i of word w allows token 32·w+i)."""

from __future__ import annotations

import torch
import triton
import triton.language as tl


def apply_token_bitmask_ref(
    logits: torch.Tensor, bitmask: torch.Tensor, indices: torch.Tensor | None = None
) -> None:
    """Plain-torch reference: logits[r, t] = -inf where bit t of bitmask row is 0.

    logits: [rows, vocab] float; bitmask: [mask_rows, words] int32; indices: [mask_rows] rows of
    logits that each bitmask row applies to (default: row i of each). Tokens at or beyond
    32·words are left alone.
    """
    mask_rows, words = bitmask.shape
    limit = min(logits.shape[1], 32 * words)
    shifts = torch.arange(32, device=bitmask.device, dtype=torch.int32)
    bits = (bitmask.unsqueeze(-1) >> shifts) & 1  # [mask_rows, words, 32]
    forbidden = bits.reshape(mask_rows, 32 * words)[:, :limit] == 0
    rows = torch.arange(mask_rows, device=logits.device) if indices is None else indices.long()
    view = logits[rows, :limit]
    logits[rows, :limit] = view.masked_fill(forbidden.to(logits.device), float("-inf"))


@triton.jit
def _apply_token_bitmask_kernel(
    logits_ptr,
    bitmask_ptr,
    indices_ptr,
    vocab_limit,
    logits_stride,
    bitmask_stride,
    HAS_INDICES: tl.constexpr,
    BLOCK: tl.constexpr,
):
    mask_row = tl.program_id(0)
    block = tl.program_id(1)
    if HAS_INDICES:
        logits_row = tl.load(indices_ptr + mask_row).to(tl.int64)
    else:
        logits_row = mask_row.to(tl.int64)
    tokens = block * BLOCK + tl.arange(0, BLOCK)
    in_range = tokens < vocab_limit
    words = tl.load(bitmask_ptr + mask_row * bitmask_stride + tokens // 32, mask=in_range, other=-1)
    forbidden = ((words >> (tokens % 32)) & 1) == 0
    out = logits_ptr + logits_row * logits_stride + tokens
    tl.store(out, tl.full([BLOCK], float("-inf"), tl.float32).to(out.dtype.element_ty),
             mask=in_range & forbidden)


def apply_token_bitmask_triton(
    logits: torch.Tensor, bitmask: torch.Tensor, indices: torch.Tensor | None = None
) -> None:
    """Triton version of :func:`apply_token_bitmask_ref` (same arguments, same result)."""
    assert logits.dim() == 2 and logits.stride(1) == 1, "logits: [rows, vocab], contiguous rows"
    assert bitmask.dim() == 2 and bitmask.dtype == torch.int32 and bitmask.stride(1) == 1
    mask_rows, words = bitmask.shape
    limit = min(logits.shape[1], 32 * words)
    if mask_rows == 0 or limit == 0:
        return
    block = 4096
    grid = (mask_rows, triton.cdiv(limit, block))
    _apply_token_bitmask_kernel[grid](
        logits, bitmask, indices if indices is not None else bitmask, limit,
        logits.stride(0), bitmask.stride(0), HAS_INDICES=indices is not None, BLOCK=block,
    )
