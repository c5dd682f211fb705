"""Side-by-side grammar benchmark: genai_rt, xgrammar and llguidance on the same workloads.

For each vocabulary (cl100k_base, Qwen2.5, Llama-3.1) and workload (benchmarks/grammar_workloads.py)
every engine compiles the grammar, then replays the real tokenization of a valid output: at each
step it fills the next-token bitmask (the only call timed per step), checks that the next token's
bit is set (EOS's bit after the last token), and accepts the token.

Cold runs (--reps): caches cleared, grammar compiled afresh, new matcher, full replay. Reported
per engine: compile time (median; includes the first matcher, where llguidance builds its
parser), first mask (median), per-token mask mean/p50/p99/max over every step of every cold run,
warm p50/p99 (--warm-reps more replays on the last compiled grammar, its mask caches filled: a
schema reused across requests), and memory per compiled grammar after one replay (the engine's
API where it has one, else the process RSS delta around one compile + replay: marked 'rss').

Usage::

    python benchmarks/compare_grammar.py            # full run, all three vocabularies
    python benchmarks/compare_grammar.py --quick    # Qwen2.5 only, one rep: a smoke run
    python benchmarks/compare_grammar.py --vocab cl100k --workload nested-9prop --json out.json

Runs without genai_rt's grammar engine (prints xgrammar and llguidance only).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from grammar_engines import ENGINE_CLASSES, VocabSetup, engine_available  # noqa: E402
from grammar_workloads import WORKLOADS, Workload, check_valid_texts  # noqa: E402

VOCAB_NAMES = ["cl100k", "qwen2.5", "llama-3.1"]
# The clock for mask calls: wall time by default; --clock cpu takes the calling thread's CPU
# time, which leaves out preemption on a shared machine (all three engines fill a single mask on
# the calling thread). Compile times are always wall time (xgrammar compiles on several threads).
MASK_CLOCKS = {"wall": time.perf_counter_ns, "cpu": time.thread_time_ns}
MASK_CLOCK = [time.perf_counter_ns]
TARGETS = "p50 <= xgrammar p50; p99 <= llguidance p99; compile < 10 ms; first mask < 100 us; " \
          "memory < 5 MB"


@dataclass
class CaseResult:
    vocab: str
    workload: str
    engine: str
    tokens: int = 0
    compile_ms: float = float("nan")
    first_mask_us: float = float("nan")
    mean_us: float = float("nan")
    p50_us: float = float("nan")
    p99_us: float = float("nan")
    max_us: float = float("nan")
    warm_p50_us: float = float("nan")
    warm_p99_us: float = float("nan")
    memory_mb: float = float("nan")
    memory_method: str = ""
    error: str = ""
    samples: list[float] = field(default_factory=list, repr=False)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _percentile(sorted_values: list[float], q: float) -> float:
    # Nearest-rank percentile: an observed value, no interpolation.
    rank = max(1, int(round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def _vocabulary_class() -> Any:
    """genai_rt's Vocabulary; loaded from its file (stdlib only) when genai_rt cannot import."""
    try:
        from genai_rt.sampling.vocabulary import Vocabulary
    except ImportError:
        path = HERE.parent / "python" / "genai_rt" / "sampling" / "vocabulary.py"
        spec = importlib.util.spec_from_file_location("_genai_rt_vocabulary", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.Vocabulary
    return Vocabulary


def load_vocab(name: str) -> tuple[VocabSetup, float]:
    """A real vocabulary with its encoder, and the ms genai_rt's Vocabulary took to build."""
    Vocabulary = _vocabulary_class()

    from tests.sampling.real_tokenizers import (
        CL100K_SPECIAL_TOKENS,
        cl100k_encoding,
        cl100k_token_bytes,
        tokenizer_json_path,
    )

    if name == "cl100k":
        token_bytes = cl100k_token_bytes()
        enc = cl100k_encoding()
        holes = [i for i, t in enumerate(token_bytes) if not t]
        start = time.perf_counter()
        vocab = Vocabulary(token_bytes, eos_token_ids=[CL100K_SPECIAL_TOKENS["<|endoftext|>"]],
                           special_token_ids=[*CL100K_SPECIAL_TOKENS.values(), *holes])
        load_ms = (time.perf_counter() - start) * 1e3
        return VocabSetup(name, vocab.token_bytes, vocab.size, vocab.eos_token_ids,
                          vocab.special_token_ids, vocab, None, enc, enc.encode_ordinary), load_ms
    from tokenizers import Tokenizer

    path = tokenizer_json_path(name)
    start = time.perf_counter()
    vocab = Vocabulary.from_tokenizer_json(path)
    load_ms = (time.perf_counter() - start) * 1e3
    tok = Tokenizer.from_file(str(path))
    setup = VocabSetup(name, vocab.token_bytes, vocab.size, vocab.eos_token_ids,
                       vocab.special_token_ids, vocab, path.read_text(encoding="utf-8"), None,
                       lambda text: tok.encode(text, add_special_tokens=False).ids)
    return setup, load_ms


def _allowed(bitmask: torch.Tensor, token: int) -> bool:
    return bool((int(bitmask[0, token // 32]) >> (token % 32)) & 1)


def _replay(engine: Any, matcher: Any, vocab: VocabSetup, tokens: list[int],
            bitmask: torch.Tensor, samples: list[float]) -> str:
    """Fill/check/accept over the whole text; append each fill's microseconds; '' or an error."""
    for step in range(len(tokens) + 1):
        start_ns = MASK_CLOCK[0]()
        engine.fill(matcher, bitmask)
        samples.append((MASK_CLOCK[0]() - start_ns) / 1e3)
        if step == len(tokens):
            if not any(_allowed(bitmask, e) for e in vocab.eos_token_ids):
                return "EOS forbidden at the end of the valid text"
            return ""
        token = tokens[step]
        if not _allowed(bitmask, token):
            before = b"".join(vocab.token_bytes[t] for t in tokens[:step])[-40:]
            return f"mask forbids token {step} ({vocab.token_bytes[token]!r}) after {before!r}"
        if not engine.accept(matcher, token):
            return f"accept_token refused token {step}"
    return ""


def _stats(samples: list[float]) -> tuple[float, float, float, float]:
    ordered = sorted(samples)
    return (statistics.fmean(ordered), _percentile(ordered, 50), _percentile(ordered, 99),
            ordered[-1])


def run_case(engine: Any, vocab: VocabSetup, w: Workload, reps: int,
             warm_reps: int) -> CaseResult:
    """``reps`` cold runs (fresh compile, caches cleared, new matcher), then ``warm_reps``
    replays with new matchers on the last compiled grammar (its caches now filled)."""
    result = CaseResult(vocab.name, w.name, engine.name)
    tokens = vocab.encode(w.valid_text)
    result.tokens = len(tokens)
    bitmask = torch.zeros((1, (vocab.size + 31) // 32), dtype=torch.int32)
    compile_times: list[float] = []
    cold: list[float] = []
    firsts: list[float] = []
    compiled = None
    gc.collect()
    gc.disable()
    try:
        for rep in range(reps):
            engine.clear_caches()
            rss_before = _rss_bytes()
            start = time.perf_counter()
            compiled = engine.compile(w)
            matcher = engine.matcher(compiled)  # llguidance builds its parser here
            compile_times.append(time.perf_counter() - start)
            first_index = len(cold)
            result.error = _replay(engine, matcher, vocab, tokens, bitmask, cold)
            firsts.append(cold[first_index])
            if result.error:
                break
            if rep == 0:
                memory = engine.memory_bytes(compiled)
                if memory is None:
                    memory, result.memory_method = _rss_bytes() - rss_before, "rss"
                else:
                    result.memory_method = "api"
                result.memory_mb = memory / 2**20
        warm: list[float] = []
        for _ in range(warm_reps if not result.error else 0):
            result.error = _replay(engine, engine.matcher(compiled), vocab, tokens, bitmask, warm)
    finally:
        gc.enable()
    result.compile_ms = statistics.median(compile_times) * 1e3
    result.first_mask_us = statistics.median(firsts)
    result.mean_us, result.p50_us, result.p99_us, result.max_us = _stats(cold)
    if warm:
        _, result.warm_p50_us, result.warm_p99_us, _ = _stats(warm)
    result.samples = sorted(cold)
    return result


def _fmt(value: float, digits: int = 1) -> str:
    return "n/a" if value != value else f"{value:.{digits}f}"


def print_table(vocab: VocabSetup, setup_ms: dict[str, float], results: list[CaseResult]) -> None:
    print(f"\n### {vocab.name} (V = {vocab.size})  vocabulary set-up: "
          + ", ".join(f"{e} {ms:.0f} ms" for e, ms in setup_ms.items()))
    print("| workload | engine | tokens | compile ms | first mask us | mean us | p50 us | p99 us "
          "| max us | warm p50 us | warm p99 us | memory MB | status |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        mem = f"{_fmt(r.memory_mb, 2)} ({r.memory_method})" if r.memory_method else "n/a"
        print(f"| {r.workload} | {r.engine} | {r.tokens} | {_fmt(r.compile_ms, 2)} | "
              f"{_fmt(r.first_mask_us)} | {_fmt(r.mean_us)} | {_fmt(r.p50_us)} | "
              f"{_fmt(r.p99_us)} | {_fmt(r.max_us)} | {_fmt(r.warm_p50_us)} | "
              f"{_fmt(r.warm_p99_us)} | {mem} | {r.error or 'ok'} |")
    by_key = {(r.workload, r.engine): r for r in results}
    workloads = list(dict.fromkeys(r.workload for r in results))
    if not any(e == "genai_rt" for _, e in by_key):
        return
    print(f"\nRatios (genai_rt / other; < 1 is better) and targets ({TARGETS}). Cold: fresh "
          "compile and caches; warm: the same compiled grammar replayed (each engine's own warm).")
    print("| workload | p50 / xgrammar | p99 / llguidance | warm p50 / xgrammar warm p50 "
          "| warm p99 / llguidance warm p99 | targets missed (cold) |")
    print("|---|---:|---:|---:|---:|---|")
    for name in workloads:
        g, x, ll = (by_key.get((name, e)) for e in ("genai_rt", "xgrammar", "llguidance"))
        if g is None:
            continue

        def ratio(a: CaseResult | None, b: CaseResult | None, attr: str) -> str:
            if a is None or b is None or a.error or b.error:
                return "n/a"
            return f"{getattr(a, attr) / getattr(b, attr):.3g}"

        print(f"| {name} | {ratio(g, x, 'p50_us')} | {ratio(g, ll, 'p99_us')} | "
              f"{ratio(g, x, 'warm_p50_us')} | {ratio(g, ll, 'warm_p99_us')} | "
              f"{'; '.join(check_targets(g, x, ll)) or 'none'} |")


def check_targets(g: CaseResult, x: CaseResult | None, ll: CaseResult | None) -> list[str]:
    """The targets genai_rt misses on one workload (empty when all hold)."""
    missed = []
    if g.error:
        return [f"FAILED: {g.error}"]
    if x is not None and not x.error and not g.p50_us <= x.p50_us:
        missed.append(f"p50 {g.p50_us:.1f} > xgrammar {x.p50_us:.1f} us")
    if ll is not None and not ll.error and not g.p99_us <= ll.p99_us:
        missed.append(f"p99 {g.p99_us:.1f} > llguidance {ll.p99_us:.1f} us")
    if not g.compile_ms < 10:
        missed.append(f"compile {g.compile_ms:.1f} ms >= 10")
    if not g.first_mask_us < 100:
        missed.append(f"first mask {g.first_mask_us:.0f} us >= 100")
    if not g.memory_mb < 5:
        missed.append(f"memory {g.memory_mb:.2f} MB >= 5")
    return missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="Qwen2.5 only, 1 rep, 1 compile")
    parser.add_argument("--vocab", action="append", choices=VOCAB_NAMES)
    parser.add_argument("--workload", action="append", choices=[w.name for w in WORKLOADS])
    parser.add_argument("--engine", action="append", choices=list(ENGINE_CLASSES))
    parser.add_argument("--reps", type=int, default=None,
                        help="cold runs per case: compile + replay (default 3)")
    parser.add_argument("--warm-reps", type=int, default=None,
                        help="replays on the already compiled grammar (default 3)")
    parser.add_argument("--clock", choices=list(MASK_CLOCKS), default="wall",
                        help="mask-call clock: wall (default) or this thread's CPU time")
    parser.add_argument("--json", type=Path, help="write raw results (with samples) here")
    args = parser.parse_args(argv)
    reps = args.reps or (1 if args.quick else 3)
    warm_reps = args.warm_reps if args.warm_reps is not None else (1 if args.quick else 3)
    vocab_names = args.vocab or (["qwen2.5"] if args.quick else VOCAB_NAMES)
    workloads = [w for w in WORKLOADS if not args.workload or w.name in args.workload]
    check_valid_texts()
    MASK_CLOCK[0] = MASK_CLOCKS[args.clock]

    engines = []
    for name in args.engine or list(ENGINE_CLASSES):
        why = engine_available(name)
        if why:
            print(f"# skipping {name}: {why}")
        else:
            engines.append(name)
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} CPUs; "
          f"torch {torch.__version__}; cold reps {reps}, warm reps {warm_reps}; "
          f"mask clock {args.clock}; load average {os.getloadavg()[0]:.1f}; "
          + "; ".join(f"{e} {_version(e)}" for e in engines))
    all_results = []
    for vocab_name in vocab_names:
        vocab, load_ms = load_vocab(vocab_name)
        print(f"# {vocab_name}: genai_rt Vocabulary built in {load_ms:.0f} ms (Python side)")
        setup_ms, adapters = {}, []
        for name in engines:
            start = time.perf_counter()
            adapters.append(ENGINE_CLASSES[name](vocab))
            setup_ms[name] = (time.perf_counter() - start) * 1e3
        results = []
        for w in workloads:
            for adapter in adapters:
                try:
                    results.append(run_case(adapter, vocab, w, reps, warm_reps))
                except Exception as exc:  # an engine rejecting a workload is a result, not a crash
                    results.append(CaseResult(vocab_name, w.name, adapter.name,
                                              error=f"{type(exc).__name__}: {exc}"[:160]))
        print_table(vocab, setup_ms, results)
        all_results.extend(results)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in all_results], indent=1))
    return 0


def _version(engine: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version({"genai_rt": "genai-rt"}.get(engine, engine))
    except PackageNotFoundError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
