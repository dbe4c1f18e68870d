"""Price experiments in the database: planning one from the current prices and policy, creating it
(`create_experiment`, migration 0014), running the arms' schedule (`run_experiments`), the stopping rule,
and the block statistics the results page, the stopping rule and the benchmark analyse."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg import sql

from pricing_platform.core import tables
from pricing_platform.pricing.experiments import (
    Analysis,
    ArmPrices,
    Block,
    ExperimentParams,
    ExperimentRefused,
    ProductPrice,
    analyse,
    arm_prices,
    first_block_start,
    harm_verdict,
    plan_schedule,
)
from pricing_platform.pricing.policy import load_overrides, rules_by_category
from pricing_platform.pricing.rules import PricingRules

Scope = Literal["product", "category"]
STOPPING_RULE = "stopping rule"

_PRODUCTS_SQL = sql.SQL(
    "SELECT product_id, category, current_price, unit_cost, min_price, max_price FROM {} "
    "WHERE (%(scope)s = 'product' AND product_id = %(subject)s) "
    "   OR (%(scope)s = 'category' AND category = %(subject)s) ORDER BY product_id"
).format(sql.Identifier(tables.PRODUCTS))

CREATE_SQL = (
    "SELECT experiment_id FROM create_experiment(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_RUN_SQL = "SELECT product_id, new_price, version, experiment_id FROM run_experiments(%s)"
STOP_SQL = "SELECT experiment_id FROM stop_experiment(%s, %s, %s, %s)"

_RUNNING_SQL = sql.SQL(
    "SELECT experiment_id, harm_stop_pct FROM {} WHERE status = 'running' AND starts_at <= %s"
).format(sql.Identifier(tables.PRICE_EXPERIMENTS))

# Per block begun before `until`: arm, pair, views at the arm's price, units, revenue, gross profit, views
# left out (another price shown), Σ ln(test / control) over the counted views, block start (migration 0014).
BLOCK_STATS_SQL = sql.SQL("SELECT * FROM experiment_block_stats(%(experiment)s, %(until)s)")


@dataclass(frozen=True)
class Plan:
    name: str
    scope: Scope
    subject: str
    arm_b_pct: float
    block_minutes: int
    arms: list[ArmPrices]
    blocks: list[Block]
    harm_stop_pct: float

    @property
    def starts_at(self) -> datetime:
        return self.blocks[0].start

    @property
    def ends_at(self) -> datetime:
        return self.blocks[-1].end


@dataclass(frozen=True)
class Results:
    experiment_id: int
    analysis: Analysis | None  # None before its first block
    views_left_out: int  # views that showed another price than their block's arm (just after a switch)


@dataclass(frozen=True)
class Request:
    """What an analyst asks for: a name, the subject, arm B's change and the schedule (None: the
    EXPERIMENT_* defaults)."""

    name: str
    scope: Scope
    subject: str
    arm_b_pct: float
    days: int | None = None
    block_minutes: int | None = None


def plan(
    conn: psycopg.Connection,
    rules: PricingRules,
    params: ExperimentParams,
    request: Request,
    now: datetime,
    seed: int | None = None,
) -> Plan:
    """An experiment's arms and schedule from the current prices and each category's policy, starting at
    the first block boundary from `now`; refuses (ExperimentRefused) what breaks a guardrail. Reads only:
    `create` stores it."""
    r = request
    rows = conn.execute(_PRODUCTS_SQL, {"scope": r.scope, "subject": r.subject}).fetchall()
    if not rows:
        raise ExperimentRefused(f"no {r.scope} {r.subject!r} exists")
    products = [ProductPrice(*row) for row in rows]
    arms = arm_prices(products, r.arm_b_pct, rules_by_category(rules, load_overrides(conn)))
    minutes = r.block_minutes or params.block_minutes
    blocks = plan_schedule(
        first_block_start(now, minutes),
        r.days or params.days,
        minutes,
        random.SystemRandom().randrange(2**63) if seed is None else seed,
    )
    return Plan(r.name, r.scope, r.subject, r.arm_b_pct, minutes, arms, blocks, params.harm_stop_pct)


def create_params(plan: Plan, created_by: str) -> tuple[object, ...]:
    """`CREATE_SQL`'s parameters for `plan`."""
    return (
        plan.name, plan.scope, plan.subject, plan.arm_b_pct, plan.block_minutes, plan.starts_at,
        plan.ends_at, plan.harm_stop_pct, created_by,
        [a.product_id for a in plan.arms], [a.control_price for a in plan.arms],
        [a.test_price for a in plan.arms],
        [b.start for b in plan.blocks], [b.arm for b in plan.blocks], [b.pair_no for b in plan.blocks],
    )  # fmt: skip


