"""The state store: SQLite shared by every lineflow process of a home (`{home}/state.sqlite`).

`store` opens it (WAL, short write transactions); `schema` declares every table, by feature.
"""

from lineflow.state.store import StateStore

__all__ = ["StateStore"]
