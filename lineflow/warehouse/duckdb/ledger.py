"""The landing manifest (`landed_files`) and the processing ledger (`processed_files`).

The manifest lists every landed file (a path per pass, a content id per file); the ledger says
which content was processed for a partition, and how. A file's staged rows and its ledger row
are written in one transaction (`stage_files`), so the ledger is a faithful, hundred times
smaller digest of staging.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import polars as pl

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
        # A path twice in the rows: its first row, chosen here (a window in the insert to the
        # same end cost 3 of its 7 ms for a partition's 250 rows).
        frame = frame.unique("path", keep="first", maintain_order=True)
        self._record_landed(frame.select(*LANDED_SCHEMA))

    @writes
    def _record_landed(self, frame: pl.DataFrame) -> None:
        self._insert_frame(
            "landed_files",
            frame,
            "WHERE NOT EXISTS (SELECT 1 FROM landed_files l WHERE l.path = _frame.path)",
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
        """The partition's manifest rows (of one source), in path order: sorted by polars, as
        `unprocessed` is (DuckDB's sort of them cost 0.4 ms more a query)."""
        sql = "SELECT * FROM landed_files WHERE slate_date = ?"
        params: list[Any] = [slate_date]
        if source is not None:
            sql += " AND source = ?"
            params.append(source)
        return frame(self.con, sql, params).sort("path")

    # -- processing ledger --------------------------------------------------------------------
    @in_session
    def unprocessed(self, slate_date: date, source: str) -> pl.DataFrame:
        """Landed files of the partition whose content is not yet in the processing ledger:
        one path per content (the first by path), in path order.

        The anti-join reads the partition's ledger rows only; the order and the one path per
        content are polars' work: a correlated NOT EXISTS, a window and a sort in the query
        cost 3.4 ms a source, this 2.3 ms (docs/benchmarks.md)."""
        pending = frame(
            self.con,
            """
            SELECT l.* FROM landed_files l
            ANTI JOIN (SELECT file_id FROM processed_files WHERE slate_date = $1) p
                USING (file_id)
            WHERE l.slate_date = $1 AND l.source = $2
            """,
            [slate_date, source],
        )
        return pending.sort("path").unique("file_id", keep="first", maintain_order=True)

    @in_session
    def settled(self, slate_date: date, listed: Mapping[str, Sequence[str]]) -> bool:
        """Whether, for each source of `listed`, every one of its paths is in the manifest and
        every landed file of its partition is processed (the partition-complete record's last
        check). One statement for every source: the partition's manifest paths, each marked
        whether its content is in the ledger (two statements a source cost 2.7 ms each)."""
        rows = self.con.execute(
            """
            SELECT l.source, l.path, p.file_id IS NULL FROM landed_files l
            LEFT JOIN (SELECT DISTINCT file_id FROM processed_files WHERE slate_date = $1) p
                USING (file_id)
            WHERE l.slate_date = $1
            """,
            [slate_date],
        ).fetchall()
        landed: dict[str, set[str]] = {source: set() for source in listed}
        for source, path, pending in rows:
            if source in landed:
                if pending:
                    return False
                landed[source].add(path)
        return all(set(paths) <= landed[source] for source, paths in listed.items())

    @writes
    def stage_files(
        self, staged: Sequence[StagedFile], rows: pl.DataFrame, run_id: str, now: datetime
    ) -> None:
        """Stage the files' rows and mark them processed, all together or not at all.

        One transaction for many files: every DuckDB commit flushes the write-ahead log, and a
        commit per file was most of the time `process` took (see docs/benchmarks.md).
        """
        if not staged:
            return
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
        with self.transaction():
            if rows.height:
                # A file's rows come in one batch: numbered per file, they stay addressable
                # (a consolidation's drop list names rows by file and number).
                numbered = rows.with_columns(
                    row_no=pl.int_range(pl.len(), dtype=pl.Int32).over("file_id")
                )
                self._insert_frame("stg_prop_lines", numbered)
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
