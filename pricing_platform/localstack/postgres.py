"""A PostgreSQL server of the project's own: data directory under the local state dir, 127.0.0.1 only.

Used by `pricing-platform up` (under the process manager) and by the test suite (as a child process).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from pricing_platform.core import roles as platform_roles

# initdb refuses to run as root; Debian's package creates this system user.
_SERVICE_USER = "postgres"


def postgres_bin_dir() -> Path:
    """Directory of initdb/postgres: Debian's versioned layout first, then whatever is on PATH."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    if candidates:
        return Path(candidates[-1])
    on_path = shutil.which("postgres")
    if on_path:
        return Path(on_path).resolve().parent
    raise FileNotFoundError(
        "PostgreSQL server binaries not found: install them with `apt-get install postgresql` "
        "(the README's install step does this) or point DATABASE_URL at an existing server."
    )


def service_user() -> str | None:
    """The user servers run as: `postgres` when we are root (initdb refuses root), else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(_SERVICE_USER)
    except KeyError as exc:
        raise RuntimeError(
            "running as root needs the `postgres` system user for the database server; "
            "`apt-get install postgresql` creates it"
        ) from exc
    return _SERVICE_USER


def _chown(path: Path, user: str | None) -> None:
    if user is None:
        return
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


@dataclass(frozen=True)
class LocalPostgres:
    root: Path
    port: int
    host: str = "127.0.0.1"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    def init(self) -> None:
        """Create the cluster once (trust auth on loopback only: it never listens elsewhere)."""
        user = service_user()
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        _chown(self.root, user)
        _chown(self.socket_dir, user)
        if (self.data_dir / "PG_VERSION").exists():
            return
        argv = [
            str(postgres_bin_dir() / "initdb"),
            "-D", str(self.data_dir),
            "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--username=postgres",
        ]  # fmt: skip
        result = subprocess.run(argv, capture_output=True, text=True, check=False, user=user, cwd=self.root)
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed for {self.data_dir}:\n{result.stderr}")

    def server_argv(self) -> list[str]:
        """Foreground server command, for a process manager or a test fixture to own; run it as
        `service_user()` (no wrapper process, so that signals reach the server itself)."""
        argv = [
            str(postgres_bin_dir() / "postgres"),
            "-D", str(self.data_dir),
            "-c", f"listen_addresses={self.host}",
            "-p", str(self.port),
            "-k", str(self.socket_dir),
            "-c", "max_connections=200",
            "-c", "shared_buffers=256MB",
            "-c", "max_wal_size=2GB",
        ]  # fmt: skip
        return argv

    def admin_conninfo(self) -> str:
        return f"host={self.host} port={self.port} user=postgres dbname=postgres"

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with psycopg.connect(self.admin_conninfo(), connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"PostgreSQL on {self.host}:{self.port} not ready: {exc}") from exc
                time.sleep(0.1)

    def ensure_role_and_database(self, role: str, database: str, password: str | None = None) -> None:
        """The schema owner `role` and its `database`, plus the dashboard's login roles. Those are created
        here, as the administrator, so the owner (which workers and Dagster run as) needs no CREATEROLE:
        on PostgreSQL 15 that right would let it grant itself roles such as pg_execute_server_program."""
        with psycopg.connect(self.admin_conninfo(), autocommit=True) as conn:
            for name in (role, *platform_roles.ALL):
                if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone():
                    conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
            if password is not None:
                platform_roles.set_password(conn, role, password)
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(database), sql.Identifier(role)
                    )
                )
