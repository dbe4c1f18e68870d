"""The local S3 endpoint's listing index (pricing_platform/localstack/s3rver/listing-index.js) against
s3rver's own listing: two real s3rver processes on the same directory, one with the index and one without,
must answer every listing alike while objects are put, replaced, copied, uploaded in parts and deleted
through the indexed one, and the indexed one must still agree after a restart."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pricing_platform.localstack import s3 as s3rver
from tests.support.servers import S3rverProcess, free_port

BUCKET = "topics"
RECORDS = "clusters/c/topics/t/partitions/0000000000/records/"


def batch_key(offset: int) -> str:
    return f"{RECORDS}{offset:020d}.batch"


@pytest.fixture
def endpoints(artifacts_dir: Path, tmp_path: Path) -> Iterator[tuple[S3rverProcess, S3rverProcess]]:
    """(indexed, s3rver's own listing) on one directory; writes go through the indexed one only."""
    indexed = S3rverProcess(free_port(), tmp_path, artifacts_dir / "s3rver-indexed.log")
    plain = S3rverProcess(free_port(), tmp_path, artifacts_dir / "s3rver-plain.log", listing_index=False)
    indexed.start(BUCKET)
    plain.start()
    try:
        yield indexed, plain
    finally:
        indexed.stop()
        plain.stop()


def listing(client: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
    """Every page of a ListObjectsV2, as (key, size, etag, modified) and ("prefix", p) rows."""
    rows: list[tuple[Any, ...]] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, **kwargs):
        rows += [(o["Key"], o["Size"], o["ETag"], o["LastModified"]) for o in page.get("Contents", [])]
        rows += [("prefix", p["Prefix"]) for p in page.get("CommonPrefixes", [])]
    return rows


QUERIES: list[dict[str, Any]] = [
    {"Prefix": RECORDS},
    {"Prefix": RECORDS, "Delimiter": "/"},
    {"Prefix": RECORDS, "StartAfter": batch_key(500)},
    {"Prefix": RECORDS, "StartAfter": batch_key(500) + "x"},
    {"Prefix": RECORDS, "StartAfter": "a"},  # before the prefix
    {"Prefix": RECORDS, "StartAfter": "zzz"},  # after every key
    {"Prefix": RECORDS, "PaginationConfig": {"PageSize": 70}},
    {"Prefix": RECORDS, "StartAfter": batch_key(1190), "PaginationConfig": {"PageSize": 3}},
    {"Prefix": "clusters/c/topics/t/partitions/", "Delimiter": "/"},  # has subdirectories: s3rver's walk
    {"Prefix": "clusters/c/"},
    {"Prefix": RECORDS + "0000"},  # not a directory: s3rver's walk
]


def assert_same_listings(indexed: Any, plain: Any) -> list[tuple[Any, ...]]:
    for query in QUERIES:
        assert listing(indexed, **query) == listing(plain, **query), query
    return listing(indexed, Prefix=RECORDS)


def test_the_listing_index_answers_as_s3rver_does_through_writes_and_a_restart(
    endpoints: tuple[S3rverProcess, S3rverProcess],
) -> None:
    indexed_server, plain_server = endpoints
    indexed, plain = s3rver.client(indexed_server.endpoint), s3rver.client(plain_server.endpoint)
    # More than a page (1000 keys), written out of order.
    offsets = list(range(0, 1200, 2)) + list(range(1, 1200, 2))
    for offset in offsets[:600]:
        indexed.put_object(Bucket=BUCKET, Key=batch_key(offset), Body=b"x" * (offset % 50))
    first = assert_same_listings(indexed, plain)
    assert [row[0] for row in first] == [batch_key(o) for o in range(0, 1200, 2)]

    # The index is loaded now: later writes must reach it.
    for offset in offsets[600:]:
        indexed.put_object(Bucket=BUCKET, Key=batch_key(offset), Body=b"y" * (offset % 70))
    replaced = b"replaced, longer than before"
    indexed.put_object(Bucket=BUCKET, Key=batch_key(10), Body=replaced)
    source = {"Bucket": BUCKET, "Key": batch_key(10)}
    indexed.copy_object(Bucket=BUCKET, Key=batch_key(5000), CopySource=source)
    parts = io.BytesIO(b"p" * (6 * 2**20))  # two parts of a multipart upload
    indexed.upload_fileobj(parts, BUCKET, batch_key(6000))
    for offset in range(100, 300):
        indexed.delete_object(Bucket=BUCKET, Key=batch_key(offset))
    rows = assert_same_listings(indexed, plain)
    keys = {row[0]: row for row in rows}
    expected = {batch_key(o) for o in range(1200) if not 100 <= o < 300} | {batch_key(5000), batch_key(6000)}
    assert set(keys) == expected
    assert keys[batch_key(10)][1] == len(replaced)
    assert keys[batch_key(10)][2] == f'"{hashlib.md5(replaced).hexdigest()}"'  # S3's ETag
    assert keys[batch_key(5000)][1] == len(replaced)
    assert keys[batch_key(6000)][1] == 6 * 2**20

    # A subdirectory under an indexed directory: its listing goes back to s3rver's walk.
    indexed.put_object(Bucket=BUCKET, Key=f"{RECORDS}nested/inside", Body=b"n")
    rows = assert_same_listings(indexed, plain)
    assert f"{RECORDS}nested/inside" in {row[0] for row in rows}
    assert ("prefix", f"{RECORDS}nested/") in listing(indexed, Prefix=RECORDS, Delimiter="/")
    indexed.delete_object(Bucket=BUCKET, Key=f"{RECORDS}nested/inside")

    # A restart reads the directory afresh.
    indexed_server.stop()
    indexed_server.start()
    indexed = s3rver.client(indexed_server.endpoint)
    assert {row[0] for row in assert_same_listings(indexed, plain)} == expected

    # Emptied, the directory goes, as with s3rver's own delete.
    for key in expected:
        indexed.delete_object(Bucket=BUCKET, Key=key)
    assert listing(indexed, Prefix=RECORDS) == listing(plain, Prefix=RECORDS) == []
    assert not (indexed_server.directory / BUCKET / RECORDS).exists()
