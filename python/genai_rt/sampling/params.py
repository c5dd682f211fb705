"""SamplingParams (vLLM names, validated on construction) and the per-row state of the Sampler."""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

# Temperatures below this are treated as greedy (vLLM's _SAMPLING_EPS): at 1e-5 the softmax of
# logits that differ by 0.01 already puts < e^-1000 on the runner-up, so a draw equals the argmax.
GREEDY_TEMPERATURE_EPS = 1e-5
# OpenAI's bounds; vLLM's defaults (max_logprobs=20, |bias| <= 100, |penalty| <= 2) are the same.
MAX_LOGPROBS = 20
MAX_ABS_LOGIT_BIAS = 100.0
MAX_ABS_PRESENCE_FREQUENCY_PENALTY = 2.0
GRAMMAR_SPEC_KEYS = ("json_schema", "regex", "ebnf", "choice")


class SamplingType(enum.IntEnum):
    """How a row draws its token: argmax, the shared random stream, or its own seeded stream."""

    GREEDY = 0
    RANDOM = 1
    RANDOM_SEED = 2


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _require_int(name: str, value: object, low: int, high: int | None = None) -> None:
    if not _is_int(value):
        raise ValueError(f"{name} must be an int, got {value!r}")
    assert isinstance(value, int)
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")


def _require_real(name: str, value: object) -> float:
    if not _is_real(value) or not math.isfinite(float(value)):  # type: ignore[arg-type]
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def _require_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be a bool, got {value!r}")


def _grammar_type() -> type | None:
    """The grammar issue's Grammar class when its module is present (it lands on its own branch)."""
    try:
        from genai_rt.sampling.grammar import Grammar
    except ImportError:
        return None
    return Grammar  # type: ignore[no-any-return]


def _check_grammar_spec(spec: dict[Any, Any]) -> None:
    if len(spec) != 1 or next(iter(spec)) not in GRAMMAR_SPEC_KEYS:
        raise ValueError(f"grammar spec must have exactly one key of {list(GRAMMAR_SPEC_KEYS)}, "
                         f"got keys {list(spec)}")
    kind, value = next(iter(spec.items()))
    if kind == "json_schema":
        if isinstance(value, str):
            try:
                json.loads(value)
            except json.JSONDecodeError as err:
                raise ValueError(f"grammar json_schema is not valid JSON: {err}") from None
        elif not isinstance(value, (dict, bool)):
            raise ValueError(f"grammar json_schema must be a dict, bool or JSON text, "
                             f"got {type(value).__name__}")
    elif kind == "choice":
        if (not isinstance(value, (list, tuple)) or not value
                or not all(isinstance(c, str) and c for c in value)):
            raise ValueError(f"grammar choice must be a non-empty list of non-empty strings, "
                             f"got {value!r}")
    elif not isinstance(value, str) or not value:
        raise ValueError(f"grammar {kind} must be a non-empty string, got {value!r}")


