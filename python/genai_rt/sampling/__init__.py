"""Sampling: token-bitmask application today; grammars, SamplingParams and the Sampler next."""

from genai_rt.sampling.bitmask import BITMASK_BACKENDS, apply_token_bitmask

__all__ = ["BITMASK_BACKENDS", "apply_token_bitmask"]
