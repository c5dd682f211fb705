"""config.json of a Hugging Face checkpoint, parsed into one frozen dataclass.

Reads both spellings transformers has used: ``rope_theta`` + ``rope_scaling`` (<= 4.x) and
``rope_parameters`` (5.x); ``torch_dtype`` (<= 4.x) and ``dtype`` (5.x).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

# architecture name -> (model_type, whether q/k/v projections carry a bias by construction)
SUPPORTED_ARCHITECTURES: dict[str, tuple[str, bool]] = {
    "LlamaForCausalLM": ("llama", False),
    "MistralForCausalLM": ("mistral", False),
    "Qwen2ForCausalLM": ("qwen2", True),
}
SUPPORTED_ROPE_TYPES = ("default", "linear", "llama3")

_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
}


class ModelConfigError(ValueError):
    """A checkpoint's config.json is missing, malformed or describes an unsupported model."""


def parse_dtype(name: str | torch.dtype) -> torch.dtype:
    """Map ``"bf16"``/``"bfloat16"``/``torch.bfloat16`` (and fp32, fp16 alike) to a torch dtype.

    Raises
    ------
    ModelConfigError
        For any other dtype (the decoder supports fp32, bf16 and fp16 only).
    """
    if isinstance(name, torch.dtype):
        if name in _DTYPES.values():
            return name
        raise ModelConfigError(f"unsupported dtype {name}; expected float32, bfloat16 or float16")
    key = name.removeprefix("torch.").lower()
    if key not in _DTYPES:
        raise ModelConfigError(f"unsupported dtype {name!r}; expected float32, bfloat16 or float16")
    return _DTYPES[key]


@dataclass(frozen=True)
class RopeScaling:
    """How rotary frequencies are rescaled for long contexts (``rope_type`` as in transformers).

    ``default`` leaves them alone, ``linear`` divides every frequency by ``factor``, ``llama3``
    divides low frequencies by ``factor`` and interpolates the band between
    ``low_freq_factor`` and ``high_freq_factor`` (Llama 3.1+).
    """

    rope_type: str = "default"
    factor: float = 1.0
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    original_max_position_embeddings: int = 8192


