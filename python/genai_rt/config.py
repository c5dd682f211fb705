"""Engine configuration: frozen dataclasses, validated on construction, declared once.

The CLI (``genai-rt generate``) derives its flags from these fields, so a field added here is a
flag there with no second declaration.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

DTYPES = ("auto", "float32", "bfloat16", "float16")
ATTENTION_BACKENDS = ("auto", "torch", "triton", "flash_attn")
DEVICES = ("auto", "cpu", "cuda")


def _positive_int(name: str, value: object, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


@dataclass(frozen=True)
class ModelConfig:
    """Which checkpoint to load and how.

    Parameters
    ----------
    path : str
        A local Hugging Face checkpoint directory.
    dtype : {"auto", "float32", "bfloat16", "float16"}
        "auto" keeps the checkpoint's own dtype.
    max_model_len : int | None
        Longest prompt + output; None takes the checkpoint's limit.
    attention_backend : {"auto", "torch", "triton", "flash_attn"}
        "auto" picks triton on CUDA, torch on CPU.
    device : {"auto", "cpu", "cuda"}
        "auto" is cuda when torch sees a GPU.
    enforce_eager : bool
        On CUDA, run decode steps eagerly instead of replaying captured CUDA graphs.
    """

    path: str
    dtype: str = "auto"
    max_model_len: int | None = None
    attention_backend: str = "auto"
    device: str = "auto"
    enforce_eager: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path:
            raise ValueError(f"path must be a non-empty string, got {self.path!r}")
        _choice("dtype", self.dtype, DTYPES)
        _positive_int("max_model_len", self.max_model_len, allow_none=True)
        _choice("attention_backend", self.attention_backend, ATTENTION_BACKENDS)
        _choice("device", self.device, DEVICES)
        if not isinstance(self.enforce_eager, bool):
            raise ValueError(f"enforce_eager must be a bool, got {self.enforce_eager!r}")


@dataclass(frozen=True)
class CacheConfig:
    """The paged KV cache.

    Parameters
    ----------
    block_size : int
        Tokens per KV block.
    num_gpu_blocks : int | None
        Blocks in the pool; overrides ``kv_cache_memory`` when set.
    kv_cache_memory : int
        Bytes for the KV pool when ``num_gpu_blocks`` is None (default 1 GiB).
    enable_prefix_caching : bool
        Reuse computed blocks across requests sharing a prefix.
    """

    block_size: int = 16
    num_gpu_blocks: int | None = None
    kv_cache_memory: int = 1 << 30
    enable_prefix_caching: bool = True

    def __post_init__(self) -> None:
        _positive_int("block_size", self.block_size)
        _positive_int("num_gpu_blocks", self.num_gpu_blocks, allow_none=True)
        _positive_int("kv_cache_memory", self.kv_cache_memory)
        if not isinstance(self.enable_prefix_caching, bool):
            raise ValueError(
                f"enable_prefix_caching must be a bool, got {self.enable_prefix_caching!r}"
            )

    def num_blocks_for(self, bytes_per_block: int) -> int:
        """Pool size: ``num_gpu_blocks``, or as many blocks as ``kv_cache_memory`` holds."""
        if self.num_gpu_blocks is not None:
            return self.num_gpu_blocks
        blocks = self.kv_cache_memory // bytes_per_block
        if blocks <= 0:
            raise ValueError(
                f"kv_cache_memory={self.kv_cache_memory} bytes holds no KV block of "
                f"{bytes_per_block} bytes; raise it or set num_gpu_blocks"
            )
        return int(blocks)


@dataclass(frozen=True)
class SchedulerConfig:
    """Continuous batching limits.

    Parameters
    ----------
    max_num_seqs : int
        Sequences running at once.
    max_num_batched_tokens : int
        Tokens per forward (prefill chunks + decodes).
    enable_chunked_prefill : bool
        Split long prompts across steps; when off, a prompt must fit one step's budget.
    """

    max_num_seqs: int = 128
    max_num_batched_tokens: int = 2048
    enable_chunked_prefill: bool = True

    def __post_init__(self) -> None:
        _positive_int("max_num_seqs", self.max_num_seqs)
        _positive_int("max_num_batched_tokens", self.max_num_batched_tokens)
        if not isinstance(self.enable_chunked_prefill, bool):
            raise ValueError(
                f"enable_chunked_prefill must be a bool, got {self.enable_chunked_prefill!r}"
            )


# flash-attn's paged KV path reads whole pages of this many tokens.
FLASH_ATTN_PAGE_MULTIPLE = 256


@dataclass(frozen=True)
class EngineConfig:
    """Everything the engine needs, made of the configs above.

    Build it with ``EngineConfig.from_model(path, **overrides)``: each override goes to the one
    sub-config that declares a field of that name.
    """

    model: ModelConfig
    cache: CacheConfig = field(default_factory=CacheConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)

    def __post_init__(self) -> None:
        max_len = self.model.max_model_len
        if (
            max_len is not None
            and not self.scheduler.enable_chunked_prefill
            and self.scheduler.max_num_batched_tokens < max_len
        ):
            raise ValueError(
                f"max_num_batched_tokens={self.scheduler.max_num_batched_tokens} is below "
                f"max_model_len={max_len}: without chunked prefill a prompt must fit one step"
            )
        page = FLASH_ATTN_PAGE_MULTIPLE
        if self.model.attention_backend == "flash_attn" and self.cache.block_size % page:
            raise ValueError(
                f"attention_backend='flash_attn' needs block_size to be a multiple of {page} "
                f"(flash-attn's paged KV tiles pages of {page} tokens), got "
                f"block_size={self.cache.block_size}; pass block_size={page} or use 'triton'"
            )

    @classmethod
    def from_model(cls, path: str, **overrides: Any) -> EngineConfig:
        """A config for the checkpoint at ``path``; ``overrides`` name fields of any sub-config.

        Raises
        ------
        TypeError
            For a name that no sub-config declares.
        """
        parts: dict[str, dict[str, Any]] = {name: {} for name, _ in SECTIONS}
        for key, value in overrides.items():
            section = FIELD_SECTION.get(key)
            if section is None or key == "path":
                raise TypeError(f"unknown engine option {key!r}; known: {sorted(FIELD_SECTION)}")
            parts[section][key] = value
        return cls(
            model=ModelConfig(path=path, **parts["model"]),
            cache=CacheConfig(**parts["cache"]),
            scheduler=SchedulerConfig(**parts["scheduler"]),
        )

    def with_max_model_len(self, max_model_len: int) -> EngineConfig:
        """The same config with the resolved model length (re-validated)."""
        return dataclasses.replace(
            self, model=dataclasses.replace(self.model, max_model_len=max_model_len)
        )


SECTIONS: tuple[tuple[str, type], ...] = (
    ("model", ModelConfig),
    ("cache", CacheConfig),
    ("scheduler", SchedulerConfig),
)
FIELD_SECTION: dict[str, str] = {
    f.name: name for name, cls in SECTIONS for f in dataclasses.fields(cls)
}


def kv_bytes_per_block(
    block_size: int, num_layers: int, num_kv_heads: int, head_dim: int, dtype_bytes: int
) -> int:
    """Bytes one block takes across all layers (K and V)."""
    return 2 * block_size * num_layers * num_kv_heads * head_dim * dtype_bytes


def blocks_for_tokens(num_tokens: int, block_size: int) -> int:
    return math.ceil(num_tokens / block_size)
