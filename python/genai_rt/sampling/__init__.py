"""Sampling: token-bitmask application today; grammars, SamplingParams and the Sampler next."""

from genai_rt.sampling.bitmask import BITMASK_BACKENDS, apply_token_bitmask

# --- sampler issue: params, Sampler, detokenizer, stop strings ---
from genai_rt.sampling.detokenizer import IncrementalDetokenizer
from genai_rt.sampling.outputs import SamplerOutput, SamplingError
from genai_rt.sampling.params import SamplingParams, SamplingRow, SamplingType, make_generator
from genai_rt.sampling.sampler import Sampler
from genai_rt.sampling.stop import StopChecker

# --- end sampler issue ---

__all__ = ["BITMASK_BACKENDS", "apply_token_bitmask"]
# --- sampler issue ---
__all__ += [
    "IncrementalDetokenizer", "Sampler", "SamplerOutput", "SamplingError", "SamplingParams",
    "SamplingRow", "SamplingType", "StopChecker", "make_generator",
]
# --- end sampler issue ---
