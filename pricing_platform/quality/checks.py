"""The registry of data-quality checks: each states the asset (table) it guards, its severity, what it
asserts, and one parameterised query returning the offending rows.

Plain SQL rather than a validation framework: every check runs inside PostgreSQL where the data lives
(one set-based statement, nothing pulled into Python but the count and a sample), identifiers come from
`db/tables.py`, domain values from the catalog and the event contract, thresholds from the settings, and
no dependency is added to the locked environment.

A check passes when its query returns at most `allowed` rows (0 for every rule; the dead-letter checks
tolerate a volume). Some rules are also enforced by the schema today (noted in `enforced_by`): they stay,
because a schema can drift, a replica or a manual load can bypass it, and the check then says so.

No Dagster here: the CLI runs these without importing it (`runner.py`); `assets.py` wires them into Dagster.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any, Final

from psycopg import sql

from pricing_platform import catalog
from pricing_platform.catalog import TOPICS, Stream, consumer_group
from pricing_platform.db import tables
from pricing_platform.events import CLICK_EVENT_TYPES, DEVICE_TYPES, INVENTORY_EVENT_TYPES
from pricing_platform.pricing.engine import RECOMMENDATIONS
from pricing_platform.settings import Settings

# --- thresholds: their defaults and descriptions live in the settings (QUALITY_*) --------------------
SAMPLE_ROWS: Final = 10  # offending rows shown per check
DEAD_LETTER_WINDOW: Final = timedelta(hours=1)


class Severity(StrEnum):
    ERROR = "ERROR"
    WARN = "WARN"


@dataclass(frozen=True)
class Thresholds:
    """Everything the checks' parameters depend on, read once from the settings."""

    freshness_max_age_s: int
    max_future_skew_s: int
    max_stock_per_slot: int
    max_price_difference_pct: float
    dead_letter_max_per_hour: int
    query_timeout_s: int
    group_prefix: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(
            freshness_max_age_s=settings.quality_freshness_max_age_s,
            # The ingest contract's own bound: the check holds stored rows to the rule ingest applies.
            max_future_skew_s=settings.ingest_max_future_skew_s,
            max_stock_per_slot=settings.quality_max_stock_per_slot,
            max_price_difference_pct=settings.quality_max_price_difference_pct,
            dead_letter_max_per_hour=settings.quality_dead_letter_max_per_hour,
            query_timeout_s=settings.quality_query_timeout_s,
            group_prefix=settings.kafka_group_prefix,
        )


Params = Callable[[Thresholds], Mapping[str, Any]]


def _no_params(_: Thresholds) -> Mapping[str, Any]:
    return {}


def _none_allowed(_: Thresholds) -> int:
    return 0


@dataclass(frozen=True)
class QualityCheck:
    name: str
    asset: str  # the guarded asset's key: a bare table name from db/tables.py
    severity: Severity
    description: str
    query: sql.Composed  # SELECT of the offending rows, named %(…)s parameters, most telling rows first
    threshold: Callable[[Thresholds], str]  # the rule with its numbers, for people
    params: Params = _no_params
    allowed: Callable[[Thresholds], int] = _none_allowed  # offending rows tolerated
    enforced_by: str | None = None  # the schema constraint that also guarantees it today, if any

    def statement(self) -> sql.Composed:
        """The query as run: the offending count on every row, at most SAMPLE_ROWS rows."""
        return sql.SQL(
            "SELECT count(*) OVER () AS offending_count, offending.*\nFROM (\n{query}\n) AS offending\n"
            "LIMIT {limit}"
        ).format(query=self.query, limit=sql.Literal(SAMPLE_ROWS))


def _q(text: str, **identifiers: str) -> sql.Composed:
    """SQL text with `{name}` placeholders filled by quoted identifiers (table names from db/tables.py)."""
    return sql.SQL(textwrap.dedent(text).strip()).format(
        **{name: sql.Identifier(value) for name, value in identifiers.items()}
    )


