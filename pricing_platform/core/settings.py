"""Typed settings: every address, credential and tunable of the platform, read from environment variables
(and an optional `.env` file). Defaults are safe for the embedded local stack: everything on 127.0.0.1,
no passwords. `.env.example` documents each variable.

This is the one place a default is written. Domain parameter objects (the pricing rules, the quality
thresholds, the alert rules, ...) declare their fields without defaults and are filled from here by
`Settings.section`; the Dagster resources inherit those objects; dbt receives its parameters as --vars
built from here.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Final, Literal, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PostgresDsn,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from pricing_platform.core import roles
from pricing_platform.core.catalog import CATEGORY_NAMES

PROJECT_ROOT = Path(__file__).resolve().parents[2]
M = TypeVar("M", bound=BaseModel)
# The settings naming a dashboard role's URL, and the role each must connect as.
_ROLE_OF_URL: Final = {
    "dashboard_database_url": roles.DASHBOARD_READER,
    "approvals_database_url": roles.PRICE_APPROVER,
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        # Inputs can carry passwords (URLs): a validation error names the variable, never echoes its value.
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        hide_input_in_errors=True,
    )

    # --- connections -------------------------------------------------------------------------------
    kafka_bootstrap_servers: str = Field("127.0.0.1:19092", description="Kafka bootstrap servers")
    kafka_security_protocol: str = Field("PLAINTEXT", description="PLAINTEXT, SSL, SASL_SSL, ...")
    kafka_sasl_mechanism: str | None = Field(None, description="e.g. SCRAM-SHA-512 for managed Kafka")
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    database_url: PostgresDsn = Field(
        PostgresDsn("postgresql://pricing@127.0.0.1:55432/pricing"),
        description="PostgreSQL the workers write to (owner of the schema)",
    )

    # --- Kafka consumer/producer tunables ------------------------------------------------------------
    # 6 s is the smallest session timeout Apache Kafka accepts by default and keeps rebalances quick.
    kafka_session_timeout_ms: int = Field(6000, ge=1000)
    kafka_heartbeat_interval_ms: int = Field(500, ge=100)
    kafka_max_poll_interval_ms: int = Field(60000, ge=1000)
    # Upper bound on how long the broker may hold an empty fetch. Apache Kafka answers as soon as data
    # arrives; the local broker waits the full time, so this bounds event→row latency there.
    kafka_fetch_wait_max_ms: int = Field(50, ge=0)
    topic_replication_factor: int = Field(1, ge=1)
    kafka_group_prefix: str = Field("pricing-ingest", description="consumer groups are PREFIX-<stream>")
    kafka_consumer_assignment: Literal["group", "static"] = Field(
        "group",
        description="group: workers of a stream share its partitions; static: each worker takes them all",
    )
    kafka_producer_linger_ms: int = Field(
        20, ge=0, description="how long the event producers wait to fill a batch"
    )
    kafka_producer_max_in_flight: int = Field(
        5, ge=1, le=5, description="produce requests a producer pipelines per broker connection"
    )
    kafka_producer_idempotence: bool = Field(
        True, description="event producers (simulators, market) send with idempotent sequences"
    )

    # --- ingest ------------------------------------------------------------------------------------
    ingest_batch_size: int = Field(20000, ge=1, description="max events per database transaction")
    ingest_batch_wait_ms: int = Field(100, ge=1, description="max wait to fill a batch")
    ingest_metrics_port: int = Field(9101, ge=0, description="first metrics port; 0 disables")
    ingest_max_future_skew_s: int = Field(300, ge=0, description="reject events this far in the future")
    ingest_db_retry_max_s: float = Field(10.0, gt=0, description="cap of the reconnect back-off")
    ingest_stats_interval_s: float = Field(10.0, gt=0)

    # --- pricing engine ------------------------------------------------------------------------------
    pricing_lower_gap_pct: float = Field(10.0, gt=0, description="lower when we are more than this % above")
    pricing_lower_max_velocity: int = Field(2, ge=0, description="...and fewer purchases than this last hour")
    pricing_raise_gap_pct: float = Field(10.0, gt=0, description="raise when we are more than this % below")
    pricing_raise_min_velocity: int = Field(5, ge=0, description="...and at least this many purchases")
    # The ranges here and in category_policies' CHECKs (migration 0011) are the same.
    pricing_target_factor: float = Field(
        0.99, ge=0.5, le=1.5, description="raise/lower target = factor × competitor avg"
    )
    pricing_staleness_s: int = Field(6 * 3600, gt=0, description="ignore competitor prices older than this")
    pricing_gate_jump_pct: float = Field(
        40.0,
        gt=0,
        description="hold a competitor price that jumped more than this % from its recent median...",
    )
    pricing_gate_market_pct: float = Field(
        50.0, gt=0, description="...or this % from its trimmed competitor mean (the median of 3 or 4)..."
    )
    pricing_gate_confirm_pct: float = Field(
        5.0, ge=0, description="...until the observation before it agrees within this % (confirmed)"
    )
    pricing_min_margin_pct: float = Field(
        5.0, ge=0, le=500, description="never below unit cost × (1 + this %)"
    )
    pricing_max_step_pct: float = Field(
        10.0, gt=0, le=50, description="never move a price more than this % at once"
    )
    pricing_price_ending: float | None = Field(0.99, ge=0, lt=1, description="cents ending; unset: none")
    pricing_strategy: Literal["rules", "profit"] = Field(
        "rules", description="strategy of every category not named in PRICING_STRATEGIES"
    )
    pricing_strategies: dict[str, Literal["rules", "profit"]] = Field(
        {},
        description='per-category strategy as JSON, e.g. {"accessories": "profit"}; others: PRICING_STRATEGY',
    )
    pricing_lead_time_h: float = Field(
        72.0, gt=0, description="profit: replenishment lead time; raise when stock would not last it"
    )
    pricing_overstock_days: float = Field(
        120.0, gt=0, description="profit: mark down when stock would last longer than this"
    )
    pricing_min_gain_pct: float = Field(
        1.0, ge=0, description="profit: hold unless a move gains at least this % of expected profit"
    )
    pricing_war_window_h: float = Field(
        48.0, gt=0, description="profit: a cut this recent that a competitor followed stops further cuts"
    )
    pricing_follow_tolerance_pct: float = Field(
        1.0, ge=0, description="profit: a competitor within this % of our cut price has followed it"
    )
    pricing_views_window_h: float = Field(
        24.0, gt=0, description="profit: recent views per hour are averaged over this window"
    )
    pricing_inputs_store_interval_s: float = Field(
        60.0,
        ge=0,
        description="a cycle stores its decision inputs for the what-if preview when the newest "
        "stored ones are older than this (0: every cycle); large catalogs save the cost most minutes",
    )
    pricing_auto_apply_band_pct: float = Field(
        0.0,
        ge=0,
        le=50,
        description="apply a checked raise/lower automatically when it moves the price by "
        "at most this %; 0: never (a category's policy may set its own)",
    )
    pricing_auto_apply_min_confidence: float = Field(
        0.8, ge=0, le=1, description="...and its confidence is at least this"
    )
    pricing_max_changes_per_day: int = Field(
        4, ge=0, description="...and the product's price changed fewer times than this in the last 24 h"
    )

    # --- outbound price feed (relays of the outbox to pricing.price_changes) ----------------------------
    price_feed_metrics_port: int = Field(9105, ge=0, description="`relay` serves metrics here; 0 disables")
    price_feed_poll_interval_s: float = Field(
        1.0, gt=0, description="a relay polls the outbox this often when no change notifies it"
    )
    price_feed_snapshot_interval_s: float = Field(
        3600.0, gt=0, description="every current price is republished this often (recoverable feed)"
    )

    # --- stream processor (pricing_platform/streaming: sessions, cart abandonment, funnel per minute) -----
    stream_session_gap_s: int = Field(
        1800, ge=1, description="a session ends after this long without an event of its own"
    )
    # Re-keying by session mixes the clickstream's partitions, which a consumer catching up after an
    # outage reads a fetch apart: the grace must cover that skew (STREAM_MAX_PARTITION_FETCH_KIB bounds it).
    stream_grace_s: int = Field(
        300, ge=0, description="events this late (beyond the session gap, or the minute) still count"
    )
    stream_max_partition_fetch_kib: int = Field(
        256, ge=16, description="the processor reads at most this much of one partition per fetch"
    )
    stream_abandon_min_carts: int = Field(
        3, ge=1, description="a session with this many add-to-carts and no purchase is an abandonment"
    )
    # Exactly-once: what the processor produces becomes visible when its transaction commits, so this also
    # bounds how long a closed window waits to be seen.
    stream_commit_interval_s: float = Field(1.0, gt=0, description="processor transaction commit interval")
    # The local durable broker fails the processor's transactional produce (measured: README), so `up` runs
    # it at-least-once there; the windows drop redelivered events and landing is keyed (README: what a crash
    # can still cost without changelogs).
    stream_processing_guarantee: Literal["exactly-once", "at-least-once"] = Field(
        "exactly-once", description="the processor's Kafka processing guarantee"
    )
    stream_changelog: bool = Field(
        True,
        description="back the processor's window state with changelog topics (rebuilt from them if lost)",
    )
    stream_clock_interval_s: float = Field(
        30.0, ge=0, description="how often quiet partitions are told the time; 0: never"
    )
    stream_clock_lag_s: int = Field(
        300, ge=0, description="the time told trails the newest event read (or the wall clock) by this"
    )
    stream_clock_quiet_s: float = Field(
        300.0, gt=0, description="with no click read for this long, the clock follows the wall clock"
    )
    stream_state_dir: Path | None = Field(
        None, description="the processor's local window state (RocksDB); unset: LOCAL_STATE_DIR/stream-state"
    )
    stream_metrics_port: int = Field(9106, ge=0, description="the stream processor's metrics; 0 disables")
    stream_landing_metrics_port: int = Field(
        9107, ge=0, description="metrics of the worker landing the processor's topics; 0 disables"
    )

    # --- undercuts: detected by the stream processor, repriced at once by `pricing-platform repricer` ----
    undercut_pct: float = Field(
        10.0, gt=0, description="a competitor this % below our price opens an undercut (reprice, alert)"
    )
    # Hysteresis: a competitor hovering around the open threshold kept opening and clearing the undercut
    # every minute or two; it now stays open until the gap narrows below this lower threshold.
    undercut_clear_pct: float = Field(
        7.0, ge=0, description="an open undercut clears once the gap is below this %"
    )
    # The repricer prices from the observation that caused the undercut, so it waits for the competitor
    # ingest worker to land it; past this, the undercut is recorded as not repriced (the next scheduled
    # cycle prices the product anyway).
    repricer_landing_wait_s: float = Field(
        30.0, gt=0, description="how long the repricer waits for an undercut's observation to land"
    )
    repricer_metrics_port: int = Field(9108, ge=0, description="the repricer's metrics; 0 disables")

    # --- alerts ------------------------------------------------------------------------------------
    alert_webhook_url: str | None = Field(
        None, description="Slack-compatible incoming webhook; unset: log only"
    )
    alert_webhook_timeout_s: float = Field(5.0, gt=0, description="a webhook post slower than this fails")
    alert_stockout_horizon_h: float = Field(24.0, gt=0, description="alert when stock runs out within this")
    # Long enough to smooth out bursts, short enough to follow a product whose sales have just picked up.
    alert_stock_velocity_window_h: int = Field(
        6, ge=1, description="sales window of the stock-out sensor's rate of sale (hours)"
    )
    alert_weak_demand_velocity: int = Field(
        2, ge=0, description="undercut alerts only on a product with fewer purchases an hour"
    )
    alert_clear_after_evaluations: int = Field(
        3, ge=1, description="an alert clears after this many consecutive evaluations without its condition"
    )
    alert_price_move_direction: Literal["up", "down", "both"] = Field(
        "both", description="which competitor price moves raise a price-move alert"
    )
    alert_price_move_min_pct: float = Field(
        5.0,
        gt=0,
        description="a competitor price move at least this % within the window (and re-notified "
        "when it moves this much further)",
    )
    alert_price_move_window_h: int = Field(24, ge=1, description="the move is measured against this long ago")
    alert_price_move_severity: Literal["info", "warning"] = Field(
        "info", description="info: price moves go into the digest; warning: each is posted at once"
    )
    alert_daily_cap: int = Field(
        30, ge=1, description="webhook messages per alert kind per UTC day; the rest wait for the next day"
    )
    alert_digest_interval_s: int = Field(
        3600, ge=0, description="info alerts are posted together, one digest per kind at most this often"
    )

    # --- data-quality checks --------------------------------------------------------------------------
    quality_freshness_max_age_s: int = Field(300, ge=1, description="newest ingest commit per stream younger")
    quality_max_stock_per_slot: int = Field(
        100_000, ge=0, description="most units one slot may plausibly hold"
    )
    quality_max_price_difference_pct: float = Field(80.0, gt=0, description="largest plausible price gap %")
    quality_dead_letter_max_per_hour: int = Field(100, ge=0, description="dead letters per stream per hour")
    quality_query_timeout_s: int = Field(60, ge=1, description="statement timeout of each check's query")
    quality_docs_dir: Path = Field(
        PROJECT_ROOT / ".local" / "quality-docs", description="where the GX Data Docs report is written"
    )
    quality_docs_runs_kept: int = Field(48, ge=1, description="validations of each suite the report keeps")

    # --- Parquet lake ---------------------------------------------------------------------------------
    lake_backend: Literal["local", "s3"] = Field("local", description="local directory or an S3 bucket")
    lake_local_dir: Path = Field(PROJECT_ROOT / ".local" / "lake", description="lake root when backend=local")
    lake_bucket: str = Field("pricing-lake", description="bucket when backend=s3")
    lake_prefix: str = Field("", description="key prefix inside the bucket")
    s3_endpoint_url: str | None = Field(
        None, description="S3-compatible endpoint (MinIO, the local stack's); unset: AWS"
    )
    s3_region: str = Field("us-east-1")
    aws_access_key_id: str | None = Field(None, description="S3 credentials; unset: the default AWS chain")
    aws_secret_access_key: str | None = None
    lake_batch_rows: int = Field(100_000, ge=1000, description="rows per Arrow batch when exporting")
    lake_recent_days: int = Field(2, ge=1, description="partitions re-exported by the lake schedule")
    local_s3: bool = Field(
        True, description="`up` points the lake at its local S3 endpoint (s3rver, on disk)"
    )
    local_s3_port: int = Field(9000, ge=1, description="port of that endpoint")

    # --- dbt ----------------------------------------------------------------------------------------
    dbt_staging_schema: str = Field("staging", description="schema the dbt staging views are built in")
    dbt_marts_schema: str = Field("marts", description="schema the dbt mart tables are built in")
    dbt_incremental_lookback_s: int = Field(
        900, ge=0, description="incremental marts re-read rows landed this long before their newest row"
    )

    # --- analytics (Dagster `analytics` group, notebooks) -------------------------------------------
    analytics_funnel_window_h: int = Field(24, ge=1, description="sessions the funnel analyses (hours)")
    analytics_lookback_days: int = Field(
        7, ge=1, description="purchases hourly demand and the elasticity quantity base cover (days)"
    )
    analytics_rfm_lookback_days: int = Field(90, ge=1, description="purchases RFM segments buyers on")
    analytics_elasticity: float = Field(
        -1.5, lt=0, description="revenue simulation: elasticity of a product without a learned one"
    )
    analytics_forecast_decay: float = Field(
        0.85, gt=0, lt=1, description="weight kept per hour by the demand forecast (smoothing = 1 - decay)"
    )
    analytics_velocity_window_h: int = Field(24, ge=1, description="sales window of hours-until-stockout")
    analytics_stockout_critical_h: float = Field(24.0, gt=0, description="Critical below this many hours")
    analytics_stockout_warning_h: float = Field(72.0, gt=0, description="Warning below this many hours")
    # --- demand estimation (Dagster `demand` group; the profit strategy reads its estimates) ------------
    demand_window_days: int = Field(28, ge=1, description="days of views and purchases an estimate uses")
    demand_min_price_sd_pct: float = Field(
        1.0, ge=0, description="a product's own slope needs its price to vary at least this much (sd, %)"
    )
    demand_min_purchases: int = Field(
        30, ge=0, description="...and at least this many purchases in the window"
    )
    demand_prior_elasticity: float = Field(
        -1.5, lt=0, description="elasticity reported for a category none of whose prices moved"
    )
    demand_prior_sd: float = Field(1.0, gt=0, description="standard error of that prior")
    demand_product_spread: float = Field(
        0.2, gt=0, description="least spread assumed between a category's product elasticities (sd)"
    )
    demand_ci_level: float = Field(0.90, gt=0, lt=1, description="level of the reported intervals")
    # --- price experiments (pricing/experiments.py; dashboard page "Experiments") ---------------------
    experiment_block_minutes: int = Field(
        60, ge=15, le=720, description="length of one switchback block (divides a day)"
    )
    experiment_days: int = Field(
        6, ge=2, le=60, description="planned length in days (even: each hour slot gets both arms equally)"
    )
    experiment_arm_b_pct: float = Field(
        5.0, description="arm B's change from the control price, % (form default)"
    )
    experiment_harm_stop_pct: float = Field(
        10.0, ge=0, le=100, description="stop early when arm B's gross profit per view is surely this % worse"
    )
    experiment_min_pairs: int = Field(
        24, ge=1, description="...judged only once this many hour-slot pairs of blocks are complete"
    )
    experiment_ci_level: float = Field(0.90, gt=0, lt=1, description="level of the results' intervals")
    experiment_bootstrap_samples: int = Field(
        2000, ge=100, description="resamples of block pairs behind each interval"
    )
    notebooks_dir: Path = Field(
        PROJECT_ROOT / ".local" / "notebooks", description="where `notebooks build` writes the notebooks"
    )

    # --- Dagster -----------------------------------------------------------------------------------
    dagster_database_url: PostgresDsn = Field(
        PostgresDsn("postgresql://pricing@127.0.0.1:55432/dagster"),
        description="PostgreSQL for Dagster's runs, events and schedules",
    )
    dagster_port: int = Field(3000, ge=1)
    dagster_run_retention_days: int = Field(7, ge=1, description="older runs are purged daily")
    operational_retention_days: int = Field(
        30, ge=1, description="ingest counts, cleared alerts, alert messages older than this are purged daily"
    )

    # --- dashboard ----------------------------------------------------------------------------------
    dashboard_database_url: PostgresDsn | None = Field(
        None, description="read-only role the dashboard reads as; unset: DATABASE_URL as pricing_dashboard"
    )
    approvals_database_url: PostgresDsn | None = Field(
        None, description="role that may only approve prices; unset: DATABASE_URL as pricing_approver"
    )
    dashboard_identity_header: str | None = Field(
        None, description="header a trusted proxy sets to the signed-in user; unset: approvers type a name"
    )
    dashboard_port: int = Field(8501, ge=1, description="`pricing-platform dashboard` and `up` serve here")
    dashboard_cache_ttl_s: int = Field(15, ge=1, description="how long the dashboard reuses a query result")
    dashboard_refresh_s: int = Field(30, ge=5, description="live sections re-read the database this often")

    # --- the simulated market (`simulate market`, run by `up`) -------------------------------------------
    market_sessions_per_day: float = Field(
        40_000, gt=0, description="shopper sessions a day of the simulated market (hour-of-day pattern)"
    )
    market_scrapes_per_hour: float = Field(
        12.0, gt=0, description="how often the price monitor observes each product at each competitor"
    )
    simulation_step_minutes: float = Field(
        15.0, gt=0, description="simulated-time runs: simulated minutes between two pricing cycles"
    )

    # --- simulators --------------------------------------------------------------------------------
    simulator_rate: float = Field(20.0, gt=0, description="events/s per stream for the demo stack")
    simulator_metrics_port: int = Field(9104, ge=0, description="`simulate` serves metrics here; 0 disables")

    # --- metrics (Prometheus) ------------------------------------------------------------------------
    pushgateway_url: str | None = Field(
        None, description="Pushgateway the Dagster runs push their metrics to; unset: no push"
    )
    pushgateway_timeout_s: float = Field(5.0, gt=0, description="a push slower than this is abandoned")
    local_monitoring: bool = Field(
        True, description="`up` runs Prometheus, a Pushgateway and the PostgreSQL exporter"
    )
    prometheus_port: int = Field(9090, ge=1, description="local Prometheus (UI and API)")
    pushgateway_port: int = Field(9091, ge=1, description="local Pushgateway")
    postgres_exporter_port: int = Field(9187, ge=1, description="local PostgreSQL exporter")
    prometheus_scrape_interval_s: int = Field(15, ge=1, description="local Prometheus scrape interval")

    # --- local stack -------------------------------------------------------------------------------
    local_state_dir: Path = Field(PROJECT_ROOT / ".local", description="data, logs, pids of `up`")
    local_bind_host: str = Field("127.0.0.1")
    local_postgres: bool = Field(True, description="`up` runs its own PostgreSQL at DATABASE_URL's port")
    local_broker: bool = Field(True, description="`up` runs its own broker at KAFKA_BOOTSTRAP_SERVERS")
    local_broker_storage: Literal["s3", "memory"] = Field(
        "s3",
        description="s3: topics on disk through the local S3 endpoint (durable); memory: lost at restart",
    )
    local_broker_bucket: str = Field(
        "tansu", description="bucket of the local S3 endpoint holding the topics"
    )
    local_topic_retention_hours: float = Field(
        24.0, gt=0, description="the local broker keeps this much of each topic (consumed data only)"
    )
    local_topic_retention_check_s: float = Field(600.0, gt=0, description="how often that is enforced")

    def section(self, model: type[M], prefix: str = "", **renamed: str) -> dict[str, Any]:
        """The values of `model`'s fields from these settings: field `x` from the setting `prefix + x`, or
        from the setting `renamed["x"]`. Domain parameter objects are built this way (`model(**...)`), so
        none of them restates a default."""
        return {name: getattr(self, renamed.get(name, prefix + name)) for name in model.model_fields}

    def environment(self) -> dict[str, str]:
        """These settings as the environment variables that reproduce them in a child process."""
        return {
            name.upper(): _environment_value(value)
            for name, value in self.model_dump().items()
            if value is not None
        }

    @property
    def database_conninfo(self) -> str:
        return str(self.database_url)

    @field_validator("pricing_strategies")
    @classmethod
    def _known_categories(cls, strategies: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(strategies) - set(CATEGORY_NAMES))
        if unknown:
            raise ValueError(f"unknown categories {unknown}; the catalog's are {list(CATEGORY_NAMES)}")
        return strategies

    @model_validator(mode="after")
    def _auto_apply_within_the_step(self) -> Self:
        if self.pricing_auto_apply_band_pct > self.pricing_max_step_pct:
            raise ValueError(
                f"PRICING_AUTO_APPLY_BAND_PCT {self.pricing_auto_apply_band_pct:g} is above "
                f"PRICING_MAX_STEP_PCT {self.pricing_max_step_pct:g}; set it to at most the step"
            )
        return self

    @model_validator(mode="after")
    def _undercut_clears_below_its_open_threshold(self) -> Self:
        if self.undercut_clear_pct >= self.undercut_pct:
            raise ValueError(
                f"UNDERCUT_CLEAR_PCT ({self.undercut_clear_pct}) must be below UNDERCUT_PCT "
                f"({self.undercut_pct}): an undercut opens above the one and clears below the other"
            )
        return self

    @field_validator(*_ROLE_OF_URL)
    @classmethod
    def _dashboard_roles_only(cls, url: PostgresDsn | None, info: ValidationInfo) -> PostgresDsn | None:
        # The migrations and dbt grant these exact roles; another user would silently lack them.
        expected = _ROLE_OF_URL[str(info.field_name)]
        user = url.hosts()[0].get("username") if url else None
        if url is not None and user != expected:
            raise ValueError(
                f"{str(info.field_name).upper()} must connect as {expected!r} "
                f"(the role the migrations grant), not {user!r}"
            )
        return url

    def _conninfo_as(self, url_field: str) -> str:
        """The URL in `url_field` or, unset, DATABASE_URL as that field's role without a password."""
        url = getattr(self, url_field)
        if url:
            return str(url)
        return roles.role_conninfo(self.database_conninfo, _ROLE_OF_URL[url_field])

    @property
    def dashboard_conninfo(self) -> str:
        return self._conninfo_as("dashboard_database_url")

    @property
    def approvals_conninfo(self) -> str:
        return self._conninfo_as("approvals_database_url")

    def stream_state_path(self) -> Path:
        return self.stream_state_dir or self.local_state_dir / "stream-state"

    def kafka_common_config(self) -> dict[str, str | int]:
        config: dict[str, str | int] = {
            "bootstrap.servers": self.kafka_bootstrap_servers,
            "security.protocol": self.kafka_security_protocol,
        }
        if self.kafka_sasl_mechanism:
            config["sasl.mechanism"] = self.kafka_sasl_mechanism
        if self.kafka_sasl_username:
            config["sasl.username"] = self.kafka_sasl_username
        if self.kafka_sasl_password:
            config["sasl.password"] = self.kafka_sasl_password
        return config


def _environment_value(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict | list):
        return json.dumps(value)  # how pydantic-settings reads complex values back
    return str(value)


class SettingsSection(BaseModel):
    """A domain parameter object filled from the settings: field `x` from the setting
    `settings_prefix + x`, or from the setting `settings_renamed["x"]`. Subclasses declare fields without
    defaults (the settings hold them); a Dagster resource that inherits one is filled the same way."""

    model_config = ConfigDict(frozen=True)
    settings_prefix: ClassVar[str] = ""
    settings_renamed: ClassVar[dict[str, str]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(**settings.section(cls, cls.settings_prefix, **cls.settings_renamed))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def default_settings() -> Settings:
    """The defaults as written above, ignoring the environment and any .env file (tests, benchmarks)."""
    return Settings.model_construct()
