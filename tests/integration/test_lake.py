"""The Parquet lake against a real S3 endpoint (moto_server over HTTP) and a real PostgreSQL: exact types,
atomic whole-partition replacement, late rows, the Dagster assets (S3 through dagster-aws's S3Resource)
and DuckDB queries; and the local stack's S3 endpoint (npm s3rver) keeping what pyarrow, boto3 and DuckDB
write byte for byte."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import boto3
import dagster as dg
import psycopg
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from dagster_aws.s3 import S3Resource

from pricing_platform.assets.lake import lake_assets, lake_export_job, lake_partitions, lake_schedule
from pricing_platform.core.settings import Settings
from pricing_platform.lake.export import export_day
from pricing_platform.lake.query import connect_lake, query_lake
from pricing_platform.lake.storage import LakeStorage
from pricing_platform.lake.streams import STREAMS
from pricing_platform.localstack import s3 as s3rver
from pricing_platform.resources import build_resources
from pricing_platform.resources.lake import LakeResource
from tests.support.servers import S3rverProcess, free_port, wait_port

pytestmark = pytest.mark.integration

DAY1 = date(2026, 11, 24)
DAY2 = date(2026, 11, 25)
SAME_TIME = datetime(2026, 11, 24, 12, 0, 0, 123456, tzinfo=UTC)
EXACT_PRICE = Decimal("1199.99")
KEY, SECRET = "lake-test-key", "lake-test-secret"


@pytest.fixture(scope="session")
def s3_endpoint(artifacts_dir: Path) -> Iterator[str]:
    port = free_port()
    moto = Path(sys.executable).parent / "moto_server"
    with (artifacts_dir / "moto.log").open("ab") as log:
        process = subprocess.Popen(
            [str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def s3_client(endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
    )


@pytest.fixture
def lake_settings(database: str, s3_endpoint: str, tmp_path: Path) -> Settings:
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    s3_client(s3_endpoint).create_bucket(Bucket=bucket)
    return Settings(
        database_url=database,
        lake_backend="s3",
        lake_bucket=bucket,
        lake_prefix="warehouse",
        s3_endpoint_url=s3_endpoint,
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        lake_local_dir=tmp_path / "lake",
        lake_batch_rows=1000,
    )


def keys(settings: Settings) -> list[str]:
    pages = s3_client(settings.s3_endpoint_url or "").get_paginator("list_objects_v2")
    return sorted(
        o["Key"] for p in pages.paginate(Bucket=settings.lake_bucket) for o in p.get("Contents", [])
    )


def add_click(conn: psycopg.Connection, at: datetime, price: Decimal | None = Decimal("10.00")) -> str:
    event_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO clickstream_events (event_id, user_id, session_id, event_type, product_id, product_name,"
        " product_category, product_price, device_type, event_time) VALUES (%s, 'u1', %s, 'product_view',"
        " 'P001', 'Laptop', 'electronics', %s, 'mobile', %s)",
        (event_id, uuid.uuid4(), price, at),
    )
    return event_id


def seed(conninfo: str) -> None:
    """DAY1: 3 clicks (two at the same microsecond, one at 1199.99, one without price), the last
    microsecond of the day and one at DAY2 00:00:00 exactly; DAY2: 2 clicks; one row of each other stream."""
    with psycopg.connect(conninfo) as conn:
        add_click(conn, SAME_TIME, EXACT_PRICE)
        add_click(conn, SAME_TIME, None)
        add_click(conn, datetime(2026, 11, 24, 23, 59, 59, 999999, tzinfo=UTC))
        add_click(conn, datetime(2026, 11, 25, 0, 0, tzinfo=UTC))
        add_click(conn, datetime(2026, 11, 25, 8, 30, 1, 5, tzinfo=UTC))
        conn.execute(
            "INSERT INTO inventory_events (event_id, product_id, warehouse_id, event_type, quantity_change,"
            " event_time, status, stock_after) VALUES (%s, 'P001', 'W1', 'sale', -2, %s, 'applied', 8)",
            (uuid.uuid4(), SAME_TIME),
        )
        conn.execute(
            "INSERT INTO competitor_prices (event_id, product_id, competitor_name, competitor_price,"
            " our_price, price_difference, price_difference_pct, event_time) VALUES (%s, 'P001', 'Acme',"
            " 1149.99, 1199.99, -50.00, -4.17, %s)",
            (uuid.uuid4(), SAME_TIME),
        )
        conn.execute(
            "INSERT INTO pricing_recommendations (cycle_id, product_id, current_price, competitor_avg_price,"
            " competitors_seen, price_gap_pct, demand_velocity, recommendation, recommended_price,"
            " confidence, reason, created_at) VALUES (%s, 'P001', 1199.99, NULL, 0, NULL, 3, 'hold',"
            " 1199.99, 0.875, 'no data', %s)",
            (uuid.uuid4(), SAME_TIME),
        )


def export_all(settings: Settings, days: tuple[date, ...] = (DAY1, DAY2)) -> dict[tuple[str, date], int]:
    storage = LakeStorage.from_settings(settings)
    with psycopg.connect(settings.database_conninfo, autocommit=True) as conn:
        return {
            (name, day): export_day(conn, name, day, storage, settings.lake_batch_rows).rows
            for name in STREAMS
            for day in days
        }


def read_partition(storage: LakeStorage, stream: str, day: date) -> pa.Table:
    return ds.dataset(storage.partition_path(stream, day), filesystem=storage.fs, format="parquet").to_table()


def test_s3_export_round_trips_exact_types(lake_settings: Settings) -> None:
    seed(lake_settings.database_conninfo)
    rows = export_all(lake_settings)
    assert rows[("clickstream", DAY1)] == 3 and rows[("clickstream", DAY2)] == 2
    assert rows[("inventory", DAY1)] == 1 and rows[("inventory", DAY2)] == 0
    storage = LakeStorage.from_settings(lake_settings)

    for stream in STREAMS.values():
        table = read_partition(storage, stream.name, DAY1)
        assert table.schema == stream.schema, stream.name
    clicks = read_partition(storage, "clickstream", DAY1).sort_by("product_price").to_pylist()
    assert [c["product_price"] for c in clicks] == [Decimal("10.00"), EXACT_PRICE, None]
    assert sorted(c["event_time"] for c in clicks)[:2] == [SAME_TIME, SAME_TIME]
    assert clicks[1]["event_time"].tzinfo is not None and clicks[1]["event_time"] == SAME_TIME
    assert all(len(c["event_id"]) == 36 for c in clicks)
    recommendation = read_partition(storage, "pricing_recommendations", DAY1).to_pylist()[0]
    assert recommendation["confidence"] == Decimal("0.875") and recommendation["competitor_avg_price"] is None
    assert read_partition(storage, "competitor_prices", DAY1)["price_difference_pct"].to_pylist() == [
        Decimal("-4.17")
    ]

    result = query_lake(
        "SELECT date, count(*) AS n, sum(product_price) AS revenue, min(event_time) AS first "
        "FROM clickstream GROUP BY date ORDER BY date",
        lake_settings,
    ).to_pylist()
    assert [(r["date"], r["n"]) for r in result] == [(DAY1, 3), (DAY2, 2)]
    assert result[0]["revenue"] == Decimal("1209.99") and result[0]["first"] == SAME_TIME
    total = query_lake("SELECT count(*) AS n FROM clickstream", lake_settings)
    assert total.column("n").to_pylist() == [5]
    assert query_lake("SELECT count(*) AS n FROM inventory", lake_settings).column("n").to_pylist() == [1]


def test_reexport_is_idempotent_replaces_whole_partition_and_picks_up_late_rows(
    lake_settings: Settings,
) -> None:
    seed(lake_settings.database_conninfo)
    with psycopg.connect(lake_settings.database_conninfo) as conn:
        for i in range(2500):  # with 1,000-row files: three part files on DAY2
            add_click(conn, datetime(2026, 11, 25, 10, 0, i % 60, i, tzinfo=UTC))
    storage = LakeStorage.from_settings(lake_settings)

    def export(day: date) -> int:
        with psycopg.connect(lake_settings.database_conninfo, autocommit=True) as conn:
            return export_day(conn, "clickstream", day, storage, 1000, max_file_rows=1000).rows

    assert export(DAY1) == 3 and export(DAY2) == 2502
    first = keys(lake_settings)
    assert first == [
        "warehouse/clickstream/date=2026-11-24/part-00000.parquet",
        "warehouse/clickstream/date=2026-11-25/part-00000.parquet",
        "warehouse/clickstream/date=2026-11-25/part-00001.parquet",
        "warehouse/clickstream/date=2026-11-25/part-00002.parquet",
    ]
    assert export(DAY1) == 3 and export(DAY2) == 2502
    assert keys(lake_settings) == first  # same objects, no staging leftovers
    assert read_partition(storage, "clickstream", DAY2).num_rows == 2502

    with psycopg.connect(lake_settings.database_conninfo) as conn:
        late = add_click(conn, SAME_TIME, Decimal("0.01"))  # arrives after DAY1 was exported
        conn.execute("DELETE FROM clickstream_events WHERE event_time >= '2026-11-25 10:00:00Z'")
    assert export(DAY1) == 4 and export(DAY2) == 2
    assert late in read_partition(storage, "clickstream", DAY1)["event_id"].to_pylist()
    assert keys(lake_settings) == first[:2]  # the shrunken DAY2 kept nothing of its old part files
    assert query_lake("SELECT count(*) AS n FROM clickstream", lake_settings)["n"].to_pylist() == [6]


def test_local_backend(lake_settings: Settings) -> None:
    settings = lake_settings.model_copy(update={"lake_backend": "local"})
    seed(settings.database_conninfo)
    export_all(settings)
    root = settings.lake_local_dir
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    export_all(settings)
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == files
    assert "clickstream/date=2026-11-24/part-00000.parquet" in files
    assert not [f for f in files if f.startswith("_staging")]
    storage = LakeStorage.from_settings(settings)
    assert read_partition(storage, "clickstream", DAY1).num_rows == 3
    result = query_lake("SELECT sum(product_price) AS s, count(*) AS n FROM clickstream", settings)
    assert result.to_pylist() == [{"s": Decimal("1229.99"), "n": 5}]
    assert keys(lake_settings) == []  # nothing went to S3


def test_young_lake_has_empty_typed_views(lake_settings: Settings) -> None:
    result = query_lake("SELECT count(*) AS n, sum(product_price) AS s FROM clickstream", lake_settings)
    assert result.to_pylist() == [{"n": 0, "s": None}]


def test_dagster_asset_materialises_a_partition_and_schedule_requests_recent_days(
    lake_settings: Settings,
) -> None:
    seed(lake_settings.database_conninfo)
    resources = build_resources(lake_settings.model_copy(update={"lake_recent_days": 2}))
    clickstream = next(a for a in lake_assets if a.key == dg.AssetKey(["lake", "clickstream"]))
    # An instance of the test's own: an ephemeral one would be built from Dagster's process-wide load
    # context, which temporary instances of earlier tests leave pointing at nothing.
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [clickstream], partition_key=DAY1.isoformat(), resources=resources, instance=instance
        )
    assert result.success
    metadata = result.asset_materializations_for_node(clickstream.node_def.name)[0].metadata
    assert metadata["row_count"].value == 3
    assert metadata["bytes"].value > 0
    assert (
        metadata["path"].value == f"s3://{lake_settings.lake_bucket}/warehouse/clickstream/date=2026-11-24/"
    )
    assert metadata["duration_s"].value >= 0
    assert keys(lake_settings) == ["warehouse/clickstream/date=2026-11-24/part-00000.parquet"]

    schedule = lake_schedule
    # A fresh instance: building a repository reads the current instance, which earlier tests' temporary
    # instances must not leak into.
    with dg.instance_for_test() as instance:
        repository = dg.Definitions(
            assets=lake_assets, jobs=[lake_export_job], schedules=[schedule], resources=resources
        ).get_repository_def()
        # A context manager: the lake resource nests the S3Resource, which Dagster opens and closes.
        with dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=datetime(2026, 11, 26, 7, 10, tzinfo=UTC),
            repository_def=repository,
            resources=resources,
        ) as context:
            requests = list(schedule.evaluate_tick(context).run_requests or [])
    assert [r.partition_key for r in requests] == ["2026-11-25", "2026-11-26"]
    assert lake_partitions.get_first_partition_key() == "2026-01-01"


def test_s3_resource_is_the_one_source_of_endpoint_and_credentials(
    lake_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lake's S3Resource carries the endpoint, region and credentials: taken from the environment,
    they stay EnvVar references (the UI shows the variable's name), resolved when the asset runs; its
    client lists, copies and deletes the keys (no staging object survives a replacement)."""
    for variable, value in (
        ("S3_ENDPOINT_URL", lake_settings.s3_endpoint_url),
        ("AWS_ACCESS_KEY_ID", KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
    ):
        monkeypatch.setenv(variable, value or "")
    lake = LakeResource.from_settings(lake_settings)
    assert isinstance(lake.s3, S3Resource)
    for field in ("endpoint_url", "aws_access_key_id", "aws_secret_access_key"):
        assert isinstance(getattr(lake.s3, field), dg.EnvVar), field
    assert lake.s3.region_name == "us-east-1", "not from the environment here: the value itself"

    seed(lake_settings.database_conninfo)
    clickstream = next(a for a in lake_assets if a.key == dg.AssetKey(["lake", "clickstream"]))
    resources = {**build_resources(lake_settings), "lake": lake}
    with dg.instance_for_test() as instance:
        for _ in range(2):  # the second run replaces the partition: copies over, then deletes staging
            result = dg.materialize(
                [clickstream], partition_key=DAY1.isoformat(), resources=resources, instance=instance
            )
            assert result.success
    assert keys(lake_settings) == ["warehouse/clickstream/date=2026-11-24/part-00000.parquet"]

    with dg.build_resources({"lake": lake}) as built:
        storage = built.lake.storage()
    assert storage.s3_options is not None and storage.s3_options.access_key_id == KEY
    assert storage._s3_client().meta.endpoint_url == lake_settings.s3_endpoint_url
    # Staged keys are CopyObject sources, sent percent-encoded; some endpoints (npm s3rver) do not decode
    # them, so they hold nothing encoding would change (the final keys' `date=` is fine: a plain key).
    staging = storage._staging_path("clickstream", DAY1)
    assert quote(staging, safe="/-_.~") == staging


# ── the local stack's S3 endpoint ──────────────────────────────────────────────────────────────────────

# The writer runs in a process of its own with the environment the local stack gives its services: the
# checksum setting is read when an S3 client is configured, and a test process has configured others.
_EXPORT_TO_S3RVER = """
import sys
from datetime import date

import psycopg
from dagster_aws.s3 import S3Resource

from pricing_platform.lake.export import export_day
from pricing_platform.lake.storage import LakeStorage
from pricing_platform.localstack import s3

conninfo, endpoint, bucket, day = sys.argv[1:]
resource = S3Resource(
    endpoint_url=endpoint, region_name=s3.REGION, aws_access_key_id=s3.ACCESS_KEY,
    aws_secret_access_key=s3.SECRET_KEY,
)
with psycopg.connect(conninfo, autocommit=True) as conn:
    export_day(conn, "clickstream", date.fromisoformat(day), LakeStorage.s3(resource, bucket, "lake"), 4000)
"""


@pytest.fixture(scope="module")
def s3rver_endpoint(artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = S3rverProcess(free_port(), tmp_path_factory.mktemp("s3rver"), artifacts_dir / "s3rver.log")
    server.start()
    try:
        yield server.endpoint
    finally:
        server.stop()


def test_objects_written_through_the_local_s3_endpoint_read_back_byte_exact(
    database: str, s3rver_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """s3rver stores aws-chunked uploads verbatim: without the stack's client setting a Parquet file
    written by pyarrow comes back with chunk headers and trailing checksums in it. The lake's three writers
    (pyarrow's Parquet, boto3, DuckDB) are checked against the same bytes written to a local disk."""
    monkeypatch.setenv("AWS_REQUEST_CHECKSUM_CALCULATION", "WHEN_REQUIRED")
    client = s3rver.client(s3rver_endpoint)
    client.create_bucket(Bucket="lake")
    with psycopg.connect(database) as conn:
        # Several 4,000-row batches, a few MB of Parquet: a partition of realistic shape.
        conn.execute(
            "INSERT INTO clickstream_events (event_id, user_id, session_id, event_type, product_id, "
            " product_name, product_category, product_price, device_type, event_time) "
            "SELECT gen_random_uuid(), 'u' || (i %% 500), gen_random_uuid(), 'product_view', 'P001', "
            " 'Laptop', 'electronics', 10 + (i %% 997) / 100.0, 'mobile', "
            " %s::timestamptz + i * interval '1 second' "
            "FROM generate_series(1, 20000) AS i",
            (datetime(2026, 11, 24, 0, 0, tzinfo=UTC),),
        )

    # pyarrow (the lake export), through the endpoint and to a local directory.
    env = {**os.environ, **s3rver.CLIENT_ENVIRONMENT}
    subprocess.run(
        [sys.executable, "-c", _EXPORT_TO_S3RVER, database, s3rver_endpoint, "lake", DAY1.isoformat()],
        check=True,
        env=env,
        timeout=120,
    )
    local = LakeStorage.local(tmp_path / "lake")
    with psycopg.connect(database, autocommit=True) as conn:
        written = export_day(conn, "clickstream", DAY1, local, 4000)
    assert written.rows == 20000
    prefix = "lake/clickstream/date=2026-11-24/"
    listed = client.list_objects_v2(Bucket="lake", Prefix=prefix).get("Contents", [])
    assert sorted(o["Key"].removeprefix(prefix) for o in listed) == sorted(written.files)
    for name in written.files:
        on_disk = (Path(written.path) / name).read_bytes()
        assert client.get_object(Bucket="lake", Key=prefix + name)["Body"].read() == on_disk, name
    assert sum(o["Size"] for o in listed) == written.bytes

    # boto3: a multipart upload (parts of 5 MiB) of 12 MiB.
    payload = os.urandom(12 * 2**20)
    client.upload_fileobj(io.BytesIO(payload), "lake", "boto3/blob.bin")
    assert client.get_object(Bucket="lake", Key="boto3/blob.bin")["Body"].read() == payload

    # DuckDB's httpfs: COPY a query result to the endpoint and to disk.
    storage = LakeStorage.s3(
        S3Resource(
            endpoint_url=s3rver_endpoint,
            region_name=s3rver.REGION,
            aws_access_key_id=s3rver.ACCESS_KEY,
            aws_secret_access_key=s3rver.SECRET_KEY,
        ),
        "lake",
    )
    with connect_lake(storage) as con:
        query = "SELECT event_id, product_price, event_time FROM clickstream ORDER BY event_time"
        con.execute(f"COPY ({query}) TO 's3://lake/duckdb/copy.parquet' (FORMAT parquet)")
        con.execute(f"COPY ({query}) TO '{tmp_path / 'copy.parquet'}' (FORMAT parquet)")
    from_s3 = client.get_object(Bucket="lake", Key="duckdb/copy.parquet")["Body"].read()
    assert from_s3 == (tmp_path / "copy.parquet").read_bytes()
