"""A worker whose partitions moved to another consumer while it stalled cannot commit its stale batch."""

from __future__ import annotations

import psycopg
import pytest

from ingest_workers.batch import Batch
from ingest_workers.offsets import Fenced, advance, load_positions
from ingest_workers.worker import IngestWorker
from pricing_platform.core.catalog import TOPICS, Stream
from pricing_platform.core.settings import Settings
from tests.support.factories import click
from tests.support.workers import scalar

pytestmark = pytest.mark.integration
TOPIC = TOPICS[Stream.CLICKSTREAM].name


def test_stale_owner_batch_is_rolled_back_whole(settings: Settings) -> None:
    db = settings.database_conninfo
    stale = IngestWorker(Stream.CLICKSTREAM, settings, worker_id="stale")
    fresh = IngestWorker(Stream.CLICKSTREAM, settings, worker_id="fresh")
    # Both read partition 0 as never consumed; the fresh owner commits offsets 0..99 first.
    stale.positions = {0: None}
    fresh.positions = {0: None}
    with psycopg.connect(db, autocommit=True) as conn:
        first = Batch(events=[click("P001", "purchase")], ranges={0: (0, 99)})
        fresh.commit_batch(conn, first, fresh.moves_for(first))
        stale_batch = Batch(
            events=[click("P001", "purchase"), click("P002", "purchase")], ranges={0: (0, 99)}
        )
        with pytest.raises(Fenced, match=r"raw.clickstream\[0\] moved away from offset None"):
            stale.commit_batch(conn, stale_batch, stale.moves_for(stale_batch))
        # Later batches of a stale owner fail the same way: its expected position is behind.
        stale.positions = {0: 50}
        with pytest.raises(Fenced):
            later = Batch(events=[click("P003", "purchase")], ranges={0: (50, 149)})
            stale.commit_batch(conn, later, stale.moves_for(later))
        assert load_positions(conn, fresh.group, TOPIC, [0]) == {0: 100}
    assert scalar(db, "SELECT count(*) FROM clickstream_events") == 1
    assert scalar(db, "SELECT sum(purchases) FROM product_metrics") == 1


def test_offsets_advance_only_from_the_expected_position(settings: Settings) -> None:
    with psycopg.connect(settings.database_conninfo, autocommit=True) as conn, conn.cursor() as cur:
        advance(cur, "g", TOPIC, {0: (None, 10), 1: (None, 5)})
        advance(cur, "g", TOPIC, {0: (10, 20)})
        with pytest.raises(Fenced):
            advance(cur, "g", TOPIC, {0: (10, 30)})
        with pytest.raises(Fenced):
            advance(cur, "g", TOPIC, {1: (None, 7)})
        assert load_positions(conn, "g", TOPIC, [0, 1, 2]) == {0: 20, 1: 5}
