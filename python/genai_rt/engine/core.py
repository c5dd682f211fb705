"""The synchronous engine: requests in, one ``step()`` at a time, RequestOutputs out.

``LLM`` drives it in a loop; ``Engine`` drives it from a background thread for async callers.
Per step: schedule -> build the flat batch (C++) -> forward + sample (runner) -> append tokens,
detokenize, check stops -> outputs for the requests that changed.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Sequence as SequenceABC
from typing import Any

import numpy as np
import torch

from genai_rt.config import EngineConfig, kv_bytes_per_block
from genai_rt.engine.outputs import CompletionOutput, RequestMetrics, RequestOutput
from genai_rt.engine.request import PromptInput, RequestState, SeqState
from genai_rt.engine.runner import MaskFiller, ModelRunner
from genai_rt.engine.scheduler import RequestTooLargeError, Scheduler
from genai_rt.engine.sequence import Sequence
from genai_rt.model.llama import LlamaForCausalLM
from genai_rt.sampling.params import SamplingParams, SamplingRow

logger = logging.getLogger(__name__)


class EngineCore:
    """Continuous batching over one model on one device; not thread-safe (one owner thread).

    Parameters
    ----------
    config : EngineConfig
    model, tokenizer, eos_token_ids : optional
        Pre-built pieces (tests); by default loaded from ``config.model.path``.
    """

    def __init__(
        self,
        config: EngineConfig,
        model: LlamaForCausalLM | None = None,
        tokenizer: Any = None,
        eos_token_ids: SequenceABC[int] | None = None,
    ) -> None:
        from genai_rt.engine.loading import load_engine_parts

        parts = load_engine_parts(config, model, tokenizer, eos_token_ids)
        self.config = config.with_max_model_len(parts.max_model_len)
        self.model = parts.model
        self.tokenizer = parts.tokenizer
        self.eos_token_ids = list(parts.eos_token_ids)
        self.max_model_len = parts.max_model_len
        cfg = self.model.config
        cache = config.cache
        bytes_per_block = kv_bytes_per_block(
            cache.block_size, cfg.num_hidden_layers, cfg.num_key_value_heads, cfg.head_dim,
            self.model.embed_tokens.element_size(),
        )
        self.num_blocks = cache.num_blocks_for(bytes_per_block)
        sched_cfg = config.scheduler
        self.scheduler = Scheduler(sched_cfg, cache, self.num_blocks, self.max_model_len)
        self.runner = ModelRunner(
            self.model, self.num_blocks, cache.block_size, sched_cfg.max_num_batched_tokens,
            sched_cfg.max_num_seqs, self.max_model_len, self.eos_token_ids,
            use_cuda_graphs=not config.model.enforce_eager and self.model.backend.name == "triton",
        )
        self.vocab_size = cfg.vocab_size
        self.requests: dict[str, RequestState] = {}
        self._seq_ids = itertools.count()
        self._grammar = parts.grammar_compiler
        logger.info(
            "engine ready: %s on %s, attention %s, %d KV blocks x %d tokens, max_model_len %d",
            cfg.architecture, self.runner.device, self.model.backend.name, self.num_blocks,
            cache.block_size, self.max_model_len,
        )

    # ----------------------------------------------------------------------------- requests
    def add_request(
        self,
        request_id: str,
        prompt: PromptInput,
        params: SamplingParams | None = None,
        arrival_time: float | None = None,
        stream: bool = True,
    ) -> RequestState:
        """Queue a request. ``prompt`` is text, a list of token ids or ``{"prompt_token_ids": …}``.

        Raises
        ------
        ValueError
            Duplicate id, empty or out-of-vocabulary prompt, a request that can never fit
            (``RequestTooLargeError``), or a grammar that does not compile.
        """
        if request_id in self.requests:
            raise ValueError(f"request id {request_id!r} is already in use")
        params = params if params is not None else SamplingParams()
        text, ids = self._tokenize(prompt)
        self._check_token_ids(params)
        max_total = min(len(ids) + params.max_tokens, self.max_model_len)
        self.scheduler.check_admissible(len(ids), max_total)
        room = self.max_model_len - len(ids)
        if params.max_tokens > room:
            # vLLM's rule: refuse rather than silently return fewer tokens than asked for.
            raise RequestTooLargeError(
                f"max_tokens={params.max_tokens} does not fit: the prompt has {len(ids)} tokens "
                f"and max_model_len={self.max_model_len} leaves room for {room}"
            )
        grammar = (self._grammar(params.grammar, whitespace=params.json_whitespace,
                                 indent=params.json_indent)
                   if params.grammar is not None else None)
        metrics = RequestMetrics(
            arrival_time=time.monotonic() if arrival_time is None else arrival_time,
            num_prompt_tokens=len(ids),
        )
        req = RequestState(request_id, text, ids, params, metrics, stream)
        stop_ids = frozenset(params.all_stop_token_ids(self.eos_token_ids))
        first: Sequence | None = None
        for index in range(params.n):
            generator = None
            if params.seed is not None and not params.is_greedy:
                generator = torch.Generator(device=self.runner.device)
                generator.manual_seed(params.seed + index)
            seq = Sequence(next(self._seq_ids), list(ids), max_total, fork_parent=first)
            row = SamplingRow(params, seq.prompt_token_ids, seq.output_token_ids, generator)
            seq.owner = SeqState.create(req, index, row, stop_ids, self.tokenizer, grammar)
            req.seqs.append(seq)
            first = first or seq
        self.requests[request_id] = req
        for seq in req.seqs:
            self.scheduler.add(seq)
        return req

    def _tokenize(self, prompt: PromptInput) -> tuple[str | None, list[int]]:
        if isinstance(prompt, dict):
            if set(prompt) != {"prompt_token_ids"}:
                raise ValueError(f"a dict prompt must be {{'prompt_token_ids': [...]}}, "
                                 f"got keys {sorted(prompt)}")
            prompt = prompt["prompt_token_ids"]
        if isinstance(prompt, str):
            if self.tokenizer is None:
                raise ValueError("text prompt given but the model has no tokenizer.json; "
                                 "pass prompt_token_ids")
            return prompt, list(self.tokenizer.encode(prompt))
        if not isinstance(prompt, (list, tuple)):
            raise TypeError(
                "a prompt must be text, a list of token ids or {'prompt_token_ids': [...]}, "
                f"got {type(prompt).__name__} {prompt!r:.60}"
            )
        for position, token in enumerate(prompt):
            if isinstance(token, bool) or not isinstance(token, (int, np.integer)):
                raise TypeError(f"prompt token ids must be ints, got {type(token).__name__} "
                                f"{token!r:.30} at position {position}")
        ids = [int(t) for t in prompt]
        bad = [t for t in ids if not 0 <= t < self.vocab_size]
        if bad:
            raise ValueError(f"prompt token ids {bad[:5]} are outside the vocabulary "
                             f"[0, {self.vocab_size})")
        return None, ids

    def _check_token_ids(self, params: SamplingParams) -> None:
        """Ids in logit_bias / stop_token_ids must exist: refused here, not mid-step where the
        error would fail every request in the batch."""
        for field_name, token_ids in (("logit_bias", params.logit_bias or {}),
                                      ("stop_token_ids", params.stop_token_ids or [])):
            bad = sorted(t for t in token_ids if not 0 <= t < self.vocab_size)
            if bad:
                raise ValueError(f"{field_name} has token ids {bad[:5]} outside the vocabulary "
                                 f"[0, {self.vocab_size})")

    def abort(self, request_id: str) -> RequestOutput | None:
        """Stop a request now; every KV block it held is freed. None if unknown or finished."""
        req = self.requests.pop(request_id, None)
        if req is None:
            return None
        for seq in req.seqs:
            if not seq.is_finished:
                self.scheduler.remove(seq)
                seq.owner.finish_reason = "abort"
        req.metrics.finished_time = time.monotonic()
        return self._output(req)

    @property
    def has_unfinished(self) -> bool:
        return bool(self.requests)

    # ----------------------------------------------------------------------------- one step
    def step(self) -> list[RequestOutput]:
        """Run one scheduled forward; return outputs of the requests that changed.

        Requests added with ``stream=False`` only produce their final output.
        """
        sched = self.scheduler.schedule()
        if not sched:
            return []
        now = time.monotonic()
        for seq in sched.seqs:
            metrics = seq.owner.request.metrics
            if metrics.first_scheduled_time is None:
                metrics.first_scheduled_time = now
        seqs = sched.seqs
        result = self.runner.execute(
            self.scheduler.kv, sched,
            lambda rows: [seqs[i].owner.row for i in rows],
            lambda rows: self._grammar_masks([seqs[i] for i in rows]),
        )
        self.scheduler.commit(sched)
        now = time.monotonic()
        touched: dict[str, RequestState] = {}
        for row in result.failed_rows:
            seq = seqs[row]
            req = seq.owner.request
            logger.warning("request %s cannot be sampled: %s", req.request_id, result.error)
            req.error = str(result.error)
            for sibling in req.seqs:  # the whole request stops, n > 1 included
                self._finish(sibling, "abort")
            touched[req.request_id] = req
        sampled = result.sampled
        if sampled is None and not touched:
            return []
        if sampled is not None:
            sampled_seqs = [seqs[row] for row in result.seq_rows]
            self.scheduler.append_tokens(sampled_seqs, sampled.token_ids)
            top = sampled.top_logprobs
            for j, seq in enumerate(sampled_seqs):
                self._after_token(seq, sampled.token_ids[j], sampled.logprobs[j],
                                  top[j] if top is not None else None, now)
                req = seq.owner.request
                touched[req.request_id] = req
        outputs = []
        for req in touched.values():
            done = req.num_finished == len(req.seqs)
            if done:
                req.metrics.finished_time = now
                del self.requests[req.request_id]
            if done or req.stream:
                outputs.append(self._output(req))
        return outputs

    def _after_token(
        self, seq: Sequence, token: int, logprob: float, top: list[tuple[int, float]] | None,
        now: float,
    ) -> None:
        """Detokenize, check stops and limits for a token already appended to ``seq``."""
        state: SeqState = seq.owner
        req = state.request
        if req.metrics.first_token_time is None:
            req.metrics.first_token_time = now
        state.record_logprobs(token, logprob, top)
        reason = state.observe(token, len(seq.output_token_ids))
        num_out = len(seq.output_token_ids)
        if reason is None and (
            num_out >= req.params.max_tokens or seq.num_tokens >= self.max_model_len
        ):
            reason = "length"
        if reason is not None:
            self._finish(seq, reason)

    def _finish(self, seq: Sequence, reason: str) -> None:
        if seq.is_finished:
            return
        self.scheduler.remove(seq)
        seq.owner.finish(reason)
        req = seq.owner.request
        req.num_finished += 1
        req.metrics.num_preemptions += seq.num_preemptions

    def _grammar_masks(self, seqs: list[Sequence]) -> tuple[list[int], MaskFiller] | None:
        rows = [i for i, s in enumerate(seqs)
                if s.owner.matcher is not None or s.owner.output_filter is not None]
        if not rows:
            return None
        # positions in the bitmask (one per row above) of the grammar and the filter rows
        grammar_at = [j for j, i in enumerate(rows) if seqs[i].owner.matcher is not None]
        matchers = [seqs[rows[j]].owner.matcher for j in grammar_at]
        filters = [(j, seqs[i].owner.output_filter) for j, i in enumerate(rows)
                   if seqs[i].owner.output_filter is not None]
        from genai_rt.engine.constraints import fill_masks

        threads = 1 if self.runner.device.type == "cpu" else 0

        def fill(bitmask: torch.Tensor) -> None:
            if matchers:
                fill_masks(matchers, bitmask, threads, grammar_at)
            for j, state in filters:  # deny-list / PII bans, ANDed into the grammar's mask
                state.apply(bitmask[j])

        return rows, fill

    def _output(self, req: RequestState) -> RequestOutput:
        completions: list[CompletionOutput] = [seq.owner.snapshot(seq) for seq in req.seqs]
        metrics = req.metrics
        metrics.num_generated_tokens = sum(len(s.output_token_ids) for s in req.seqs)
        metrics.num_cached_tokens = max((s.num_cached_tokens for s in req.seqs), default=0)
        return RequestOutput(
            request_id=req.request_id,
            prompt=req.prompt,
            prompt_token_ids=req.prompt_token_ids,
            outputs=completions,
            finished=all(c.finish_reason is not None for c in completions),
            metrics=metrics,
            error=req.error,
        )

    # ----------------------------------------------------------------------------- stats
    def stats(self) -> dict[str, float | int]:
        """Running/waiting sequences, KV usage, prefix-cache hit rate, preemptions."""
        sched = self.scheduler
        return {
            "running": len(sched.running),
            "waiting": len(sched.waiting),
            "requests": len(self.requests),
            "kv_usage": sched.kv_usage,
            "kv_blocks_used": sched.kv.num_used_blocks,
            "kv_blocks_total": sched.kv.num_blocks,
            "prefix_cache_hit_rate": sched.prefix_cache_hit_rate,
            "num_preemptions": sched.num_preemptions,
        }

    def shutdown(self) -> None:
        self.runner.shutdown()
