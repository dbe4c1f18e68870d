"""One UTC day of one stream, from PostgreSQL into Arrow record batches, into the lake.

The rows are selected by `time_column >= day 00:00 UTC AND time_column < next day 00:00 UTC`: a day is a
closed set, so rows sharing a timestamp are never split or skipped, and a row that arrives late for a past
day is picked up by exporting that day again (the partition is replaced whole).

Memory is bounded by one batch: a server-side (named) cursor streams `lake_batch_rows` rows at a time,
each batch is converted and handed to the writer before the next is fetched. The database sends
timestamps as epoch microseconds and money as unscaled integers (exact casts in SQL), which become
`timestamp[us, UTC]` and `decimal128(p, s)` arrays without a Python datetime or Decimal per value."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import psycopg
import pyarrow as pa
from psycopg import sql

from pricing_platform.lake.storage import DEFAULT_FILE_ROWS, LakeStorage, PartitionWrite
from pricing_platform.lake.streams import STREAMS, LakeStream


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def _select_expression(name: str, type_: pa.DataType) -> sql.Composable:
    column = sql.Identifier(name)
    if pa.types.is_timestamp(type_):
        return sql.SQL("(extract(epoch FROM {c}) * 1000000)::int8 AS {c}").format(c=column)
    if pa.types.is_decimal(type_):
        return sql.SQL("({c} * {f})::int8 AS {c}").format(c=column, f=sql.Literal(10**type_.scale))
    if pa.types.is_string(type_):
        return sql.SQL("{c}::text AS {c}").format(c=column)
    return column


def select_day_sql(stream: LakeStream) -> sql.Composed:
    return sql.SQL("SELECT {cols} FROM {table} WHERE {t} >= %s AND {t} < %s").format(
        cols=sql.SQL(", ").join(_select_expression(c.name, c.type) for c in stream.columns),
        table=sql.Identifier(stream.table),
        t=sql.Identifier(stream.time_column),
    )


def _decimal_from_unscaled(values: list, type_: pa.Decimal128Type) -> pa.Array:
    ints = pa.array(values, pa.int64())
    low = ints.fill_null(0).to_numpy()
    wide = np.empty(2 * len(low), dtype="<i8")
    wide[0::2] = low
    wide[1::2] = low >> 63  # sign extension to 128 bits (little endian)
    return pa.Array.from_buffers(
        type_, len(low), [ints.buffers()[0], pa.py_buffer(wide)], null_count=ints.null_count
    )


def _column(values: list, type_: pa.DataType) -> pa.Array:
    if pa.types.is_timestamp(type_):
        return pa.array(values, pa.int64()).view(type_)
    if pa.types.is_decimal(type_):
        return _decimal_from_unscaled(values, type_)
    return pa.array(values, type_)


def rows_to_batch(rows: list[tuple], schema: pa.Schema) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    arrays = [_column(list(values), f.type) for values, f in zip(columns, schema, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def iter_day_batches(
    conn: psycopg.Connection, stream: LakeStream, day: date, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """Batches of at most `batch_rows` rows of `stream` on `day` (UTC), read in one transaction."""
    schema = stream.schema
    with conn.transaction(), conn.cursor(name=f"lake_export_{stream.name}") as cur:
        cur.itersize = batch_rows
        cur.execute(select_day_sql(stream), day_bounds(day))
        while rows := cur.fetchmany(batch_rows):
            yield rows_to_batch(rows, schema)


def export_day(
    conn: psycopg.Connection,
    stream: LakeStream | str,
    day: date,
    storage: LakeStorage,
    batch_rows: int,
    *,
    max_file_rows: int = DEFAULT_FILE_ROWS,
) -> PartitionWrite:
    """Replace the lake partition `stream`/`day` with the rows PostgreSQL holds for that UTC day now."""
    spec = STREAMS[stream] if isinstance(stream, str) else stream
    return storage.replace_partition(
        spec.name,
        day,
        iter_day_batches(conn, spec, day, batch_rows),
        spec.schema,
        max_file_rows=max(max_file_rows, batch_rows),
    )
