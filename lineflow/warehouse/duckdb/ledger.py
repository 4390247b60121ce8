"""The landing manifest (`landed_files`) and the processing ledger (`processed_files`).

The manifest lists every landed file (a path per pass, a content id per file); the ledger says
which content was processed for a partition, and how. A file's staged rows and its ledger row
are written in one transaction (`stage_files`), so the ledger is a faithful, hundred times
smaller digest of staging.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import polars as pl

from lineflow.core.schema import number_rows
from lineflow.warehouse.duckdb.connection import SharedConnection, frame, in_session, writes
from lineflow.warehouse.duckdb.rows import (
    LANDED_SCHEMA,
    LEDGER_SCHEMA,
    LandedRow,
    StagedFile,
    landed_frame,
)


class Ledger(SharedConnection):
    """What landed, and what of it was processed."""

    # -- landing manifest ---------------------------------------------------------------------
    @writes
    def record_landed(self, row: LandedRow) -> None:
        self.record_landed_many([row])

    def record_landed_many(self, rows: Sequence[LandedRow] | pl.DataFrame) -> None:
        """Many manifest rows in one statement (one commit, not one per file): `LandedRow`s, or
        a frame of them (`landed_frame`), as a parse worker sends them back. A path already in
        the manifest keeps its row (the path is the key: a lake has no key to enforce it)."""
        frame = rows if isinstance(rows, pl.DataFrame) else landed_frame(rows)
        if frame.is_empty():
            return  # no session either
        self._record_landed(frame.select(*LANDED_SCHEMA))

    @writes
    def _record_landed(self, frame: pl.DataFrame) -> None:
        self._insert_frame(
            "landed_files",
            frame,
            "WHERE NOT EXISTS (SELECT 1 FROM landed_files l WHERE l.path = _frame.path) "
            "QUALIFY row_number() OVER (PARTITION BY _frame.path) = 1",
        )

    @in_session
    def landed_paths(self, source: str, slate_date: date) -> set[str]:
        rows = self.con.execute(
            "SELECT path FROM landed_files WHERE source = ? AND slate_date = ?",
            [source, slate_date],
        ).fetchall()
        return {r[0] for r in rows}

    @in_session
    def landed(self, slate_date: date, source: str | None = None) -> pl.DataFrame:
        sql = "SELECT * FROM landed_files WHERE slate_date = ?"
        params: list[Any] = [slate_date]
        if source is not None:
            sql += " AND source = ?"
            params.append(source)
        return frame(self.con, sql + " ORDER BY path", params)

    # -- processing ledger --------------------------------------------------------------------
    @in_session
    def unprocessed(self, slate_date: date, source: str) -> pl.DataFrame:
        """Landed files of the partition whose content is not yet in the processing ledger."""
        return frame(
            self.con,
            """
            SELECT l.* FROM landed_files l
            WHERE l.slate_date = ? AND l.source = ?
              AND NOT EXISTS (SELECT 1 FROM processed_files p
                              WHERE p.file_id = l.file_id AND p.slate_date = l.slate_date)
            QUALIFY row_number() OVER (PARTITION BY l.file_id ORDER BY l.path) = 1
            ORDER BY l.path
            """,
            [slate_date, source],
        )

    @in_session
    def settled(self, slate_date: date, source: str, paths: Sequence[str]) -> bool:
        """Whether every one of `paths` is in the manifest and every landed file of the
        partition is processed (the partition-complete record's last check: reading
        `unprocessed` as a frame for it cost 4 ms a source, this 1.7 ms)."""
        if not set(paths) <= self.landed_paths(source, slate_date):
            return False
        row = self.con.execute(
            """
            SELECT count(*) FROM landed_files l
            ANTI JOIN (SELECT file_id FROM processed_files WHERE slate_date = $1) p USING (file_id)
            WHERE l.slate_date = $1 AND l.source = $2
            """,
            [slate_date, source],
        ).fetchone()
        return row is not None and row[0] == 0

    def stage_files(
        self, staged: Sequence[StagedFile], rows: pl.DataFrame, run_id: str, now: datetime
    ) -> None:
        """Stage the files' rows and mark them processed, all together or not at all.

        One transaction for many files: every DuckDB commit flushes the write-ahead log, and a
        commit per file was most of the time `process` took (see docs/benchmarks.md). Rows
        come numbered per file (`row_no`, as `process`'s parse workers number them:
        core/schema.number_rows); rows without the column are numbered here. Both frames are
        built before the session, which holds the inserts only.
        """
        if not staged:
            return
        if rows.height and "row_no" not in rows.columns:
            rows = number_rows(rows)
        ledger = pl.DataFrame(
            [
                (
                    s.file["file_id"],
                    s.file["slate_date"],
                    s.file["source"],
                    s.file["endpoint"],
                    s.status,
                    s.rows,
                    s.error,
                    now,
                    run_id,
                )
                for s in staged
            ],
            schema=LEDGER_SCHEMA,
            orient="row",
        )
        self._stage(ledger, rows)

    @writes
    def _stage(self, ledger: pl.DataFrame, rows: pl.DataFrame) -> None:
        with self.transaction():
            if rows.height:
                self._insert_frame("stg_prop_lines", rows)
            self._insert_frame("processed_files", ledger)

    @writes
    def forget_processed(self, file_id: str, slate_date: date) -> bool:
        """Drop a file's ledger row (a replayed dead letter), so the next run processes it.

        Only rows that loaded nothing are dropped: a file with staged rows stays processed.
        """
        where = "WHERE file_id = ? AND slate_date = ? AND rows = 0"
        with self.transaction() as con:  # counted and dropped together (a lake has no RETURNING)
            row = con.execute(
                f"SELECT count(*) FROM processed_files {where}", [file_id, slate_date]
            )
            found = (row.fetchone() or (0,))[0]
            if found:
                con.execute(f"DELETE FROM processed_files {where}", [file_id, slate_date])
        return bool(found)
