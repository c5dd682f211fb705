"""Grounding: documents behind access boundaries, embedded and searched on CPU or GPU.

- :class:`Embedder`: all-MiniLM-L6-v2 (or any BERT sentence-transformers folder) on torch
- :class:`VectorIndex`: backends ``cpu_exact`` (C++), ``gpu_exact`` (Triton), ``hnsw`` (hnswlib)
- :class:`DocumentStore`: SQLite metadata, chunking, folder ingest, ``retrieve``

The access rule is :class:`genai_rt.principal.Principal`'s; it is applied inside every search
(allow-bitmap or HNSW filter), and every search reports how complete its answer is.
"""

from __future__ import annotations

from genai_rt.retrieval.embedder import Embedder
from genai_rt.retrieval.index import VectorIndex
from genai_rt.retrieval.report import SearchHits, SearchReport
from genai_rt.retrieval.store import (
    DocumentStore,
    IngestReport,
    Passage,
    Retrieval,
    UnknownPrincipalError,
)

__all__ = [
    "DocumentStore", "Embedder", "IngestReport", "Passage", "Retrieval", "SearchHits",
    "SearchReport", "UnknownPrincipalError", "VectorIndex",
]
