"""EngineConfig is declared once; ``genai-rt generate`` derives its flags from it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from genai_rt.cli import build_parser, main
from genai_rt.config import SECTIONS, CacheConfig, EngineConfig, ModelConfig, SchedulerConfig
from genai_rt.sampling import SamplingParams


def test_from_model_routes_each_override_to_its_section() -> None:
    config = EngineConfig.from_model("ckpt", dtype="float32", block_size=8, max_num_seqs=3,
                                     enable_chunked_prefill=False, max_num_batched_tokens=64,
                                     max_model_len=64)
    assert config.model == ModelConfig("ckpt", dtype="float32", max_model_len=64)
    assert config.cache == CacheConfig(block_size=8)
    assert config.scheduler == SchedulerConfig(3, 64, False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.cache.block_size = 4  # type: ignore[misc]


@pytest.mark.parametrize("overrides, message", [
    (dict(dtype="fp8"), "dtype must be one of"),
    (dict(attention_backend="cuda"), "attention_backend must be one of"),
    (dict(max_num_seqs=0), "max_num_seqs must be a positive int"),
    (dict(enable_prefix_caching="yes"), "enable_prefix_caching must be a bool"),
    (dict(enable_chunked_prefill=False, max_num_batched_tokens=32, max_model_len=64),
     "without chunked prefill a prompt must fit one step"),
])
def test_bad_values_name_the_field(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EngineConfig.from_model("ckpt", **overrides)


def test_every_scalar_field_is_a_generate_flag() -> None:
    parser = build_parser()
    args = parser.parse_args(["generate", "--model", "m", "--block-size", "8",
                              "--no-enable-prefix-caching", "--max-tokens", "5", "hi"])
    assert args.block_size == 8 and args.enable_prefix_caching is False and args.max_tokens == 5
    assert args.max_num_seqs is None  # not given: the dataclass default applies
    for _, cls in SECTIONS:
        for f in dataclasses.fields(cls):
            if f.name != "path":
                assert f.name in args.engine_flags
    assert {"temperature", "top_p", "seed", "n", "logprobs"} <= set(args.sampling_flags)
    assert set(args.sampling_flags) <= {f.name for f in dataclasses.fields(SamplingParams)}


def test_generate_command_runs(tiny_checkpoint: tuple[Path, torch.nn.Module],
                               capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["generate", "--model", str(tiny_checkpoint[0]), "--dtype", "float32",
                 "--temperature", "0", "--max-tokens", "6", "--ignore-eos", "Hello"])
    assert code == 0
    out = capsys.readouterr().out
    assert "(6 tokens, length)" in out and "Hello" in out
