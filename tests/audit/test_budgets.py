"""Budgets: 1,000 concurrent requests never overrun (SQLite and PostgreSQL), releases on cancel."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from genai_rt.audit.budgets import MICRO, BudgetExceeded, BudgetStore, Reservation
from genai_rt.audit.pricing import ModelPrice, PriceTable

REQUESTS = 1000
WORST = 0.04  # USD reserved per request
ADMITTABLE = 250  # the limit holds exactly this many worst cases


async def _race(stores: list[BudgetStore], actual: float) -> tuple[int, int]:
    """1,000 concurrent reserve -> settle(actual) across ``stores`` (replicas); (ok, refused)."""
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=32) as pool:
        async def one(i: int) -> bool:
            store = stores[i % len(stores)]
            try:
                reservation = await loop.run_in_executor(pool, store.reserve, "acme", WORST)
            except BudgetExceeded:
                return False
            await asyncio.sleep(0)  # other requests reserve while this one "runs"
            await loop.run_in_executor(pool, store.settle, reservation, actual)
            return True

        results = await asyncio.gather(*(one(i) for i in range(REQUESTS)))
    return sum(results), results.count(False)


def _check_no_overrun(stores: list[BudgetStore]) -> None:
    stores[0].set_budget("acme", WORST * ADMITTABLE)
    admitted, refused = asyncio.run(_race(stores, actual=WORST))
    usage = stores[0].usage("acme")
    assert admitted == ADMITTABLE and refused == REQUESTS - ADMITTABLE
    assert usage.reserved == 0
    assert usage.spent == pytest.approx(WORST * ADMITTABLE, abs=1e-9)
    assert usage.spent <= usage.limit


def test_concurrent_requests_never_overrun_on_sqlite(tmp_path: Path) -> None:
    store = BudgetStore(str(tmp_path / "budgets.db"))
    try:
        _check_no_overrun([store])
    finally:
        store.close()


def test_concurrent_requests_never_overrun_across_postgres_replicas(postgres_url: str) -> None:
    replicas = [BudgetStore(postgres_url) for _ in range(2)]
    try:
        _check_no_overrun(replicas)
    finally:
        for store in replicas:
            store.close()


class CheckThenAct(BudgetStore):
    """LiteLLM-style: read what is left, then reserve in a second step (not atomic)."""

    def reserve(self, tenant: str, amount_usd: float) -> Reservation:
        amount = round(amount_usd * MICRO)
        limit, spent, reserved = self.db.query(
            "SELECT limit_micro, spent_micro, reserved_micro FROM budget_limits "
            "WHERE tenant = ?", (tenant,))[0]
        if spent + reserved + amount > limit:
            raise BudgetExceeded(f"tenant {tenant!r} budget exceeded")
        reservation = Reservation(uuid.uuid4().hex, tenant, amount / MICRO)
        with self.db.transaction() as tx:
            tx.execute("UPDATE budget_limits SET reserved_micro = reserved_micro + ? "
                       "WHERE tenant = ?", (amount, tenant))
            tx.execute("INSERT INTO budget_reservations (id, tenant, amount_micro, state) "
                       "VALUES (?, ?, ?, 'reserved')", (reservation.id, tenant, amount))
        return reservation


def test_the_race_catches_a_check_then_act_budget(tmp_path: Path) -> None:
    """The harness above can fail: the non-atomic version overruns under it."""
    store = CheckThenAct(str(tmp_path / "naive.db"))
    store.set_budget("acme", WORST * ADMITTABLE)
    admitted, _ = asyncio.run(_race([store], actual=WORST))
    assert admitted > ADMITTABLE and store.usage("acme").spent > store.usage("acme").limit
    store.close()


def test_cancel_settles_on_actual_use_and_returns_the_rest(tmp_path: Path) -> None:
    store = BudgetStore(str(tmp_path / "budgets.db"))
    store.set_budget("acme", 1.0)
    running = store.reserve("acme", 0.6)
    assert store.usage("acme").reserved == pytest.approx(0.6)
    with pytest.raises(BudgetExceeded, match=r"may cost up to \$0.600000 but \$0.400000"):
        store.reserve("acme", 0.6)
    assert store.settle(running, 0.1)  # cancelled after 0.1 worth of tokens
    assert not store.settle(running, 0.1)  # settling twice changes nothing
    refused_before_running = store.reserve("acme", 0.5)
    assert store.release(refused_before_running)
    usage = store.usage("acme")
    assert usage.reserved == 0 and usage.spent == pytest.approx(0.1)
    assert usage.available == pytest.approx(0.9)
    stuck = store.reserve("acme", 0.2)  # its replica dies before settling
    assert store.release_stale(max_age_s=3600) == 0
    assert store.release_stale(max_age_s=0) == 1 and not store.settle(stuck, 0.2)
    assert store.usage("acme").reserved == 0
    with pytest.raises(BudgetExceeded, match="tenant 'other' has no budget"):
        store.reserve("other", 0.01)
    with pytest.raises(ValueError, match="amount_usd must be a finite number"):
        store.reserve("acme", float("nan"))
    store.close()


def test_price_table_prices_requests_and_names_unknown_models(tmp_path: Path) -> None:
    prices = PriceTable({"m": {"input_per_1k": 0.5, "output_per_1k": 1.5, "per_retrieval": 0.01}})
    assert prices.cost("m", 1000, 2000, retrievals=3) == pytest.approx(0.5 + 3.0 + 0.03)
    assert prices.worst_case("m", 100, 50, n=2) == pytest.approx(0.05 + 0.15)
    with pytest.raises(KeyError, match="no price for model 'x'"):
        prices.cost("x", 1, 1)
    with pytest.raises(ValueError, match="output_per_1k must be a finite number"):
        ModelPrice(output_per_1k=-1)
    path = tmp_path / "prices.yaml"
    path.write_text("tiny:\n  input_per_1k: 0.1\n  output_per_1k: 0.2\n")
    assert PriceTable.from_yaml(path).cost("tiny", 1000, 1000) == pytest.approx(0.3)
