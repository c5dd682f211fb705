"""``make demo``: the end-to-end path that exists today, printed step by step."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

# The default model lives here (created on first use); GENAI_RT_CACHE_DIR moves it.
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "genai_rt"
DEMO_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 12}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


def run_demo() -> int:
    from genai_rt.device import cuda_available

    if not cuda_available():  # Triton kernels run in the interpreter; set before any is defined
        os.environ.setdefault("TRITON_INTERPRET", "1")
    import torch

    from genai_rt.info import collect, format_info

    print("== genai_rt build ==")
    print(format_info(collect()))
    from genai_rt.sampling import apply_token_bitmask

    print("\n== token-bitmask apply: torch reference vs Triton kernel ==")
    device = "cuda" if cuda_available() else "cpu"
    vocab = 1000
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, vocab, generator=generator).to(device)
    words = (vocab + 31) // 32
    bitmask = torch.randint(-(2**31), 2**31 - 1, (3, words), generator=generator,
                            dtype=torch.int32).to(device)
    reference = apply_token_bitmask(logits.clone(), bitmask, backend="torch")
    kernel = apply_token_bitmask(logits.clone(), bitmask, backend="triton")
    allowed = torch.isfinite(reference).sum().item()
    same = torch.equal(reference, kernel)
    print(f"3 rows x {vocab} tokens: {allowed} allowed, Triton == torch: {same}")
    engine_ok = run_engine_demo()
    return 0 if same and engine_ok else 1


def default_model_dir() -> Path:
    """The default model (SmolLM2-135M-Instruct GGUF), set up as ``genai-rt model init`` does
    when absent."""
    from genai_rt.model.default_model import init_smollm2
    from genai_rt.model.gguf_file import find_gguf

    cache = Path(os.environ.get("GENAI_RT_CACHE_DIR", str(DEFAULT_CACHE_DIR)))
    path = cache / "default_model"
    if (path / "config.json").is_file() or find_gguf(path) is None:
        if (path / "config.json").is_file():  # an older cache: the random-weight model
            path = cache / "default_model_smollm2"
        if find_gguf(path) is None:
            print(f"setting up the default model (SmolLM2-135M-Instruct) in {path}")
            init_smollm2(path)
    return path


def run_engine_demo() -> bool:
    """Generate with the engine on the default model: free text, seeded sampling, and a
    JSON-schema-constrained request whose output is parsed and validated."""
    from genai_rt import LLM, SamplingParams

    path = default_model_dir()
    print(f"\n== engine: continuous batching on {path} (SmolLM2-135M-Instruct) ==")
    start = time.perf_counter()
    llm = LLM(str(path), dtype="float32")
    print(f"loaded in {time.perf_counter() - start:.2f}s; KV pool "
          f"{llm.engine.num_blocks} blocks x {llm.engine.config.cache.block_size} tokens")
    prompts = ["The quarterly report", "Customer support policy:", "Summarize the memo"]
    params = [SamplingParams(temperature=0, max_tokens=24),
              SamplingParams(temperature=0.8, top_p=0.9, seed=7, max_tokens=24),
              SamplingParams(temperature=0.7, top_k=50, seed=3, max_tokens=24, stop=["."])]
    start = time.perf_counter()
    outs = llm.generate(prompts, params)
    elapsed = time.perf_counter() - start
    tokens = sum(len(o.outputs[0].token_ids) for o in outs)
    for out in outs:
        c = out.outputs[0]
        print(f"  {out.prompt!r} -> {c.text!r} ({len(c.token_ids)} tokens, {c.finish_reason})")
    print(f"{len(prompts)} requests, {tokens} tokens in {elapsed:.2f}s; stats {llm.engine.stats()}")
    return run_constrained_demo(llm)


def run_constrained_demo(llm: object) -> bool:
    from genai_rt import SamplingParams

    print("\n== engine: JSON-schema-constrained generation ==")
    try:
        import genai_rt.sampling.grammar  # noqa: F401
    except ImportError:
        print("skipped: this build has no grammar engine (genai_rt.sampling.grammar)")
        return True
    import jsonschema

    params = SamplingParams(temperature=0.8, seed=1, max_tokens=64,
                            grammar={"json_schema": DEMO_SCHEMA})
    out = llm.generate(["Give me a person as JSON:"], params)[0].outputs[0]  # type: ignore[attr-defined]
    print(f"  schema {json.dumps(DEMO_SCHEMA)}")
    print(f"  -> {out.text!r} ({len(out.token_ids)} tokens, {out.finish_reason})")
    try:
        jsonschema.validate(json.loads(out.text), DEMO_SCHEMA)
    except (ValueError, jsonschema.ValidationError) as err:
        print(f"  INVALID: {err}")
        return False
    print("  parses and validates against the schema")
    return True