def _zero(what: str) -> Callable[[Thresholds], str]:
    return lambda _: f"0 {what}"


# --- reusable query shapes -----------------------------------------------------------------------------


def _future(table: str) -> tuple[sql.Composed, Params, Callable[[Thresholds], str]]:
    query = _q(
        "SELECT event_id, event_time, ingested_at, date_trunc('second', event_time - now()) AS ahead_by "
        "FROM {t} WHERE event_time > now() + %(max_skew)s ORDER BY event_time DESC",
        t=table,
    )
    return (
        query,
        lambda th: {"max_skew": timedelta(seconds=th.max_future_skew_s)},
        lambda th: f"0 rows with event_time more than {th.max_future_skew_s} s ahead of now()",
    )


def _freshness(stream: Stream) -> tuple[sql.Composed, Params, Callable[[Thresholds], str]]:
    # Every table of a stream changes in the transaction that advances its stored offsets, so the newest
    # `ingest_offsets.updated_at` of the stream's group and topic is when its tables last received data.
    query = _q(
        "SELECT %(consumer_group)s AS consumer_group, %(topic)s AS topic, max(updated_at) AS last_commit, "
        "date_trunc('second', now() - max(updated_at)) AS age, "
        "CASE WHEN max(updated_at) IS NULL THEN 'never committed' ELSE 'stale' END AS problem "
        "FROM {offsets} WHERE consumer_group = %(consumer_group)s AND topic = %(topic)s "
        "HAVING max(updated_at) IS NULL OR max(updated_at) < now() - %(max_age)s",
        offsets=tables.INGEST_OFFSETS,
    )
    return (
        query,
        lambda th: {
            "consumer_group": consumer_group(stream, th.group_prefix),
            "topic": TOPICS[stream].name,
            "max_age": timedelta(seconds=th.freshness_max_age_s),
        },
        lambda th: f"newest ingest commit of {TOPICS[stream].name} younger than {th.freshness_max_age_s} s",
    )


def _dead_letters(stream: Stream) -> tuple[sql.Composed, Params, Callable[[Thresholds], str]]:
    query = _q(
        "SELECT dead_letter_id, consumer_group, partition, kafka_offset, error_kind, reason, received_at, "
        "encode(substring(payload FROM 1 FOR 60), 'escape') AS payload_start "
        "FROM {dead} WHERE topic = %(topic)s AND received_at > now() - %(window)s "
        "ORDER BY received_at DESC, dead_letter_id DESC",
        dead=tables.DEAD_LETTERS,
    )
    return (
        query,
        lambda th: {"topic": TOPICS[stream].name, "window": DEAD_LETTER_WINDOW},
        lambda th: (
            f"at most {th.dead_letter_max_per_hour} dead letters from {TOPICS[stream].name} in the last hour"
        ),
    )


def _newest_cycle_rows(condition: str) -> sql.Composed:
    """Rows of the newest pricing cycle (the one a pricing materialisation has just appended; readers see
    it through pricing_recommendations_latest) meeting `condition`, a static SQL predicate on `r`. Older
    cycles were checked when they were the newest."""
    return sql.SQL(
        textwrap.dedent(
            """
            SELECT r.recommendation_id, r.cycle_id, r.product_id, r.recommendation, r.recommended_price,
                   r.confidence, r.created_at
            FROM {recs} r
            WHERE r.cycle_id = (
                SELECT cycle_id FROM {recs} ORDER BY created_at DESC, recommendation_id DESC LIMIT 1
            ) AND {condition}
            ORDER BY r.product_id
            """
        ).strip()
    ).format(
        recs=sql.Identifier(tables.PRICING_RECOMMENDATIONS),
        condition=sql.SQL(condition).format(products=sql.Identifier(tables.PRODUCTS)),
    )


