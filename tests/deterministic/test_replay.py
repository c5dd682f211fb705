"""Audit replay round trip: requests served through ``AuditedEngine`` in deterministic mode,
alongside others, replay bit for bit from their records (``genai-rt audit replay``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import torch
from genai_rt.audit.engine_audit import AuditedEngine, weights_hash
from genai_rt.audit.log import AuditLog
from genai_rt.audit.replay import ReplayError, load_record, replay
from genai_rt.cli import main as cli_main
from genai_rt.config import EngineConfig
from genai_rt.engine import Engine
from genai_rt.principal import Principal
from genai_rt.sampling import SamplingParams

OPTIONS: dict[str, object] = dict(block_size=4, num_gpu_blocks=256, max_num_batched_tokens=64,
                                  dtype="float32")
ALICE = Principal("acme", frozenset({"hr"}), user="alice")


def serve(path: Path, log: AuditLog, deterministic: bool,
          requests: list[tuple[str, SamplingParams]]) -> list[str]:
    """Run ``requests`` concurrently through an audited engine; returns their record ids."""
    engine = Engine(EngineConfig.from_model(str(path), deterministic=deterministic, **OPTIONS))
    audited = AuditedEngine(engine, log, "wide-test-model", weights_hash(path),
                            deterministic=deterministic)

    async def one(i: int, prompt: str, params: SamplingParams) -> None:
        async for _ in audited.generate(prompt, params, ALICE, request_id=f"q{i}{deterministic}"):
            pass

    async def run() -> None:
        await asyncio.gather(*(one(i, p, s) for i, (p, s) in enumerate(requests)))

    try:
        asyncio.run(run())
    finally:
        engine.shutdown()
    log.flush()
    by_request = {}
    for _, record_id, body, *_ in log.store.rows():
        by_request[json.loads(body)["record"]["request_id"]] = record_id
    return [by_request[f"q{i}{deterministic}"] for i in range(len(requests))]


def test_deterministic_records_replay_bit_for_bit(
    wide_checkpoint: tuple[Path, torch.nn.Module], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = wide_checkpoint[0]
    log_path = tmp_path / "audit.db"
    log = AuditLog(str(log_path))
    requests = [
        ("Replay me, please.", SamplingParams(temperature=0.8, top_p=0.9, seed=11,
                                             max_tokens=20, ignore_eos=True)),
        ("Unseeded but random", SamplingParams(temperature=1.0, max_tokens=12, ignore_eos=True)),
        ("Greedy", SamplingParams(temperature=0, max_tokens=16, ignore_eos=True)),
    ] + [(f"crowd {i} " * (1 + i % 4), SamplingParams(temperature=0.9, max_tokens=8 + i,
                                                      ignore_eos=True)) for i in range(9)]
    ids = serve(path, log, True, requests)
    for record_id in ids[:3]:
        record = load_record(log, record_id)
        assert record["deterministic"] is True
        assert record["sampling"]["seed"] is not None or record["sampling"]["temperature"] == 0
        report = replay(record_id, record, str(path), **OPTIONS)
        assert report.matched, report.describe()
    # a record altered after the fact no longer matches, so the check can fail
    record = load_record(log, ids[0])
    record["output_token_ids"][0][-1] ^= 1
    assert not replay(ids[0], record, str(path), **OPTIONS).matched
    log.close()
    # the CLI: exit 0 on a match, and the report names the record's mode
    code = cli_main(["audit", "replay", ids[0], "--model", str(path),
                     "--audit-url", str(log_path)])
    assert code == 0
    assert "made in deterministic mode" in capsys.readouterr().out


def test_default_mode_records_say_so_and_other_models_are_refused(
    wide_checkpoint: tuple[Path, torch.nn.Module], tmp_path: Path,
) -> None:
    path = wide_checkpoint[0]
    log = AuditLog(str(tmp_path / "audit.db"))
    ids = serve(path, log, False, [("A default-mode request", SamplingParams(
        temperature=0.7, seed=5, max_tokens=10, ignore_eos=True))])
    record = load_record(log, ids[0])
    log.close()
    report = replay(ids[0], record, str(path), **OPTIONS)
    assert report.recorded_deterministic is False
    assert "default (not deterministic)" in report.describe()
    with pytest.raises(ReplayError, match="same model"):
        replay(ids[0], record, str(path), weights_hash="0" * 64, **OPTIONS)
    unseeded = {**record, "sampling": {**record["sampling"], "seed": None}}
    with pytest.raises(ReplayError, match="unseeded"):
        replay(ids[0], unseeded, str(path), **OPTIONS)
