"""Batched top-k (values and indices of the k largest per row) on the core's CUDA kernel."""

from __future__ import annotations

import torch

from genai_rt import _core

MAX_TOP_K = 1024
_DTYPE_CODES = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2}


def top_k(x: torch.Tensor, k: int, backend: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """The k largest entries of each row, sorted descending, and their column indices.

    Parameters
    ----------
    x : torch.Tensor
        ``[rows, cols]`` float32/float16/bfloat16 with unit column stride.
    k : int
        ``1 <= k <= min(1024, cols)``.
    backend : str
        ``"auto"`` (the CUDA kernel on GPU tensors when the core has it, else torch),
        ``"cuda"`` or ``"torch"`` (``torch.topk``, the reference).

    Returns
    -------
    (values, indices)
        ``[rows, k]`` in x's dtype, and int64 ``[rows, k]``. Among equal values at the k-th
        place, which ones are returned is unspecified, as with ``torch.topk``.

    Example
    -------
    >>> top_k(torch.tensor([[1.0, 5.0, 3.0]]), 2, backend="torch")[1].tolist()
    [[1, 2]]
    """
    if x.dim() != 2 or x.dtype not in _DTYPE_CODES:
        raise ValueError(f"x must be a 2-D float32/float16/bfloat16 tensor, got {x.dtype} "
                         f"{tuple(x.shape)}")
    rows, cols = x.shape
    if not 1 <= k <= min(MAX_TOP_K, cols):
        raise ValueError(f"k={k} must be in [1, min({MAX_TOP_K}, cols={cols})]")
    if backend == "auto":
        backend = "cuda" if x.is_cuda and _core.built_with_cuda else "torch"
    if backend == "torch":
        values, indices = torch.topk(x, k, dim=1)
        return values, indices
    if backend != "cuda":
        raise ValueError(f"unknown top_k backend {backend!r}; expected auto, cuda or torch")
    if not _core.built_with_cuda:
        raise RuntimeError("the cuda backend needs a core built with GENAI_RT_CUDA=ON")
    if not x.is_cuda:
        raise ValueError("the cuda backend needs x on a CUDA device")
    if x.stride(1) != 1:
        x = x.contiguous()
    values = x.new_empty(rows, k)
    indices = torch.empty(rows, k, dtype=torch.int64, device=x.device)
    _core.cuda.top_k(x.data_ptr(), _DTYPE_CODES[x.dtype], rows, cols, x.stride(0), k,
                     values.data_ptr(), indices.data_ptr(),
                     torch.cuda.current_stream(x.device).cuda_stream)
    return values, indices
