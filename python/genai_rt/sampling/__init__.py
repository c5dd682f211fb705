"""Sampling: token-bitmask application and grammar-constrained decoding."""

from genai_rt.sampling.bitmask import BITMASK_BACKENDS, apply_token_bitmask
from genai_rt.sampling.grammar import (
    Grammar,
    GrammarError,
    GrammarLimits,
    GrammarMatcher,
    SchemaError,
    fill_next_token_bitmask_batch,
)
from genai_rt.sampling.vocabulary import Vocabulary

__all__ = [
    "BITMASK_BACKENDS",
    "Grammar",
    "GrammarError",
    "GrammarLimits",
    "GrammarMatcher",
    "SchemaError",
    "Vocabulary",
    "apply_token_bitmask",
    "fill_next_token_bitmask_batch",
]
