"""Each torch GGUF decoder equals llama.cpp's own (``gguf.quants.dequantize``) on random blocks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from genai_rt.model.gguf_dequant import SUPPORTED_TYPES, dequantize
from genai_rt.model.gguf_file import GGUFTensor
from genai_rt.model.loader import CheckpointError
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, quants

# byte offsets of the fp16 scales in each block type (random bytes there could be inf/NaN)
SCALE_OFFSETS = {"Q8_0": (0,), "Q4_0": (0,), "Q4_1": (0, 2), "Q5_0": (0,), "Q5_1": (0, 2),
                 "Q4_K": (0, 2), "Q5_K": (0, 2), "Q6_K": (208,)}


def random_blocks(kind: GGMLQuantizationType, rows: int, cols: int) -> np.ndarray:
    block_values, block_bytes = GGML_QUANT_SIZES[kind]
    rng = np.random.default_rng(int(kind))
    n_blocks = rows * cols // block_values
    raw = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    for offset in SCALE_OFFSETS.get(kind.name, ()):
        scales = rng.standard_normal(n_blocks).astype(np.float16)
        raw[:, offset:offset + 2] = scales.view(np.uint8).reshape(n_blocks, 2)
    return raw.reshape(rows, cols // block_values * block_bytes)


@pytest.mark.parametrize("name", ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"])
def test_block_types_match_gguf_reference(name: str) -> None:
    kind = GGMLQuantizationType[name]
    rows, cols = 3, 2 * GGML_QUANT_SIZES[kind][0]  # odd row count, two blocks per row
    raw = random_blocks(kind, rows, cols)
    expected = quants.dequantize(raw, kind).reshape(rows, cols)
    got = dequantize(GGUFTensor("w", kind, (rows, cols), raw), torch.float32)
    assert got.shape == (rows, cols)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name,np_dtype", [("F32", np.float32), ("F16", np.float16)])
def test_plain_types_are_read_as_is(name: str, np_dtype: type) -> None:
    values = np.arange(12, dtype=np_dtype).reshape(3, 4) / 7
    got = dequantize(GGUFTensor("w", GGMLQuantizationType[name], (3, 4), values), torch.float32)
    torch.testing.assert_close(got, torch.from_numpy(values.astype(np.float32)), rtol=0, atol=0)


def test_bf16_is_read_as_is() -> None:
    values = torch.randn(2, 5).to(torch.bfloat16)
    raw = values.view(torch.uint8).numpy()
    got = dequantize(GGUFTensor("w", GGMLQuantizationType.BF16, (2, 5), raw), torch.bfloat16)
    assert torch.equal(got, values)


def test_output_dtype_is_the_requested_one() -> None:
    raw = random_blocks(GGMLQuantizationType.Q4_1, 2, 64)
    got = dequantize(GGUFTensor("w", GGMLQuantizationType.Q4_1, (2, 64), raw), torch.bfloat16)
    assert got.dtype == torch.bfloat16


def test_unsupported_type_names_the_tensor_and_type() -> None:
    raw = np.zeros((1, 66), dtype=np.uint8)
    tensor = GGUFTensor("blk.7.ffn_up.weight", GGMLQuantizationType.IQ2_XXS, (1, 256), raw)
    with pytest.raises(CheckpointError, match=r"blk\.7\.ffn_up\.weight.*IQ2_XXS") as err:
        dequantize(tensor)
    assert "Q4_1" in str(err.value) and len(SUPPORTED_TYPES) == 11
