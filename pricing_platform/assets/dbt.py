"""The dbt project (dbt_project/) as Dagster assets: staging views, incremental intermediate tables and mart
tables downstream of the raw external assets, every dbt test an asset check, built by `dbt build` every 5
minutes: incrementally (each model reads what landed since its last run), and once a day, on the first
tick after FULL_REFRESH_HOUR_UTC, rebuilt whole with every test over all rows (`--full-refresh`), which
also reconciles anything an incremental run could not see (a batch committed later than the lookback).

The asset graph comes from dbt_project/target/manifest.json, written at install time by
`pricing-platform dbt prepare`; loading the definitions only reads it (and fails with that
command in the message when it is missing)."""

import shutil
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, Final

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtProject, dbt_assets
from dagster_shared.check import CheckError
from pydantic import Field

from pricing_platform.assets.scheduling import asset_job, schedule
from pricing_platform.resources.dbt import DbtResource
from pricing_platform.transform.project import PROJECT_DIR, TARGET_DIR, require_manifest

DBT_PROJECT = DbtProject(PROJECT_DIR)
# Per-run artifacts (run_results.json, compiled SQL, logs) under target/runs/, the newest kept.
RUNS_DIR = TARGET_DIR / "runs"
RUNS_KEPT = 24
LAYER_GROUPS = {"staging": "staging", "intermediate": "intermediate", "marts": "marts"}


class PricingDbtTranslator(DagsterDbtTranslator):
    """Sources are the existing raw assets, keyed by bare table name (`clickstream_events`; the
    pricing_recommendations_latest view maps to `pricing_recommendations` through its dbt meta); models
    are keyed by bare model name and grouped by layer."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        meta = dbt_resource_props.get("config", {}).get("meta") or dbt_resource_props.get("meta") or {}
        if meta.get("dagster", {}).get("asset_key"):
            return super().get_asset_key(dbt_resource_props)
        return dg.AssetKey(dbt_resource_props["name"])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        layer = fqn[1] if len(fqn) > 2 else None
        return LAYER_GROUPS.get(layer or "", "analytics")

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        return ["team:analytics"]


TRANSLATOR = PricingDbtTranslator(DagsterDbtTranslatorSettings(enable_asset_checks=True))


def _prune_runs(keep: int = RUNS_KEPT) -> None:
    if not RUNS_DIR.exists():
        return
    runs = sorted((p for p in RUNS_DIR.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for stale in runs[: max(0, len(runs) - keep)]:
        shutil.rmtree(stale, ignore_errors=True)


# The five-minute job's command: every model (the incremental ones read only what landed since their last
# run) and the marts' tests (small tables). The staging models' tests scan the raw tables (~10 s on a busy
# week, growing with history) and the intermediate tables' tests their hundreds of thousands of rows: both
# run in the daily rebuild, which builds and tests everything.
JOB_ARGS: Final = (
    "build",
    "--exclude", "resource_type:test,path:models/staging resource_type:test,path:models/intermediate",
)  # fmt: skip
FULL_REFRESH_ARGS: Final = ("build", "--full-refresh")
FULL_REFRESH_HOUR_UTC: Final = 3


class DbtBuildConfig(dg.Config):
    full_refresh: bool = Field(
        default=False, description="rebuild every model whole and run every test (the daily reconciliation)"
    )


@dbt_assets(
    manifest=require_manifest(DBT_PROJECT.manifest_path),
    project=DBT_PROJECT,
    dagster_dbt_translator=TRANSLATOR,
    name="pricing_dbt_models",
)
def pricing_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtResource, config: DbtBuildConfig
) -> Iterator[Any]:
    """`dbt build` of the selected models and their tests (tests report as asset checks)."""
    _prune_runs()
    target = RUNS_DIR / f"{context.run.run_id[:8]}-{uuid.uuid4().hex[:6]}"
    target.mkdir(parents=True)
    # Start from the prepared parse state: dbt re-parses only what changed since `prepare`.
    prepared_state = TARGET_DIR / "partial_parse.msgpack"
    if prepared_state.exists():
        shutil.copyfile(prepared_state, target / prepared_state.name)
    args = FULL_REFRESH_ARGS if config.full_refresh else JOB_ARGS
    yield from dbt.cli(list(args), context=context, target_path=target).stream()


dbt_marts_job = asset_job(
    "dbt_marts_job",
    dg.AssetSelection.assets(pricing_dbt_models),
    "`dbt build`: staging views, incremental intermediate tables, mart tables and the dbt tests (as asset "
    "checks); `full_refresh` rebuilds every model whole.",
)


def _daily_full_refresh(context: dg.ScheduleEvaluationContext) -> dict:
    try:
        tick = context.scheduled_execution_time
    except CheckError:  # a context built without a tick (tests, a manual evaluation): an ordinary run
        tick = None
    first_tick_of_the_hour = tick is not None and tick.hour == FULL_REFRESH_HOUR_UTC and tick.minute < 5
    return {"ops": {"pricing_dbt_models": {"config": {"full_refresh": first_tick_of_the_hour}}}}


dbt_marts_schedule = schedule(
    "dbt_marts_every_5_minutes",
    dbt_marts_job,
    "*/5 * * * *",
    description="Builds the marts every 5 minutes, incrementally; rebuilds them whole once a day (first "
    f"tick after {FULL_REFRESH_HOUR_UTC:02d}:00 UTC). Skips a tick while the previous build still runs.",
    skip_while_running=True,
    run_config=_daily_full_refresh,
)
