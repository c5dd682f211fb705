"""The grounding store as the pipeline sees it: ``genai_rt.retrieval.DocumentStore`` behind the
principal's boundary, passages renamed with short citable ids (``<document stem>#<ordinal>``).

Exclusions work on the documents' ``classification`` metadata: the store is asked only for the
declared classifications that no exclusion names, so an excluded passage never enters the
search, the prompt or the grammar.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

from genai_rt.pipeline.grounding import Passage, Retrieval
from genai_rt.principal import Principal


def citation_id(document_id: str, ordinal: int) -> str:
    return f"{PurePosixPath(document_id).stem}#{ordinal}"


class GroundingStore:
    """Adapts a ``DocumentStore`` to the pipeline's ``retrieve``.

    Parameters
    ----------
    store : genai_rt.retrieval.DocumentStore
    classifications : every ``classification`` value the documents carry (from the config)
    """

    def __init__(self, store: Any, classifications: Sequence[str]) -> None:
        self.store = store
        self.classifications = tuple(classifications)

    def retrieve(self, query: str, principal: Principal, k: int,
                 filters: dict[str, Any] | None = None) -> Retrieval:
        from genai_rt.retrieval import UnknownPrincipalError

        excluded = set((filters or {}).get("exclude_classifications", ()))
        store_filters = None
        if excluded:
            store_filters = {"classification": [c for c in self.classifications
                                                if c not in excluded] or ["<none>"]}
        try:
            found = self.store.retrieve(query, principal, k, store_filters)
        except UnknownPrincipalError as err:
            return Retrieval([], {"k_asked": k, "k_returned": 0, "visible_rows": 0,
                                  "complete": True, "note": str(err)})
        passages = [
            Passage(citation_id(p.document_id, p.ordinal), p.document_id, p.text, p.score,
                    p.content_hash, (str(p.metadata.get("classification", "")),))
            for p in found.passages
        ]
        report = dataclasses.asdict(found.report)
        report["complete"] = found.report.complete
        report["excluded_classifications"] = sorted(excluded)
        return Retrieval(passages, report)
