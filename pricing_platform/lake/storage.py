"""Where the lake lives (a local directory or an S3 bucket) and how one daily partition is replaced.

Layout: `<root>/<stream>/date=YYYY-MM-DD/part-00000.parquet, part-00001.parquet, …` (Hive-style, so DuckDB
and pyarrow read `date` as a column). A partition is always rewritten whole, never appended to: the same
export of the same rows yields the same object names, and nothing of the previous version remains.

Each replacement is written first under `<root>/_staging/<stream>/YYYY-MM-DD/<token>/`, which no reader's glob
(`<root>/<stream>/*/*.parquet`) matches, and only then swapped in:

* local: the staging directory and the partition directory are exchanged with one `renameat2(…,
  RENAME_EXCHANGE)` (Linux), so a reader sees the complete old or the complete new partition, never a mix
  and never a gap; the old files, now in the staging directory, are deleted after. Where that call is not
  available, two renames: a reader may then find the partition missing for the instant between them.
* S3 has no rename: every staged object is copied server-side (CopyObject, each PUT atomic) over the
  fixed partition keys `part-NNNNN.parquet`, then the partition's keys not in the new set are deleted, then
  the staging objects. Until the copies start a reader sees the old version; while they run (a few ms per
  file, no data moves through this process) it may see new and old part files side by side; after the
  deletes it sees exactly the new version. A failed run leaves the old version (failure before the copies)
  or a mix that the next run of the same partition replaces; staging debris of a failed run is removed by
  the next run of that partition.

Concurrent replacements of the *same* partition are not supported (the Dagster job runs one per
partition).

S3 is reached through dagster-aws's `S3Resource`, the one source of endpoint, credentials and region
(`s3_resource` builds it from the settings; in Dagster it is nested in `LakeResource`): its boto3 client
lists, copies and deletes keys, and Parquet is written with a pyarrow filesystem given the same endpoint,
region and credentials. The endpoint is a setting, so the same code serves AWS, MinIO and the local
stack's endpoint."""

from __future__ import annotations

import ctypes
import os
import secrets
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pricing_platform.core.settings import Settings

if TYPE_CHECKING:
    from dagster_aws.s3 import S3Resource

STAGING_DIR = "_staging"
DEFAULT_FILE_ROWS = 1_000_000
COMPRESSION = "zstd"


@dataclass(frozen=True)
class S3Options:
    """Where the lake's bucket is and how to sign requests to it, as taken from the S3Resource: what the
    Parquet writer (pyarrow) and the lake's readers (DuckDB) need besides the resource's client."""

    bucket: str
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)


def s3_resource(settings: Settings, value: Any = None) -> S3Resource:
    """The lake's `S3Resource` from the S3_* / AWS_* settings. `value(variable, setting)` may turn a
    setting into a reference (Dagster's `EnvVar`); by default the values are passed as they are."""
    from dagster_aws.s3 import S3Resource

    def given(variable: str, setting: str | None) -> Any:
        return value(variable, setting) if value is not None else setting

    return S3Resource(
        endpoint_url=given("S3_ENDPOINT_URL", settings.s3_endpoint_url),
        region_name=given("S3_REGION", settings.s3_region),
        aws_access_key_id=given("AWS_ACCESS_KEY_ID", settings.aws_access_key_id),
        aws_secret_access_key=given("AWS_SECRET_ACCESS_KEY", settings.aws_secret_access_key),
    )


@dataclass(frozen=True)
class PartitionWrite:
    """What one `replace_partition` wrote."""

    stream: str
    day: date
    path: str  # URI of the partition directory (a local path or s3://bucket/key/)
    rows: int
    bytes: int
    files: tuple[str, ...]  # object names inside the partition
    seconds: float


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


