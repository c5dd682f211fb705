"""The pipeline's one config file: intents, roles, policies, exclusions and limits (TOML).

Validated at load; every error names the table and key (``intents.pricing.risk_tier must be one
of ('low', 'high'), got 'hgih'``). See examples/enterprise/config.toml for a complete example.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - python 3.10
    import tomli as tomllib

RISK_TIERS = ("low", "high")
GROUNDING_MODES = ("extractive", "generative", "none")
CLASSIFIERS = ("embedding", "llm")


class PipelineConfigError(ValueError):
    """The config file is malformed; the message names the table and the key."""


@dataclass(frozen=True)
class Limits:
    """Caps the TaskSpec imposes on generation, whatever the caller asks."""

    max_tokens: int = 160
    max_words: int = 120
    temperature: float = 0.7
    top_p: float = 1.0


@dataclass(frozen=True)
class Exclusion:
    """A named exclusion ("confidential_pricing"): documents of these classifications never
    enter the search, and these terms are blocked while decoding and checked by the policy gate."""

    name: str
    classifications: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()


@dataclass(frozen=True)
class RolePolicy:
    """What a role (or department) adds to every prompt, and what it forbids."""

    name: str
    instructions: str = ""
    deny_terms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Intent:
    """One declared intent: how it is recognised, prompted, grounded, limited and signed off."""

    name: str
    description: str
    examples: tuple[str, ...]
    prompt: str
    risk_tier: str = "low"
    grounding: str = "extractive"
    citations_required: bool = True
    allowed_roles: tuple[str, ...] = ()
    exclusions: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    max_sentences: int = 2


@dataclass(frozen=True)
class PipelineConfig:
    """The whole file. ``path`` is where it was read from (relative paths resolve against it)."""

    intents: dict[str, Intent]
    roles: dict[str, RolePolicy]
    exclusions: dict[str, Exclusion]
    classifications: tuple[str, ...] = ()
    deny_terms: tuple[str, ...] = ()
    pii_patterns: tuple[str, ...] = ()
    classifier: str = "embedding"
    confidence_threshold: float = 0.5
    default_intent: str = ""
    max_retries: int = 2
    retrieve_k: int = 3
    history_turns: int = 4
    review_queue: str = "review_queue.sqlite3"
    high_risk_intents: tuple[str, ...] = ()
    path: Path | None = None

    @classmethod
    def load(cls, path: str | Path) -> PipelineConfig:
        """Read and validate a TOML config file."""
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise PipelineConfigError(f"pipeline config {path} does not exist") from None
        except tomllib.TOMLDecodeError as err:
            raise PipelineConfigError(f"{path}: not valid TOML: {err}") from None
        return cls.from_dict(raw, path)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], path: Path | None = None) -> PipelineConfig:
        _only(raw, "", {"pipeline", "policies", "roles", "exclusions", "intents", "limits"})
        top = _table(raw, "pipeline")
        _only(top, "pipeline", {
            "classifier", "confidence_threshold", "default_intent", "max_retries", "retrieve_k",
            "history_turns", "review_queue", "high_risk_intents", "classifications",
        })
        defaults = _limits(_table(raw, "limits"), "limits", Limits())
        policies = _table(raw, "policies")
        _only(policies, "policies", {"deny_terms", "pii_patterns"})
        classifications = _strs(top, "pipeline", "classifications")
        exclusions = {
            name: Exclusion(name, _strs(t, f"exclusions.{name}", "classifications"),
                            _strs(t, f"exclusions.{name}", "terms"))
            for name, t in _tables(raw, "exclusions", {"classifications", "terms"}).items()
        }
        for ex in exclusions.values():
            unknown = sorted(set(ex.classifications) - set(classifications))
            if unknown:
                raise PipelineConfigError(
                    f"exclusions.{ex.name}.classifications names {unknown}, not declared in "
                    f"pipeline.classifications {list(classifications)}")
        roles = {
            name: RolePolicy(name, _str(t, f"roles.{name}", "instructions", ""),
                             _strs(t, f"roles.{name}", "deny_terms"))
            for name, t in _tables(raw, "roles", {"instructions", "deny_terms"}).items()
        }
        intents = {
            name: _intent(name, t, defaults, exclusions)
            for name, t in _tables(raw, "intents", set(_INTENT_KEYS)).items()
        }
        if not intents:
            raise PipelineConfigError("[intents] must declare at least one intent")
        high_risk = _strs(top, "pipeline", "high_risk_intents")
        for name in high_risk:
            if name not in intents:
                raise PipelineConfigError(
                    f"pipeline.high_risk_intents names unknown intent {name!r}")
        default_intent = _str(top, "pipeline", "default_intent", "")
        if default_intent and default_intent not in intents:
            raise PipelineConfigError(f"pipeline.default_intent {default_intent!r} is not an "
                                      f"intent (declared: {sorted(intents)})")
        classifier = _str(top, "pipeline", "classifier", "embedding")
        _one_of("pipeline.classifier", classifier, CLASSIFIERS)
        threshold = _num(top, "pipeline", "confidence_threshold", 0.5)
        if not 0.0 <= threshold <= 1.0:
            raise PipelineConfigError(
                f"pipeline.confidence_threshold must be in [0, 1], got {threshold}")
        return cls(
            intents=intents, roles=roles, exclusions=exclusions, classifications=classifications,
            deny_terms=_strs(policies, "policies", "deny_terms"),
            pii_patterns=_strs(policies, "policies", "pii_patterns"),
            classifier=classifier, confidence_threshold=threshold, default_intent=default_intent,
            max_retries=_int(top, "pipeline", "max_retries", 2, low=0),
            retrieve_k=_int(top, "pipeline", "retrieve_k", 3, low=1),
            history_turns=_int(top, "pipeline", "history_turns", 4, low=0),
            review_queue=_str(top, "pipeline", "review_queue", "review_queue.sqlite3"),
            high_risk_intents=high_risk, path=path,
        )

    def is_high_risk(self, intent: str) -> bool:
        return intent in self.high_risk_intents or self.intents[intent].risk_tier == "high"

    def resolve(self, relative: str) -> Path:
        """A path from the file, relative to the file's folder."""
        p = Path(relative)
        if p.is_absolute() or self.path is None:
            return p
        return self.path.parent / p


