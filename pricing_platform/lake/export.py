"""One UTC day of one stream, from PostgreSQL into Arrow record batches, into the lake.

The rows are selected by `time_column >= day 00:00 UTC AND time_column < next day 00:00 UTC`: a day is a
closed set, so rows sharing a timestamp are never split or skipped, and a row that arrives late for a past
day is picked up by exporting that day again (the partition is replaced whole).

The read goes through ADBC's PostgreSQL driver, which runs the query as `COPY … TO STDOUT (FORMAT
BINARY)` and decodes the stream into Arrow in C++: it matched psycopg's own `COPY … TO STDOUT` on this
machine, where a server-side cursor with Python tuples ran at 0.3× (STACK-NOTES). A reader thread fetches
the next batch while the caller encodes and writes the current one (both outside the GIL). Types stay
exact: `numeric` arrives as its decimal text (an opaque Arrow extension type) and is cast to the stream's
`decimal128(p, s)`; `timestamptz` arrives as `timestamp[us, UTC]`; uuid is selected as its text.

Memory is bounded by the batch: at most `batch_rows` rows are gathered for one row group, plus one
driver batch (`_FETCH_BYTES`) in flight."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

import adbc_driver_postgresql
import adbc_driver_postgresql.dbapi as adbc
import psycopg
import pyarrow as pa
from psycopg import sql
from psycopg.conninfo import make_conninfo

from pricing_platform.lake.storage import DEFAULT_FILE_ROWS, LakeStorage, PartitionWrite
from pricing_platform.lake.streams import STREAMS, LakeStream

# Bytes per batch the driver decodes at a time (its own default is 16 MiB).
_FETCH_BYTES: Final = 8 * 2**20
_DONE: Final = object()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def _select_expression(name: str, type_: pa.DataType) -> sql.Composable:
    column = sql.Identifier(name)
    if pa.types.is_string(type_):
        return sql.SQL("{c}::text AS {c}").format(c=column)  # uuid → its canonical text
    return column


def select_day_sql(stream: LakeStream, bounds: tuple[datetime, datetime] | None = None) -> sql.Composed:
    """The export's query: with `%s` placeholders for the day's bounds, or with `bounds` as literals."""
    low, high = (sql.Placeholder(), sql.Placeholder()) if bounds is None else map(sql.Literal, bounds)
    return sql.SQL("SELECT {cols} FROM {table} WHERE {t} >= {low} AND {t} < {high}").format(
        cols=sql.SQL(", ").join(_select_expression(c.name, c.type) for c in stream.columns),
        table=sql.Identifier(stream.table),
        t=sql.Identifier(stream.time_column),
        low=low,
        high=high,
    )


def _to_schema(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    arrays = []
    for field in schema:
        column = batch.column(field.name)
        if isinstance(column.type, pa.ExtensionType) or isinstance(column, pa.ExtensionArray):
            column = column.storage  # numeric: its exact decimal text
        arrays.append(column if column.type == field.type else column.cast(field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _fetch(conninfo: str, query: str, out: queue.Queue, stop: threading.Event) -> None:
    """Reader thread: the query's driver batches into `out`, then `_DONE` (or the exception)."""
    try:
        with adbc.connect(conninfo) as conn, conn.cursor() as cur:
            cur.adbc_statement.set_options(
                **{adbc_driver_postgresql.StatementOptions.BATCH_SIZE_HINT_BYTES.value: str(_FETCH_BYTES)}
            )
            cur.execute(query)
            for batch in cur.fetch_record_batch():
                while not stop.is_set():
                    try:
                        out.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        out.put(_DONE)
    except BaseException as exc:  # handed to the consuming thread, which raises it
        out.put(exc)


def iter_day_batches(
    conn: psycopg.Connection | str, stream: LakeStream, day: date, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """Batches of up to `batch_rows` rows of `stream` on `day` (UTC), in `stream.schema`, read in one
    statement (one snapshot). `conn`: a psycopg connection to take the connection parameters from, or a
    conninfo string."""
    conninfo = conn if isinstance(conn, str) else _conninfo(conn)
    query = select_day_sql(stream, day_bounds(day)).as_string(None if isinstance(conn, str) else conn)
    schema = stream.schema
    fetched: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    reader = threading.Thread(target=_fetch, args=(conninfo, query, fetched, stop), daemon=True)
    reader.start()
    pending: list[pa.RecordBatch] = []
    rows = 0
    try:
        while (item := fetched.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            pending.append(_to_schema(item, schema))
            rows += item.num_rows
            while rows >= batch_rows:  # exactly `batch_rows` per batch, the rest waits for more
                gathered = _concat(pending)
                yield gathered.slice(0, batch_rows)
                rest = gathered.slice(batch_rows)
                pending, rows = ([rest] if rest.num_rows else []), rest.num_rows
        if pending:
            yield _concat(pending)
    finally:
        stop.set()
        reader.join()


def _concat(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    return batches[0] if len(batches) == 1 else pa.concat_batches(batches)


def _conninfo(conn: psycopg.Connection) -> str:
    """The libpq connection string of an open psycopg connection, password included."""
    params = conn.info.get_parameters()
    if conn.info.password:
        params["password"] = conn.info.password
    return make_conninfo(**params)


def export_day(
    conn: psycopg.Connection | str,
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
