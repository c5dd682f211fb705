"""The Sampler's draw on the Triton kernels: chosen for CUDA logits, torch elsewhere, and the
two paths draw from the same distributions (checked here in the Triton interpreter)."""

from __future__ import annotations

import pytest
import torch
from genai_rt.sampling import (
    Sampler,
    SamplingError,
    SamplingParams,
    SamplingRow,
    kernel_draw,
    make_generator,
    sampler,
)
from genai_rt.sampling.kernel_draw import choose_draw_backend

from tests.conftest import requires_cuda
from tests.sampling.reference_sampler import reference_probs

VOCAB = 37
DRAWS = 1200
# temperature only (inverse CDF kernel); each filter alone (rejection kernel)
CONFIGS = [
    {"temperature": 1.0},
    {"temperature": 0.7, "top_k": 5},
    {"temperature": 1.3, "top_p": 0.8},
    {"temperature": 0.9, "min_p": 0.05},
]


def _logits() -> torch.Tensor:
    return torch.randn(VOCAB, generator=torch.Generator().manual_seed(11)) * 1.5


def _frequencies(tokens: list[int]) -> torch.Tensor:
    return torch.bincount(torch.tensor(tokens), minlength=VOCAB).double() / len(tokens)


def test_auto_picks_the_kernels_for_cuda_and_torch_for_cpu() -> None:
    assert kernel_draw.kernels_available()
    assert choose_draw_backend("auto", torch.device("cuda", 0)) == "triton"
    assert choose_draw_backend("auto", torch.device("cpu")) == "torch"
    assert choose_draw_backend("triton", torch.device("cpu")) == "triton"
    with pytest.raises(ValueError, match="unknown draw backend 'cuda'"):
        choose_draw_backend("cuda", torch.device("cpu"))
    with pytest.raises(ValueError, match="unknown draw_backend"):
        Sampler(VOCAB, [0], draw_backend="sorted")


def test_auto_without_the_kernels_falls_back_to_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernel_draw, "kernels_available", lambda: False)
    assert choose_draw_backend("auto", torch.device("cuda", 0)) == "torch"


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(map(str, c)))
def test_kernel_and_torch_paths_follow_the_same_distribution(
    config: dict[str, float], monkeypatch: pytest.MonkeyPatch, device: str
) -> None:
    calls = []
    real = sampler.draw_with_kernels
    monkeypatch.setattr(sampler, "draw_with_kernels",
                        lambda *a: calls.append(len(a[1])) or real(*a))
    torch.manual_seed(0)
    params = SamplingParams(**config)  # type: ignore[arg-type]
    rows = [SamplingRow(params, []) for _ in range(DRAWS)]
    logits = _logits().expand(DRAWS, VOCAB).contiguous().to(device)
    target = reference_probs(_logits(), rows[0]).double()
    by_kernels = _frequencies(Sampler(VOCAB, [0], draw_backend="triton")(logits, rows).token_ids)
    by_torch = _frequencies(Sampler(VOCAB, [0], draw_backend="torch")(logits, rows).token_ids)
    assert calls == [DRAWS], "the triton backend did not run the kernels"
    sigma = (target * (1 - target) / DRAWS).sqrt()
    for freq in (by_kernels, by_torch):
        assert (freq[target == 0] == 0).all(), "a token with zero probability was drawn"
        assert ((freq - target).abs() <= 5 * sigma + 1e-12).all()
    # two samples of one distribution: their difference has sqrt(2) sigma
    assert ((by_kernels - by_torch).abs() <= 5 * 2**0.5 * sigma + 1e-12).all()


def test_mixed_batch_on_the_kernels(device: str) -> None:
    """Greedy, seeded, combined filters and temperature-only rows in one step; a seeded row's
    token depends only on its own generator, and every token is in its row's kept set."""
    cpu_logits = torch.stack([_logits(), -_logits(), _logits().flip(0), _logits() * 0.3])
    logits = cpu_logits.to(device)
    params = [SamplingParams(temperature=0), SamplingParams(temperature=0.8, seed=5),
              SamplingParams(temperature=1.1, top_k=20, top_p=0.9, min_p=0.02),
              SamplingParams(temperature=1.0, top_k=3, seed=7)]

    def rows() -> list[SamplingRow]:
        return [SamplingRow(p, [], [], None if p.seed is None else make_generator(p.seed, device))
                for p in params]

    kernels = Sampler(VOCAB, [0], draw_backend="triton")
    first = kernels(logits, rows()).token_ids
    again = kernels(logits, rows()).token_ids
    assert first[0] == int(cpu_logits[0].argmax())
    assert (first[1], first[3]) == (again[1], again[3]), "seeded rows repeat with their seeds"
    for i, row in enumerate(rows()):
        assert reference_probs(cpu_logits[i], row)[first[i]] > 0


def test_kernel_path_refuses_rows_with_nothing_to_draw(device: str) -> None:
    logits = torch.stack([_logits(), torch.full((VOCAB,), float("nan")), _logits()]).to(device)
    rows = [SamplingRow(SamplingParams(temperature=1.0), []) for _ in range(3)]
    with pytest.raises(SamplingError, match="row 1"):
        Sampler(VOCAB, [0], draw_backend="triton")(logits, rows)


@requires_cuda
def test_cuda_logits_take_the_kernels_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = sampler.draw_with_kernels
    monkeypatch.setattr(sampler, "draw_with_kernels",
                        lambda *a: calls.append(len(a[1])) or real(*a))
    rows = [SamplingRow(SamplingParams(temperature=0.9, top_p=0.8), []) for _ in range(4)]
    out = Sampler(VOCAB, [0])(_logits().expand(4, VOCAB).contiguous().cuda(), rows)
    assert calls == [4] and len(out.token_ids) == 4
