"""Unsupported types are named; corrupt block scales fail at load with row and block."""

from __future__ import annotations

import gguf
import numpy as np
import pytest
import torch
from genai_rt import _core
from genai_rt.model.gguf_file import GGUFFile
from genai_rt.model.quant import QuantFormatError, QuantizedLinear, QuantizedWeight
from genai_rt.model.quant.cpu import quant_matmul

from .blocks import T, random_weight

_NAN, _INF = np.array([0x7E00, 0x7C00], dtype=np.uint16).view(np.uint8).reshape(2, 2)


@pytest.mark.parametrize("ggml_type", [T.F16, T.Q5_0, T.Q2_K, T.IQ4_NL], ids=lambda t: t.name)
def test_unsupported_type_is_named(ggml_type) -> None:
    with pytest.raises(QuantFormatError, match=f"{ggml_type.name} .*not supported.*Q4_K"):
        QuantizedWeight(torch.zeros(4, 18, dtype=torch.uint8), int(ggml_type), 32, 4, "w")
    with pytest.raises(ValueError, match=f"GGML type {int(ggml_type)} is not supported"):
        _core.quant_matmul(0, 0, 1, 32, 32, 0, int(ggml_type), 1, True, 1)


@pytest.mark.parametrize("ggml_type,offset,field", [
    (T.Q8_0, 0, "d"), (T.Q4_1, 2, "m"), (T.Q4_K, 2, "dmin"), (T.Q6_K, 208, "d"),
])
@pytest.mark.parametrize("bad,word", [(_NAN, "NaN"), (_INF, "inf")])
def test_corrupt_scale_is_reported_with_its_place(ggml_type, offset, field, bad, word) -> None:
    weight = random_weight(ggml_type, 5, 512, seed=1)
    block_bytes = gguf.GGML_QUANT_SIZES[ggml_type][1]
    at = 1 * block_bytes + offset  # row 3, block 1
    weight.blocks[3, at:at + 2] = torch.from_numpy(bad.copy())
    with pytest.raises(QuantFormatError, match=f"scale {field} is {word} in row 3, block 1"):
        weight.check_scales()


def test_corrupt_scale_in_a_gguf_file_fails_at_load(tmp_path) -> None:
    good = random_weight(T.Q4_1, 4, 64, seed=2).blocks.numpy().copy()
    good[2, 0:2] = _NAN
    path = tmp_path / "bad.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tensor("blk.0.attn_q.weight", good, raw_dtype=T.Q4_1)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tensor = next(GGUFFile(path).tensors())
    with pytest.raises(QuantFormatError, match=r"blk\.0\.attn_q\.weight: Q4_1 block scale d is "
                                               r"NaN in row 2, block 0"):
        QuantizedWeight.from_gguf(tensor)


def test_wrong_shapes_and_devices_are_named() -> None:
    weight = random_weight(T.Q8_0, 4, 64, seed=3)
    with pytest.raises(QuantFormatError, match=r"x must be \[T, 64\]"):
        quant_matmul(torch.zeros(2, 63), weight)
    with pytest.raises(QuantFormatError, match="float32"):
        quant_matmul(torch.zeros(2, 64, dtype=torch.float64), weight)
    with pytest.raises(QuantFormatError, match=r"blocks must be uint8 \(4, 68\)"):
        QuantizedWeight(torch.zeros(4, 60, dtype=torch.uint8), int(T.Q8_0), 64, 4, "w")
    with pytest.raises(QuantFormatError, match="int8 or int4"):
        QuantizedLinear.from_float(torch.zeros(4, 64), "int3")
    with pytest.raises(QuantFormatError, match="NaN or inf"):
        QuantizedLinear.from_float(torch.full((4, 64), float("nan")), "int8")
