"""Sampler processing against per-row references (HF processors and plain loops), exact."""

from __future__ import annotations

import math

import pytest
import torch
from genai_rt.sampling import Sampler, SamplingError, SamplingParams, SamplingRow, make_generator
from genai_rt.sampling.top_p import apply_top_p
from genai_rt.sampling.truncation import apply_min_p, apply_top_k, apply_top_k_top_p
from transformers.generation.logits_process import (
    MinPLogitsWarper,
    RepetitionPenaltyLogitsProcessor,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from tests.sampling.reference_sampler import reference_probs, reference_processed

VOCAB = 83  # not a multiple of 32: the bitmask's last word is partial
EOS = [82]


def _row(
    prompt: list[int] | None = None, output: list[int] | None = None, device: str = "cpu",
    **kw: object,
) -> SamplingRow:
    params = SamplingParams(**kw)  # type: ignore[arg-type]
    generator = make_generator(params.seed, device) if params.seed is not None else None
    return SamplingRow(params, prompt or [], list(output or []), generator)


def _random_bitmask(rows: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    words = math.ceil(VOCAB / 32)
    bits = torch.randint(0, 2**32, (rows, words), generator=g, dtype=torch.int64)
    return (bits - 2**31).to(torch.int32)  # every 32-bit pattern, as int32


def _assert_same_logits(actual: torch.Tensor, expected: torch.Tensor) -> None:
    assert torch.equal(torch.isneginf(actual), torch.isneginf(expected))
    finite = torch.isfinite(expected)
    torch.testing.assert_close(actual[finite], expected[finite], rtol=1e-6, atol=1e-6)


def test_greedy_equals_argmax(device: str) -> None:
    logits = torch.randn(9, VOCAB, generator=torch.Generator().manual_seed(0)).to(device)
    rows = [_row(temperature=0) for _ in range(9)]
    out = Sampler(VOCAB, EOS)(logits, rows)
    assert out.token_ids == logits.argmax(dim=-1).tolist()


def test_repetition_penalty_equals_hf() -> None:
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(4, VOCAB, generator=g) * 3
    histories = [torch.randint(0, VOCAB, (n,), generator=g).tolist() for n in (0, 5, 40, 200)]
    rows = [_row(h[: len(h) // 2], h[len(h) // 2:], temperature=0, repetition_penalty=p)
            for h, p in zip(histories, (1.3, 0.7, 2.0, 1.1), strict=True)]
    processed = Sampler(VOCAB, EOS).process_logits(logits, rows)
    for i, row in enumerate(rows):
        hf = RepetitionPenaltyLogitsProcessor(row.params.repetition_penalty)(
            torch.tensor([histories[i]]), logits[i : i + 1].clone())[0]
        torch.testing.assert_close(processed[i], hf, rtol=0, atol=0)


def test_mixed_batch_processing_matches_reference(device: str) -> None:
    """Every processor in one batch, rows with and without each; compared row by row."""
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(7, VOCAB, generator=g) * 2
    rows = [
        _row([1, 2, 3], [4, 4, 5], temperature=0.7, logit_bias={3: 5.0, 10: -7.5}),
        _row([6, 7], [7, 7, 8, 9], frequency_penalty=0.6, presence_penalty=-0.4),
        _row([11] * 30, [12, 11], repetition_penalty=1.5, frequency_penalty=1.0),
        _row([1], [], min_tokens=3, stop_token_ids=[5, 6], temperature=0),
        _row([1], [2, 3, 4], min_tokens=3, stop_token_ids=[5, 6]),  # reached: nothing masked
        _row([1], [], min_tokens=2, ignore_eos=True, stop_token_ids=[9]),
        _row(),
    ]
    bitmask = _random_bitmask(3, seed=3)
    bitmask_rows = [0, 2, 6]
    processed = Sampler(VOCAB, EOS).process_logits(
        logits.to(device), rows, bitmask.to(device), bitmask_rows).cpu()
    for i, row in enumerate(rows):
        mask = bitmask[bitmask_rows.index(i)].tolist() if i in bitmask_rows else None
        _assert_same_logits(processed[i], reference_processed(logits[i], row, EOS, mask))
    assert processed[3, EOS[0]] == float("-inf") and processed[4, EOS[0]] > float("-inf")
    assert processed[5, EOS[0]] > float("-inf") and processed[5, 9] == float("-inf")


@pytest.mark.parametrize("seed", range(4))
def test_target_probs_match_hf_warpers(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(6, VOCAB, generator=g) * 2
    logits[:, :5] = 1.25  # ties at the top-k boundary and inside the nucleus
    rows = [
        _row(temperature=0.8, top_k=5),
        _row(temperature=1.3, top_p=0.6),
        _row(temperature=0.5, min_p=0.1),
        _row(temperature=0.9, top_k=12, top_p=0.8, min_p=0.05),
        _row(temperature=1.0),
        _row(temperature=0),
    ]
    sampler = Sampler(VOCAB, EOS)
    probs = sampler.target_probs(sampler.process_logits(logits, rows), rows)
    for i, row in enumerate(rows):
        expected = reference_probs(logits[i].clone(), row)
        assert torch.equal(probs[i] == 0, expected == 0), f"row {i}: support differs"
        torch.testing.assert_close(probs[i], expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("k", [1, 2, 7, VOCAB - 1, VOCAB])
@pytest.mark.parametrize("p", [0.05, 0.5, 0.93, 1.0])
def test_top_k_top_p_masks_equal_hf(k: int, p: float) -> None:
    g = torch.Generator().manual_seed(k * 100 + int(p * 100))
    logits = torch.randn(5, VOCAB, generator=g) * 3
    logits[1, 10:20] = 2.0  # a run of ties
    logits[2, :] = 0.5  # all tied
    ours = logits.clone()
    apply_top_k_top_p(ours, torch.full((5,), k), torch.full((5,), p))
    expected = TopPLogitsWarper(p)(None, TopKLogitsWarper(k)(None, logits.clone()))  # type: ignore[arg-type]
    assert torch.equal(ours, expected)


@pytest.mark.parametrize("k", [1, 3, 40, 1999, 2000])
def test_top_k_alone_equals_hf(k: int) -> None:
    logits = torch.randn(6, 2000, generator=torch.Generator().manual_seed(k)) * 3
    logits[2, 100:140] = 4.0  # ties across the k-th place
    ours = logits.clone()
    apply_top_k(ours, torch.full((6,), k))
    assert torch.equal(ours, TopKLogitsWarper(k)(None, logits.clone()))  # type: ignore[arg-type]


@pytest.mark.parametrize("scale", [0.001, 0.5, 3.0, 12.0, -1.0],
                         ids=["uniform", "flat", "mid", "peaked", "uniform+peaked"])
@pytest.mark.parametrize("p", [0.1, 0.7, 0.95, 0.999])
def test_top_p_equals_hf(scale: float, p: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bucket-band path and the sort fallback (near-uniform rows) both equal HF."""
    import genai_rt.sampling.top_p as top_p_module

    sorted_rows = []

    def counting_sort(logits: torch.Tensor, top_k: None, top_p: torch.Tensor) -> None:
        sorted_rows.append(logits.shape[0])
        apply_top_k_top_p(logits, top_k, top_p)

    monkeypatch.setattr(top_p_module, "apply_top_k_top_p", counting_sort)
    logits = torch.randn(8, 4000, generator=torch.Generator().manual_seed(int(scale * p * 1e3)))
    logits *= torch.linspace(0.6, 1.0, 8).unsqueeze(1) * abs(scale)  # varied peakedness
    if scale < 0:
        logits[::2] *= 0.001  # alternate near-uniform rows (sort path) and peaked ones
    ours = logits.clone()
    apply_top_p(ours, torch.full((8,), p))
    assert torch.equal(ours, TopPLogitsWarper(p)(None, logits.clone()))  # type: ignore[arg-type]
    assert sum(sorted_rows) == {0.001: 8, -1.0: 4}.get(scale, 0)


def test_top_p_tied_boundary_keeps_the_right_count() -> None:
    logits = torch.full((1, 4000), -30.0)
    logits[0, :10] = 5.0  # ten equal tokens hold ~all the mass: p = 0.55 keeps some of them
    ours = logits.clone()
    apply_top_p(ours, torch.tensor([0.55]))
    kept = torch.isfinite(ours[0]).nonzero().flatten().tolist()
    assert len(kept) == 6 and set(kept) <= set(range(10))  # 6 x 0.1 is the first mass >= 0.55
    hf = TopPLogitsWarper(0.55)(None, logits.clone())  # type: ignore[arg-type]
    assert int(torch.isfinite(hf).sum()) == 6


@pytest.mark.parametrize("min_p", [0.0, 0.01, 0.3, 1.0])
def test_min_p_mask_equals_hf(min_p: float) -> None:
    logits = torch.randn(5, VOCAB, generator=torch.Generator().manual_seed(7)) * 3
    logits[3, :4] = 9.0  # tied maxima all kept at min_p = 1
    ours = logits.clone()
    apply_min_p(ours, torch.full((5,), min_p))
    expected = MinPLogitsWarper(min_p)(None, logits.clone()) if min_p > 0 else logits  # type: ignore[arg-type]
    assert torch.equal(ours, expected)


def test_logprobs_are_raw_model_logprobs(device: str) -> None:
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(4, VOCAB, generator=g) * 2
    rows = [
        _row(temperature=0, logprobs=5, logit_bias={7: 100.0}),  # bias moves the choice only
        _row(temperature=0.7, logprobs=0, seed=3, device=device),
        _row(temperature=1.0, top_k=3, logprobs=20, repetition_penalty=1.7, output=[1, 2]),
        _row(),
    ]
    out = Sampler(VOCAB, EOS)(logits.to(device), rows)
    raw = torch.log_softmax(logits, dim=-1)
    assert out.token_ids[0] == 7
    for i, token in enumerate(out.token_ids[:3]):
        assert out.logprobs[i] == pytest.approx(raw[i, token].item(), abs=1e-5)
    assert math.isnan(out.logprobs[3])  # row 3 did not ask: no log-normalizer pass for it
    assert out.top_logprobs is not None
    assert out.top_logprobs[1] == [] and out.top_logprobs[3] == []
    for i, k in ((0, 5), (2, 20)):
        values, ids = raw[i].topk(k)
        assert [t for t, _ in out.top_logprobs[i]] == ids.tolist()
        torch.testing.assert_close(torch.tensor([v for _, v in out.top_logprobs[i]]), values,
                                   rtol=0, atol=1e-5)


def test_no_top_logprobs_when_none_asked() -> None:
    out = Sampler(VOCAB, EOS)(torch.zeros(2, VOCAB), [_row(), _row(logprobs=0)])
    assert out.top_logprobs is None and len(out.logprobs) == 2
    assert math.isnan(out.logprobs[0]) and out.logprobs[1] == pytest.approx(-math.log(VOCAB))
    greedy = Sampler(VOCAB, EOS)(torch.zeros(2, VOCAB), [_row(temperature=0)] * 2)
    assert all(math.isnan(v) for v in greedy.logprobs)


def test_bitmask_never_violated(device: str) -> None:
    """400 random rows, each with its own random mask: every token drawn is allowed."""
    g = torch.Generator().manual_seed(5)
    n = 400
    logits = torch.randn(n, VOCAB, generator=g) * 4
    bitmask = _random_bitmask(n, seed=6)
    rows = [_row(temperature=[0, 0.5, 1.0, 2.0][i % 4], top_p=[1.0, 0.9][i % 2]) for i in range(n)]
    tokens = Sampler(VOCAB, EOS)(logits.to(device), rows, bitmask.to(device)).token_ids
    for i, t in enumerate(tokens):
        assert (bitmask[i, t // 32].item() >> (t % 32)) & 1, f"row {i} drew forbidden token {t}"


def test_narrow_bitmask_forbids_the_padded_tail() -> None:
    """A mask for a tokenizer vocabulary smaller than the logits (a padded lm_head)."""
    logits = torch.zeros(3, VOCAB)
    logits[:, 70:] = 30.0  # the padding ids are the model's favourites
    bitmask = torch.full((2, 2), -1, dtype=torch.int32)  # allows tokens 0..63 only
    rows = [_row(temperature=0), _row(temperature=0), _row(temperature=0)]
    processed = Sampler(VOCAB, EOS).process_logits(logits, rows, bitmask, [0, 2])
    assert torch.isneginf(processed[[0, 2], 64:]).all() and torch.isfinite(processed[1]).all()
    assert Sampler(VOCAB, EOS)(logits, rows, bitmask, [0, 2]).token_ids[1] >= 70


def test_min_tokens_blocks_eos_and_stop_ids_until_reached() -> None:
    logits = torch.zeros(3, VOCAB)
    logits[:, EOS[0]] = 50.0
    logits[:, 4] = 40.0
    rows = [_row(output=[], min_tokens=2, stop_token_ids=[4], temperature=0),
            _row(output=[1, 1], min_tokens=2, stop_token_ids=[4], temperature=0),
            _row(output=[1], min_tokens=2, stop_token_ids=[4], temperature=1.0, seed=0)]
    assert Sampler(VOCAB, EOS)(logits, rows).token_ids[:2] == [0, EOS[0]]
    for _ in range(20):
        assert Sampler(VOCAB, EOS)(logits[2:], rows[2:]).token_ids[0] not in (4, EOS[0])


def test_all_tokens_masked_raises_naming_the_row() -> None:
    bitmask = torch.zeros(1, math.ceil(VOCAB / 32), dtype=torch.int32)
    rows = [_row(), _row(temperature=0), _row()]
    with pytest.raises(SamplingError, match="row 1: no token survives") as err:
        Sampler(VOCAB, EOS)(torch.randn(3, VOCAB), rows, bitmask, [1])
    assert err.value.rows == [1]


def test_non_finite_logits_raise_naming_the_rows(device: str) -> None:
    logits = torch.randn(5, VOCAB)
    logits[0, 3] = float("nan")
    logits[2, 4] = float("nan")
    logits[3, 5] = float("inf")
    rows = [_row(), _row(), _row(temperature=0), _row(temperature=0.5, top_p=0.5), _row()]
    with pytest.raises(SamplingError, match=r"row 0: logits are not finite") as err:
        Sampler(VOCAB, EOS)(logits.to(device), rows)
    assert err.value.rows == [0, 2, 3]
    assert "row 3: logits are not finite (max inf)" in str(err.value)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s(torch.zeros(2, VOCAB + 1), [_row(), _row()]), "logits must be"),
        (lambda s: s(torch.zeros(2, VOCAB), [_row()]), "logits has 2 rows for 1 SamplingRows"),
        (lambda s: s(torch.zeros(1, VOCAB, dtype=torch.int64), [_row()]), "floating point"),
        (lambda s: s(torch.zeros(1, VOCAB), [_row(logit_bias={VOCAB: 1.0})]),
         "row 0: logit_bias has token ids >= vocab_size"),
        (lambda s: s(torch.zeros(1, VOCAB), [_row(stop_token_ids=[VOCAB])]),
         "row 0: stop_token_ids has ids >= vocab_size"),
        (lambda s: s(torch.zeros(1, VOCAB), [SamplingRow(SamplingParams(seed=1), [])]),
         "row 0: seed 1 is set but the row has no generator"),
        (lambda s: s(torch.zeros(1, VOCAB), [_row()], torch.zeros(1, 0, dtype=torch.int32)),
         "bitmask must be int32 [M, words]"),
        (lambda s: s(torch.zeros(1, VOCAB), [_row()], torch.zeros(1, 3, dtype=torch.int64)),
         "bitmask must be int32 [M, words]"),
        (lambda s: s(torch.zeros(2, VOCAB), [_row(), _row()],
                     torch.zeros(1, 3, dtype=torch.int32)), "bitmask has 1 rows"),
        (lambda s: s(torch.zeros(2, VOCAB), [_row(), _row()],
                     torch.zeros(1, 3, dtype=torch.int32), [2]), "bitmask_rows [2] out of range"),
        (lambda s: s(torch.zeros(1, VOCAB), [_row()], None, [0]), "bitmask_rows given without"),
        (lambda s: s(torch.zeros(2, VOCAB), [_row(), _row([1, VOCAB], repetition_penalty=1.2)]),
         "row 1: prompt/output token ids outside the vocabulary"),
        (lambda s: s(torch.zeros(1, VOCAB), [_row([1], [-1], frequency_penalty=1.0)]),
         "row 0: prompt/output token ids outside the vocabulary"),
    ],
)
def test_bad_inputs_get_clear_errors(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        call(Sampler(VOCAB, EOS))  # type: ignore[operator]


def test_empty_batch() -> None:
    out = Sampler(VOCAB, EOS)(torch.zeros(0, VOCAB), [])
    assert out.token_ids == [] and out.logprobs == [] and out.top_logprobs is None


def test_constructor_checks() -> None:
    with pytest.raises(ValueError, match="eos_token_ids"):
        Sampler(10, [10])
    with pytest.raises(ValueError, match="vocab_size must be >= 1"):
        Sampler(0, [])


def test_half_precision_logits_are_upcast() -> None:
    logits = torch.randn(3, VOCAB, generator=torch.Generator().manual_seed(8)).to(torch.bfloat16)
    out = Sampler(VOCAB, EOS)(logits, [_row(temperature=0, logprobs=1) for _ in range(3)])
    assert out.token_ids == logits.float().argmax(dim=-1).tolist()
    assert out.top_logprobs is not None and out.top_logprobs[0][0][0] == out.token_ids[0]