_INTENT_KEYS = (
    "description", "examples", "prompt", "risk_tier", "grounding", "citations_required",
    "allowed_roles", "exclusions", "max_tokens", "max_words", "temperature", "top_p",
    "max_sentences",
)


def _intent(name: str, t: dict[str, Any], defaults: Limits,
            exclusions: dict[str, Exclusion]) -> Intent:
    where = f"intents.{name}"
    examples = _strs(t, where, "examples")
    if len(examples) < 2:
        raise PipelineConfigError(f"{where}.examples needs at least 2 labelled examples, "
                                  f"got {len(examples)}")
    risk = _str(t, where, "risk_tier", "low")
    _one_of(f"{where}.risk_tier", risk, RISK_TIERS)
    grounding = _str(t, where, "grounding", "extractive")
    _one_of(f"{where}.grounding", grounding, GROUNDING_MODES)
    excl = _strs(t, where, "exclusions")
    for e in excl:
        if e not in exclusions:
            raise PipelineConfigError(f"{where}.exclusions names unknown exclusion {e!r} "
                                      f"(declared: {sorted(exclusions)})")
    citations = t.get("citations_required", grounding != "none")
    if not isinstance(citations, bool):
        raise PipelineConfigError(f"{where}.citations_required must be true or false")
    return Intent(
        name=name, description=_str(t, where, "description", name), examples=examples,
        prompt=_str(t, where, "prompt", ""), risk_tier=risk, grounding=grounding,
        citations_required=citations, allowed_roles=_strs(t, where, "allowed_roles"),
        exclusions=excl, limits=_limits(t, where, defaults),
        max_sentences=_int(t, where, "max_sentences", 2, low=1),
    )


def _limits(t: dict[str, Any], where: str, base: Limits) -> Limits:
    limits = Limits(
        max_tokens=_int(t, where, "max_tokens", base.max_tokens, low=1),
        max_words=_int(t, where, "max_words", base.max_words, low=1),
        temperature=_num(t, where, "temperature", base.temperature),
        top_p=_num(t, where, "top_p", base.top_p),
    )
    if not 0.0 <= limits.temperature <= 2.0:
        raise PipelineConfigError(
            f"{where}.temperature must be in [0, 2], got {limits.temperature}")
    if not 0.0 < limits.top_p <= 1.0:
        raise PipelineConfigError(f"{where}.top_p must be in (0, 1], got {limits.top_p}")
    return limits


def _table(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise PipelineConfigError(f"[{key}] must be a table, got {type(value).__name__}")
    return value


def _tables(raw: dict[str, Any], key: str, allowed: set[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, value in _table(raw, key).items():
        if not isinstance(value, dict):
            raise PipelineConfigError(f"[{key}.{name}] must be a table")
        _only(value, f"{key}.{name}", allowed)
        out[name] = value
    return out


def _only(t: dict[str, Any], where: str, allowed: set[str]) -> None:
    unknown = sorted(set(t) - allowed)
    if unknown:
        place = f"[{where}]" if where else "the top level"
        raise PipelineConfigError(f"unknown key(s) {unknown} in {place}; "
                                  f"allowed: {sorted(allowed)}")


def _one_of(where: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise PipelineConfigError(f"{where} must be one of {choices}, got {value!r}")


def _str(t: dict[str, Any], where: str, key: str, default: str) -> str:
    value = t.get(key, default)
    if not isinstance(value, str):
        raise PipelineConfigError(f"{where}.{key} must be a string, got {value!r}")
    return value


def _strs(t: dict[str, Any], where: str, key: str) -> tuple[str, ...]:
    value = t.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise PipelineConfigError(f"{where}.{key} must be a list of non-empty strings")
    return tuple(value)


def _int(t: dict[str, Any], where: str, key: str, default: int, low: int) -> int:
    value = t.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise PipelineConfigError(f"{where}.{key} must be an integer >= {low}, got {value!r}")
    return value


def _num(t: dict[str, Any], where: str, key: str, default: float) -> float:
    value = t.get(key, default)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise PipelineConfigError(f"{where}.{key} must be a number, got {value!r}")
    return float(value)
