"""Staging, validation and consolidation: how staged rows become `prop_lines`.

Staging (`stg_prop_lines`) is append-only; validate records its conclusions (`validations`,
`validation_results`, `quarantine`, `line_quality`); a consolidation writes which staged files
and rows `prop_lines` shows (`schema.PROP_LINES_VIEW`), never a copy of the rows.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from typing import NamedTuple

import polars as pl

from lineflow.core.faults import kill_point
from lineflow.core.frames import arrow_stream
from lineflow.core.schema import PROP_LINES, PROP_LINES_KEY
from lineflow.warehouse.duckdb.connection import SharedConnection, frame, in_session, writes
from lineflow.warehouse.duckdb.literals import literal
from lineflow.warehouse.duckdb.rows import Consolidation, Validated


class ValidationInputs(NamedTuple):
    """What validate reads of a partition besides its staged rows (the digest of its inputs)."""

    #: source -> what its block said, for sources blocked on the partition
    blocked: dict[str, str]
    #: sources scraped (not skipped) or landed for the partition
    scraped: frozenset[str]
    #: the partition's landed files as (source, endpoint, file_id), distinct, sorted
    landed: list[tuple[str, str, str]]


class Staging(SharedConnection):
    """A partition's staged rows, what validate concluded of them, and their consolidation."""

    @in_session
    def staging(self, slate_date: date) -> pl.DataFrame:
        """The partition's staged prop lines, every file's rows."""
        return frame(
            self.con,
            f"SELECT {', '.join(PROP_LINES)} FROM stg_prop_lines WHERE slate_date = ?",
            [slate_date],
        )

    @in_session
    def validation_inputs(self, slate_date: date) -> ValidationInputs:
        """The partition's blocked sources (an open block, or its latest scrape blocked), the
        sources scraped (not skipped) or landed for it, and its landed files. Small answers
        fetched as Python rows (through polars frames each cost 0.5-0.8 ms more), the scrapes
        read once for both the blocks and the scraped sources (docs/benchmarks.md). The date is
        written in (`literals`), and the landed files made distinct and sorted here, as DuckDB
        did (text sorts by code point, as DuckDB's byte order of UTF-8 does): 2.9 against
        1.6 ms."""
        day = literal(slate_date)
        blocks = self.con.execute(
            f"SELECT source, detail FROM blocked_resources "
            f"WHERE slate_date = {day} AND resolved_at IS NULL"
        ).fetchall()
        scrapes = self.con.execute(
            f"SELECT processor, status, error, finished_at FROM run_history "
            f"WHERE slate_date = {day} AND phase = 'scrape' ORDER BY finished_at"
        ).fetchall()
        landed = sorted(
            set(
                self.con.execute(
                    f"SELECT source, endpoint, file_id FROM landed_files WHERE slate_date = {day}"
                ).fetchall()
            )
        )
        latest = {processor: (status, error) for processor, status, error, _ in scrapes}
        blocked = {source: detail or "blocked" for source, detail in blocks}
        for processor, (status, error) in latest.items():
            if status == "blocked":  # a processor is "scrape:<source>"
                blocked[processor[len("scrape:") :]] = error or "blocked"
        scraped = {p[len("scrape:") :] for p, status, _, _ in scrapes if status != "skipped"}
        return ValidationInputs(blocked, frozenset(scraped | {s for s, _, _ in landed}), landed)

    @writes
    def record_validation(
        self,
        slate_date: date,
        run_id: str,
        now: datetime,
        results: pl.DataFrame,
        quarantined: pl.DataFrame,
        quality: pl.DataFrame,
        outcome: Validated,
    ) -> None:
        """Append the rules' results; replace the partition's quarantine and line quality, and
        what the stage concluded from which inputs (so that a rerun can say it again).

        One `execute` of up to seven statements, in one transaction: ten statements took 11 ms
        of thread CPU a partition. No statement takes parameters (DuckDB's client costs ~0.1 ms a
        bound one): the run id and time travel as columns of the frames, the date and the
        outcome as literals (`literals.literal`). An empty quarantine (most partitions)
        is not handed over at all."""
        day = literal(slate_date)
        stamp = {"_run_id": pl.lit(run_id), "_at": pl.lit(now)}
        frames = {"_results": results.with_columns(**stamp), "_lq": quality.with_columns(**stamp)}
        statements = [
            f"INSERT INTO validation_results SELECT _run_id, {day}, {', '.join(results.columns)}, "
            "_at FROM _results",
            # The partition's rows replaced: deleted and inserted, in one transaction (a lake
            # has no key for INSERT OR REPLACE).
            f"DELETE FROM quarantine WHERE slate_date = {day}",
        ]
        if quarantined.height:
            frames["_q"] = quarantined.with_columns(**stamp)
            statements.append(
                f"INSERT INTO quarantine SELECT rule_id, _run_id, _at, {', '.join(PROP_LINES)} "
                "FROM _q"
            )
        statements += [
            f"DELETE FROM line_quality WHERE slate_date = {day}",
            f"INSERT INTO line_quality SELECT {', '.join(quality.columns)}, _run_id, _at FROM _lq",
            f"DELETE FROM validations WHERE slate_date = {day}",
        ]
        notes = json.dumps(outcome.notes)
        values = (
            outcome.fingerprint,
            outcome.status,
            outcome.error,
            notes,
            int(outcome.rows),
            now,
            run_id,
        )
        statements.append(
            f"INSERT INTO validations VALUES ({day}, {', '.join(map(literal, values))})"
        )
        with self.transaction() as con:
            for name, frame in frames.items():
                con.register(name, arrow_stream(frame))  # each scanned once, below
            try:
                con.execute(";\n".join(statements))
            finally:
                for name in frames:
                    con.unregister(name)

    @in_session
    def last_validation(self, slate_date: date) -> Validated | None:
        row = self.con.execute(
            "SELECT fingerprint, status, error, notes, rows, run_id FROM validations "
            f"WHERE slate_date = {literal(slate_date)}"
        ).fetchone()
        if row is None:
            return None
        return Validated(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5])

    @in_session
    def quarantine_fingerprint(self, slate_date: date) -> str:
        """A digest of which rows of the partition are held back (and by which rules)."""
        key = ", ".join(("rule_id", "file_id", *PROP_LINES_KEY))
        row = self.con.execute(
            f"SELECT coalesce(md5(string_agg(k, ',' ORDER BY k)), '') FROM "
            f"(SELECT concat_ws('|', {key}) AS k FROM quarantine "
            f"WHERE slate_date = {literal(slate_date)})"
        ).fetchone()
        assert row is not None
        return str(row[0])

    # -- consolidation -------------------------------------------------------------------------
    @in_session
    def staging_fingerprint(self, slate_date: date) -> tuple[str, int]:
        """A digest of the partition's staged files, and how many rows they staged: from the
        processing ledger, written in the same transaction as the rows (a file's rows and its
        ledger row go together) and a hundred times smaller than staging.

        The digest is the md5 of the file ids, sorted, joined by commas ('' for none): worked
        out here from the ledger's rows, as DuckDB's `md5(string_agg(file_id, ',' ORDER BY
        file_id))` gave it, in half its time (0.42 against 0.85 ms a partition)."""
        rows = self.con.execute(
            "SELECT file_id, rows FROM processed_files "
            f"WHERE slate_date = {literal(slate_date)} AND rows > 0"
        ).fetchall()
        files = sorted(file_id for file_id, _ in rows)
        digest = hashlib.md5(",".join(files).encode()).hexdigest() if files else ""
        return digest, sum(int(n) for _, n in rows)

    @in_session
    def consolidated_fingerprint(self, slate_date: date) -> str | None:
        row = self.con.execute(
            f"SELECT fingerprint FROM consolidations WHERE slate_date = {literal(slate_date)}"
        ).fetchone()
        return row[0] if row else None

    @writes
    def consolidate(
        self, slate_date: date, fingerprint: str, run_id: str, now: datetime
    ) -> Consolidation:
        """Make the partition's staged rows, deduplicated, what `prop_lines` shows, atomically.

        The consolidation takes every file staged for the partition and leaves out rows in
        quarantine (same file, same natural key) and, of rows with the same natural key, all
        but the latest. Only those choices are written (`schema.PROP_LINES_VIEW`), not the rows.
        Returns the files and rows `prop_lines` now shows for the partition, counted from what
        was written (the same numbers `figures.consolidated` reads through the view).
        """
        key = ", ".join(PROP_LINES_KEY)
        # The date, fingerprint and run written into the statements, not bound: the client
        # looks for pandas twice for every parameter (`literals`), which was a fifth of a
        # consolidation. Statements without results go several to an `execute`.
        day = literal(slate_date)
        with self.transaction() as con:
            con.execute(
                f"DELETE FROM consolidated_files WHERE slate_date = {day}; "
                f"DELETE FROM consolidation_drops WHERE slate_date = {day}"
            )
            kill_point("mid_consolidate")
            # Distinct hashes of the key prove there are no duplicate keys, at a third of the
            # cost of distinct keys; a partition with fewer (duplicates, or a collision) goes
            # the exact way.
            files, rows, twice, held = con.execute(
                f"""
                INSERT INTO consolidated_files
                SELECT DISTINCT slate_date, file_id FROM stg_prop_lines WHERE slate_date = {day};
                SELECT (SELECT count(*) FROM consolidated_files WHERE slate_date = {day}),
                       count(*), count(*) - count(DISTINCT hash({key})),
                       (SELECT count(*) FROM quarantine WHERE slate_date = {day})
                FROM stg_prop_lines WHERE slate_date = {day}
                """
            ).fetchone() or (0, 0, 0, 0)
            if twice or held:  # else (most partitions) every staged row is kept
                rows -= self._drop_rows(day)
            values = ", ".join(map(literal, (slate_date, fingerprint, rows, now, run_id)))
            con.execute(
                f"DELETE FROM consolidations WHERE slate_date = {day}; "
                f"INSERT INTO consolidations VALUES ({values})"
            )
        return Consolidation(int(files), int(rows))

    def _drop_rows(self, day: str) -> int:
        """Write which of the partition's staged rows (`day`: its date as a literal) its
        consolidation leaves out: rows in quarantine, and of rows with the same natural key all
        but the latest (ties: by file, then first in the file). Returns how many."""
        key = ", ".join(PROP_LINES_KEY)
        held = " AND ".join(
            f"q.{c} IS NOT DISTINCT FROM s.{c}" for c in ("file_id", *PROP_LINES_KEY)
        )
        row = self.con.execute(
            f"""
            INSERT INTO consolidation_drops
            SELECT slate_date, file_id, row_no FROM (
                SELECT *, EXISTS (SELECT 1 FROM quarantine q WHERE {held}) AS held
                FROM stg_prop_lines s WHERE s.slate_date = {day})
            QUALIFY held OR row_number() OVER (
                PARTITION BY held, {key}
                ORDER BY last_update DESC NULLS LAST, file_id, row_no) > 1
            """
        ).fetchone()
        return int(row[0]) if row else 0
