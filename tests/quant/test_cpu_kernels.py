"""The C++ quantized matmul against dequantize-then-matmul, for every type, path and odd shape."""

from __future__ import annotations

import pytest
import torch
from genai_rt import _core
from genai_rt.model.quant.cpu import quant_matmul

from .blocks import ALL_TYPES, q8_activations, ragged_in_features, random_weight

ISAS = list(_core.quant_available_isas())


@pytest.fixture(params=ISAS)
def isa(request):
    before = _core.quant_active_isa()
    _core.quant_set_isa(request.param)
    yield request.param
    _core.quant_set_isa(before)


def _reference(x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(x @ w.T in float64, |x| @ |w|.T: the scale of fp32 rounding error per output)."""
    return x.double() @ w.double().t(), x.double().abs() @ w.double().abs().t()


def _assert_within(got: torch.Tensor, want: torch.Tensor, scale: torch.Tensor, rel: float):
    err = (got.double() - want).abs()
    bound = rel * scale + 1e-30
    worst = (err / bound).max().item()
    assert worst <= 1.0, f"error {err.max().item():.3g} exceeds {rel} x sum|w x| (x{worst:.2f})"


@pytest.mark.parametrize("ggml_type", ALL_TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("rows", [1, 5, 64, 67])
def test_matches_dequantize_then_matmul(ggml_type, rows, isa) -> None:
    k = ragged_in_features(ggml_type)
    weight = random_weight(ggml_type, 37, k, seed=rows)
    dense = weight.dequantize()
    x = torch.randn(rows, k, generator=torch.Generator().manual_seed(rows))
    # weight-only: fp32 dot products of the dequantized row (fp32 rounding only)
    want, scale = _reference(x, dense)
    got = quant_matmul(x, weight, int8_activations=False, num_threads=2)
    _assert_within(got, want, scale, rel=2e-6)
    torch.testing.assert_close(got, x @ dense.t(), atol=1e-4, rtol=1e-5)
    # int8 activations: exact integer dots of the q8 activations, fp32 scales
    want, scale = _reference(q8_activations(x), dense)
    got = quant_matmul(x, weight, int8_activations=True, num_threads=2)
    _assert_within(got, want, scale, rel=2e-5)


@pytest.mark.parametrize("ggml_type", ALL_TYPES, ids=lambda t: t.name)
def test_whole_blocks_and_single_output(ggml_type, isa) -> None:
    block = 256 if ggml_type.name.endswith("_K") else 32
    for out_features, k in [(1, block), (16, 2 * block)]:
        weight = random_weight(ggml_type, out_features, k, seed=k)
        x = torch.randn(3, k, generator=torch.Generator().manual_seed(k))
        want, scale = _reference(x, weight.dequantize())
        _assert_within(quant_matmul(x, weight, False, 1), want, scale, rel=2e-6)


def test_thread_count_does_not_change_results() -> None:
    weight = random_weight(ALL_TYPES[2], 97, 200, seed=3)
    x = torch.randn(9, 200, generator=torch.Generator().manual_seed(4))
    for int8 in (False, True):
        one = quant_matmul(x, weight, int8, num_threads=1)
        for threads in (2, 3, 8):
            assert torch.equal(quant_matmul(x, weight, int8, num_threads=threads), one)


@pytest.mark.parametrize("ggml_type", ALL_TYPES, ids=lambda t: t.name)
def test_a_row_does_not_depend_on_its_batch(ggml_type, isa) -> None:
    """Deterministic mode keeps these layers: 1-4 rows (registers) and more (expanded buffer)
    must give the same bits for the same row."""
    k = ragged_in_features(ggml_type)
    weight = random_weight(ggml_type, 29, k, seed=11)
    x = torch.randn(9, k, generator=torch.Generator().manual_seed(12))
    for int8 in (False, True):
        full = quant_matmul(x, weight, int8, num_threads=2)
        for rows in (1, 2, 3, 4, 5):
            assert torch.equal(quant_matmul(x[:rows], weight, int8, num_threads=2),
                               full[:rows]), (rows, int8)


def test_strided_rows_and_empty_batch() -> None:
    weight = random_weight(ALL_TYPES[0], 33, 64, seed=5)
    wide = torch.randn(4, 100, generator=torch.Generator().manual_seed(6))
    x = wide[:, 10:74]  # row stride 100
    assert torch.equal(quant_matmul(x, weight, True, 2), quant_matmul(x.contiguous(), weight,
                                                                      True, 2))
    assert quant_matmul(torch.zeros(0, 64), weight).shape == (0, 33)


def test_zero_activation_block_gives_zero() -> None:
    weight = random_weight(ALL_TYPES[2], 8, 64, seed=7)  # Q4_1: has an additive min
    x = torch.zeros(2, 64)
    assert torch.equal(quant_matmul(x, weight, True, 1), torch.zeros(2, 8))


def test_isa_paths_are_reported() -> None:
    assert ISAS[-1] == "generic"
    assert _core.quant_active_isa() in ISAS
    with pytest.raises(ValueError, match="not available"):
        _core.quant_set_isa("amx")


def test_info_names_the_quantized_paths() -> None:
    from genai_rt.info import collect, format_info

    text = format_info(collect())
    assert f"cpu: C++ {_core.quant_active_isa()}" in text and "Q6_K" in text
