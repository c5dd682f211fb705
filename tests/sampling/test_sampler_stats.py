"""The draw: empirical frequencies against the target distribution, and seeded reproducibility.

Frequency bound: with n = 20,000 draws a token of probability p has a binomial count with
standard deviation sqrt(n p (1 - p)); every token must land within 5 of those deviations
(two-sided tail 5.7e-7 per token, < 1e-4 over all tokens and configurations for a correct sampler,
while a temperature off by 10% moves the top tokens by 10+ deviations). Seeds are fixed, so the
test is deterministic.
"""

from __future__ import annotations

import pytest
import torch
from genai_rt.sampling import Sampler, SamplingParams, SamplingRow, make_generator
from genai_rt.sampling.truncation import CDF_BLOCK, draw_from_probs

from tests.sampling.reference_sampler import reference_probs

VOCAB = 37
DRAWS = 20_000
CONFIGS = [
    {"temperature": 1.0},
    {"temperature": 0.7, "top_k": 5},
    {"temperature": 1.3, "top_p": 0.8},
    {"temperature": 0.9, "min_p": 0.05},
    {"temperature": 1.1, "top_k": 20, "top_p": 0.9, "min_p": 0.02},
]


def _logits() -> torch.Tensor:
    return torch.randn(VOCAB, generator=torch.Generator().manual_seed(11)) * 1.5


def _assert_frequencies_match(tokens: list[int], target: torch.Tensor) -> None:
    counts = torch.bincount(torch.tensor(tokens), minlength=VOCAB).double()
    p = target.double()
    assert torch.all(counts[p == 0] == 0), "a token with zero probability was drawn"
    sigma = torch.sqrt(DRAWS * p * (1 - p))
    deviation = (counts - DRAWS * p).abs()
    worst = int((deviation / sigma.clamp(min=1e-12)).argmax())
    assert torch.all(deviation <= 5 * sigma), (
        f"token {worst}: {int(counts[worst])} draws, expected {DRAWS * p[worst]:.1f}")


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(map(str, c.values())))
def test_unseeded_frequencies_match_target(config: dict[str, float], device: str) -> None:
    torch.manual_seed(0)
    params = SamplingParams(**config)  # type: ignore[arg-type]
    rows = [SamplingRow(params, []) for _ in range(DRAWS)]
    logits = _logits().expand(DRAWS, VOCAB).contiguous().to(device)
    tokens = Sampler(VOCAB, [0])(logits, rows).token_ids
    _assert_frequencies_match(tokens, reference_probs(_logits(), rows[0]))


@pytest.mark.parametrize("config", CONFIGS[1:3], ids=["top_k", "top_p"])
def test_seeded_rows_frequencies_match_target(config: dict[str, float], device: str) -> None:
    """20,000 rows, each with its own seed: the per-row generator path is unbiased too."""
    rows = [SamplingRow(SamplingParams(seed=i, **config), [], [], make_generator(i, device))  # type: ignore[arg-type]
            for i in range(DRAWS)]
    logits = _logits().expand(DRAWS, VOCAB).contiguous().to(device)
    tokens = Sampler(VOCAB, [0])(logits, rows).token_ids
    _assert_frequencies_match(tokens, reference_probs(_logits(), rows[0]))


def _history_logits(history: list[int]) -> torch.Tensor:
    """Logits that depend on the row's own history only, like a model's would."""
    g = torch.Generator().manual_seed(1000 + sum((i + 1) * t for i, t in enumerate(history)))
    return torch.randn(VOCAB, generator=g) * 2


def _run_seeded(seed: int, companions: list[SamplingParams], position: int, steps: int = 12,
                *, params: SamplingParams | None = None) -> list[int]:
    """Generate ``steps`` tokens for one seeded row placed among changing companion rows."""
    params = params or SamplingParams(temperature=0.8, top_p=0.9, seed=seed, logprobs=2)
    target = SamplingRow(params, [1, 2, 3], [], make_generator(seed))
    others = [SamplingRow(p, [4], [], make_generator(p.seed) if p.seed is not None else None)
              for p in companions]
    sampler = Sampler(VOCAB, [0])
    for step in range(steps):
        # the batch changes every step: companions rotate and the target moves
        batch = others[step % max(len(others), 1):] + others[: step % max(len(others), 1)]
        batch.insert(min(position, len(batch)), target)
        logits = torch.stack([_history_logits(r.output_token_ids) for r in batch])
        out = sampler(logits, batch)
        for row, token in zip(batch, out.token_ids, strict=True):
            row.output_token_ids.append(token)
    return target.output_token_ids


