"""Schema migrations, applied with Alembic. Upgrading an up-to-date database is a no-op."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _sqlalchemy_url(conninfo: str) -> str:
    # SQLAlchemy picks its driver from the URL scheme; the platform speaks psycopg 3 only.
    scheme, _, rest = conninfo.partition("://")
    if scheme not in {"postgresql", "postgres", "postgresql+psycopg"}:
        raise ValueError(f"DATABASE_URL must be a postgresql:// URL, got scheme {scheme!r}")
    return f"postgresql+psycopg://{rest}"


def alembic_config(conninfo: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would eat a '%' in a URL-encoded password.
    config.set_main_option("sqlalchemy.url", _sqlalchemy_url(conninfo).replace("%", "%%"))
    return config


def upgrade(conninfo: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(conninfo), revision)


def current_revision(conninfo: str) -> str | None:
    engine = create_engine(_sqlalchemy_url(conninfo), poolclass=pool.NullPool)
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("postgresql://unused")).get_current_head()
