"""The test session's servers: see `pricing_platform.localstack.ephemeral`."""

from pricing_platform.localstack.ephemeral import (
    BrokerProcess,
    PostgresProcess,
    free_port,
    server_root,
    wait_port,
)

__all__ = ["BrokerProcess", "PostgresProcess", "free_port", "server_root", "wait_port"]
