"""Sampling: parameters, the Sampler, grammar-constrained decoding, detokenization, stops."""

from genai_rt.sampling.bitmask import BITMASK_BACKENDS, apply_token_bitmask
from genai_rt.sampling.detokenizer import IncrementalDetokenizer
from genai_rt.sampling.grammar import (
    Grammar,
    GrammarError,
    GrammarLimits,
    GrammarMatcher,
    SchemaError,
    fill_next_token_bitmask_batch,
)
from genai_rt.sampling.outputs import SamplerOutput, SamplingError
from genai_rt.sampling.params import SamplingParams, SamplingRow, SamplingType, make_generator
from genai_rt.sampling.sampler import Sampler
from genai_rt.sampling.stop import StopChecker
from genai_rt.sampling.vocabulary import Vocabulary

__all__ = [
    "BITMASK_BACKENDS",
    "Grammar",
    "GrammarError",
    "GrammarLimits",
    "GrammarMatcher",
    "IncrementalDetokenizer",
    "Sampler",
    "SamplerOutput",
    "SamplingError",
    "SamplingParams",
    "SamplingRow",
    "SamplingType",
    "SchemaError",
    "StopChecker",
    "Vocabulary",
    "apply_token_bitmask",
    "fill_next_token_bitmask_batch",
    "make_generator",
]
