"""MaskBench coverage: genai_rt, llguidance and xgrammar on real-world JSON Schemas, one run.

The rules are MaskBench's (../shared/data/README.md): compile each schema (a refusal is a
*compile error*); for every test instance, serialize it, tokenize it with the Llama-3.1
tokenizer and feed it token by token: compute the mask (timed), the token must be allowed, then
accept it. A valid instance refused is a *validation error*; an invalid one accepted is an
*invalidation error*. EOS must be allowed after a valid instance and refused after an invalid
one that was fully accepted. A schema *passes* when it compiles and all its tests behave.

Two whitespace styles: ``any`` serializes with ``json.dumps(data)`` (MaskBench's own style,
``", "`` and ``": "``) against each engine's flexible-whitespace JSON; ``compact`` serializes
with ``separators=(",", ":")`` against each engine's compact JSON.

Usage::

    python benchmarks/compare_grammar_coverage.py --sample 200            # both styles
    python benchmarks/compare_grammar_coverage.py --sample 1500 --style any --json out.json
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from compare_grammar import load_vocab  # noqa: E402
from grammar_engines import engine_available  # noqa: E402

DATA_CANDIDATES = [HERE.parent.parent / "shared" / "data" / "jsonschemabench-dev",
                   Path("/work/shared/data/jsonschemabench-dev")]
STYLES = ("any", "compact")
# The clock for masks: wall by default; "cpu" takes the thread's CPU time, which leaves out
# preemption on a shared machine (every engine fills one mask on the calling thread).
CLOCKS = {"wall": time.perf_counter_ns, "cpu": time.thread_time_ns}
CLOCK = [time.perf_counter_ns]


@dataclass
class Tally:
    engine: str
    style: str
    schemas: int = 0
    passing: int = 0
    compile_errors: int = 0
    validation_errors: int = 0
    invalidation_errors: int = 0
    compile_ms: list[float] = field(default_factory=list)
    mask_us: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


class Adapter:
    """compile(schema) -> handle; matcher(handle); fill; accept — for one engine and style."""

    def __init__(self, name: str, style: str, vocab: Any) -> None:
        self.name, self.style, self.vocab = name, style, vocab
        if name == "genai_rt":
            from genai_rt.sampling import Grammar, GrammarMatcher
            from genai_rt.sampling.grammar import clear_grammar_cache

            self._grammar, self._matcher, self._clear = Grammar, GrammarMatcher, clear_grammar_cache
        elif name == "xgrammar":
            import xgrammar as xgr

            special = set(vocab.special_token_ids) - set(vocab.eos_token_ids)
            encoded = [b"" if i in special else t for i, t in enumerate(vocab.token_bytes)]
            info = xgr.TokenizerInfo(encoded, xgr.VocabType.RAW, vocab_size=vocab.size,
                                     stop_token_ids=vocab.eos_token_ids)
            self.xgr = xgr
            self.compiler = xgr.GrammarCompiler(info, cache_enabled=False)
        else:
            import llguidance
            import llguidance.torch

            self.llg = llguidance
            self.fill_mask = llguidance.torch.fill_next_token_bitmask
            self.tokenizer = llguidance.LLTokenizer(vocab.tokenizer_json, n_vocab=vocab.size,
                                                    eos_token=vocab.eos_token_ids)

    def compile(self, schema_text: str) -> Any:
        compact = self.style == "compact"
        if self.name == "genai_rt":
            self._clear()
            return self._grammar.from_json_schema(
                schema_text, self.vocab.genai_vocab, whitespace=self.style)
        if self.name == "xgrammar":
            if compact:
                return self.compiler.compile_json_schema(
                    schema_text, any_whitespace=False, separators=(",", ":"))
            return self.compiler.compile_json_schema(schema_text, any_whitespace=True)
        options = ({"whitespace_flexible": False, "item_separator": ",", "key_separator": ":"}
                   if compact else {"whitespace_flexible": True})
        grammar = self.llg.LLMatcher.grammar_from_json_schema(schema_text, defaults=options)
        m = self.llg.LLMatcher(self.tokenizer, grammar, log_level=0)
        if m.is_error():
            raise ValueError(m.get_error())
        return grammar

    def matcher(self, handle: Any) -> Any:
        if self.name == "genai_rt":
            return self._matcher(handle)
        if self.name == "xgrammar":
            return self.xgr.GrammarMatcher(handle)
        return self.llg.LLMatcher(self.tokenizer, handle, log_level=0)

    def fill(self, m: Any, bitmask: torch.Tensor) -> None:
        if self.name == "llguidance":
            self.fill_mask(m, bitmask, 0)
        else:
            m.fill_next_token_bitmask(bitmask, 0)

    def accept(self, m: Any, token: int) -> bool:
        if self.name == "llguidance":
            return bool(m.consume_token(token)) and not m.is_error()
        return bool(m.accept_token(token))


def _allowed(bitmask: torch.Tensor, token: int) -> bool:
    return bool((int(bitmask[0, token // 32]) >> (token % 32)) & 1)


def run_test(adapter: Adapter, handle: Any, tokens: list[int], eos: list[int],
             bitmask: torch.Tensor, mask_us: list[float]) -> bool:
    """True if every token and then EOS was allowed (the instance was accepted)."""
    m = adapter.matcher(handle)
    for token in tokens:
        clock = CLOCK[0]
        start = clock()
        adapter.fill(m, bitmask)
        mask_us.append((clock() - start) / 1e3)
        if not _allowed(bitmask, token) or not adapter.accept(m, token):
            return False
    adapter.fill(m, bitmask)
    return any(_allowed(bitmask, e) for e in eos)


def run_schema(adapter: Adapter, case: dict[str, Any], vocab: Any, tally: Tally,
               name: str) -> None:
    tally.schemas += 1
    schema_text = json.dumps(case["schema"])
    start = time.perf_counter()
    try:
        handle = adapter.compile(schema_text)
    except Exception as exc:  # noqa: BLE001  (any refusal is a compile error)
        tally.compile_errors += 1
        tally.failures.append(f"{name}: compile: {str(exc)[:160]}")
        return
    tally.compile_ms.append((time.perf_counter() - start) * 1e3)
    bitmask = torch.zeros((1, (vocab.size + 31) // 32), dtype=torch.int32)
    ok = True
    for test in case.get("tests", []):
        if adapter.style == "compact":
            text = json.dumps(test["data"], ensure_ascii=False, separators=(",", ":"))
        else:
            text = json.dumps(test["data"], ensure_ascii=False)
        accepted = run_test(adapter, handle, vocab.encode(text), vocab.eos_token_ids, bitmask,
                            tally.mask_us)
        if test["valid"] and not accepted:
            tally.validation_errors += 1
            tally.failures.append(f"{name}: rejected valid {text[:120]}")
            ok = False
        elif not test["valid"] and accepted:
            tally.invalidation_errors += 1
            tally.failures.append(f"{name}: accepted invalid {text[:120]}")
            ok = False
    tally.passing += ok


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered) + 0.5)) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sample", type=int, default=200, help="schemas drawn (of 1,500)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--style", choices=[*STYLES, "both"], default="both")
    ap.add_argument("--engines", default="genai_rt,llguidance,xgrammar")
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None, help="write tallies and failures here")
    ap.add_argument("--clock", choices=list(CLOCKS), default="wall")
    ap.add_argument("--show-failures", type=int, default=0, help="print N failures per engine")
    args = ap.parse_args()
    CLOCK[0] = CLOCKS[args.clock]
    data = args.data or next((p for p in DATA_CANDIDATES if p.is_dir()), None)
    if data is None:
        raise SystemExit("jsonschemabench-dev not found; pass --data")
    files = sorted(data.glob("*.json"))
    picked = random.Random(args.seed).sample(files, min(args.sample, len(files)))
    cases = [(f.stem, json.loads(f.read_text())) for f in picked]
    vocab, _ = load_vocab("llama-3.1")
    styles = STYLES if args.style == "both" else (args.style,)
    tallies = []
    for engine in args.engines.split(","):
        why = engine_available(engine)
        if why:
            print(f"{engine}: skipped ({why})")
            continue
        for style in styles:
            adapter = Adapter(engine, style, vocab)
            tally = Tally(engine, style)
            for name, case in cases:
                # A full collection walks the vocabulary's objects (65-100 ms seen inside one
                # timed mask): collect between schemas, never inside a replay.
                gc.collect()
                gc.disable()
                try:
                    run_schema(adapter, case, vocab, tally, name)
                finally:
                    gc.enable()
            tallies.append(tally)
            for line in tally.failures[: args.show_failures]:
                print(f"  [{engine}/{style}] {line}")
    print(f"\n{len(cases)} schemas (seed {args.seed}), Llama-3.1 vocabulary, EOS checked, "
          f"mask clock {args.clock}\n")
    print("| engine | style | passing | compile errors | validation errors | invalidation errors "
          "| compile p50 / p99 ms | mask p50 / p99 / p99.9 us |")
    print("|---|---|---|---|---|---|---|---|")
    for t in tallies:
        cp = f"{_pct(t.compile_ms, 50):.2f} / {_pct(t.compile_ms, 99):.1f}"
        mp = (f"{_pct(t.mask_us, 50):.0f} / {_pct(t.mask_us, 99):.0f} / "
              f"{_pct(t.mask_us, 99.9):.0f}")
        print(f"| {t.engine} | {t.style} | {t.passing} ({100 * t.passing / t.schemas:.1f}%) | "
              f"{t.compile_errors} | {t.validation_errors} | {t.invalidation_errors} | {cp} | "
              f"{mp} |")
    if args.json:
        args.json.write_text(json.dumps([t.__dict__ | {"mask_us": statistics.median(t.mask_us)
                                                       if t.mask_us else None}
                                         for t in tallies], indent=1))


if __name__ == "__main__":
    main()