def create(conn: psycopg.Connection, plan: Plan, created_by: str) -> int:
    """Store the plan (the database refuses, SQLSTATE class PA, what breaks its own guards); returns the
    experiment's id."""
    row = conn.execute(CREATE_SQL, create_params(plan, created_by)).fetchone()
    assert row is not None
    return int(row[0])


def run_due(conn: psycopg.Connection, now: datetime) -> dict[str, int]:
    """Set every running experiment's products to the arm due at `now` (back to control at the end),
    in one transaction; returns product → price version of each change made."""
    with conn.transaction():
        rows = conn.execute(_RUN_SQL, (now,)).fetchall()
    return {product_id: int(version) for product_id, _, version, _ in rows}


def stop(
    conn: psycopg.Connection, experiment_id: int, stopped_by: str, reason: str, at: datetime | None
) -> None:
    with conn.transaction():
        conn.execute(STOP_SQL, (experiment_id, stopped_by, reason, at))


def summarise(rows: Sequence[Sequence[Any]], experiment_id: int, params: ExperimentParams) -> Results:
    """BLOCK_STATS_SQL's rows (from the database, or the dashboard's cached frame) → the analysis (None
    until arm B has been shown) and the views left out."""
    left_out = sum(int(r[6]) for r in rows)
    b_views = sum(int(r[2]) for r in rows if r[0] == "B")
    b_log_ratio = sum(float(r[7] or 0) for r in rows if r[0] == "B")
    if b_views == 0:
        return Results(experiment_id, None, left_out)
    analysis = analyse(
        [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows],
        b_log_ratio / b_views,
        params.ci_level,
        params.bootstrap_samples,
        seed=experiment_id,
    )
    return Results(experiment_id, analysis, left_out)


def results(
    conn: psycopg.Connection, experiment_id: int, params: ExperimentParams, until: datetime
) -> Results:
    """The experiment's analysis from the blocks begun before `until` (its partial last block included)."""
    rows = conn.execute(BLOCK_STATS_SQL, {"experiment": experiment_id, "until": until}).fetchall()
    return summarise(rows, experiment_id, params)


def enforce_stopping_rule(
    conn: psycopg.Connection, params: ExperimentParams, now: datetime
) -> dict[int, str]:
    """Stop every running experiment the stopping rule condemns (by the harm threshold stored with it);
    returns experiment → reason."""
    stopped: dict[int, str] = {}
    for experiment_id, harm_stop_pct in conn.execute(_RUNNING_SQL, (now,)).fetchall():
        analysis = results(conn, experiment_id, params, now).analysis
        own = params.model_copy(update={"harm_stop_pct": harm_stop_pct})
        verdict = harm_verdict(analysis, own) if analysis else None
        if not verdict:
            continue
        try:
            stop(conn, experiment_id, STOPPING_RULE, verdict, now)
        except psycopg.Error as exc:
            if exc.sqlstate != "PA211":  # stopped by someone else meanwhile: nothing left to do
                raise
            continue
        stopped[experiment_id] = verdict
    return stopped
