"""What runs did and hit: run history (`run_history`) and blocked resources
(`blocked_resources`, a source's resource refused for a partition until it is retried)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import astuple
from datetime import date, datetime
from typing import Any

from lineflow.warehouse.duckdb.connection import SharedConnection, frame, in_session
from lineflow.warehouse.duckdb.rows import RunRow


class RunRecords(SharedConnection):
    """Run history and blocked resources."""

    # -- blocked resources ---------------------------------------------------------------------
    @in_session
    def open_block(self, source: str, slate_date: date) -> dict[str, Any] | None:
        block = frame(
            self.con,
            "SELECT * FROM blocked_resources WHERE source = ? AND slate_date = ? "
            "AND resolved_at IS NULL ORDER BY last_seen DESC LIMIT 1",
            [source, slate_date],
        )
        return block.row(0, named=True) if block.height else None

    @in_session
    def record_block(
        self,
        source: str,
        slate_date: date,
        resource: str,
        detail: str,
        now: datetime,
        retry_after: datetime,
    ) -> None:
        self.con.execute(
            """
            INSERT INTO blocked_resources VALUES (?, ?, ?, 'blocked', ?, ?, ?, ?, NULL)
            ON CONFLICT (source, slate_date, resource) DO UPDATE SET
                status = 'blocked', detail = excluded.detail, last_seen = excluded.last_seen,
                retry_after = excluded.retry_after, resolved_at = NULL,
                first_seen = CASE WHEN blocked_resources.resolved_at IS NULL
                                  THEN blocked_resources.first_seen ELSE excluded.first_seen END
            """,
            [source, slate_date, resource, detail, now, now, retry_after],
        )

    @in_session
    def resolve_blocks(self, source: str, slate_date: date, now: datetime) -> None:
        self.con.execute(
            "UPDATE blocked_resources SET status = 'resolved', resolved_at = ? "
            "WHERE source = ? AND slate_date = ? AND resolved_at IS NULL",
            [now, source, slate_date],
        )

    # -- run history -------------------------------------------------------------------------
    @in_session
    def record_runs(self, rows: Iterable[RunRow]) -> None:
        values = [list(astuple(row)) for row in rows]
        if not values:
            return
        with self.transaction() as con:  # one commit, not one per row
            con.executemany(f"INSERT INTO run_history VALUES ({', '.join('?' * 11)})", values)
