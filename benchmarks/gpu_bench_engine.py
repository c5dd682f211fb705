"""Engine-level decode on the device check: tokens/s and inter-token latency through ``LLM`` /
``EngineCore`` (scheduler, batch assembly, sampler, detokenizer included) at batch 1, 16, 64 on
the Llama-3.2-1B-shaped random bf16 model of the decode stage, next to that stage's model-only
number (CUDA-graph replay of the decoder + LM head + argmax, no engine) for the same batch.

Each request: PROMPT random prompt tokens, then STEPS new tokens with ``ignore_eos``, sampled at
temperature 0.8 / top-p 0.95 (the Sampler's Triton kernels on CUDA). All requests arrive at
once and the token budget fits every prompt in one prefill step, so every later step decodes
the whole batch. Decode tokens/s counts the
tokens after each request's first over the window in which every request was decoding (from the
last first token to the last finish); ITL is the median over requests of
(finish - first token) / (tokens - 1).

The detokenizer runs on a synthetic word-level ``tokenizers`` vocabulary of the model's size
(each id decodes to a short word): real Rust decoding work per token, no files needed.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from gpu_bench_common import Recorder

PROMPT, STEPS = 1024, 64
DRY_PROMPT, DRY_STEPS = 12, 4


def _word_tokenizer(vocab_size: int) -> Any:
    """A ``tokenizers.Tokenizer`` whose id i decodes to "w<i>" (None without the package)."""
    try:
        from tokenizers import Tokenizer, decoders
        from tokenizers.models import WordLevel
        from tokenizers.pre_tokenizers import WhitespaceSplit
    except ImportError:
        return None
    vocab = {f"w{i}": i for i in range(vocab_size)}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="w0"))
    tokenizer.pre_tokenizer = WhitespaceSplit()
    tokenizer.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    return tokenizer


def _model_only(out_dir: Path) -> dict[int, float]:
    """Model-only tokens/s per batch from the decode stage's rows in results.jsonl."""
    path = out_dir / "results.jsonl"
    found: dict[int, float] = {}
    if not path.exists():
        return found
    for line in path.read_text().splitlines():
        row = json.loads(line)
        name = str(row.get("name", ""))
        if row.get("stage") == "decode" and name.startswith("decode e2e batch ") \
                and "unfused" not in name and row.get("value"):
            found[int(name.rsplit(" ", 1)[1])] = float(row["value"])
    return found


def run_engine_benchmark(rec: Recorder, dry: bool, out_dir: Path) -> None:
    """Engine decode tokens/s and ITL at batch 1, 16, 64 (tiny model on the CPU dry run)."""
    from genai_rt.config import EngineConfig
    from genai_rt.engine import LLM, EngineCore
    from genai_rt.sampling import SamplingParams
    from gpu_bench_decode import _build_model

    prompt_len, steps = (DRY_PROMPT, DRY_STEPS) if dry else (PROMPT, STEPS)
    batches = (1, 3) if dry else (1, 16, 64)
    max_model_len = prompt_len + steps + 16
    try:
        model = _build_model(dry, max_model_len)
        cfg = model.config
        tokenizer = _word_tokenizer(cfg.vocab_size)
        # The KV pool holds every sequence of the largest batch at full length.
        blocks = max(batches) * -(-max_model_len // 16) + 8
        config = EngineConfig.from_model(
            "random-llama-3.2-1b-shape", device="cpu" if dry else "cuda",
            max_model_len=max_model_len, num_gpu_blocks=blocks, max_num_seqs=max(batches),
            # One step prefills every prompt of the largest batch, so all requests then decode
            # together (their first tokens land in the same step).
            max_num_batched_tokens=max(2048, max(batches) * prompt_len),
            enable_prefix_caching=False)
        llm = LLM.from_engine(EngineCore(config, model=model, tokenizer=tokenizer,
                                         eos_token_ids=[0]))
    except Exception as exc:  # noqa: BLE001 - report and stop this stage
        rec.error("engine build", exc)
        return
    model_only = _model_only(out_dir)
    params = SamplingParams(temperature=0.8, top_p=0.95, max_tokens=steps, ignore_eos=True,
                            seed=None)
    gen = torch.Generator().manual_seed(0)
    for batch in batches:
        try:
            prompts = [{"prompt_token_ids": torch.randint(1, cfg.vocab_size, (prompt_len,),
                                                          generator=gen).tolist()}
                       for _ in range(batch)]
            llm.generate(prompts[:1], SamplingParams(max_tokens=2, ignore_eos=True))  # warm-up
            start = time.perf_counter()
            outs = llm.generate(prompts, params)
            wall = time.perf_counter() - start
            metrics = [o.metrics for o in outs]
            firsts = [m.first_token_time for m in metrics]
            finishes = [m.finished_time for m in metrics]
            counts = [len(o.outputs[0].token_ids) for o in outs]
            if None in firsts or None in finishes or min(counts) < 2:
                raise RuntimeError(f"incomplete metrics or outputs: {counts}")
            window = max(finishes) - max(firsts)  # type: ignore[type-var]
            decode_tokens = sum(c - 1 for c in counts)
            tps = decode_tokens / window if window > 0 else None
            itl = statistics.median((f - s) / (c - 1) for f, s, c in  # type: ignore[operator]
                                    zip(finishes, firsts, counts, strict=True))
            reference = model_only.get(batch)
            ratio = tps / reference if tps and reference else None
            rec.add(f"engine decode batch {batch}", f"prompt {prompt_len} + {steps} new",
                    itl * 1e6, value=tps, unit="tok/s",
                    pct_of_peak=100 * ratio if ratio else None,
                    target=">=90% of model-only (batch 1)" if batch == 1 else None,
                    status=("dry-run" if dry else None if ratio is None
                            else "ok" if batch != 1 or ratio >= 0.9 else "below target"),
                    note=(f"us = median ITL; model-only {reference and round(reference)} tok/s "
                          f"(decode stage), engine/model {ratio and round(ratio, 3)}; "
                          f"{wall:.2f} s wall incl. prefill; detokenizer "
                          f"{'word-level tokenizers' if tokenizer is not None else 'OFF'}"))
        except Exception as exc:  # noqa: BLE001
            rec.error(f"engine decode batch {batch}", exc)
    llm.engine.runner.shutdown()
