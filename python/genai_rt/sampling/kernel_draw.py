"""The Sampler's draw on the Triton sampling kernels (the default for CUDA logits).

Rows with temperature only take ``sample_temperature`` (inverse CDF, one uniform a row); rows
with top-k, top-p or min-p take ``sample_rejection`` (FlashInfer-style pivot rejection, HF's
filter order, as the torch path). Which rows take which kernel is read from the host-side
SamplingParams, so nothing here waits for the device.

Randomness: each row's kernel seed (int64) is drawn from the row's own generator when it is
seeded (one number from its stream per step, as the torch path takes one uniform), else from
the global stream; a seeded row's token depends only on its logits and its generator.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Sequence

import torch

from genai_rt.sampling.params import SamplingRow

logger = logging.getLogger(__name__)

DRAW_BACKENDS = ("auto", "torch", "triton")
_SEED_LIMIT = 2**62


@functools.cache
def kernels_available() -> bool:
    """Whether genai_rt.kernels' sampling modules import (Triton installed and working)."""
    try:
        importlib.import_module("genai_rt.kernels.sampling_temperature")
        importlib.import_module("genai_rt.kernels.sampling_rejection")
    except ImportError as exc:
        logger.warning("Triton sampling kernels unavailable (%s); sampling uses torch", exc)
        return False
    return True


def choose_draw_backend(requested: str, device: torch.device) -> str:
    """"torch" or "triton" for logits on ``device``: "auto" takes the kernels on CUDA when they
    import and torch elsewhere (the CPU path is torch's, faster there than the interpreter)."""
    if requested not in DRAW_BACKENDS:
        raise ValueError(f"unknown draw backend {requested!r}; choose from {DRAW_BACKENDS}")
    if requested != "auto":
        return requested
    return "triton" if device.type == "cuda" and kernels_available() else "torch"


def _seeds(rows: Sequence[SamplingRow], device: torch.device) -> torch.Tensor:
    # seeds: int64 [R], one Philox key per row
    seeds = torch.randint(0, _SEED_LIMIT, (len(rows),), dtype=torch.int64, device=device)
    for i, row in enumerate(rows):
        if row.generator is not None:
            seeds[i] = torch.randint(0, _SEED_LIMIT, (1,), dtype=torch.int64, device=device,
                                     generator=row.generator)[0]
    return seeds


def draw_with_kernels(
    processed: torch.Tensor, rows: Sequence[SamplingRow], vocab_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens for the random rows ``rows`` of ``processed`` (their processed logits, before
    temperature, ``[R, V]`` float32).

    Returns
    -------
    (tokens int64 [R], valid bool [R])
        ``valid`` is False where no token survives or the logits hold NaN/+inf (the caller
        raises SamplingError for those rows, as on the torch path).
    """
    from genai_rt.kernels.sampling_rejection import sample_rejection
    from genai_rt.kernels.sampling_temperature import sample_temperature

    device = processed.device
    logits = processed.contiguous()
    # amax is NaN with a NaN anywhere, +inf with +inf, -inf when nothing is allowed.
    finite = torch.isfinite(logits.amax(dim=-1))
    if not logits.is_cuda:
        # The interpreter's argmax raises on NaN rows; on a GPU such a row draws some token,
        # which `valid` below discards. Zeros keep the interpreter going the same way.
        logits = torch.where(finite[:, None], logits, 0.0)
    # NOTE: on a GPU one row a program. The interpreter (CPU tests) pays ~10 ms a nested jit
    # call a program (profiled: 24 s for 2000 rows at 64 rows a program), so it takes 512.
    per_program = 1 if device.type == "cuda" else 512
    seeds = _seeds(rows, device)
    tokens = torch.empty(len(rows), dtype=torch.int64, device=device)
    plain = [i for i, r in enumerate(rows) if _temperature_only(r, vocab_size)]
    plain_set = set(plain)
    filtered = [i for i in range(len(rows)) if i not in plain_set]
    for index, filters in ((plain, False), (filtered, True)):
        if not index:
            continue
        everything = len(index) == len(rows)
        sub = logits if everything else logits[index]
        temperature = _per_row([rows[i].params.temperature for i in index], torch.float32, device)
        if not filters:
            got = sample_temperature(sub, temperature, seeds if everything else seeds[index],
                                     rows_per_program=per_program)
        else:
            params = [rows[i].params for i in index]
            top_k = [p.top_k if 0 < p.top_k < vocab_size else 0 for p in params]
            top_p = [p.top_p for p in params]
            got = sample_rejection(
                sub, temperature, _per_row(top_k, torch.int32, device),
                _per_row(top_p, torch.float32, device),
                _per_row([p.min_p for p in params], torch.float32, device),
                seeds if everything else seeds[index], rows_per_program=per_program,
                top_k_and_top_p=any(k > 0 and p < 1.0 for k, p in zip(top_k, top_p, strict=True)))
        if everything:
            tokens = got
        else:
            tokens[index] = got
    valid = finite & (tokens >= 0)
    return tokens.clamp(min=0), valid


def _temperature_only(row: SamplingRow, vocab_size: int) -> bool:
    p = row.params
    return not (0 < p.top_k < vocab_size) and p.top_p >= 1.0 and p.min_p <= 0.0


def _per_row(values: list, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype).to(device, non_blocking=True)
