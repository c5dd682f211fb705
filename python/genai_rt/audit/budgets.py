"""Per-tenant budgets with atomic reservation (SQLite or PostgreSQL, shared by replicas).

At admission a request reserves its worst case (prompt + ``n * max_tokens`` at the model's price)
with one conditional UPDATE, ``… SET reserved = reserved + a WHERE spent + reserved + a <= limit``:
the database applies it atomically (SQLite under its write lock, PostgreSQL under the row lock),
so concurrent requests, in one process or across replicas, can never together pass the limit.
At the end the reservation is settled on the actual cost (cancel and failure included: tokens
already generated are spent) and the rest returns to the budget. Amounts are stored as integer
micro-dollars so that a million additions never drift.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass

from genai_rt.audit.db import Database

MICRO = 1_000_000

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS budget_limits (
        tenant TEXT PRIMARY KEY, limit_micro {bigint} NOT NULL,
        spent_micro {bigint} NOT NULL DEFAULT 0, reserved_micro {bigint} NOT NULL DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS budget_reservations (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL, amount_micro {bigint} NOT NULL,
        state TEXT NOT NULL, actual_micro {bigint} NOT NULL DEFAULT 0,
        created_at DOUBLE PRECISION NOT NULL DEFAULT 0)""",
)


class BudgetExceeded(RuntimeError):
    """The request's worst case does not fit in what is left of the tenant's budget."""


@dataclass(frozen=True)
class Reservation:
    id: str
    tenant: str
    amount: float  # USD reserved


@dataclass(frozen=True)
class Usage:
    """A tenant's budget in USD."""

    limit: float
    spent: float
    reserved: float

    @property
    def available(self) -> float:
        return self.limit - self.spent - self.reserved


def _micro_up(usd: float) -> int:
    return math.ceil(round(usd * MICRO, 6))


def _check_amount(name: str, usd: float) -> None:
    if not isinstance(usd, (int, float)) or isinstance(usd, bool) or not math.isfinite(usd) \
            or usd < 0:
        raise ValueError(f"{name} must be a finite number of USD >= 0, got {usd!r}")


class BudgetStore:
    """Budgets in a database: ``BudgetStore("budgets.db")`` or ``BudgetStore("postgresql://…")``.

    A tenant without a budget is refused (``BudgetExceeded`` names it): budgets are opt-out only
    by not configuring a ``BudgetStore`` at all.
    """

    def __init__(self, url_or_db: str | Database) -> None:
        self.db = url_or_db if isinstance(url_or_db, Database) else Database(url_or_db)
        with self.db.transaction() as tx:
            for statement in SCHEMA:
                tx.execute(statement)

    def set_budget(self, tenant: str, limit_usd: float) -> None:
        """Set (or change) a tenant's limit; what it spent so far is kept."""
        _check_amount("limit_usd", limit_usd)
        with self.db.transaction() as tx:
            tx.execute("INSERT INTO budget_limits (tenant, limit_micro) VALUES (?, ?) "
                       "ON CONFLICT (tenant) DO UPDATE SET limit_micro = excluded.limit_micro",
                       (tenant, round(limit_usd * MICRO)))

    def reserve(self, tenant: str, amount_usd: float) -> Reservation:
        """Reserve ``amount_usd`` atomically or raise ``BudgetExceeded``."""
        _check_amount("amount_usd", amount_usd)
        amount = _micro_up(amount_usd)
        reservation = Reservation(uuid.uuid4().hex, tenant, amount / MICRO)
        with self.db.transaction() as tx:
            cur = tx.execute("UPDATE budget_limits SET reserved_micro = reserved_micro + ? "
                             "WHERE tenant = ? AND spent_micro + reserved_micro + ? "
                             "<= limit_micro", (amount, tenant, amount))
            if cur.rowcount != 1:
                row = tx.execute("SELECT limit_micro, spent_micro, reserved_micro FROM "
                                 "budget_limits WHERE tenant = ?", (tenant,)).fetchone()
                if row is None:
                    raise BudgetExceeded(f"tenant {tenant!r} has no budget")
                left = (row[0] - row[1] - row[2]) / MICRO
                raise BudgetExceeded(f"tenant {tenant!r} budget exceeded: the request may cost "
                                     f"up to ${amount / MICRO:.6f} but ${left:.6f} of "
                                     f"${row[0] / MICRO:.6f} is left")
            tx.execute("INSERT INTO budget_reservations (id, tenant, amount_micro, state, "
                       "created_at) VALUES (?, ?, ?, 'reserved', ?)",
                       (reservation.id, tenant, amount, time.time()))
        return reservation

    def settle(self, reservation: Reservation, actual_usd: float) -> bool:
        """Spend ``actual_usd`` and return the rest of the reservation; False when already
        settled or released (settling twice is harmless)."""
        _check_amount("actual_usd", actual_usd)
        return self._close(reservation, round(actual_usd * MICRO), "settled")

    def release(self, reservation: Reservation) -> bool:
        """Return the whole reservation (a request refused before it ran)."""
        return self._close(reservation, 0, "released")

    def release_stale(self, max_age_s: float) -> int:
        """Release reservations older than ``max_age_s`` (their replica died mid-request);
        returns how many. Run it from any replica, e.g. at start-up."""
        rows = self.db.query("SELECT id, tenant, amount_micro FROM budget_reservations "
                             "WHERE state = 'reserved' AND created_at < ?",
                             (time.time() - max_age_s,))
        return sum(self.release(Reservation(r[0], r[1], r[2] / MICRO)) for r in rows)

    def _close(self, reservation: Reservation, actual: int, state: str) -> bool:
        with self.db.transaction() as tx:
            cur = tx.execute("UPDATE budget_reservations SET state = ?, actual_micro = ? "
                             "WHERE id = ? AND state = 'reserved'", (state, actual, reservation.id))
            if cur.rowcount != 1:
                return False
            row = tx.execute("SELECT amount_micro FROM budget_reservations WHERE id = ?",
                             (reservation.id,)).fetchone()
            tx.execute("UPDATE budget_limits SET reserved_micro = reserved_micro - ?, "
                       "spent_micro = spent_micro + ? WHERE tenant = ?",
                       (row[0], actual, reservation.tenant))
        return True

    def usage(self, tenant: str) -> Usage:
        rows = self.db.query("SELECT limit_micro, spent_micro, reserved_micro FROM budget_limits "
                             "WHERE tenant = ?", (tenant,))
        if not rows:
            raise KeyError(f"tenant {tenant!r} has no budget")
        limit, spent, reserved = rows[0]
        return Usage(limit / MICRO, spent / MICRO, reserved / MICRO)

    def close(self) -> None:
        self.db.close()
