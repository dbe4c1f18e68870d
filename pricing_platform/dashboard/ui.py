"""What every page shares: settings, cached reads as the read-only role, and the states a page can be in
besides "has data" (database unreachable, relation not built yet, no rows yet)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import psycopg
import streamlit as st

from pricing_platform.core.settings import Settings
from pricing_platform.dashboard.errors import describe, first_line
from pricing_platform.dashboard.queries import QUERIES


def settings() -> Settings:
    # Read once per browser session (a new session sees a changed environment): reading the environment
    # takes ~2 ms, and every query of every rerun asks for it.
    if "settings" not in st.session_state:
        st.session_state["settings"] = Settings()
    return st.session_state["settings"]


def refresh_interval() -> str:
    return f"{settings().dashboard_refresh_s}s"


@st.cache_data(ttl=Settings().dashboard_cache_ttl_s, show_spinner=False)
def _read(conninfo: str, name: str, params: tuple[tuple[str, Any], ...]) -> pd.DataFrame:
    # A statement timeout keeps a slow query from holding a page; every query here is bounded anyway.
    with psycopg.connect(
        conninfo, connect_timeout=5, autocommit=True, options="-c statement_timeout=15000"
    ) as conn:
        return QUERIES[name](conn, **dict(params))


def load(name: str, **params: Any) -> pd.DataFrame | None:
    """The named query's rows, or None when its relation does not exist yet (marts or analytics not
    built). Stops the page with a clear message when the database cannot be read at all."""
    conninfo = settings().dashboard_conninfo
    try:
        return _read(conninfo, name, tuple(sorted(params.items())))
    except psycopg.errors.UndefinedTable:
        return None
    except psycopg.errors.InsufficientPrivilege as exc:
        st.error(
            f"The dashboard's role may not read this ({exc.diag.message_primary}). "
            "Run `pricing-platform db migrate` (it grants the read-only role its tables) and let the dbt "
            "marts build once (they grant SELECT when built)."
        )
        st.stop()
    except psycopg.errors.QueryCanceled:
        st.error(f"**The database took too long** to answer `{name}` (over 15 s). It may be overloaded.")
        st.stop()
    except psycopg.OperationalError as exc:
        st.error(
            f"**Cannot reach the database** as {describe(conninfo)}: {first_line(exc)}\n\n"
            "Is PostgreSQL running? `make up` starts the local stack; otherwise check "
            "`DASHBOARD_DATABASE_URL` (or `DATABASE_URL`). Reload the page once it is back."
        )
        st.stop()
    except psycopg.Error as exc:
        st.error(f"**The database refused `{name}`**: {first_line(exc)}")
        st.stop()
    return None  # unreachable: st.stop() raises


def has_rows(frame: pd.DataFrame | None, what: str, hint: str) -> bool:
    """Show why there is nothing to draw yet; True when there is."""
    if frame is None:
        st.info(f"**{what}: not built yet.** {hint}")
        return False
    if frame.empty:
        st.info(f"**{what}: no data yet.** {hint}")
        return False
    return True


def analyst(key: str = "analyst") -> str | None:
    """Who makes a change: the identity a trusted proxy puts in DASHBOARD_IDENTITY_HEADER, or (without
    one) the name the analyst types, which the audit trail then records as self-declared."""
    identity_header = settings().dashboard_identity_header
    if identity_header:
        identity = st.context.headers.get(identity_header)
        if not identity:
            st.warning(f"Changes need your identity in the `{identity_header}` header, which the proxy sets.")
        else:
            st.caption(f"Acting as **{identity}** (from `{identity_header}`)")
        return identity
    name = st.text_input("Your name (recorded in the audit trail)", key=key)
    return name.strip() or None


def header(title: str, caption: str) -> None:
    st.title(title)
    st.caption(caption)


MARTS_HINT = "The dbt marts are rebuilt every 5 minutes by Dagster (`dbt_marts_every_5_minutes`)."
ANALYTICS_HINT = "Dagster recomputes the analytics every 15 minutes (`analytics_every_15_minutes`)."
PRICING_HINT = "The pricing engine runs every minute once competitor prices arrive."
INGEST_HINT = "Start the simulators and ingest workers (`make up`)."