@dataclass(frozen=True)
class SamplingParams:
    """How one request samples and when it stops (vLLM's names and defaults).

    Validated in ``__post_init__``: a bad value raises ``ValueError`` naming the field, e.g.
    ``"temperature must be >= 0, got -1"``. After construction ``stop`` is always ``list[str]`` and
    ``stop_token_ids`` always ``list[int]`` (``None`` and a lone string are normalized).

    Parameters
    ----------
    n : int
        Completions per prompt (>= 1). The engine seeds child ``i`` with ``seed + i``.
    temperature : float
        >= 0; below 1e-5 (``GREEDY_TEMPERATURE_EPS``) the row is greedy (argmax).
    top_k : int
        Keep the k most likely tokens (ties with the k-th kept); 0 or -1 disables.
    top_p : float
        Nucleus mass in (0, 1]; 1 disables.
    min_p : float
        In [0, 1]: drop tokens whose probability is below ``min_p`` times the top one's.
    repetition_penalty : float
        > 0; HF/CTRL style over prompt and output tokens (1 disables).
    presence_penalty, frequency_penalty : float
        In [-2, 2]; OpenAI style over output tokens only.
    logit_bias : dict[int, float] | None
        Added to the logits of the given token ids first; each value in [-100, 100]. Keys may be
        digit strings (JSON's only kind), normalized to int.
    seed : int | None
        Makes the row's draws reproducible whatever else is in the batch (0 <= seed < 2**63).
    stop : str | list[str] | None
        Stop strings (non-empty), matched across token boundaries.
    stop_token_ids : list[int] | None
        Extra token ids that end the sequence (EOS always does unless ``ignore_eos``).
    ignore_eos : bool
        Keep generating past EOS (it may still be sampled; it just does not stop).
    max_tokens : int
        Output tokens at most (>= 1).
    min_tokens : int
        EOS and ``stop_token_ids`` are masked until this many tokens exist (<= max_tokens).
    logprobs : int | None
        None: none; 0: the chosen token's logprob only; k in 1..20: also the k most likely tokens.
        Logprobs are of the raw model distribution (see ``Sampler``).
    skip_special_tokens : bool
        Leave special tokens out of the detokenized text.
    include_stop_str_in_output : bool
        Keep the matched stop string at the end of the text.
    grammar : Grammar | dict | None
        A compiled ``Grammar`` or exactly one of ``{"json_schema": ...}``, ``{"regex": ...}``,
        ``{"ebnf": ...}``, ``{"choice": [...]}``.
    output_filter : object | None
        Bans tokens step by step on top of the grammar (the pipeline's deny-list / PII filter):
        ``new_state()`` gives each sequence a state with ``apply(bitmask_row)`` (AND its allowed
        tokens into an int32 row in place) and ``accept(token_id)``.
    json_whitespace : str
        Whitespace in ``json_schema`` output: ``"any"`` (what JSON allows, bounded; see
        ``genai_rt.sampling.grammar_json_layout``) or ``"compact"`` (none).
    json_indent : int | None
        Exactly the layout of ``json.dumps(x, indent=json_indent)`` (overrides json_whitespace).

    Examples
    --------
    >>> SamplingParams(temperature=0).is_greedy
    True
    >>> SamplingParams(stop="###").stop
    ['###']
    """

    n: int = 1
    temperature: float = 1.0
    top_k: int = -1
    top_p: float = 1.0
    min_p: float = 0.0
    repetition_penalty: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: dict[int, float] | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    stop_token_ids: list[int] | None = None
    ignore_eos: bool = False
    max_tokens: int = 16
    min_tokens: int = 0
    logprobs: int | None = None
    skip_special_tokens: bool = True
    include_stop_str_in_output: bool = False
    grammar: Any = None
    output_filter: Any = None
    json_whitespace: str = "any"
    json_indent: int | None = None

    def __post_init__(self) -> None:
        _require_int("n", self.n, 1)
        temperature = _require_real("temperature", self.temperature)
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        _require_int("top_k", self.top_k, -1)
        top_p = _require_real("top_p", self.top_p)
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        min_p = _require_real("min_p", self.min_p)
        if not 0 <= min_p <= 1:
            raise ValueError(f"min_p must be in [0, 1], got {self.min_p}")
        if _require_real("repetition_penalty", self.repetition_penalty) <= 0:
            raise ValueError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")
        for name in ("presence_penalty", "frequency_penalty"):
            value = _require_real(name, getattr(self, name))
            if abs(value) > MAX_ABS_PRESENCE_FREQUENCY_PENALTY:
                raise ValueError(f"{name} must be in [-2, 2], got {value}")
        self._check_logit_bias()
        if self.seed is not None:
            _require_int("seed", self.seed, 0, 2**63 - 1)
        self._normalize_stops()
        _require_bool("ignore_eos", self.ignore_eos)
        _require_int("max_tokens", self.max_tokens, 1)
        _require_int("min_tokens", self.min_tokens, 0, self.max_tokens)
        if self.logprobs is not None:
            _require_int("logprobs", self.logprobs, 0, MAX_LOGPROBS)
        _require_bool("skip_special_tokens", self.skip_special_tokens)
        _require_bool("include_stop_str_in_output", self.include_stop_str_in_output)
        self._check_grammar()
        if self.output_filter is not None and not callable(
            getattr(self.output_filter, "new_state", None)
        ):
            raise ValueError("output_filter must have a new_state() method, got "
                             f"{type(self.output_filter).__name__}")
        if self.json_whitespace not in ("any", "compact"):
            raise ValueError(f"json_whitespace must be 'any' or 'compact', "
                             f"got {self.json_whitespace!r}")
        if self.json_indent is not None:
            _require_int("json_indent", self.json_indent, 0, 8)
        for name in ("temperature", "top_p", "min_p", "repetition_penalty", "presence_penalty",
                     "frequency_penalty"):
            object.__setattr__(self, name, float(getattr(self, name)))  # 1 and 1.0 compare alike

    def _check_logit_bias(self) -> None:
        if self.logit_bias is None:
            return
        if not isinstance(self.logit_bias, dict):
            raise ValueError(f"logit_bias must be a dict[int, float], got "
                             f"{type(self.logit_bias).__name__}")
        normalized: dict[int, float] = {}
        for key, bias in self.logit_bias.items():
            # JSON objects (the OpenAI API's logit_bias) only have string keys: accept "50256".
            token_id = int(key) if isinstance(key, str) and key.isascii() and key.isdigit() else key
            if not _is_int(token_id) or token_id < 0:
                raise ValueError(f"logit_bias keys must be token ids >= 0, got {key!r}")
            value = _require_real(f"logit_bias[{token_id}]", bias)
            if abs(value) > MAX_ABS_LOGIT_BIAS:
                raise ValueError(f"logit_bias[{token_id}] must be in [-100, 100], got {value}")
            normalized[token_id] = value
        object.__setattr__(self, "logit_bias", normalized)

    def _normalize_stops(self) -> None:
        stop = [self.stop] if isinstance(self.stop, str) else self.stop
        if stop is None:
            stop = []
        if not isinstance(stop, (list, tuple)) or not all(isinstance(s, str) and s for s in stop):
            raise ValueError(
                f"stop must be a non-empty string or a list of them, got {self.stop!r}")
        ids = [] if self.stop_token_ids is None else self.stop_token_ids
        if not isinstance(ids, (list, tuple)) or not all(_is_int(t) and t >= 0 for t in ids):
            raise ValueError(f"stop_token_ids must be a list of token ids >= 0, "
                             f"got {self.stop_token_ids!r}")
        object.__setattr__(self, "stop", list(stop))
        object.__setattr__(self, "stop_token_ids", list(ids))

    def _check_grammar(self) -> None:
        if self.grammar is None:
            return
        if isinstance(self.grammar, dict):
            _check_grammar_spec(self.grammar)
            return
        grammar_type = _grammar_type()
        if grammar_type is None or not isinstance(self.grammar, grammar_type):
            raise ValueError(f"grammar must be None, a Grammar or a dict spec with one key of "
                             f"{list(GRAMMAR_SPEC_KEYS)}, got {type(self.grammar).__name__}")

    @property
    def is_greedy(self) -> bool:
        """True when the row takes the argmax (temperature below ``GREEDY_TEMPERATURE_EPS``)."""
        return self.temperature < GREEDY_TEMPERATURE_EPS

    @property
    def sampling_type(self) -> SamplingType:
        """GREEDY, RANDOM (shared stream) or RANDOM_SEED (the row's own seeded generator)."""
        if self.is_greedy:
            return SamplingType.GREEDY
        return SamplingType.RANDOM if self.seed is None else SamplingType.RANDOM_SEED

    @property
    def stop_strings(self) -> list[str]:
        """``stop`` as a list (it always is after construction; this is its precise type)."""
        return list(self.stop or [])

    def all_stop_token_ids(self, eos_token_ids: Sequence[int]) -> set[int]:
        """Token ids that end this request: ``stop_token_ids`` plus EOS unless ``ignore_eos``."""
        ids = set(self.stop_token_ids or [])
        if not self.ignore_eos:
            ids.update(eos_token_ids)
        return ids


@dataclass
class SamplingRow:
    """One sequence's view for the Sampler; the engine keeps it and appends to the output.

    Parameters
    ----------
    params : SamplingParams
    prompt_token_ids : Sequence[int]
    output_token_ids : list[int]
        Grows by one token per step (the engine appends the Sampler's choice).
    generator : torch.Generator | None
        The row's own random stream when ``params.seed`` is set (the engine makes one per request,
        and per child ``seed + i`` when n > 1), on the logits' device. None: the shared stream.
    """

    params: SamplingParams
    prompt_token_ids: Sequence[int]
    output_token_ids: list[int] = field(default_factory=list)
    generator: torch.Generator | None = None


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator seeded for one row (what the engine makes for ``SamplingParams.seed``)."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator
