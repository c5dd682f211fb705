"""The pipeline's own cost per request, model time excluded, on CPU (medians).

- framing: TaskSpec building (Framer.frame) alone, and with the embedding classifier's query
  encoding (all-MiniLM-L6-v2) + similarity
- gates: all four gates over a ~300-token answer, extractive and generative drafts
- deny-list: DFA build, the first ban computation for a DFA state (vocabulary-wide, numpy),
  and the per-step cost once cached (one AND into the bitmask row)

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/pipeline_overhead.py [--model PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from genai_rt.pipeline.config import PipelineConfig
from genai_rt.pipeline.demo_setup import ENTERPRISE_DIR
from genai_rt.pipeline.denylist import ByteAutomaton, DenyListFilter, TokenBanTable
from genai_rt.pipeline.framing import EmbeddingIntentClassifier, Framer, IntentDecision
from genai_rt.pipeline.gates import GateContext, run_gates
from genai_rt.pipeline.grounding import Passage, parse_extractive, parse_generative
from genai_rt.principal import Principal
from genai_rt.retrieval import Embedder
from genai_rt.sampling.vocabulary import Vocabulary


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main(args: argparse.Namespace) -> None:
    cfg = PipelineConfig.load(ENTERPRISE_DIR / "config.toml")
    from genai_rt.model.default_model import smollm2_gguf
    from genai_rt.model.gguf_tokenizer import load_gguf_tokenizer

    tok = load_gguf_tokenizer(str(args.model or smollm2_gguf())).backend
    vocab = Vocabulary.from_tokenizer(tok)
    who = Principal("acme", frozenset({"employee", "sales"}))
    framer = Framer(cfg)
    decision = IntentDecision("sales_pipeline", 0.9, "embedding")
    rows = []
    rows.append(("framing: Framer.frame (TaskSpec)", median_ms(
        lambda: framer.frame(decision, who, [{"role": "user", "content": "hi"}]), 2000)))
    clf = EmbeddingIntentClassifier(cfg, Embedder())
    q = "How many weeks of paid parental leave do employees get?"
    rows.append(("framing: embedding classify + frame (MiniLM on CPU)", median_ms(
        lambda: framer.frame(clf.classify(q), who), 50)))
    spec = framer.frame(decision, who).spec
    assert spec is not None
    docs = [json.loads(p.read_text()) for p in sorted((ENTERPRISE_DIR / "corpus" / "acme")
                                                       .glob("*.json"))]
    passages = [Passage(f"d{i}#0", f"d{i}", d["text"], 0.5, "h", ("internal",))
                for i, d in enumerate(docs)]
    from genai_rt.pipeline.grounding import split_sentences

    lines, n_tokens = [], 0
    while n_tokens < 300:
        for p in passages:
            for s in split_sentences(p.text):
                lines.append(f"[{p.id}] {s}")
        n_tokens = len(tok.encode("\n".join(lines)).ids)
    raw = "\n".join(lines)
    extractive = parse_extractive(raw)
    answer = " ".join(q for _, q in extractive.quotes)
    generative = parse_generative(json.dumps({"answer": answer,
                                              "citations": [p.id for p in passages[:3]]}))
    ctx = GateContext(spec, passages, ByteAutomaton(spec.deny_terms, spec.pii_patterns))
    gen_tokens = len(tok.encode(generative.raw).ids)
    rows.append((f"gates: all 4, extractive answer ({n_tokens} tokens)",
                 median_ms(lambda: run_gates(extractive, ctx), 300)))
    rows.append((f"gates: all 4, generative answer ({gen_tokens} tokens)",
                 median_ms(lambda: run_gates(generative, ctx), 300)))
    t = time.perf_counter()
    automaton = ByteAutomaton(spec.deny_terms, spec.pii_patterns)
    rows.append((f"deny-list: build DFA ({automaton.num_states} states)",
                 (time.perf_counter() - t) * 1e3))
    table = TokenBanTable(automaton, vocab.token_bytes)
    state = automaton.advance(0, b"the floor pri")
    t = time.perf_counter()
    table.allowed_words(state)
    rows.append((f"deny-list: first bans of a state ({vocab.size} tokens)",
                 (time.perf_counter() - t) * 1e3))
    seq = DenyListFilter(table).new_state()
    row = torch.full((table.num_words,), -1, dtype=torch.int32)
    rows.append(("deny-list: per step once cached (apply + accept)",
                 median_ms(lambda: (seq.apply(row), seq.accept(260), setattr(seq, "state", 0)),
                           2000)))
    print("| step | median ms |\n|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:.3f} |")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", type=Path, default=None,
                   help="checkpoint folder or .gguf (default: SmolLM2-135M-Instruct)")
    main(p.parse_args())
