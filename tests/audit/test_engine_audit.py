"""The raw engine path, audited: one record per request however it ends, budgets, metrics."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from genai_rt.audit import AuditLog, AuditQueueFull
from genai_rt.audit.budgets import BudgetExceeded, BudgetStore
from genai_rt.audit.engine_audit import AuditedEngine, weights_hash
from genai_rt.audit.pricing import PriceTable
from genai_rt.audit.records import sha256_hex
from genai_rt.config import EngineConfig
from genai_rt.engine import Engine, EngineCore
from genai_rt.observability import Metrics
from genai_rt.principal import Principal
from genai_rt.sampling import SamplingParams

from tests.engine.tiny_model import save_tiny_llama

PRICES = PriceTable({"tiny": {"input_per_1k": 1.0, "output_per_1k": 2.0}})
ALICE = Principal("acme", frozenset({"hr"}), "alice")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, str]]:
    path = tmp_path_factory.mktemp("tiny_llama_audit")
    save_tiny_llama(path)
    config = EngineConfig.from_model(str(path), dtype="float32", block_size=4,
                                     num_gpu_blocks=128, max_num_batched_tokens=48)
    eng = Engine(core=EngineCore(config))
    yield eng, weights_hash(path)
    eng.shutdown()


@pytest.fixture
def audited(engine: tuple[Engine, str], tmp_path: Path) -> Iterator[AuditedEngine]:
    log = AuditLog(str(tmp_path / "audit.db"))
    budgets = BudgetStore(str(tmp_path / "budgets.db"))
    budgets.set_budget("acme", 1.0)
    yield AuditedEngine(engine[0], log, "tiny", engine[1], budgets=budgets, prices=PRICES,
                        metrics=Metrics())
    log.close()
    budgets.close()


def _record(audited: AuditedEngine) -> dict:  # type: ignore[type-arg]
    assert audited.last_record is not None
    index = audited.last_record.result(timeout=30)
    body = audited.audit.store.body_at(index)
    assert body is not None
    return json.loads(body[1])["record"]  # type: ignore[no-any-return]


async def _collect(audited: AuditedEngine, prompt: object, params: SamplingParams,
                   principal: Principal = ALICE) -> list:  # type: ignore[type-arg]
    return [out async for out in audited.generate(prompt, params, principal, request_id="q1")]


def test_a_finished_request_is_recorded_for_replay(audited: AuditedEngine) -> None:
    params = SamplingParams(temperature=0.8, seed=7, max_tokens=6, ignore_eos=True,
                            grammar={"regex": "[a-z]{6}"})
    outs = asyncio.run(_collect(audited, "hello ", params))
    final = outs[-1]
    rec = _record(audited)
    assert rec["kind"] == "engine" and rec["status"] == "ok" and rec["request_id"] == "q1"
    assert rec["principal"] == {"tenant": "acme", "user": "alice", "roles": ["hr"]}
    assert rec["prompt"] == {"text": "hello ", "token_ids": final.prompt_token_ids}
    assert rec["sampling"]["seed"] == 7 and rec["sampling"]["max_tokens"] == 6
    assert rec["grammar"]["spec"] == {"regex": "[a-z]{6}"} and len(rec["grammar"]["hash"]) == 64
    assert rec["model"] == {"id": "tiny", "weights_hash": audited.model_weights_hash}
    assert rec["output_hash"] == sha256_hex(final.outputs[0].text)
    assert rec["output_token_ids"] == [final.outputs[0].token_ids]
    assert rec["tokens_in"] == 6 and rec["tokens_out"] == 6
    assert rec["cost"] == pytest.approx(PRICES.cost("tiny", 6, 6))
    assert {"queue", "ttft", "decode", "total"} <= set(rec["timings"])
    usage = audited.budgets.usage("acme")  # type: ignore[union-attr]
    assert usage.reserved == 0 and usage.spent == pytest.approx(rec["cost"])
    registry = audited.metrics.registry
    assert registry.get_sample_value("genai_rt:generation_tokens_total", {"tenant": "acme"}) == 6
    assert registry.get_sample_value("genai_rt:time_to_first_token_seconds_count") == 1
    assert audited.audit.verify().ok


def test_a_request_left_early_is_recorded_cancelled_and_its_budget_released(
        audited: AuditedEngine) -> None:
    async def leave_early() -> None:
        params = SamplingParams(temperature=0, max_tokens=40, ignore_eos=True)
        async with contextlib.aclosing(audited.generate("abc", params, ALICE)) as stream:
            async for out in stream:
                if len(out.outputs[0].token_ids) >= 2:
                    break

    asyncio.run(leave_early())
    rec = _record(audited)
    assert rec["status"] == "cancelled" and 2 <= rec["tokens_out"] < 40
    usage = audited.budgets.usage("acme")  # type: ignore[union-attr]
    assert usage.reserved == 0  # the 40-token worst case went back
    assert usage.spent == pytest.approx(PRICES.cost("tiny", 3, rec["tokens_out"]))


def test_a_failed_request_is_recorded_failed(audited: AuditedEngine) -> None:
    with pytest.raises(ValueError, match="outside the vocabulary"):
        asyncio.run(_collect(audited, [5, 100000], SamplingParams(max_tokens=2)))
    rec = _record(audited)
    assert rec["status"] == "failed" and "outside the vocabulary" in rec["error"]
    assert rec["prompt"]["token_ids"] == [5, 100000]
    assert audited.budgets.usage("acme").reserved == 0  # type: ignore[union-attr]


def test_over_budget_and_full_queue_are_refused_before_running(audited: AuditedEngine) -> None:
    broke = Principal("broke")
    audited.budgets.set_budget("broke", 0.001)  # type: ignore[union-attr]
    with pytest.raises(BudgetExceeded, match="'broke' budget exceeded"):
        asyncio.run(_collect(audited, "hi", SamplingParams(max_tokens=100), broke))
    assert audited.last_record is None  # nothing ran, nothing to record
    assert audited.metrics.registry.get_sample_value(
        "genai_rt:budget_refusals_total", {"tenant": "broke"}) == 1
    slots = []
    with pytest.raises(AuditQueueFull):
        while True:
            slots.append(audited.audit.reserve())
    assert len(slots) == audited.audit.queue_size
    with pytest.raises(AuditQueueFull):
        asyncio.run(_collect(audited, "hi", SamplingParams(max_tokens=2)))
    for slot in slots:
        slot.release()