def _stream_checks(stream: Stream, asset: str, prefix: str) -> list[QualityCheck]:
    fresh_query, fresh_params, fresh_threshold = _freshness(stream)
    dead_query, dead_params, dead_threshold = _dead_letters(stream)
    topic = TOPICS[stream].name
    return [
        QualityCheck(
            name=f"{prefix}_stream_fresh",
            asset=asset,
            severity=Severity.ERROR,
            description=f"The {stream.value} ingest workers committed new data from {topic} recently "
            "(newest ingest_offsets.updated_at of the stream's consumer group). Stale: producers or "
            "workers stopped, or the workers run under another KAFKA_GROUP_PREFIX.",
            query=fresh_query,
            params=fresh_params,
            threshold=fresh_threshold,
        ),
        QualityCheck(
            name=f"{prefix}_dead_letters_within_limit",
            asset=asset,
            severity=Severity.WARN,
            description=f"Messages from {topic} quarantined in dead_letters during the last hour stay "
            "under the limit. Above it a producer is sending malformed or contract-breaking events.",
            query=dead_query,
            params=dead_params,
            threshold=dead_threshold,
            allowed=lambda th: th.dead_letter_max_per_hour,
        ),
    ]


def _build() -> tuple[QualityCheck, ...]:
    future_clicks, future_clicks_params, future_clicks_threshold = _future(tables.CLICKSTREAM_EVENTS)
    future_moves, future_moves_params, future_moves_threshold = _future(tables.INVENTORY_EVENTS)
    future_prices, future_prices_params, future_prices_threshold = _future(tables.COMPETITOR_PRICES)
    expected_slots = len(catalog.PRODUCTS) * len(catalog.WAREHOUSES)
    checks = [
        # --- inventory_state --------------------------------------------------------------------------
        QualityCheck(
            name="inventory_stock_not_negative",
            asset=tables.INVENTORY_STATE,
            severity=Severity.ERROR,
            description="No product × warehouse slot holds negative stock. Also guaranteed today by the "
            "CHECK constraint stock_not_negative; kept against schema drift, replicas and manual loads.",
            query=_q(
                "SELECT product_id, warehouse_id, current_stock, updated_at FROM {state} "
                "WHERE current_stock < 0 ORDER BY current_stock, product_id, warehouse_id",
                state=tables.INVENTORY_STATE,
            ),
            threshold=_zero("slots with current_stock < 0"),
            enforced_by="CHECK stock_not_negative (current_stock >= 0) on inventory_state",
        ),
        QualityCheck(
            name="inventory_slot_count_matches_catalog",
            asset=tables.INVENTORY_STATE,
            severity=Severity.ERROR,
            description=f"Exactly {expected_slots} stock slots: one per catalog product × warehouse "
            f"({len(catalog.PRODUCTS)} × {len(catalog.WAREHOUSES)}). Lists each missing, duplicated or "
            "non-catalog slot. The primary key rules out duplicates today; nothing rules out missing or "
            "extra slots.",
            query=_q(
                """
                WITH expected AS (
                    SELECT * FROM unnest(%(product_ids)s::text[], %(warehouse_ids)s::text[])
                        AS e(product_id, warehouse_id)
                ), actual AS (
                    SELECT product_id, warehouse_id, count(*) AS found FROM {state} GROUP BY 1, 2
                )
                SELECT product_id, warehouse_id, coalesce(a.found, 0) AS rows_found,
                       CASE WHEN e.product_id IS NULL THEN 'not in the catalog'
                            WHEN a.found IS NULL THEN 'missing'
                            ELSE 'duplicated' END AS problem
                FROM expected e FULL JOIN actual a USING (product_id, warehouse_id)
                WHERE e.product_id IS NULL OR a.found IS NULL OR a.found > 1
                ORDER BY product_id, warehouse_id
                """,
                state=tables.INVENTORY_STATE,
            ),
            params=lambda _: {
                "product_ids": [p.product_id for p in catalog.PRODUCTS for _ in catalog.WAREHOUSES],
                "warehouse_ids": [w for _ in catalog.PRODUCTS for w in catalog.WAREHOUSES],
            },
            threshold=lambda _: f"exactly {expected_slots} rows, one per catalog product × warehouse",
            enforced_by="PRIMARY KEY (product_id, warehouse_id) rules out duplicates only",
        ),
        QualityCheck(
            name="inventory_stock_within_max",
            asset=tables.INVENTORY_STATE,
            severity=Severity.WARN,
            description="No slot holds implausibly much stock: a larger figure is almost always a mistyped "
            "receipt or adjustment (movements may be up to ±1,000,000 units by the contract).",
            query=_q(
                "SELECT product_id, warehouse_id, current_stock, updated_at FROM {state} "
                "WHERE current_stock > %(max_stock)s ORDER BY current_stock DESC, product_id, warehouse_id",
                state=tables.INVENTORY_STATE,
            ),
            params=lambda th: {"max_stock": th.max_stock_per_slot},
            threshold=lambda th: f"0 slots with current_stock > {th.max_stock_per_slot:,}",
        ),
        QualityCheck(
            name="inventory_stock_equals_applied_movements",
            asset=tables.INVENTORY_STATE,
            severity=Severity.ERROR,
            description="Each slot's current_stock equals the sum of its applied movements in "
            "inventory_events (opening balances are movements too), and no movement belongs to a slot "
            "that does not exist. A difference means stock was written outside the ingest path or a "
            "movement was lost. No constraint can enforce this.",
            query=_q(
                """
                SELECT product_id, warehouse_id, s.current_stock,
                       coalesce(m.applied_sum, 0) AS applied_sum, coalesce(m.movements, 0) AS movements,
                       s.current_stock - coalesce(m.applied_sum, 0) AS difference
                FROM {state} s
                FULL JOIN (
                    SELECT product_id, warehouse_id, sum(quantity_change) AS applied_sum,
                           count(*) AS movements
                    FROM {events} WHERE status = 'applied' GROUP BY 1, 2
                ) m USING (product_id, warehouse_id)
                WHERE s.current_stock IS DISTINCT FROM coalesce(m.applied_sum, 0)
                ORDER BY product_id, warehouse_id
                """,
                state=tables.INVENTORY_STATE,
                events=tables.INVENTORY_EVENTS,
            ),
            threshold=_zero("slots where current_stock ≠ sum of applied movements"),
        ),
        # --- inventory_events -------------------------------------------------------------------------
        QualityCheck(
            name="inventory_events_valid_event_types",
            asset=tables.INVENTORY_EVENTS,
            severity=Severity.ERROR,
            description="Every stock movement has an event type of the contract "
            f"({', '.join(INVENTORY_EVENT_TYPES)}). No constraint enforces it; ingest validates it.",
            query=_q(
                "SELECT event_id, product_id, warehouse_id, event_type, quantity_change, status, event_time "
                "FROM {events} WHERE NOT (event_type = ANY(%(event_types)s)) "
                "ORDER BY event_time DESC, event_id",
                events=tables.INVENTORY_EVENTS,
            ),
            params=lambda _: {"event_types": list(INVENTORY_EVENT_TYPES)},
            threshold=_zero("movements with an event type outside the contract"),
        ),
        QualityCheck(
            name="inventory_events_valid_warehouse_ids",
            asset=tables.INVENTORY_EVENTS,
            severity=Severity.ERROR,
            description=f"Every stock movement names a catalog warehouse ({', '.join(catalog.WAREHOUSES)}). "
            "No constraint enforces it; ingest validates it. Slots in unknown warehouses are reported by "
            "inventory_slot_count_matches_catalog.",
            query=_q(
                "SELECT event_id, product_id, warehouse_id, event_type, quantity_change, status, event_time "
                "FROM {events} WHERE NOT (warehouse_id = ANY(%(warehouses)s)) "
                "ORDER BY event_time DESC, event_id",
                events=tables.INVENTORY_EVENTS,
            ),
            params=lambda _: {"warehouses": list(catalog.WAREHOUSES)},
            threshold=_zero("movements in a warehouse outside the catalog"),
        ),
        QualityCheck(
            name="inventory_events_no_future_timestamps",
            asset=tables.INVENTORY_EVENTS,
            severity=Severity.ERROR,
            description="No stock movement is stamped further in the future than ingest allows "
            "(INGEST_MAX_FUTURE_SKEW_S): a producer clock is wrong, or rows were loaded around ingest.",
            query=future_moves,
            params=future_moves_params,
            threshold=future_moves_threshold,
        ),
        *_stream_checks(Stream.INVENTORY, tables.INVENTORY_EVENTS, "inventory"),
        # --- clickstream_events -----------------------------------------------------------------------
        QualityCheck(
            name="clickstream_not_empty",
            asset=tables.CLICKSTREAM_EVENTS,
            severity=Severity.ERROR,
            description="The clickstream holds events: without it every product looks unsold and the "
            "pricing engine's demand signal is zero.",
            query=_q(
                "SELECT 'clickstream_events has no rows' AS problem "
                "WHERE NOT EXISTS (SELECT 1 FROM {clicks})",
                clicks=tables.CLICKSTREAM_EVENTS,
            ),
            threshold=lambda _: "at least 1 row",
        ),
        QualityCheck(
            name="clickstream_valid_event_types",
            asset=tables.CLICKSTREAM_EVENTS,
            severity=Severity.ERROR,
            description="Every shopper event has an event type of the contract "
            f"({', '.join(CLICK_EVENT_TYPES)}). No constraint enforces it; ingest validates it.",
            query=_q(
                "SELECT event_id, event_type, product_id, device_type, event_time FROM {clicks} "
                "WHERE NOT (event_type = ANY(%(event_types)s)) ORDER BY event_time DESC, event_id",
                clicks=tables.CLICKSTREAM_EVENTS,
            ),
            params=lambda _: {"event_types": list(CLICK_EVENT_TYPES)},
            threshold=_zero("events with an event type outside the contract"),
        ),
        QualityCheck(
            name="clickstream_products_exist",
            asset=tables.CLICKSTREAM_EVENTS,
            severity=Severity.ERROR,
            description="Every product a shopper event names exists in products (page views may name "
            "none). There is no foreign key on clickstream_events.product_id (kept off for ingest speed).",
            query=_q(
                "SELECT c.event_id, c.event_type, c.product_id, c.event_time FROM {clicks} c "
                "WHERE c.product_id IS NOT NULL "
                "AND NOT EXISTS (SELECT 1 FROM {products} p WHERE p.product_id = c.product_id) "
                "ORDER BY c.event_time DESC, c.event_id",
                clicks=tables.CLICKSTREAM_EVENTS,
                products=tables.PRODUCTS,
            ),
            threshold=_zero("events naming a product missing from products"),
        ),
        QualityCheck(
            name="clickstream_valid_device_types",
            asset=tables.CLICKSTREAM_EVENTS,
            severity=Severity.ERROR,
            description=f"Every shopper event has a device type of the contract ({', '.join(DEVICE_TYPES)}). "
            "No constraint enforces it; ingest validates it.",
            query=_q(
                "SELECT event_id, event_type, device_type, event_time FROM {clicks} "
                "WHERE NOT (device_type = ANY(%(device_types)s)) ORDER BY event_time DESC, event_id",
                clicks=tables.CLICKSTREAM_EVENTS,
            ),
            params=lambda _: {"device_types": list(DEVICE_TYPES)},
            threshold=_zero("events with a device type outside the contract"),
        ),
        QualityCheck(
            name="clickstream_no_future_timestamps",
            asset=tables.CLICKSTREAM_EVENTS,
            severity=Severity.ERROR,
            description="No shopper event is stamped further in the future than ingest allows "
            "(INGEST_MAX_FUTURE_SKEW_S); such events would count as purchases of the coming hour.",
            query=future_clicks,
            params=future_clicks_params,
            threshold=future_clicks_threshold,
        ),
        *_stream_checks(Stream.CLICKSTREAM, tables.CLICKSTREAM_EVENTS, "clickstream"),
        # --- competitor_prices ------------------------------------------------------------------------
        QualityCheck(
            name="competitor_prices_positive",
            asset=tables.COMPETITOR_PRICES,
            severity=Severity.ERROR,
            description="Every observation has a positive competitor price and our price. The columns "
            "have no CHECK constraint (products has one); ingest validates it.",
            query=_q(
                "SELECT event_id, product_id, competitor_name, competitor_price, our_price, event_time "
                "FROM {prices} WHERE competitor_price <= 0 OR our_price <= 0 "
                "ORDER BY event_time DESC, event_id",
                prices=tables.COMPETITOR_PRICES,
            ),
            threshold=_zero("observations with competitor_price ≤ 0 or our_price ≤ 0"),
        ),
        QualityCheck(
            name="competitor_price_difference_within_bound",
            asset=tables.COMPETITOR_PRICES,
            severity=Severity.WARN,
            description="No competitor price is further from ours than the plausible bound: beyond it the "
            "observation is most likely a scraping or unit error (cents, another currency, a bundle), "
            "and it would drag the competitor average the pricing engine follows.",
            query=_q(
                "SELECT event_id, product_id, competitor_name, competitor_price, our_price, "
                "price_difference_pct, event_time FROM {prices} "
                "WHERE abs(price_difference_pct) > %(max_pct)s "
                "ORDER BY abs(price_difference_pct) DESC, event_time DESC, event_id",
                prices=tables.COMPETITOR_PRICES,
            ),
            params=lambda th: {"max_pct": th.max_price_difference_pct},
            threshold=lambda th: (
                f"0 observations with |price_difference_pct| > {th.max_price_difference_pct:g}"
            ),
        ),
        QualityCheck(
            name="competitor_names_known",
            asset=tables.COMPETITOR_PRICES,
            severity=Severity.ERROR,
            description=f"Every observation names a known competitor ({', '.join(catalog.COMPETITORS)}). No "
            "constraint enforces it; ingest validates it.",
            query=_q(
                "SELECT event_id, product_id, competitor_name, competitor_price, event_time FROM {prices} "
                "WHERE NOT (competitor_name = ANY(%(competitors)s)) ORDER BY event_time DESC, event_id",
                prices=tables.COMPETITOR_PRICES,
            ),
            params=lambda _: {"competitors": list(catalog.COMPETITORS)},
            threshold=_zero("observations naming an unknown competitor"),
        ),
        QualityCheck(
            name="competitor_prices_no_future_timestamps",
            asset=tables.COMPETITOR_PRICES,
            severity=Severity.ERROR,
            description="No price observation is stamped further in the future than ingest allows "
            "(INGEST_MAX_FUTURE_SKEW_S); such a price would stay the latest one until its time passed.",
            query=future_prices,
            params=future_prices_params,
            threshold=future_prices_threshold,
        ),
        *_stream_checks(Stream.COMPETITOR, tables.COMPETITOR_PRICES, "competitor"),
        # --- competitor_prices_latest -----------------------------------------------------------------
        QualityCheck(
            name="competitor_latest_unique",
            asset=tables.COMPETITOR_PRICES_LATEST,
            severity=Severity.ERROR,
            description="At most one latest price per product × competitor. Also guaranteed today by the "
            "primary key; kept against schema drift, replicas and manual loads (a duplicate would count "
            "a competitor twice in the pricing engine's average).",
            query=_q(
                "SELECT product_id, competitor_name, count(*) AS rows_found, "
                "array_agg(competitor_price ORDER BY competitor_price) AS prices "
                "FROM {latest} GROUP BY 1, 2 HAVING count(*) > 1 ORDER BY 1, 2",
                latest=tables.COMPETITOR_PRICES_LATEST,
            ),
            threshold=_zero("product × competitor pairs with more than one latest row"),
            enforced_by="PRIMARY KEY (product_id, competitor_name) on competitor_prices_latest",
        ),
        QualityCheck(
            name="competitor_latest_matches_newest_observation",
            asset=tables.COMPETITOR_PRICES_LATEST,
            severity=Severity.ERROR,
            description="Each latest row is the newest observation of its product × competitor in "
            "competitor_prices (by event time), and every observed pair has a latest row: the latest "
            "table only moves forward. No constraint can enforce this.",
            query=_q(
                """
                WITH newest AS (
                    SELECT product_id, competitor_name, max(event_time) AS newest_observed
                    FROM {prices} GROUP BY 1, 2
                )
                SELECT product_id, competitor_name, l.event_time AS latest_event_time, n.newest_observed,
                       CASE WHEN l.event_time IS NULL THEN 'no latest row'
                            WHEN n.newest_observed IS NULL THEN 'no observation behind it'
                            WHEN l.event_time < n.newest_observed THEN 'behind the newest observation'
                            ELSE 'ahead of every observation' END AS problem
                FROM {latest} l FULL JOIN newest n USING (product_id, competitor_name)
                WHERE l.event_time IS DISTINCT FROM n.newest_observed
                ORDER BY product_id, competitor_name
                """,
                prices=tables.COMPETITOR_PRICES,
                latest=tables.COMPETITOR_PRICES_LATEST,
            ),
            threshold=_zero("pairs whose latest row is not the newest observation"),
        ),
        # --- pricing_recommendations (newest cycle) ------------------------------------------------------
        QualityCheck(
            name="recommendations_valid_action",
            asset=tables.PRICING_RECOMMENDATIONS,
            severity=Severity.ERROR,
            description=f"Every recommendation of the newest cycle is one of {', '.join(RECOMMENDATIONS)}. "
            "The column has no CHECK constraint.",
            query=_newest_cycle_rows("NOT (r.recommendation = ANY(%(recommendations)s))"),
            params=lambda _: {"recommendations": list(RECOMMENDATIONS)},
            threshold=_zero(f"rows of the newest cycle outside {'/'.join(RECOMMENDATIONS)}"),
        ),
        QualityCheck(
            name="recommendations_confidence_in_range",
            asset=tables.PRICING_RECOMMENDATIONS,
            severity=Severity.ERROR,
            description="Every confidence of the newest cycle lies in [0, 1]. The column is numeric(4, 3) "
            "with no CHECK constraint: anything from -9.999 to 9.999 is accepted.",
            query=_newest_cycle_rows("NOT (r.confidence BETWEEN 0 AND 1)"),
            threshold=_zero("rows of the newest cycle with confidence outside [0, 1]"),
        ),
        QualityCheck(
            name="recommendations_known_products",
            asset=tables.PRICING_RECOMMENDATIONS,
            severity=Severity.ERROR,
            description="Every recommendation of the newest cycle references a product in products. "
            "pricing_recommendations.product_id has no foreign key.",
            query=_newest_cycle_rows(
                "NOT EXISTS (SELECT 1 FROM {products} p WHERE p.product_id = r.product_id)"
            ),
            threshold=_zero("rows of the newest cycle naming a product missing from products"),
        ),
    ]
    names = [c.name for c in checks]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"duplicate quality check names: {sorted(duplicates)}")
    return tuple(checks)


CHECKS: Final[tuple[QualityCheck, ...]] = _build()
CHECKS_BY_NAME: Final[dict[str, QualityCheck]] = {c.name: c for c in CHECKS}


def checks_for(asset: str) -> tuple[QualityCheck, ...]:
    return tuple(c for c in CHECKS if c.asset == asset)


def guarded_assets() -> tuple[str, ...]:
    """Assets with checks, in registry order."""
    return tuple(dict.fromkeys(c.asset for c in CHECKS))
