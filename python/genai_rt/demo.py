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
    "properties": {"name": {"type": "string", "maxLength": 40},
                   "age": {"type": "integer", "minimum": 0, "maximum": 150},
                   "city": {"type": "string", "maxLength": 40}},
    "required": ["name", "age", "city"],
    "additionalProperties": False,
}
DEMO_QUESTION = "What is the capital of France?"
DEMO_MEMO = (
    "From March 1, all employees may work remotely up to three days a week. Teams must agree on "
    "two shared office days, and managers will review the arrangement after six months. "
    "Equipment for home offices can be expensed up to 500 euros."
)
DEMO_PERSON = "Maria Lopez, 34, moved to Lisbon last spring to work as a nurse."


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
    """Ask the default model (SmolLM2-135M-Instruct) a question, for a summary and for a
    JSON-schema extraction, all at once through continuous batching; print answers and tok/s."""
    from genai_rt import LLM, SamplingParams

    path = default_model_dir()
    print(f"\n== engine: SmolLM2-135M-Instruct (GGUF, dequantized to fp32) from {path} ==")
    start = time.perf_counter()
    llm = LLM(str(path), dtype="float32", max_model_len=2048)
    print(f"loaded in {time.perf_counter() - start:.1f}s; KV pool "
          f"{llm.engine.num_blocks} blocks x {llm.engine.config.cache.block_size} tokens")
    greedy = SamplingParams(temperature=0, max_tokens=96)
    tasks = [
        ("question", DEMO_QUESTION, greedy),
        ("summary", f"Summarize in one sentence:\n\n{DEMO_MEMO}", greedy),
        ("extraction", f"Extract the person as JSON (name, age, city):\n\n{DEMO_PERSON}",
         SamplingParams(temperature=0, max_tokens=64, grammar={"json_schema": DEMO_SCHEMA})),
    ]
    start = time.perf_counter()
    outs = llm.chat([[{"role": "user", "content": text}] for _, text, _ in tasks],
                    [params for _, _, params in tasks])
    elapsed = time.perf_counter() - start
    tokens = sum(len(o.outputs[0].token_ids) for o in outs)
    for (name, text, _), out in zip(tasks, outs, strict=True):
        c = out.outputs[0]
        print(f"\n-- {name}: {text.splitlines()[0]}\n   -> {c.text.strip()}\n"
              f"   ({len(c.token_ids)} tokens, {c.finish_reason})")
    print(f"\n3 requests batched: {tokens} tokens in {elapsed:.2f}s = {tokens / elapsed:.1f} tok/s")
    return check_extraction(outs[2].outputs[0].text)


def check_extraction(text: str) -> bool:
    import jsonschema

    try:
        jsonschema.validate(json.loads(text), DEMO_SCHEMA)
    except (ValueError, jsonschema.ValidationError) as err:
        print(f"extraction INVALID against {json.dumps(DEMO_SCHEMA)}: {err}")
        return False
    print("the extraction parses and validates against its JSON schema")
    return True
