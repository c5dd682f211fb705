"""Shared by the statistical sampling-kernel tests: many draws of two logits rows."""

from __future__ import annotations

import torch

DRAWS = 2000  # 1000 a row: the 5-sigma band at p = 0.5 is +-0.08, a wrong filter moves far more


def two_rows(vocab: int, seed: int, scale: float = 1.5, tied: bool = False) -> torch.Tensor:
    logits = torch.randn(2, vocab, generator=torch.Generator().manual_seed(seed)) * scale
    return logits.round() if tied else logits  # rounded: ~10 distinct values, ties at the cuts


def random_bitmask(rows: int, vocab: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(-(2**31), 2**31 - 1, (rows, (vocab + 31) // 32), generator=gen,
                         dtype=torch.int32)


def assert_follows(tokens: torch.Tensor, rows: torch.Tensor, probs: torch.Tensor) -> None:
    """Each row's empirical frequencies within 5 sigma of ``probs`` [2, vocab], and no token of
    probability 0 drawn."""
    vocab = probs.shape[1]
    for r in range(probs.shape[0]):
        got = tokens[rows == r].cpu()
        freq = torch.bincount(got, minlength=vocab).double() / got.numel()
        sigma = (probs[r] * (1 - probs[r]) / got.numel()).sqrt()
        assert (freq[probs[r] == 0] == 0).all(), "drew a token outside the kept set"
        worst = int(((freq - probs[r]).abs() / (sigma + 1e-12)).argmax())
        assert ((freq - probs[r]).abs() <= 5 * sigma + 1e-12).all(), (
            f"row {r} token {worst}: frequency {float(freq[worst]):.4f}, "
            f"probability {float(probs[r, worst]):.4f}")
