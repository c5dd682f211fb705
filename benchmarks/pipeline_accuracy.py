"""Accuracy of the pipeline on the demo enterprise, on the real default model.

Framing: embedding classifier and LLM classifier (choices grammar) on framing_labelled.jsonl.
Answers: extractive and generative grounding on qa_labelled.jsonl (text has the gold fact AND a
citation of the gold document). All requests of one evaluation run concurrently, so the engine
decodes them in shared batches.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/pipeline_accuracy.py [--model PATH] [--limit N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from genai_rt import Engine, EngineConfig
from genai_rt.model.default_model import smollm2_gguf
from genai_rt.pipeline.demo_setup import ENTERPRISE_DIR, demo_pipeline, open_demo_store
from genai_rt.pipeline.evaluation import (
    framing_accuracy,
    load_jsonl,
    qa_principal,
    score_qa,
    with_grounding,
)


async def main(args: argparse.Namespace) -> None:
    tmp = tempfile.mkdtemp()
    store = open_demo_store(Path(tmp) / "docs.db")
    model = args.model or smollm2_gguf()
    engine = Engine(EngineConfig.from_model(str(model), dtype="float32", max_num_seqs=64))
    pipe = demo_pipeline(engine, store)
    frames = load_jsonl(ENTERPRISE_DIR / "framing_labelled.jsonl")[: args.limit]
    qa = load_jsonl(ENTERPRISE_DIR / "qa_labelled.jsonl")[: args.limit]
    cfg = pipe.config
    t = time.perf_counter()
    emb = pipe.embedding_classifier.classify_many([r["text"] for r in frames])
    print(f"framing/embedding: {framing_accuracy(emb, frames, cfg.confidence_threshold):.3f} "
          f"({len(frames)} requests, {time.perf_counter() - t:.1f} s)")
    t = time.perf_counter()
    llm = await asyncio.gather(*(pipe.llm_classifier.classify(r["text"]) for r in frames))
    right = sum(d.intent == r["intent"] for d, r in zip(llm, frames, strict=True)) / len(frames)
    print(f"framing/llm: intent right {right:.3f}, "
          f"at threshold {framing_accuracy(llm, frames, cfg.confidence_threshold):.3f} "
          f"({time.perf_counter() - t:.1f} s)")
    for mode in ("extractive", "generative"):
        mode_pipe = demo_pipeline(engine, store, config=with_grounding(cfg, mode))
        t = time.perf_counter()
        answers = await asyncio.gather(*(mode_pipe.ask(r["question"], qa_principal(r))
                                         for r in qa))
        s = score_qa(answers, qa)
        gen = statistics.median(a.timings.get("generate", 0.0) for a in answers)
        print(f"qa/{mode}: correct {s.correct}/{s.total} = {s.accuracy:.3f}; "
              f"text {s.correct_text}, citation {s.correct_citation}, answered {s.answered}; "
              f"retries {sum(a.retries for a in answers)}; median generate {gen:.1f} s; "
              f"wall {time.perf_counter() - t:.1f} s")
        if args.verbose:
            for a, r in zip(answers, qa, strict=True):
                print("  ", a.status.value, r["answer_contains"], "|", a.text[:100], a.citations)
    engine.shutdown()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", type=Path, default=None,
                   help="checkpoint folder or .gguf (default: SmolLM2-135M-Instruct)")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--verbose", action="store_true")
    asyncio.run(main(p.parse_args()))
