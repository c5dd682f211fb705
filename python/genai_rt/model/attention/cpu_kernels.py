"""The CPU decode-attention kernel (cpu_paged_decode.c), compiled on first use and loaded with
ctypes.

Compiled with the system C compiler for the host (``-O3 -march=native``) into a per-user cache,
keyed by the source, the flags and the CPU; where no compiler works the loader returns None and
the torch backend keeps its gather + SDPA path (and logs why).

NOTE: 64 decode sequences of 100-576 tokens, 8 heads over 4 KV heads of 64, fp32, 1 thread:
18 ms against 53 ms for one padded gather + SDPA (medians of 9, on a shared 2-core machine).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import subprocess
import sysconfig
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("cpu_paged_decode.c")
FLAGS = ["-O3", "-march=native", "-fopenmp-simd", "-shared", "-fPIC"]
PagedDecode = Callable[..., None]


def _cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "genai_rt" / "kernels"


def _cpu_signature() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return os.uname().machine


def _compile(compiler: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".so", delete=False) as tmp:
        tmp_path = Path(tmp.name)
    try:
        subprocess.run(
            [compiler, *FLAGS, "-o", str(tmp_path), str(SOURCE)],
            check=True, capture_output=True, text=True, timeout=120,
        )
        tmp_path.replace(target)  # atomic: concurrent builders never see half a library
    finally:
        tmp_path.unlink(missing_ok=True)


@functools.lru_cache(maxsize=1)
def load_paged_decode() -> PagedDecode | None:
    """The compiled ``paged_decode_attention_f32``, or None when it cannot be built here."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    key = hashlib.sha256(
        SOURCE.read_bytes() + " ".join([compiler, *FLAGS]).encode() + _cpu_signature().encode()
    ).hexdigest()[:16]
    try:
        target = _cache_dir() / f"cpu_paged_decode_{key}.so"
        if not target.is_file():
            _compile(compiler, target)
        lib = ctypes.CDLL(str(target))
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or exc
        logger.warning("CPU decode-attention kernel unavailable (%s); using gather + SDPA",
                       str(detail).strip()[:300])
        return None
    fn = lib.paged_decode_attention_f32
    ptr, i64 = ctypes.c_void_p, ctypes.c_int64
    fn.argtypes = [ptr, ptr, ptr, i64, ptr, ptr, i64, i64, i64, i64, i64, i64, ctypes.c_float,
                   ptr]
    fn.restype = None
    logger.info("CPU decode-attention kernel loaded from %s", target)
    return fn  # type: ignore[no-any-return]


def paged_decode_attention(
    kernel: PagedDecode,
    query: torch.Tensor,
    kv_cache: torch.Tensor,
    block_tables: torch.Tensor,
    seq_lens: torch.Tensor,
    max_seq_len: int,
    scale: float,
) -> torch.Tensor:
    """One decode token per sequence, attended over its paged context.

    query: [S, H, D] fp32; kv_cache: [2, NB, BS, KVH, D] fp32 contiguous; block_tables: int64
    [S, W] whose first ceil(seq_len / BS) entries are valid block ids (checked by the caller);
    seq_lens: int64 [S], each >= 1. Returns [S, H, D].
    """
    query = query.contiguous()
    _, num_blocks, block_size, kv_heads, head_dim = kv_cache.shape
    num_seqs, num_heads, _ = query.shape
    out = torch.empty_like(query)
    row_bytes = num_heads * head_dim * 4
    table_bytes = block_tables.stride(0) * 8

    def run(first: int, last: int) -> None:
        # Sequences [first, last): pointers offset into the shared tensors, own scratch.
        scratch = torch.empty(num_heads * max_seq_len, dtype=torch.float32)  # scores [H, L]
        kernel(
            query.data_ptr() + first * row_bytes, kv_cache.data_ptr(),
            block_tables.data_ptr() + first * table_bytes, block_tables.stride(0),
            seq_lens.data_ptr() + first * 8, out.data_ptr() + first * row_bytes,
            last - first, num_heads, kv_heads, head_dim, num_blocks, block_size, scale,
            scratch.data_ptr(),
        )

    ranges = _split_by_work(seq_lens.tolist(), torch.get_num_threads())
    if len(ranges) == 1:
        run(*ranges[0])
    else:  # ctypes releases the GIL during the call: the chunks run in parallel
        list(_pool(len(ranges)).map(lambda r: run(*r), ranges))
    return out


def _split_by_work(seq_lens: list[int], parts: int) -> list[tuple[int, int]]:
    """Contiguous sequence ranges with about equal context tokens; one range when small."""
    total = sum(seq_lens)
    # NOTE: below ~4k context tokens a thread hand-off costs more than it saves.
    parts = max(1, min(parts, len(seq_lens), total // 4096))
    ranges: list[tuple[int, int]] = []
    first = done = 0
    for index, length in enumerate(seq_lens):
        done += length
        if len(ranges) < parts - 1 and done * parts >= total * (len(ranges) + 1):
            ranges.append((first, index + 1))
            first = index + 1
    ranges.append((first, len(seq_lens)))
    return [r for r in ranges if r[0] < r[1]]


@functools.lru_cache(maxsize=4)
def _pool(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="genai_rt_attn")
