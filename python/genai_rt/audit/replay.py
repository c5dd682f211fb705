"""Audit replay: re-run a recorded engine request in deterministic mode and compare outputs.

A record made in deterministic mode (``record["deterministic"]``) must replay bit for bit: same
output token ids, same output hash. A record made in the default mode may differ (its tokens
depended on what shared its batches); the report says which mode the record was made in, so a
mismatch there is expected rather than alarming.

Replay needs what the record holds (see ``genai_rt.audit.records``): the prompt token ids, the
sampling parameters with their seed, the grammar spec, and the model's weights hash, which must
match the checkpoint given for replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ReplayError(ValueError):
    """The record cannot be replayed (missing fields, another model, unseeded sampling)."""


@dataclass(frozen=True)
class ReplayReport:
    """What a replay found."""

    record_id: str
    recorded_deterministic: bool
    matched: bool
    recorded_output_hash: str
    replayed_output_hash: str
    recorded_token_ids: list[list[int]]
    replayed_token_ids: list[list[int]]

    def describe(self) -> str:
        mode = "deterministic" if self.recorded_deterministic else "default (not deterministic)"
        verdict = "MATCH" if self.matched else "MISMATCH"
        lines = [f"record {self.record_id}: made in {mode} mode", f"replay: {verdict}",
                 f"  recorded output hash {self.recorded_output_hash}",
                 f"  replayed output hash {self.replayed_output_hash}"]
        if not self.matched:
            for i, (old, new) in enumerate(
                    zip(self.recorded_token_ids, self.replayed_token_ids, strict=False)):
                first = next((j for j, (a, b) in enumerate(zip(old, new, strict=False))
                              if a != b), min(len(old), len(new)))
                if old != new:
                    lines.append(f"  completion {i}: first difference at token {first}")
            if not self.recorded_deterministic:
                lines.append("  (expected possible: the record was not made in deterministic "
                             "mode)")
        return "\n".join(lines)


def load_record(log: Any, record_id: str) -> dict[str, Any]:
    """The record ``record_id`` of an open ``AuditLog``, as its dict.

    Raises
    ------
    ReplayError
        When the log holds no such record.
    """
    import json

    found = log.store.find(record_id)
    if found is None:
        raise ReplayError(f"no audit record {record_id!r} in the log")
    record: dict[str, Any] = json.loads(found[1])["record"]
    return record


def replay_inputs(record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The engine prompt and SamplingParams keyword arguments a record replays with."""
    if record.get("kind") != "engine":
        raise ReplayError(f"only engine records replay; this one is {record.get('kind')!r}")
    prompt = record.get("prompt") or {}
    token_ids = prompt.get("token_ids")
    if not token_ids:
        raise ReplayError("the record holds no prompt token ids")
    sampling = dict(record.get("sampling") or {})
    if not sampling:
        raise ReplayError("the record holds no sampling parameters")
    if sampling.get("temperature", 1.0) > 0 and sampling.get("seed") is None:
        raise ReplayError("the record's sampling was random and unseeded: nothing can replay it")
    if sampling.get("logit_bias"):
        sampling["logit_bias"] = {int(k): v for k, v in sampling["logit_bias"].items()}
    grammar = (record.get("grammar") or {}).get("spec")
    if grammar is not None:
        sampling["grammar"] = grammar
    return {"prompt_token_ids": list(token_ids)}, sampling


def replay(record_id: str, record: dict[str, Any], model_path: str,
           weights_hash: str | None = None, **engine_options: Any) -> ReplayReport:
    """Re-run ``record`` on ``model_path`` in deterministic mode.

    Parameters
    ----------
    record_id, record : the audit record (``AuditLog.get``) to replay
    model_path : the checkpoint; its weights hash must equal the record's
    weights_hash : precomputed hash of ``model_path`` (computed when None)
    engine_options : EngineConfig overrides (dtype is float32, deterministic True)

    Raises
    ------
    ReplayError
        When the record cannot be replayed on this model.
    """
    from genai_rt.audit.engine_audit import OUTPUT_SEPARATOR
    from genai_rt.audit.engine_audit import weights_hash as hash_weights
    from genai_rt.audit.records import sha256_hex
    from genai_rt.config import EngineConfig
    from genai_rt.engine import LLM, EngineCore
    from genai_rt.sampling.params import SamplingParams

    prompt, sampling = replay_inputs(record)
    recorded_hash = (record.get("model") or {}).get("weights_hash")
    actual = weights_hash if weights_hash is not None else hash_weights(model_path)
    if recorded_hash and recorded_hash != actual:
        raise ReplayError(f"the record was made with weights {recorded_hash[:16]}…, but "
                          f"{model_path} has {actual[:16]}…: replay needs the same model")
    options = {"dtype": "float32", **engine_options, "deterministic": True}
    llm = LLM.from_engine(EngineCore(EngineConfig.from_model(model_path, **options)))
    try:
        out = llm.generate([prompt], SamplingParams(**sampling))[0]
    finally:
        llm.engine.shutdown()
    token_ids = [list(c.token_ids) for c in out.outputs]
    output_hash = sha256_hex(OUTPUT_SEPARATOR.join(c.text for c in out.outputs))
    recorded_ids = [list(t) for t in record.get("output_token_ids") or []]
    matched = token_ids == recorded_ids and output_hash == record.get("output_hash")
    return ReplayReport(record_id, bool(record.get("deterministic")), matched,
                        str(record.get("output_hash")), output_hash, recorded_ids, token_ids)