@dataclass(frozen=True)
class HFModelConfig:
    """The fields of config.json the Llama-family decoder needs.

    Attributes
    ----------
    architecture : str
        One of ``SUPPORTED_ARCHITECTURES`` (e.g. ``"LlamaForCausalLM"``).
    sliding_window : int | None
        Mistral's attention window. Attention here is always full, so ``max_model_len`` is capped
        at the window: lengths past it are refused instead of silently computed differently.
    dtype : torch.dtype
        The checkpoint's own dtype (``torch_dtype``/``dtype``), float32 when absent.
    """

    architecture: str
    model_type: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    rope_theta: float
    rope_scaling: RopeScaling
    rms_norm_eps: float
    tie_word_embeddings: bool
    attention_bias: bool
    max_position_embeddings: int
    sliding_window: int | None
    dtype: torch.dtype
    bos_token_id: int | None
    eos_token_ids: tuple[int, ...]

    @property
    def max_model_len(self) -> int:
        """Longest sequence (prompt + output) this config can run exactly."""
        if self.sliding_window is not None:
            return min(self.max_position_embeddings, self.sliding_window)
        return self.max_position_embeddings

    @property
    def q_size(self) -> int:
        return self.num_attention_heads * self.head_dim

    @property
    def kv_size(self) -> int:
        return self.num_key_value_heads * self.head_dim

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> HFModelConfig:
        """Validate and normalise a parsed config.json (see the module docstring)."""
        archs = raw.get("architectures") or []
        supported = [a for a in archs if a in SUPPORTED_ARCHITECTURES]
        if not supported:
            raise ModelConfigError(
                f"unsupported architecture {archs or raw.get('model_type')!r}; "
                f"supported: {', '.join(SUPPORTED_ARCHITECTURES)}"
            )
        architecture = supported[0]
        model_type, qkv_bias_always = SUPPORTED_ARCHITECTURES[architecture]
        act = raw.get("hidden_act", "silu")
        if act != "silu":
            raise ModelConfigError(f"unsupported hidden_act {act!r} for {architecture}; need silu")
        if raw.get("mlp_bias"):
            raise ModelConfigError(f"mlp_bias=true is not supported ({architecture})")

        def need(key: str) -> Any:
            if raw.get(key) is None:
                raise ModelConfigError(f"config.json of {architecture} lacks {key!r}")
            return raw[key]

        hidden_size = int(need("hidden_size"))
        num_heads = int(need("num_attention_heads"))
        num_kv_heads = int(raw.get("num_key_value_heads") or num_heads)
        if num_heads % num_kv_heads:
            raise ModelConfigError(
                f"num_attention_heads={num_heads} is not a multiple of "
                f"num_key_value_heads={num_kv_heads}"
            )
        head_dim = int(raw.get("head_dim") or hidden_size // num_heads)
        if head_dim % 2:
            raise ModelConfigError(f"head_dim={head_dim} must be even for rotary embeddings")
        rope_theta, rope_scaling = _parse_rope(raw)
        # Qwen2 only applies its window when use_sliding_window is set (and it never is in
        # released checkpoints); Mistral applies it whenever sliding_window is not null.
        window = raw.get("sliding_window")
        if model_type == "qwen2" and not raw.get("use_sliding_window", False):
            window = None
        dtype_name = raw.get("dtype") or raw.get("torch_dtype") or "float32"
        eos = raw.get("eos_token_id")
        eos_ids = tuple(int(e) for e in eos) if isinstance(eos, list) else (
            () if eos is None else (int(eos),)
        )
        return cls(
            architecture=architecture,
            model_type=model_type,
            vocab_size=int(need("vocab_size")),
            hidden_size=hidden_size,
            intermediate_size=int(need("intermediate_size")),
            num_hidden_layers=int(need("num_hidden_layers")),
            num_attention_heads=num_heads,
            num_key_value_heads=num_kv_heads,
            head_dim=head_dim,
            rope_theta=rope_theta,
            rope_scaling=rope_scaling,
            rms_norm_eps=float(raw.get("rms_norm_eps", 1e-6)),
            tie_word_embeddings=bool(raw.get("tie_word_embeddings", False)),
            attention_bias=qkv_bias_always or bool(raw.get("attention_bias", False)),
            max_position_embeddings=int(raw.get("max_position_embeddings", 2048)),
            sliding_window=None if window is None else int(window),
            dtype=parse_dtype(str(dtype_name)),
            bos_token_id=raw.get("bos_token_id"),
            eos_token_ids=eos_ids,
        )


def _parse_rope(raw: dict[str, Any]) -> tuple[float, RopeScaling]:
    params = raw.get("rope_parameters")
    if params is None:  # transformers <= 4.x
        params = dict(raw.get("rope_scaling") or {})
        params.setdefault("rope_theta", raw.get("rope_theta", 10000.0))
    rope_type = params.get("rope_type", params.get("type", "default"))
    if rope_type not in SUPPORTED_ROPE_TYPES:
        raise ModelConfigError(
            f"unsupported rope scaling type {rope_type!r}; supported: {SUPPORTED_ROPE_TYPES}"
        )
    if params.get("partial_rotary_factor", 1.0) != 1.0:
        raise ModelConfigError("partial_rotary_factor != 1 is not supported")
    defaults = RopeScaling()
    scaling = RopeScaling(
        rope_type=rope_type,
        factor=float(params.get("factor", 1.0)),
        low_freq_factor=float(params.get("low_freq_factor", defaults.low_freq_factor)),
        high_freq_factor=float(params.get("high_freq_factor", defaults.high_freq_factor)),
        original_max_position_embeddings=int(
            params.get("original_max_position_embeddings")
            or defaults.original_max_position_embeddings
        ),
    )
    return float(params.get("rope_theta", 10000.0)), scaling


def load_hf_config(model_dir: str | Path) -> HFModelConfig:
    """Read ``model_dir/config.json``.

    Raises
    ------
    ModelConfigError
        If the file is missing, is not JSON, or describes an unsupported architecture.
    """
    path = Path(model_dir) / "config.json"
    if not path.is_file():
        raise ModelConfigError(f"missing file {path} (not a Hugging Face checkpoint directory?)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelConfigError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ModelConfigError(f"{path} must hold a JSON object")
    return HFModelConfig.from_dict(raw)
