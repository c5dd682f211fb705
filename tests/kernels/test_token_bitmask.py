"""Token-bitmask apply: every backend equals the torch reference on odd shapes."""

from __future__ import annotations

import pytest
import torch
from genai_rt import _core
from genai_rt.sampling import apply_token_bitmask

from ..conftest import HAS_CUDA

BACKENDS = ["torch", "triton"] + (["cuda"] if HAS_CUDA and _core.built_with_cuda else ["cpu"])


def _random_case(rows: int, vocab: int, words: int, dtype: torch.dtype, device: str, seed: int):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(rows, vocab, generator=gen).to(device=device, dtype=dtype)
    bitmask = torch.randint(-(2**31), 2**31 - 1, (rows, words), generator=gen, dtype=torch.int32)
    return logits, bitmask.to(device)


def _expected(logits: torch.Tensor, bitmask: torch.Tensor, rows: list[int] | None = None):
    """Bit-by-bit expectation, written independently of the reference implementation."""
    out = logits.clone().cpu()
    mask = bitmask.cpu().tolist()
    targets = rows if rows is not None else list(range(len(mask)))
    for mask_row, row in enumerate(targets):
        for token in range(min(out.shape[1], 32 * len(mask[mask_row]))):
            if not (mask[mask_row][token // 32] >> (token % 32)) & 1:
                out[row, token] = float("-inf")
    return out


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("rows,vocab", [(1, 1), (3, 33), (5, 1023), (2, 4099)])
def test_matches_bitwise_expectation(backend, dtype, rows, vocab, device) -> None:
    words = (vocab + 31) // 32
    logits, bitmask = _random_case(rows, vocab, words, dtype, device, seed=rows * vocab)
    expected = _expected(logits, bitmask)
    out = apply_token_bitmask(logits, bitmask, backend=backend)
    assert out.data_ptr() == logits.data_ptr(), "must work in place"
    assert torch.equal(out.cpu(), expected)


@pytest.mark.parametrize("backend", BACKENDS)
def test_indices_select_rows_and_padding_is_left_alone(backend, device) -> None:
    # Vocab larger than the mask covers (vLLM pads the logits): tokens past 32*words stay.
    logits, bitmask = _random_case(6, 100, 2, torch.float32, device, seed=7)
    bitmask = bitmask[:2].contiguous()
    indices = torch.tensor([4, 1], dtype=torch.int32, device=device)
    expected = _expected(logits, bitmask, rows=[4, 1])
    apply_token_bitmask(logits, bitmask, indices=indices, backend=backend)
    assert torch.equal(logits.cpu(), expected)
    assert torch.isfinite(logits[:, 64:]).all()


def test_bad_input_names_the_problem() -> None:
    logits = torch.zeros(2, 40)
    with pytest.raises(ValueError, match="int32"):
        apply_token_bitmask(logits, torch.zeros(2, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match="rows"):
        apply_token_bitmask(logits, torch.zeros(3, 2, dtype=torch.int32))
    with pytest.raises(ValueError, match="unknown bitmask backend"):
        apply_token_bitmask(logits, torch.zeros(2, 2, dtype=torch.int32), backend="numpy")
    with pytest.raises(ValueError, match="indices out of range"):
        apply_token_bitmask(logits, torch.zeros(1, 2, dtype=torch.int32),
                            indices=torch.tensor([5]))
