"""The Sampler: one batched step from logits to tokens, for rows with different SamplingParams."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from genai_rt.sampling.bitmask import apply_token_bitmask
from genai_rt.sampling.kernel_draw import DRAW_BACKENDS, choose_draw_backend, draw_with_kernels
from genai_rt.sampling.outputs import SamplerOutput, SamplingError
from genai_rt.sampling.params import SamplingRow
from genai_rt.sampling.penalties import (
    apply_logit_bias,
    apply_presence_frequency_penalties,
    apply_repetition_penalty,
    mask_tokens,
    pad_histories,
)
from genai_rt.sampling.top_p import apply_top_p
from genai_rt.sampling.topk import MAX_TOP_K
from genai_rt.sampling.topk import top_k as batched_top_k
from genai_rt.sampling.truncation import apply_min_p, apply_top_k, draw_from_probs


class Sampler:
    """Turns a batch of logits into one token per row.

    Order of processing (each step only touches the rows that need it):

    1. raw logprobs: ``log_softmax(logits)`` of the model's output, kept for ``SamplerOutput``;
    2. logit_bias;
    3. repetition penalty over prompt + output tokens (HF), then presence/frequency penalties
       over output tokens (OpenAI);
    4. min_tokens: while ``len(output) < min_tokens`` mask ``stop_token_ids`` and EOS (EOS only
       when not ``ignore_eos``: with it EOS does not stop the sequence anyway);
    5. grammar bitmask (``apply_token_bitmask``);
    6. greedy rows: argmax. Random rows: temperature, top-k (``topk`` threshold), top-p (orders
       only the tokens at the nucleus boundary), min-p (no sort), then an inverse-CDF draw
       with one uniform number per row, taken from the row's own generator when it is seeded:
       a seeded row's token depends only on its logits and its generator, whatever else is in
       the batch.

    Logprobs (``SamplerOutput.logprobs`` and ``top_logprobs``) are those of the raw model
    distribution, ``log_softmax(logits)`` before any of the steps above, as vLLM reports them by
    default: they describe the model, not the request's sampling settings. They are computed only
    for rows whose ``params.logprobs`` is not None (NaN for the others).

    A row where no token survives, or whose logits are NaN/+inf, raises ``SamplingError`` naming
    the row(s); nothing is ever drawn from an empty distribution.

    Parameters
    ----------
    vocab_size : int
        Width of the logits (the model's output size).
    eos_token_ids : Sequence[int]
        Masked while a row is below its ``min_tokens``.
    draw_backend : {"auto", "torch", "triton"}
        Step 6 for random rows: "auto" runs the Triton sampling kernels on CUDA logits
        (``genai_rt.sampling.kernel_draw``: the same distributions, drawn without a sort) and
        the torch steps above elsewhere. Top logprobs use the core's CUDA top-k on CUDA.

    Examples
    --------
    >>> from genai_rt.sampling.params import SamplingParams, SamplingRow
    >>> sampler = Sampler(vocab_size=4, eos_token_ids=[3])
    >>> row = SamplingRow(SamplingParams(temperature=0), prompt_token_ids=[1])
    >>> sampler(torch.tensor([[0.0, 2.0, 1.0, 5.0]]), [row]).token_ids
    [3]
    """

    def __init__(
        self, vocab_size: int, eos_token_ids: Sequence[int], draw_backend: str = "auto"
    ) -> None:
        if vocab_size < 1:
            raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
        bad = [t for t in eos_token_ids if not 0 <= t < vocab_size]
        if bad:
            raise ValueError(f"eos_token_ids {bad} are outside the vocabulary [0, {vocab_size})")
        if draw_backend not in DRAW_BACKENDS:
            raise ValueError(f"unknown draw_backend {draw_backend!r}; choose from {DRAW_BACKENDS}")
        self.vocab_size = vocab_size
        self.eos_token_ids = list(eos_token_ids)
        self.draw_backend = draw_backend

    def __call__(
        self,
        logits: torch.Tensor,
        rows: Sequence[SamplingRow],
        bitmask: torch.Tensor | None = None,
        bitmask_rows: Sequence[int] | None = None,
    ) -> SamplerOutput:
        """Sample one token per row.

        Parameters
        ----------
        logits : torch.Tensor
            ``[N, V]`` float32 (float16/bfloat16 are upcast); not modified.
        rows : Sequence[SamplingRow]
            N rows, in the order of the logits.
        bitmask : torch.Tensor | None
            ``[M, words]`` int32 grammar masks (bit i of word w allows token 32·w + i), normally
            ``words = ceil(V / 32)``; tokens past ``32 * words`` are forbidden in masked rows.
        bitmask_rows : Sequence[int] | None
            The logits rows the M mask rows apply to; None means all N (then M == N).

        Returns
        -------
        SamplerOutput
        """
        self._check_inputs(logits, rows, bitmask, bitmask_rows)
        raw = logits.float()
        # raw: [N, V] float32; work: the processed copy (raw must survive for the logprobs)
        work = self._process(raw, rows, bitmask, bitmask_rows)
        tokens, valid = self._choose(work, rows)
        lse = self._log_normalizers(raw, rows)
        chosen_logprobs = raw.gather(1, tokens.unsqueeze(1)).squeeze(1) - lse
        # one device->host transfer for the step: tokens, logprobs and the validity check
        packed = torch.stack([tokens.double(), chosen_logprobs.double(), valid.double()]).tolist()
        invalid = [i for i, ok in enumerate(packed[2]) if not ok]
        if invalid:
            self._raise_invalid(invalid, work)
        return SamplerOutput(
            token_ids=[int(t) for t in packed[0]],
            logprobs=packed[1],
            top_logprobs=self._top_logprobs(raw, lse, rows),
        )

    def process_logits(
        self,
        logits: torch.Tensor,
        rows: Sequence[SamplingRow],
        bitmask: torch.Tensor | None = None,
        bitmask_rows: Sequence[int] | None = None,
    ) -> torch.Tensor:
        """Steps 2-5 (bias, penalties, min_tokens, grammar mask) on a float32 copy of ``logits``.

        ``__call__`` runs exactly this; it is public so tests and debugging tools can see what the
        draw starts from. Returns ``[N, V]`` float32.
        """
        self._check_inputs(logits, rows, bitmask, bitmask_rows)
        processed = self._process(logits.float(), rows, bitmask, bitmask_rows)
        return processed.clone() if processed.data_ptr() == logits.data_ptr() else processed

    def target_probs(self, processed: torch.Tensor, rows: Sequence[SamplingRow]) -> torch.Tensor:
        """The distribution each row's token is drawn from, given ``process_logits``' output.

        Random rows: softmax after temperature, top-k, top-p and min-p; greedy rows: one-hot at
        the argmax. Returns ``[N, V]`` float32 (for tests and analysis; ``__call__`` does not
        build the greedy rows' one-hots).
        """
        probs = torch.zeros_like(processed)
        greedy = [i for i, r in enumerate(rows) if r.params.is_greedy]
        if greedy:
            probs[greedy, processed[greedy].argmax(dim=-1)] = 1.0
        random = [i for i, r in enumerate(rows) if not r.params.is_greedy]
        if random:
            probs[random] = self._truncated(processed, [rows[i] for i in random], random).softmax(
                dim=-1)
        return probs

    def _process(
        self,
        raw: torch.Tensor,
        rows: Sequence[SamplingRow],
        bitmask: torch.Tensor | None,
        bitmask_rows: Sequence[int] | None,
    ) -> torch.Tensor:
        if bitmask is None and not any(_needs_processing(r) for r in rows):
            return raw  # nothing modifies the logits: skip the [N, V] copy
        work = raw.clone()
        self._apply_bias(work, rows)
        self._apply_penalties(work, rows)
        self._apply_min_tokens(work, rows)
        if bitmask is not None:
            indices = None if bitmask_rows is None else torch.tensor(
                list(bitmask_rows), dtype=torch.int64, device=work.device)
            apply_token_bitmask(work, bitmask.to(work.device, non_blocking=True), indices)
            covered = 32 * bitmask.shape[1]
            if covered < self.vocab_size:
                # A grammar built for the tokenizer's vocabulary is narrower than a padded
                # lm_head (Qwen2: 151,665 tokens, 151,936 logits): padding ids are never allowed.
                masked = range(work.shape[0]) if bitmask_rows is None else bitmask_rows
                work[list(masked), covered:] = float("-inf")
        return work

    def _check_inputs(
        self,
        logits: torch.Tensor,
        rows: Sequence[SamplingRow],
        bitmask: torch.Tensor | None,
        bitmask_rows: Sequence[int] | None,
    ) -> None:
        if logits.dim() != 2 or logits.shape[1] != self.vocab_size:
            raise ValueError(f"logits must be [N, {self.vocab_size}], got {tuple(logits.shape)}")
        if not logits.is_floating_point():
            raise ValueError(f"logits must be floating point, got {logits.dtype}")
        if logits.shape[0] != len(rows):
            raise ValueError(f"logits has {logits.shape[0]} rows for {len(rows)} SamplingRows")
        for i, row in enumerate(rows):
            params = row.params
            if params.logit_bias and not all(t < self.vocab_size for t in params.logit_bias):
                raise ValueError(f"row {i}: logit_bias has token ids >= vocab_size "
                                 f"{self.vocab_size}")
            if params.stop_token_ids and max(params.stop_token_ids) >= self.vocab_size:
                raise ValueError(f"row {i}: stop_token_ids has ids >= vocab_size {self.vocab_size}")
            if params.seed is not None and row.generator is None and not params.is_greedy:
                raise ValueError(f"row {i}: seed {params.seed} is set but the row has no "
                                 f"generator (make one with make_generator(seed))")
            if row.generator is not None and row.generator.device.type != logits.device.type:
                raise ValueError(f"row {i}: generator is on {row.generator.device}, logits on "
                                 f"{logits.device}")
        if bitmask is None:
            if bitmask_rows is not None:
                raise ValueError("bitmask_rows given without a bitmask")
            return
        if bitmask.dtype != torch.int32 or bitmask.dim() != 2 or bitmask.shape[1] == 0:
            raise ValueError(f"bitmask must be int32 [M, words], got {bitmask.dtype} "
                             f"{tuple(bitmask.shape)}")
        expected = len(rows) if bitmask_rows is None else len(bitmask_rows)
        if bitmask.shape[0] != expected:
            raise ValueError(f"bitmask has {bitmask.shape[0]} rows, bitmask_rows/logits need "
                             f"{expected}")
        if bitmask_rows is not None and any(not 0 <= r < len(rows) for r in bitmask_rows):
            raise ValueError(f"bitmask_rows {list(bitmask_rows)} out of range for {len(rows)} rows")

    @staticmethod
    def _apply_bias(work: torch.Tensor, rows: Sequence[SamplingRow]) -> None:
        biased = [i for i, row in enumerate(rows) if row.params.logit_bias]
        if biased:
            apply_logit_bias(work, biased, [rows[i].params.logit_bias or {} for i in biased])

    def _apply_penalties(self, work: torch.Tensor, rows: Sequence[SamplingRow]) -> None:
        device = work.device
        repetition = [i for i, r in enumerate(rows) if r.params.repetition_penalty != 1.0
                      and len(r.output_token_ids) + len(r.prompt_token_ids) > 0]
        if repetition:
            history = pad_histories(
                [[*rows[i].prompt_token_ids, *rows[i].output_token_ids] for i in repetition],
                self.vocab_size, repetition)
            apply_repetition_penalty(
                work, torch.tensor(repetition, device=device), history.to(device),
                torch.tensor([rows[i].params.repetition_penalty for i in repetition],
                             device=device))
        additive = [i for i, r in enumerate(rows) if len(r.output_token_ids) > 0 and (
            r.params.presence_penalty != 0.0 or r.params.frequency_penalty != 0.0)]
        if additive:
            outputs = [rows[i].output_token_ids for i in additive]
            apply_presence_frequency_penalties(
                work, torch.tensor(additive, device=device),
                pad_histories(outputs, self.vocab_size, additive).to(device),
                torch.tensor([len(o) for o in outputs], device=device),
                torch.tensor([rows[i].params.presence_penalty for i in additive], device=device),
                torch.tensor([rows[i].params.frequency_penalty for i in additive], device=device))

    def _apply_min_tokens(self, work: torch.Tensor, rows: Sequence[SamplingRow]) -> None:
        below = [i for i, r in enumerate(rows) if len(r.output_token_ids) < r.params.min_tokens]
        if below:
            mask_tokens(work, below, [sorted(rows[i].params.all_stop_token_ids(
                self.eos_token_ids)) for i in below])

    def _choose(
        self, work: torch.Tensor, rows: Sequence[SamplingRow]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens ``[N]`` int64 and whether each row was valid ``[N]`` bool."""
        greedy = [i for i, r in enumerate(rows) if r.params.is_greedy]
        if len(greedy) == len(rows):
            tokens = work.argmax(dim=-1)
            # argmax picks NaN or +inf if present, and some -inf when all are: both show here
            return tokens, torch.isfinite(work.gather(1, tokens.unsqueeze(1)).squeeze(1))
        tokens = torch.empty(len(rows), dtype=torch.int64, device=work.device)
        valid = torch.empty(len(rows), dtype=torch.bool, device=work.device)
        if greedy:
            greedy_work = work[greedy]
            tokens[greedy] = greedy_tokens = greedy_work.argmax(dim=-1)
            valid[greedy] = torch.isfinite(greedy_work.gather(1, greedy_tokens.unsqueeze(1)))[:, 0]
        random = [i for i, r in enumerate(rows) if not r.params.is_greedy]
        random_rows = [rows[i] for i in random]
        if choose_draw_backend(self.draw_backend, work.device) == "triton":
            sub = work if len(random) == len(rows) else work[random]
            tokens[random], valid[random] = draw_with_kernels(sub, random_rows, self.vocab_size)
            return tokens, valid
        tokens[random], totals = self._draw(work, random_rows, random)
        # a NaN or +inf logit makes the softmax NaN; an all -inf row too
        valid[random] = torch.isfinite(totals) & (totals > 0)
        return tokens, valid

    def _draw(
        self, work: torch.Tensor, rows: Sequence[SamplingRow], index: list[int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        probs = self._truncated(work, rows, index).softmax(dim=-1)
        return draw_from_probs(probs, [r.generator for r in rows])

    def _truncated(
        self, work: torch.Tensor, rows: Sequence[SamplingRow], index: list[int]
    ) -> torch.Tensor:
        """Temperature, top-k, top-p, min-p for the random rows ``index`` (``rows`` are theirs)."""
        device = work.device
        temperatures = torch.tensor([r.params.temperature for r in rows], device=device)
        # scaled: [R, V], the random rows only
        scaled = (work if len(index) == work.shape[0] else work[index]) / temperatures.unsqueeze(1)
        top_k = [r.params.top_k if 0 < r.params.top_k < self.vocab_size else self.vocab_size
                 for r in rows]
        # HF's order: top-k (a topk threshold, no sort), then top-p (orders its boundary band only).
        top_k_rows = [j for j in range(len(rows)) if top_k[j] < self.vocab_size]
        _on_rows(scaled, top_k_rows, lambda sub: apply_top_k(
            sub, torch.tensor([top_k[j] for j in top_k_rows], device=device),
            max(top_k[j] for j in top_k_rows)))
        top_p_rows = [j for j, r in enumerate(rows) if r.params.top_p < 1.0]
        _on_rows(scaled, top_p_rows, lambda sub: apply_top_p(
            sub, torch.tensor([rows[j].params.top_p for j in top_p_rows], device=device)))
        min_p_rows = [j for j, r in enumerate(rows) if r.params.min_p > 0]
        _on_rows(scaled, min_p_rows, lambda sub: apply_min_p(
            sub, torch.tensor([rows[j].params.min_p for j in min_p_rows], device=device)))
        return scaled

    @staticmethod
    def _log_normalizers(raw: torch.Tensor, rows: Sequence[SamplingRow]) -> torch.Tensor:
        """``logsumexp(raw)`` per row ``[N]`` for the rows that asked for logprobs, NaN elsewhere.

        A full pass with ``exp`` over the logits: on 64 x 32,000 it costs more than the greedy
        step itself, so rows that did not ask skip it (as in vLLM).
        """
        wanted = [i for i, r in enumerate(rows) if r.params.logprobs is not None]
        if len(wanted) == len(rows):
            return torch.logsumexp(raw, dim=-1)
        lse = torch.full((len(rows),), float("nan"), device=raw.device)
        if wanted:
            lse[wanted] = torch.logsumexp(raw[wanted], dim=-1)
        return lse

    def _top_logprobs(
        self, raw: torch.Tensor, lse: torch.Tensor, rows: Sequence[SamplingRow]
    ) -> list[list[tuple[int, float]]] | None:
        wanted = [r.params.logprobs or 0 for r in rows]
        k = max(wanted, default=0)
        if k == 0:
            return None
        index = [i for i, w in enumerate(wanted) if w > 0]
        k = min(k, self.vocab_size)
        # On CUDA the core's top-k kernel (torch.topk on CPU and past its k limit).
        values, ids = batched_top_k(raw[index], k) if k <= MAX_TOP_K else raw[index].topk(k, dim=-1)
        logprobs = (values - lse[index].unsqueeze(1)).tolist()
        ids_list = ids.tolist()
        result: list[list[tuple[int, float]]] = [[] for _ in rows]
        for j, i in enumerate(index):
            result[i] = list(zip(ids_list[j][: wanted[i]], logprobs[j][: wanted[i]], strict=True))
        return result

    @staticmethod
    def _raise_invalid(invalid: list[int], work: torch.Tensor) -> None:
        maxima = work[invalid].amax(dim=-1).tolist()
        reasons = [
            f"row {i}: " + ("no token survives logit_bias/penalties/min_tokens/grammar mask"
                            if m == float("-inf") else f"logits are not finite (max {m})")
            for i, m in zip(invalid, maxima, strict=True)
        ]
        raise SamplingError(invalid, "cannot sample: " + "; ".join(reasons))


def _on_rows(
    logits: torch.Tensor, rows: list[int], process: Callable[[torch.Tensor], None]
) -> None:
    """Run an in-place ``process`` on some rows: directly when it is all of them, else on a copy
    of those rows written back."""
    if len(rows) == logits.shape[0]:
        process(logits)
    elif rows:
        sub = logits[rows]
        process(sub)
        logits[rows] = sub


def _needs_processing(row: SamplingRow) -> bool:
    params = row.params
    return bool(
        params.logit_bias
        or params.repetition_penalty != 1.0
        or params.presence_penalty != 0.0
        or params.frequency_penalty != 0.0
        or len(row.output_token_ids) < params.min_tokens
    )
