"""The demo enterprise in a few lines: config, document store over the two tenants' corpus,
and a ``Pipeline`` on a given engine (README example, tests, benchmarks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genai_rt.pipeline.config import PipelineConfig
from genai_rt.pipeline.pipeline import Pipeline
from genai_rt.pipeline.review_queue import ReviewQueue
from genai_rt.pipeline.store_adapter import GroundingStore

_CANDIDATES = (
    Path(__file__).resolve().parents[1] / "data" / "enterprise",
    Path(__file__).resolve().parents[3] / "examples" / "enterprise",
)
ENTERPRISE_DIR = next((p for p in _CANDIDATES if p.is_dir()), _CANDIDATES[-1])


def open_demo_store(db_path: str | Path, embedder: Any = None,
                    root: Path = ENTERPRISE_DIR) -> Any:
    """A DocumentStore at ``db_path`` holding ``root/corpus/<tenant>/`` for every tenant."""
    from genai_rt.config import StoreConfig
    from genai_rt.retrieval import DocumentStore

    store = DocumentStore(StoreConfig(url=str(db_path), backend="cpu_exact"), embedder)
    for folder in sorted(p for p in (root / "corpus").iterdir() if p.is_dir()):
        store.ingest_folder(folder, tenant=folder.name, progress=False)
    return store


def demo_pipeline(engine: Any, store: Any, review_queue: str | Path = ":memory:",
                  config: PipelineConfig | None = None, **kwargs: Any) -> Pipeline:
    """The example enterprise's pipeline over ``store`` (from ``open_demo_store``)."""
    config = config or PipelineConfig.load(ENTERPRISE_DIR / "config.toml")
    grounding = GroundingStore(store, config.classifications)
    return Pipeline(config, engine, grounding, embedder=store.embedder,
                    review_queue=ReviewQueue(review_queue), **kwargs)
