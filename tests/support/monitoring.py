"""Real Prometheus, Pushgateway and PostgreSQL exporter processes (the Debian packages) on free loopback
ports, started with the same command lines the local stack uses, and small HTTP helpers to read them."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pricing_platform.localstack.ephemeral import wait_port


@dataclass
class ServerProcess:
    argv: Sequence[str]
    port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    def start(self) -> ServerProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                list(self.argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                start_new_session=True,
            )
        try:
            wait_port(self.port)
        except TimeoutError as exc:
            self.stop()
            raise TimeoutError(f"{self.argv[0]} did not listen: {self.log_path.read_text()[-2000:]}") from exc
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None


def http_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def prometheus_api(base_url: str, path: str, **params: str) -> Any:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    body = json.loads(http_text(f"{base_url}/api/v1/{path}{query}"))
    assert body["status"] == "success", body
    return body["data"]


def sample_lines(exposition: str, name: str) -> list[str]:
    """Lines of a text exposition for the series `name` (exactly that name, any labels)."""
    return [
        line
        for line in exposition.splitlines()
        if line.startswith(name) and line[len(name) : len(name) + 1] in {"{", " "}
    ]


def sample_value(exposition: str, name: str, **labels: str) -> float | None:
    """Value of the one series `name` whose labels include `labels`, or None."""
    for line in sample_lines(exposition, name):
        series, _, value = line.rpartition(" ")
        if all(f'{key}="{val}"' in series for key, val in labels.items()):
            return float(value)
    return None
