"""The state store: what lineflow processes share to coordinate (locks, work items, dead
letters, proxy health, quota, backfill manifests).

`store` holds the contract and the SQLite backend (`{home}/state.sqlite`, the default);
`postgres` the shared backend (`state.backend=postgres`); `schema` declares every table, by
feature; `open_state` opens the configured one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lineflow.state.store import SqliteStore, StateStore, upsert_sql

if TYPE_CHECKING:
    from lineflow.config import Settings

__all__ = ["SqliteStore", "StateStore", "open_state", "upsert_sql"]


def open_state(settings: Settings, create: bool = True) -> StateStore:
    """The configured state store of these settings (`state.backend`)."""
    if settings.state.backend == "postgres":
        from lineflow.state.postgres import PostgresStore

        return PostgresStore.from_env(settings.state.dsn_env, create=create)
    return SqliteStore(settings.state_path, create=create)
