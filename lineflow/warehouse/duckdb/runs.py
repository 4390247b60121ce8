"""What runs did and hit: run history (`run_history`) and blocked resources
(`blocked_resources`, a source's resource refused for a partition until it is retried)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import astuple
from datetime import date, datetime
from typing import Any

from lineflow.warehouse.duckdb.connection import SharedConnection, frame, in_session, writes
from lineflow.warehouse.duckdb.literals import literal
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

    @writes
    def record_block(
        self,
        source: str,
        slate_date: date,
        resource: str,
        detail: str,
        now: datetime,
        retry_after: datetime,
    ) -> None:
        # MERGE, not ON CONFLICT: a lake has no key, and the key's row is matched by name.
        self.con.execute(
            """
            MERGE INTO blocked_resources b
            USING (SELECT ?::VARCHAR AS source, ?::DATE AS slate_date, ?::VARCHAR AS resource,
                          ?::VARCHAR AS detail, ?::TIMESTAMPTZ AS seen,
                          ?::TIMESTAMPTZ AS retry_after) n
            ON b.source = n.source AND b.slate_date = n.slate_date AND b.resource = n.resource
            WHEN MATCHED THEN UPDATE SET
                status = 'blocked', detail = n.detail, last_seen = n.seen,
                retry_after = n.retry_after, resolved_at = NULL,
                first_seen = CASE WHEN b.resolved_at IS NULL THEN b.first_seen ELSE n.seen END
            WHEN NOT MATCHED THEN INSERT VALUES (n.source, n.slate_date, n.resource, 'blocked',
                n.detail, n.seen, n.seen, n.retry_after, NULL)
            """,
            [source, slate_date, resource, detail, now, retry_after],
        )

    @writes
    def resolve_blocks(self, source: str, slate_date: date, now: datetime) -> None:
        self.con.execute(
            "UPDATE blocked_resources SET status = 'resolved', resolved_at = ? "
            "WHERE source = ? AND slate_date = ? AND resolved_at IS NULL",
            [now, source, slate_date],
        )

    # -- run history -------------------------------------------------------------------------
    @writes
    def record_runs(self, rows: Iterable[RunRow]) -> None:
        values = [f"({', '.join(map(literal, astuple(row)))})" for row in rows]
        if not values:
            return
        # One statement and one commit: `executemany` runs the statement once per row (a
        # stage's 1-3 rows cost 4.3 ms that way, 3 ms as one statement); the values written
        # into it, not bound: a stage's 11-33 parameters cost twice the statement (`literal`).
        with self.transaction() as con:
            con.execute(f"INSERT INTO run_history VALUES {', '.join(values)}")
