"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pricing_platform.core.catalog import Stream
from pricing_platform.core.settings import Settings
from tests.support.servers import PostgresProcess
from tests.support.shop import build_shop
from tests.support.workers import WorkerProcess


@pytest.fixture(scope="session")
def shop(postgres: PostgresProcess) -> str:
    """A database with six hours of simulated shop activity, a pricing cycle, built marts and analytics
    (built once; tests that change it use their own `database`)."""
    return build_shop(postgres)


@pytest.fixture
def workers(
    topics: Settings, artifacts_dir: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., WorkerProcess]]:
    """Starts real ingest worker processes on this test's topics and database; kills leftovers after."""
    started: list[WorkerProcess] = []
    log_dir = artifacts_dir / "workers" / request.node.name
    log_dir.mkdir(parents=True, exist_ok=True)

    def start(stream: Stream, name: str | None = None, **overrides: object) -> WorkerProcess:
        settings = topics.model_copy(update=overrides) if overrides else topics
        worker = WorkerProcess(stream, settings, log_dir, name or f"{stream.value}-{len(started)}").start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop_quietly()
