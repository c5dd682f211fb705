"""``quantize=int8|int4`` on a Hugging Face checkpoint: weight-only blocks at load, on CPU."""

from __future__ import annotations

import pytest
import torch
from genai_rt import LLM, SamplingParams
from genai_rt.model.attention.torch_backend import TorchAttentionBackend
from genai_rt.model.loader import load_model
from genai_rt.model.quant import QuantFormatError, QuantizedLinear
from genai_rt.model.quant.apply import quantize_model

from tests.engine.tiny_model import save_tiny_llama
from tests.model.paged_batch import PagedDriver

PROMPT = [5, 17, 3, 42, 8, 60, 11]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny_quant")
    save_tiny_llama(path)
    return path


def _logits(model) -> torch.Tensor:
    return model.compute_logits(PagedDriver(model, 8, 16).step([(0, PROMPT)]))


@pytest.mark.parametrize("scheme,ggml_name,tolerance",
                         [("int8", "Q8_0", 0.05), ("int4", "Q4_1", 0.3)])
def test_projections_quantized_at_load(checkpoint, scheme, ggml_name, tolerance) -> None:
    dense_model = load_model(checkpoint, TorchAttentionBackend())
    dense = _logits(dense_model)
    model = load_model(checkpoint, TorchAttentionBackend())
    summary = quantize_model(model, None, scheme, "float32")
    layers = [m for m in model.modules() if isinstance(m, QuantizedLinear)]
    assert len(layers) == 4 * 2 + 1  # four per layer + the LM head
    assert all(layer.path.startswith(f"cpu {ggml_name} fp32") for layer in layers), summary
    # each weight within half a quantization step of the original (blocks of 32), plus the
    # rounding of the block's scale (and min) to fp16: 127 (or 15) steps x 2^-11 < 0.07 step
    original = dense_model.layers[0].gate_up_proj.weight.t()  # [out, in]
    got = model.layers[0].gate_up_proj.dequantized_weight()
    blocks = original.reshape(original.shape[0], -1, 32)
    span = blocks.abs().amax(-1) if scheme == "int8" else blocks.amax(-1) - blocks.amin(-1)
    step = (span / (127.0 if scheme == "int8" else 15.0)).repeat_interleave(32, dim=1)
    bound = 0.57 * step + 2.0**-11 * blocks.abs().amax(-1).repeat_interleave(32, dim=1) + 1e-7
    assert ((got - original).abs() <= bound).all()
    # and the whole model still computes the same function, up to quantization noise (measured
    # 0.024 for int8; a row or block out of place gives ~1)
    quantized = _logits(model)
    relative = (quantized - dense).norm() / dense.norm()
    assert relative < tolerance, f"{scheme}: logits off by {relative:.3g} (relative)"


def test_engine_generates_with_quantize_flag(checkpoint) -> None:
    llm = LLM(str(checkpoint), quantize="int4")
    out = llm.generate([{"prompt_token_ids": PROMPT}],
                       SamplingParams(temperature=0, max_tokens=8, ignore_eos=True))
    assert len(out[0].outputs[0].token_ids) == 8
    assert any(isinstance(m, QuantizedLinear) for m in llm.engine.model.modules())


def test_quantize_refuses_a_gguf_file() -> None:
    class FakeGGUF:
        class path:
            name = "model.gguf"

    model = torch.nn.Module()
    model.embed_tokens = torch.nn.Parameter(torch.zeros(2, 2))
    with pytest.raises(QuantFormatError, match="already quantized"):
        quantize_model(model, FakeGGUF(), "int8")  # type: ignore[arg-type]
