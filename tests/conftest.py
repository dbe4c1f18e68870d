"""Session-wide real servers and per-test isolation (own database, fresh topics, own consumer groups)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from pricing_platform.core.catalog import ALL_TOPICS
from pricing_platform.core.settings import Settings
from pricing_platform.topics import ensure_topics
from tests.support.servers import BrokerProcess, PostgresProcess, free_port, migrated_postgres

TEMPLATE_DB = "pricing_template"
_test_ids = itertools.count(1)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = Path(__file__).resolve().parent.parent / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def postgres(artifacts_dir: Path) -> Iterator[PostgresProcess]:
    with migrated_postgres("pricing-test-pg-", artifacts_dir / "postgres.log", TEMPLATE_DB) as process:
        yield process


@pytest.fixture(scope="session")
def broker(artifacts_dir: Path) -> Iterator[BrokerProcess]:
    process = BrokerProcess(free_port(), artifacts_dir / "broker.log")
    process.start()
    yield process
    process.stop()


@pytest.fixture
def database(postgres: PostgresProcess) -> str:
    """A migrated, seeded database of this test's own (cloned from the template in ~0.1 s)."""
    return postgres.create_database(f"test_{next(_test_ids)}", template=TEMPLATE_DB)


@pytest.fixture
def settings(database: str, broker: BrokerProcess, tmp_path: Path) -> Settings:
    test_id = next(_test_ids)
    return Settings(
        kafka_bootstrap_servers=broker.bootstrap,
        database_url=database,
        kafka_group_prefix=f"test{test_id}-ingest",
        ingest_metrics_port=0,
        simulator_metrics_port=0,
        ingest_stats_interval_s=1.0,
        ingest_batch_size=5000,
        local_state_dir=tmp_path / "local",
        quality_docs_dir=tmp_path / "quality-docs",
    )


@pytest.fixture
def topics(settings: Settings) -> Settings:
    """Empty raw topics: deleted and created again for each test that produces."""
    admin = AdminClient(settings.kafka_common_config())
    names = [t.name for t in ALL_TOPICS]
    existing = set(admin.list_topics(timeout=10).topics)
    doomed = [n for n in names if n in existing]
    if doomed:
        for future in admin.delete_topics(doomed, operation_timeout=10).values():
            future.result(timeout=15)
    ensure_topics(settings)
    return settings
