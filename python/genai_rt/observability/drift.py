"""Drift: how far recent requests moved from a reference window.

Two numbers, exported as gauges and logged as a warning when one passes its threshold:

- the cosine distance between the centroid of the last ``window`` request embeddings and the
  reference centroid (0: same direction; topic shift moves it up);
- the total variation distance between the recent intent mix and the reference one
  (0: same proportions, 1: disjoint intents).

The reference is given, or else the first ``window`` requests become it.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Sequence
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


def cosine_distance(a: np.ndarray, b: np.ndarray) -> float:
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return 0.0 if norm == 0.0 else float(1.0 - np.dot(a, b) / norm)


def total_variation(p: Counter[str], q: Counter[str]) -> float:
    np_, nq = sum(p.values()), sum(q.values())
    if np_ == 0 or nq == 0:
        return 0.0
    return 0.5 * sum(abs(p[k] / np_ - q[k] / nq) for k in set(p) | set(q))


class DriftMonitor:
    """Tracks the two drift distances over a sliding window of requests.

    Parameters
    ----------
    window : int
        Requests in the recent window (and in the automatic reference).
    centroid_threshold, intent_threshold : float
        Distances above which a warning is logged (once per crossing).
    metrics : genai_rt.observability.metrics.Metrics | None
        Where the gauges go.
    """

    def __init__(self, window: int = 200, centroid_threshold: float = 0.15,
                 intent_threshold: float = 0.3, metrics: Any = None,
                 reference_embeddings: Sequence[Sequence[float]] | np.ndarray | None = None,
                 reference_intents: Sequence[str] | None = None) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.window = window
        self.centroid_threshold = centroid_threshold
        self.intent_threshold = intent_threshold
        self.metrics = metrics
        self._embeddings: deque[np.ndarray] = deque(maxlen=window)
        self._intents: deque[str] = deque(maxlen=window)
        self.reference_centroid: np.ndarray | None = None
        self.reference_intents: Counter[str] | None = None
        if reference_embeddings is not None:
            self.reference_centroid = np.asarray(reference_embeddings, np.float64).mean(axis=0)
        if reference_intents is not None:
            self.reference_intents = Counter(reference_intents)
        self._warned: set[str] = set()

    def observe(self, embedding: Sequence[float] | np.ndarray | None = None,
                intent: str | None = None) -> dict[str, float]:
        """Add one request; returns the current distances."""
        if embedding is not None:
            self._embeddings.append(np.asarray(embedding, np.float64))
            if self.reference_centroid is None and len(self._embeddings) == self.window:
                self.reference_centroid = np.mean(self._embeddings, axis=0)
                self._embeddings.clear()
        if intent is not None:
            self._intents.append(intent)
            if self.reference_intents is None and len(self._intents) == self.window:
                self.reference_intents = Counter(self._intents)
                self._intents.clear()
        return self.update()

    def distances(self) -> dict[str, float]:
        out = {"centroid": 0.0, "intent_mix": 0.0}
        if self.reference_centroid is not None and self._embeddings:
            out["centroid"] = cosine_distance(np.mean(self._embeddings, axis=0),
                                              self.reference_centroid)
        if self.reference_intents is not None and self._intents:
            out["intent_mix"] = total_variation(Counter(self._intents), self.reference_intents)
        return out

    def update(self) -> dict[str, float]:
        d = self.distances()
        if self.metrics is not None:
            self.metrics.drift_centroid.set(d["centroid"])
            self.metrics.drift_intents.set(d["intent_mix"])
        for name, threshold in (("centroid", self.centroid_threshold),
                                ("intent_mix", self.intent_threshold)):
            if d[name] > threshold and name not in self._warned:
                self._warned.add(name)
                logger.warning("drift: %s distance %.3f is above its threshold %.3f",
                               name, d[name], threshold)
            elif d[name] <= threshold:
                self._warned.discard(name)
        return d
