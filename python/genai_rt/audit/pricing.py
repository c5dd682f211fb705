"""Prices per model: USD per 1k input tokens, per 1k output tokens, and per retrieval.

``PriceTable.cost`` prices a finished request; ``worst_case`` prices what admission reserves
(the whole prompt plus ``n * max_tokens`` output tokens).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ModelPrice:
    """USD per 1,000 input tokens, per 1,000 output tokens, and per retrieval call."""

    input_per_1k: float = 0.0
    output_per_1k: float = 0.0
    per_retrieval: float = 0.0

    def __post_init__(self) -> None:
        for name in ("input_per_1k", "output_per_1k", "per_retrieval"):
            value = getattr(self, name)
            if (not isinstance(value, (int, float)) or isinstance(value, bool)
                    or not math.isfinite(value) or value < 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


class PriceTable:
    """Model id -> ``ModelPrice``; an unknown model is an error (never priced at zero by accident).

    Parameters
    ----------
    prices : mapping of model id to ``ModelPrice`` or a dict of its fields
    """

    def __init__(self, prices: Mapping[str, ModelPrice | Mapping[str, float]]) -> None:
        self.prices: dict[str, ModelPrice] = {}
        for model, price in prices.items():
            try:
                self.prices[model] = (price if isinstance(price, ModelPrice)
                                      else ModelPrice(**price))
            except TypeError as err:
                raise ValueError(f"price of model {model!r}: {err}") from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> PriceTable:
        """A YAML mapping ``model: {input_per_1k: .., output_per_1k: .., per_retrieval: ..}``."""
        import yaml

        data: Any = yaml.safe_load(Path(path).read_text())
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a price table is a mapping of model id to prices")
        return cls(data)

    def price(self, model: str) -> ModelPrice:
        try:
            return self.prices[model]
        except KeyError:
            raise KeyError(f"no price for model {model!r}; known: {sorted(self.prices)}") from None

    def cost(self, model: str, tokens_in: int, tokens_out: int, retrievals: int = 0) -> float:
        """USD for one request."""
        p = self.price(model)
        return (tokens_in * p.input_per_1k + tokens_out * p.output_per_1k) / 1000.0 + (
            retrievals * p.per_retrieval)

    def worst_case(self, model: str, prompt_tokens: int, max_tokens: int, n: int = 1,
                   retrievals: int = 0) -> float:
        """The most a request admitted with these limits can cost."""
        return self.cost(model, prompt_tokens, max_tokens * n, retrievals)
