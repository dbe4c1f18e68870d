"""SQL over the lake with DuckDB: one view per stream (`clickstream`, `inventory`, `competitor_prices`,
`pricing_recommendations`), each reading `<root>/<stream>/*/*.parquet` with Hive partitioning, so `date`
is a column and filters on it prune partitions. S3 is read through the httpfs extension shipped in the
`duckdb-extension-httpfs` wheel (DuckDB cannot download extensions here)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import pyarrow as pa

from pricing_platform.core.settings import Settings
from pricing_platform.lake.storage import LakeStorage
from pricing_platform.lake.streams import STREAMS


def httpfs_extension_path() -> Path:
    spec = importlib.util.find_spec("duckdb_extension_httpfs")
    if spec is None or spec.origin is None:
        raise RuntimeError("the duckdb-extension-httpfs package is not installed")
    version = duckdb.__version__
    path = Path(spec.origin).parent / "extensions" / f"v{version}" / "httpfs.duckdb_extension"
    if not path.exists():
        raise RuntimeError(f"no httpfs extension for DuckDB {version} at {path}")
    return path


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _configure_s3(con: duckdb.DuckDBPyConnection, storage: LakeStorage) -> None:
    options = storage.s3_options
    assert options is not None
    con.execute(f"LOAD {_quote(str(httpfs_extension_path()))}")
    parts = [f"REGION {_quote(options.region)}"]
    if options.access_key_id:
        secret = options.secret_access_key or ""
        parts += [f"KEY_ID {_quote(options.access_key_id)}", f"SECRET {_quote(secret)}"]
    else:
        parts.insert(0, "PROVIDER credential_chain")
    if options.endpoint_url:
        url = urlsplit(options.endpoint_url)
        parts += [
            f"ENDPOINT {_quote(url.netloc)}",
            "URL_STYLE 'path'",
            f"USE_SSL {'true' if url.scheme == 'https' else 'false'}",
        ]
    con.execute(f"CREATE OR REPLACE SECRET lake (TYPE S3, {', '.join(parts)})")


def connect_lake(storage: LakeStorage) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with a view per stream over `storage` (an empty, typed view for a stream that
    has no files yet, so queries never fail on a young lake)."""
    con = duckdb.connect()
    if storage.backend == "s3":
        _configure_s3(con, storage)
    # View names come from the registry and paths are quoted: no outside text is spliced in.
    for stream in STREAMS.values():
        if storage.has_files(stream.name):
            source = f"read_parquet({_quote(storage.stream_glob(stream.name))}, hive_partitioning = true)"
            con.execute(f"CREATE VIEW {stream.name} AS SELECT * FROM {source}")  # noqa: S608
        else:
            empty = stream.schema.append(pa.field("date", pa.date32())).empty_table()
            con.register(f"_{stream.name}_empty", empty)
            con.execute(f"CREATE VIEW {stream.name} AS SELECT * FROM _{stream.name}_empty")  # noqa: S608
    return con


def query_lake(sql: str, settings: Settings, storage: LakeStorage | None = None) -> pa.Table:
    """Run `sql` against the lake of `settings` (or `storage`) and return the result as an Arrow table."""
    con = connect_lake(storage or LakeStorage.from_settings(settings))
    try:
        return con.execute(sql).to_arrow_table()
    finally:
        con.close()
