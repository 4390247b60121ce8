"""The landing manifest (`landed_files`) and the processing ledger (`processed_files`).

The manifest lists every landed file (a path per pass, a content id per file); the ledger says
which content was processed for a partition, and how. A file's staged rows and its ledger row
are written in one transaction (`stage_files`), so the ledger is a faithful, hundred times
smaller digest of staging.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime

import polars as pl

from lineflow.core.schema import number_rows
from lineflow.warehouse.duckdb.connection import SharedConnection, frame, in_session, writes
from lineflow.warehouse.duckdb.literals import literal
from lineflow.warehouse.duckdb.rows import (
    LANDED_SCHEMA,
    LEDGER_SCHEMA,
    LandedRow,
    StagedFile,
    landed_frame,
)

#: Manifest rows whose path is not in the manifest yet (the rows come unique by path,
#: `_manifest_rows`: made so in polars, where a window in the insert cost 3 of its 7 ms for a
#: partition's 245 rows).
_NEW_PATHS = "WHERE NOT EXISTS (SELECT 1 FROM landed_files l WHERE l.path = _frame.path)"


def _manifest_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """Manifest rows as inserted with `_NEW_PATHS`: a path given twice keeps its first row."""
    return frame.unique("path", keep="first", maintain_order=True).select(*LANDED_SCHEMA)


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
        self._record_landed(_manifest_rows(frame))

    @writes
    def _record_landed(self, frame: pl.DataFrame) -> None:
        self._insert_frame("landed_files", frame, _NEW_PATHS)

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
        `unprocessed` is (DuckDB's sort of them cost 0.4 ms more a query). A partition's few
        hundred rows come as Python rows made a frame of `LANDED_SCHEMA`: as fast as through
        the Arrow stream for 240 rows (2.1 ms), and 0.9 against 1.5 ms for none, which is
        every partition a backfill of dropped files asks for (twice)."""
        where = f"slate_date = {literal(slate_date)}"
        if source is not None:
            where += f" AND source = {literal(source)}"
        rows = self.con.execute(
            f"SELECT {', '.join(LANDED_SCHEMA)} FROM landed_files WHERE {where}"
        ).fetchall()
        return pl.DataFrame(rows, schema=LANDED_SCHEMA, orient="row").sort("path")

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
        whether its content is in the ledger (two statements a source cost 2.7 ms each). The
        date written in (`literals`)."""
        day = literal(slate_date)
        rows = self.con.execute(
            f"""
            SELECT l.source, l.path, p.file_id IS NULL FROM landed_files l
            LEFT JOIN (SELECT DISTINCT file_id FROM processed_files WHERE slate_date = {day}) p
                USING (file_id)
            WHERE l.slate_date = {day}
            """
        ).fetchall()
        landed: dict[str, set[str]] = {source: set() for source in listed}
        for source, path, pending in rows:
            if source in landed:
                if pending:
                    return False
                landed[source].add(path)
        return all(set(paths) <= landed[source] for source, paths in listed.items())

    def stage_files(
        self,
        staged: Sequence[StagedFile],
        rows: pl.DataFrame,
        run_id: str,
        now: datetime,
        landed: pl.DataFrame | None = None,
    ) -> set[str]:
        """Stage the files' rows and mark them processed, all together or not at all.

        One transaction for many files: every DuckDB commit flushes the write-ahead log, and a
        commit per file was most of the time `process` took (see docs/benchmarks.md). Rows
        come numbered per file (`row_no`, as `process`'s parse workers number them:
        core/schema.number_rows); rows without the column are numbered here. The frames are
        built before the session, which holds the statements only.

        `landed`: manifest rows of files dropped into the landing zone, described and parsed
        in one go, recorded in the same transaction. Their files are checked against the
        ledger in it: one whose content the ledger has for its partition is not staged again
        (as `unprocessed` would not have offered it). Returns those content ids.
        """
        if not staged and (landed is None or landed.is_empty()):
            return set()
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
        return self._stage(ledger, rows, None if landed is None else _manifest_rows(landed))

    @writes
    def _stage(
        self, ledger: pl.DataFrame, rows: pl.DataFrame, landed: pl.DataFrame | None
    ) -> set[str]:
        known: set[str] = set()
        with self.transaction() as con:
            if landed is not None:
                if not landed.is_empty():
                    self._insert_frame("landed_files", landed, _NEW_PATHS)
                for (day,) in ledger.select(pl.col("slate_date").unique()).iter_rows():
                    # The partition's content ids, intersected here: 0.6 ms, where passing
                    # the batch's ids as a list parameter cost 13 ms (its conversion).
                    found = con.execute(
                        f"SELECT file_id FROM processed_files WHERE slate_date = {literal(day)}"
                    ).fetchall()
                    known |= {file_id for (file_id,) in found} & set(ledger["file_id"])
                if known:
                    ledger = ledger.filter(~pl.col("file_id").is_in(list(known)))
                if known and rows.height:
                    rows = rows.filter(~pl.col("file_id").is_in(list(known)))
            if rows.height:
                self._insert_frame("stg_prop_lines", rows)
            if ledger.height:
                self._insert_frame("processed_files", ledger)
        return known

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
