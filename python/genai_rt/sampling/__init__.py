"""Sampling: token-bitmask application today; grammars, SamplingParams and the Sampler next."""

from genai_rt.sampling.bitmask import BITMASK_BACKENDS, apply_token_bitmask
from genai_rt.sampling.vocabulary import Vocabulary

__all__ = ["BITMASK_BACKENDS", "Vocabulary", "apply_token_bitmask"]
