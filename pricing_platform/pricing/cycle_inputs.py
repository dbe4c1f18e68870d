"""What a cycle decided from, stored with it (`pricing_cycle_inputs`) so that the same decision code can be
re-run on it later with another policy: the what-if preview, by a role that may not read events.

Stored as one JSON document per cycle: the per-product input columns of both strategies, the
environment's rules and the category overrides in force. Only the newest `KEPT_CYCLES` are kept.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import numpy as np
import psycopg
from psycopg import sql
from psycopg.types.json import Json

from pricing_platform.core import tables
from pricing_platform.pricing.engine import columns_from_rows, python_values
from pricing_platform.pricing.policy import Overrides
from pricing_platform.pricing.rules import PricingRules

# Enough to compare a few recent cycles; each is one row, the size of the catalog's inputs.
KEPT_CYCLES: Final = 10
# 2: the rules gained the price gate's thresholds.
FORMAT_VERSION: Final = 2


@dataclass(frozen=True)
class CycleInputs:
    cycle_id: uuid.UUID
    priced_at: datetime
    rules: PricingRules
    overrides: Overrides
    inputs: dict[str, np.ndarray]
    profit_inputs: dict[str, np.ndarray]


def _document(columns: dict[str, np.ndarray]) -> dict[str, list[object]]:
    return {name: python_values(values) for name, values in columns.items()}


def to_json(
    rules: PricingRules,
    overrides: Overrides,
    inputs: dict[str, np.ndarray],
    profit_inputs: dict[str, np.ndarray],
) -> str:
    return json.dumps(
        {
            "version": FORMAT_VERSION,
            "rules": {name: getattr(rules, name) for name in PricingRules.model_fields},
            "overrides": {category: dict(own) for category, own in overrides.items()},
            "inputs": _document(inputs),
            "profit_inputs": _document(profit_inputs),
        },
        separators=(",", ":"),
    )


def _columns(document: dict[str, list[object]]) -> dict[str, np.ndarray]:
    names = list(document)
    rows = list(zip(*(document[name] for name in names), strict=True))
    return columns_from_rows(rows, names)


def from_document(cycle_id: uuid.UUID, priced_at: datetime, document: dict[str, object]) -> CycleInputs:
    if document.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"the inputs of cycle {cycle_id} are stored in format {document.get('version')!r}, this code "
            f"reads {FORMAT_VERSION}: wait for the next cycle"
        )
    return CycleInputs(
        cycle_id=cycle_id,
        priced_at=priced_at,
        rules=PricingRules(**document["rules"]),  # type: ignore[arg-type]
        overrides=document["overrides"],  # type: ignore[arg-type]
        inputs=_columns(document["inputs"]),  # type: ignore[arg-type]
        profit_inputs=_columns(document["profit_inputs"]),  # type: ignore[arg-type]
    )


_SAVE = sql.SQL("INSERT INTO {} (cycle_id, priced_at, inputs) VALUES (%s, %s, %s)").format(
    sql.Identifier(tables.PRICING_CYCLE_INPUTS)
)
_PRUNE = sql.SQL(
    "DELETE FROM {t} WHERE cycle_id IN (SELECT cycle_id FROM {t} ORDER BY created_at DESC OFFSET %s)"
).format(t=sql.Identifier(tables.PRICING_CYCLE_INPUTS))
LATEST_SQL = sql.SQL("SELECT cycle_id, priced_at, inputs FROM {} ORDER BY created_at DESC LIMIT 1").format(
    sql.Identifier(tables.PRICING_CYCLE_INPUTS)
)


_DUE = sql.SQL("SELECT coalesce(max(created_at) <= now() - make_interval(secs => %s), true) FROM {}").format(
    sql.Identifier(tables.PRICING_CYCLE_INPUTS)
)


def due(conn: psycopg.Connection, interval_s: float) -> bool:
    """Whether this cycle should store its inputs: none stored yet, or the newest are `interval_s` old."""
    if interval_s <= 0:
        return True
    row = conn.execute(_DUE, (interval_s,)).fetchone()
    return bool(row and row[0])


def save(conn: psycopg.Connection, cycle_id: uuid.UUID, priced_at: datetime, document: str) -> None:
    """Store one cycle's inputs (in the cycle's transaction) and drop all but the newest KEPT_CYCLES."""
    conn.execute(_SAVE, (cycle_id, priced_at, Json(document, dumps=lambda text: text)))
    conn.execute(_PRUNE, (KEPT_CYCLES,))


def load_latest(conn: psycopg.Connection) -> CycleInputs | None:
    row = conn.execute(LATEST_SQL).fetchone()
    if row is None:
        return None
    cycle_id, priced_at, document = row
    return from_document(cycle_id, priced_at, document)
