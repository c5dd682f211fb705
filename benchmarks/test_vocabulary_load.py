"""Vocabulary load time on real tokenizers (pytest-benchmark): target well under 1 s at 150k.

    .venv/bin/python -m pytest benchmarks/test_vocabulary_load.py --benchmark-only -q

Times ``Vocabulary.from_tokenizer_json`` (read + parse tokenizer.json, decode every token to
bytes, hash) and, apart, building the core's native vocabulary (its token trie).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from genai_rt.sampling import Vocabulary  # noqa: E402

from tests.sampling.real_tokenizers import (  # noqa: E402
    MissingTokenizerData,
    cl100k_token_bytes,
    tokenizer_json_path,
)


def _path(name: str) -> Path:
    try:
        return tokenizer_json_path(name)
    except MissingTokenizerData as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("name", ["qwen2.5", "llama-3.1", "mistral"])
def test_from_tokenizer_json(benchmark, name: str) -> None:
    path = _path(name)
    vocab = benchmark.pedantic(Vocabulary.from_tokenizer_json, args=(path,), rounds=5,
                               warmup_rounds=1)
    benchmark.extra_info["vocab_size"] = vocab.size


def test_from_cl100k_token_bytes(benchmark) -> None:
    try:
        token_bytes = cl100k_token_bytes()
    except MissingTokenizerData as exc:
        pytest.skip(str(exc))
    holes = [i for i, t in enumerate(token_bytes) if not t]
    benchmark.pedantic(lambda: Vocabulary(token_bytes, eos_token_ids=[100257],
                                          special_token_ids=holes), rounds=5, warmup_rounds=1)


@pytest.mark.parametrize("name", ["qwen2.5", "llama-3.1"])
def test_native_vocabulary(benchmark, name: str) -> None:
    vocab = Vocabulary.from_tokenizer_json(_path(name))

    def build() -> object:
        vocab._native = None  # rebuild the core object each round
        return vocab.native()

    benchmark.pedantic(build, rounds=5, warmup_rounds=1)