class LakeStorage:
    """The lake's root on a pyarrow filesystem. Build it with `from_settings`, `local` or `s3`."""

    def __init__(
        self,
        backend: Literal["local", "s3"],
        fs: pafs.FileSystem,
        root: str,
        s3: S3Options | None,
        client: Any = None,
    ):
        self.backend = backend
        self.fs = fs
        self.root = root.rstrip("/")  # path inside `fs`: an absolute directory, or bucket[/prefix]
        self.s3_options = s3
        self._client = client  # the S3Resource's boto3 client: key operations

    # ── construction ────────────────────────────────────────────────────────────────────────────────────

    @classmethod
    def local(cls, directory: Path | str) -> LakeStorage:
        root = Path(directory).resolve()
        root.mkdir(parents=True, exist_ok=True)
        return cls("local", pafs.LocalFileSystem(), str(root), None)

    @classmethod
    def s3(cls, resource: S3Resource, bucket: str, prefix: str = "") -> LakeStorage:
        """The lake in `bucket` under `prefix`, reached through `resource` (its config resolved: inside
        Dagster, the resource handed to the asset)."""
        options = S3Options(
            bucket=bucket,
            endpoint_url=resource.endpoint_url,
            region=resource.region_name or "us-east-1",
            access_key_id=resource.aws_access_key_id,
            secret_access_key=resource.aws_secret_access_key,
        )
        kwargs: dict[str, Any] = {"region": options.region}
        if options.endpoint_url:
            scheme, _, host = options.endpoint_url.partition("://")
            kwargs.update(endpoint_override=host.rstrip("/"), scheme=scheme or "https")
        if options.access_key_id:
            kwargs.update(access_key=options.access_key_id, secret_key=options.secret_access_key)
        root = "/".join(p for p in (bucket, prefix.strip("/")) if p)
        return cls("s3", pafs.S3FileSystem(**kwargs), root, options, resource.get_client())

    @classmethod
    def from_settings(cls, settings: Settings) -> LakeStorage:
        if settings.lake_backend == "local":
            return cls.local(settings.lake_local_dir)
        return cls.s3(s3_resource(settings), settings.lake_bucket, settings.lake_prefix)

    # ── addresses ───────────────────────────────────────────────────────────────────────────────────────

    @property
    def uri(self) -> str:
        """The root as DuckDB (and people) address it."""
        return f"s3://{self.root}" if self.backend == "s3" else self.root

    def stream_path(self, stream: str) -> str:
        return f"{self.root}/{stream}"

    def partition_path(self, stream: str, day: date) -> str:
        """`<root>/<stream>/date=YYYY-MM-DD/` (a path inside `fs`)."""
        return f"{self.root}/{stream}/date={day.isoformat()}/"

    def partition_uri(self, stream: str, day: date) -> str:
        path = self.partition_path(stream, day)
        return f"s3://{path}" if self.backend == "s3" else path

    def stream_glob(self, stream: str) -> str:
        return f"{self.uri}/{stream}/*/*.parquet"

    def _staging_path(self, stream: str, day: date) -> str:
        # No `=` (nor anything else URL-encoding would change) in staging keys: they are CopyObject sources,
        # sent percent-encoded, and some S3-compatible endpoints (npm s3rver) do not decode them.
        return f"{self.root}/{STAGING_DIR}/{stream}/{day.isoformat()}"

    # ── reading the layout ──────────────────────────────────────────────────────────────────────────────

    def list_partition(self, stream: str, day: date) -> list[str]:
        """Names of the files in one partition, sorted; empty when it was never written."""
        selector = pafs.FileSelector(self.partition_path(stream, day).rstrip("/"), allow_not_found=True)
        infos = self.fs.get_file_info(selector)
        return sorted(i.base_name for i in infos if i.type == pafs.FileType.File)

    def has_files(self, stream: str) -> bool:
        selector = pafs.FileSelector(self.stream_path(stream), allow_not_found=True, recursive=True)
        return any(
            i.type == pafs.FileType.File and i.base_name.endswith(".parquet")
            for i in self.fs.get_file_info(selector)
        )

    # ── writing ─────────────────────────────────────────────────────────────────────────────────────────

    def replace_partition(
        self,
        stream: str,
        day: date,
        batches: Iterable[pa.RecordBatch],
        schema: pa.Schema,
        *,
        max_file_rows: int = DEFAULT_FILE_ROWS,
    ) -> PartitionWrite:
        """Write `batches` (one row group each) as the new content of the partition, then swap it in (see
        the module docstring for what readers see). A day without rows is one empty file, so the partition
        exists and says "exported, nothing there"."""
        started = time.perf_counter()
        staging_root = self._staging_path(stream, day)
        self._delete_tree(staging_root)  # debris of a failed earlier run of this partition
        staging = f"{staging_root}/{secrets.token_hex(8)}"
        rows, sizes = self._write_parts(staging, batches, schema, max_file_rows)
        names = tuple(part_name(i) for i in range(len(sizes)))
        if self.backend == "local":
            self._swap_local(staging, self.partition_path(stream, day).rstrip("/"))
        else:
            self._swap_s3(staging, self.partition_path(stream, day), names)
        self._delete_tree(staging_root)
        return PartitionWrite(
            stream=stream,
            day=day,
            path=self.partition_uri(stream, day),
            rows=rows,
            bytes=sum(sizes),
            files=names,
            seconds=time.perf_counter() - started,
        )

    def _write_parts(
        self, directory: str, batches: Iterable[pa.RecordBatch], schema: pa.Schema, max_file_rows: int
    ) -> tuple[int, list[int]]:
        if self.backend == "local":
            Path(directory).mkdir(parents=True, exist_ok=True)
        total = 0
        sizes: list[int] = []
        writer: pq.ParquetWriter | None = None
        in_file = 0

        def close() -> None:
            nonlocal writer
            if writer is not None:
                writer.close()
                writer = None
                sizes.append(self.fs.get_file_info(f"{directory}/{part_name(len(sizes))}").size)

        try:
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                if writer is None:
                    path = f"{directory}/{part_name(len(sizes))}"
                    writer = pq.ParquetWriter(path, schema, filesystem=self.fs, compression=COMPRESSION)
                    in_file = 0
                writer.write_batch(batch)
                in_file += batch.num_rows
                total += batch.num_rows
                if in_file >= max_file_rows:
                    close()
            if writer is None and not sizes:
                path = f"{directory}/{part_name(0)}"
                writer = pq.ParquetWriter(path, schema, filesystem=self.fs, compression=COMPRESSION)
            close()
        finally:
            if writer is not None:
                writer.close()
        return total, sizes

    def _swap_local(self, staging: str, final: str) -> None:
        if os.path.isdir(final):
            if not _exchange(staging, final):
                retired = f"{staging}.old"
                os.rename(final, retired)
                os.rename(staging, final)
                staging = retired
            shutil.rmtree(staging)  # now the previous version
        else:
            Path(final).parent.mkdir(parents=True, exist_ok=True)
            os.rename(staging, final)

    def _swap_s3(self, staging: str, final: str, names: tuple[str, ...]) -> None:
        client = self._s3_client()
        bucket, _, final_prefix = final.partition("/")
        _, _, staging_prefix = staging.partition("/")
        for name in names:
            client.copy_object(
                Bucket=bucket,
                Key=f"{final_prefix}{name}",
                CopySource={"Bucket": bucket, "Key": f"{staging_prefix}/{name}"},
            )
        keep = {f"{final_prefix}{name}" for name in names}
        self._delete_keys([k for k in self._list_keys(final_prefix) if k not in keep])

    def _delete_tree(self, path: str) -> None:
        if self.backend == "local":
            shutil.rmtree(path, ignore_errors=True)
        else:
            _, _, prefix = path.partition("/")
            self._delete_keys(self._list_keys(prefix.rstrip("/") + "/"))

    # ── S3 object operations (the S3Resource's boto3 client: exact keys, no directory-marker objects) ──────

    def _s3_client(self) -> Any:
        if self._client is None:
            raise RuntimeError("an S3 lake needs the S3Resource's client: build it with LakeStorage.s3")
        return self._client

    def _list_keys(self, prefix: str) -> list[str]:
        assert self.s3_options is not None
        pages = (
            self._s3_client()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.s3_options.bucket, Prefix=prefix)
        )
        return [obj["Key"] for page in pages for obj in page.get("Contents", [])]

    def _delete_keys(self, keys: list[str]) -> None:
        assert self.s3_options is not None
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            self._s3_client().delete_objects(
                Bucket=self.s3_options.bucket,
                Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True},
            )


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: str, b: str) -> bool:
    """Atomically exchange two paths (Linux renameat2 RENAME_EXCHANGE); False when unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: the filesystem or kernel cannot exchange
        return False
    raise OSError(errno, os.strerror(errno), a)