def test_seeded_row_same_tokens_whatever_the_batch() -> None:
    alone = _run_seeded(1234, [], 0)
    mixed = [
        SamplingParams(temperature=0),
        SamplingParams(temperature=1.2, top_k=3),
        SamplingParams(temperature=0.5, min_p=0.2, seed=99),
        SamplingParams(temperature=1.0),
        SamplingParams(temperature=0.8, top_p=0.9, seed=1234),  # same seed, own generator
        SamplingParams(repetition_penalty=1.3, logit_bias={5: 3.0}),
    ]
    assert _run_seeded(1234, mixed, 0) == alone
    assert _run_seeded(1234, mixed, 3) == alone
    assert _run_seeded(1234, mixed[::-1], 6) == alone
    assert _run_seeded(1234, mixed[:2], 1) == alone
    assert _run_seeded(77, [], 0) != alone  # the seed matters


def test_seeded_top_p_row_independent_of_companions_paths() -> None:
    """Flat companions take the sort path and peaked ones widen the candidate topk; neither may
    change a seeded top-p row's distribution or draw."""
    vocab = 2000
    g = torch.Generator().manual_seed(21)
    target_logits = torch.randn(40, vocab, generator=g) * 6  # 40 steps of a peaked row
    params = SamplingParams(temperature=0.9, top_p=0.8, seed=5)
    companions = {
        "alone": [],
        "flat": [SamplingParams(top_p=0.9), SamplingParams(top_p=0.5, seed=1)],
        "peaked": [SamplingParams(top_p=0.999, temperature=2.0)],
    }
    results = {}
    for name, others in companions.items():
        target = SamplingRow(params, [], [], make_generator(5))
        batch_rows = [SamplingRow(p, [], [], make_generator(1) if p.seed else None)
                      for p in others]
        scale = 0.3 if name == "flat" else 9.0
        for step in range(40):
            other_logits = torch.randn(len(batch_rows), vocab, generator=g) * scale
            logits = torch.cat([other_logits, target_logits[step : step + 1]])
            token = Sampler(vocab, [0])(logits, [*batch_rows, target]).token_ids[-1]
            target.output_token_ids.append(token)
        results[name] = target.output_token_ids
    assert results["flat"] == results["alone"] == results["peaked"]


def test_seeded_greedy_rows_ignore_the_seed() -> None:
    greedy = SamplingParams(temperature=0, seed=5)
    assert _run_seeded(5, [], 0, params=greedy) == _run_seeded(5, [SamplingParams()], 1,
                                                              params=SamplingParams(temperature=0))


def test_draw_across_cdf_blocks() -> None:
    """A vocabulary of several CDF blocks plus a partial one, with whole blocks at zero."""
    vocab = 2 * CDF_BLOCK + 188
    g = torch.Generator().manual_seed(12)
    probs = torch.rand(vocab, generator=g) ** 4
    probs[CDF_BLOCK : 2 * CDF_BLOCK] = 0  # an empty block between two live ones
    probs[::7] = 0
    probs /= probs.sum()
    torch.manual_seed(13)
    tokens, totals = draw_from_probs(probs.expand(DRAWS, vocab).contiguous(), [None] * DRAWS)
    assert torch.allclose(totals, torch.ones_like(totals), atol=1e-5)
    counts = torch.bincount(tokens, minlength=vocab).double()
    p = probs.double()
    assert torch.all(counts[p == 0] == 0)
    assert torch.all((counts - DRAWS * p).abs() <= 5 * torch.sqrt(DRAWS * p * (1 - p)))


@pytest.mark.parametrize("token", [0, CDF_BLOCK - 1, CDF_BLOCK, 2 * CDF_BLOCK + 187])
def test_draw_single_live_token(token: int) -> None:
    probs = torch.zeros(3, 2 * CDF_BLOCK + 188)
    probs[:, token] = 1e-30  # tiny but positive: still the only choice
    generators = [None, make_generator(1), None]
    tokens, _ = draw_from_probs(probs, generators)
    assert tokens.tolist() == [token] * 3
