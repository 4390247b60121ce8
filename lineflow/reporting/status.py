"""The state of one partition's data: per component, expected vs actual and a verdict.

The verdicts: `ok`, `short` (below the day's expectation), `blocked` (the provider refused us:
not "0 rows, failed"), `missing` (nothing although games were scheduled), `empty-day` (no
games). The day's schedule is the events files landed for the partition.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

import polars as pl

from lineflow import sources
from lineflow.config import Settings, SourceExpectation
from lineflow.core.slate import slate_window
from lineflow.landing import open_landing
from lineflow.pipeline import figures
from lineflow.reporting import identity, recorded
from lineflow.reporting.output import plain as _plain
from lineflow.reporting.recorded import NOT_RECORDED, Stores
from lineflow.sources.base import ParseError


@dataclass
class Component:
    """One row of the data-state table."""

    name: str
    expected: int | None
    actual: int | None
    status: str
    note: str = ""
    #: what expected and actual count: rows (of prop_lines) or player markets
    unit: str = "rows"


@dataclass
class FileCounts:
    source: str
    landed: int
    processed: int
    failed: int

    @property
    def unprocessed(self) -> int:
        return self.landed - self.processed


@dataclass
class StatusReport:
    partition: date
    generated_at: datetime
    games: int | None
    components: list[Component]
    files: list[FileCounts]
    last_runs: list[dict[str, Any]]
    locks: list[dict[str, Any]] | None = None
    dead_letters: list[dict[str, Any]] | None = None
    proxy_health: list[dict[str, Any]] | None = None
    prediction_batch: dict[str, Any] | None = None
    line_quality: dict[str, int] | None = None
    #: processor -> its figures for the partition, the keys and numbers `lineflow run` shows
    figures: dict[str, dict[str, int]] = field(default_factory=dict)
    #: names only one source has (reporting/identity.py): sources compared, players, teams
    identity: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def component(self, name: str) -> Component:
        return next(c for c in self.components if c.name == name)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able data; absent sections are the string "not recorded yet"."""

        def section(value: Any) -> Any:
            return NOT_RECORDED if value is None else value

        return _plain(
            {
                "partition": self.partition,
                "generated_at": self.generated_at,
                "games": self.games,
                "figures": self.figures,
                "components": [asdict(c) for c in self.components],
                "files": [asdict(f) | {"unprocessed": f.unprocessed} for f in self.files],
                "last_runs": self.last_runs,
                "locks": section(self.locks),
                "dead_letters": section(self.dead_letters),
                "proxy_health": section(self.proxy_health),
                "prediction_batch": section(self.prediction_batch),
                "line_quality": section(self.line_quality),
                "identity": section(self.identity),
            }
        )


def judge_source(
    name: str,
    games: int | None,
    rows: int,
    players: int,
    blocked: str | None,
    expectation: SourceExpectation,
) -> Component:
    """The verdict on one source's props for a day (pure)."""
    label = f"{name} props"  # expected and actual: rows of prop_lines
    expected = None if games is None else games * expectation.rows_per_game
    if blocked is not None:
        return Component(label, expected, rows, "blocked", blocked)
    if games == 0:
        return Component(label, 0, rows, "empty-day", "no games scheduled")
    if rows == 0:
        return Component(label, expected, 0, "missing", "no rows although games are scheduled")
    if games is None:
        return Component(label, None, rows, "ok", "schedule unknown: no events file landed")
    want_players = games * expectation.players_per_game
    if expected is not None and rows < expected:
        return Component(label, expected, rows, "short", f"{rows} of {expected} rows")
    if players < want_players:
        return Component(label, expected, rows, "short", f"{players} of {want_players} players")
    return Component(label, expected, rows, "ok", f"{players} players, {games} games")


def judge_predictions(
    batch: dict[str, Any] | None, predictions: dict[str, int] | None, staged: int | None
) -> list[Component]:
    """Predictions staging and main against the batch's expected players (pure)."""
    if batch is None and predictions is None:
        return [
            Component("predictions staging", None, None, NOT_RECORDED),
            Component("predictions main", None, None, NOT_RECORDED),
        ]
    batch = batch or {}
    expected = batch.get("expected")
    excluded = int(batch.get("excluded") or 0)
    units = (predictions or {}).get("player_markets")
    said = f"{excluded} excluded by the line-quality gate"
    unit = "player markets"
    if not batch:
        main = Component("predictions main", None, units, "missing", "no prediction batch", unit)
    elif units is None or units == 0:
        main = Component("predictions main", expected, units, "missing", "", unit)
    elif expected is not None and units + excluded < expected:
        main = Component("predictions main", expected, units, "short", said, unit)
    else:
        main = Component("predictions main", expected, units, "ok", said, unit)
    if staged is None:
        stage = Component("predictions staging", None, None, NOT_RECORDED)
    elif staged == 0:
        stage = Component("predictions staging", 0, 0, "ok", "all consolidated")
    else:
        stage = Component("predictions staging", 0, staged, "short", "rows not consolidated")
    return [stage, main]


def count_games(settings: Settings, stores: Stores, partition: date) -> int | None:
    """Games of the day from the landed events files: the most any one source listed.

    Sources name events differently, so the lists are not merged; None when no events file
    landed (the schedule is unknown). Only the events files are asked for (their endpoints
    are those of the sources' event parsers), never the partition's whole manifest.
    """
    parsers = {
        source.name: sources.load(source).event_parsers for source in settings.sources.values()
    }
    endpoints = sorted({endpoint for named in parsers.values() for endpoint in named})
    if not endpoints:
        return None
    landing = open_landing(settings.landing)
    start, end = slate_window(partition)
    files = stores.warehouse.query(
        "SELECT source, endpoint, path FROM landed_files "
        "WHERE slate_date = ? AND list_contains(?, endpoint) ORDER BY path",
        [partition, endpoints],
    ).rows()
    counts: list[int] = []
    for name, named in parsers.items():
        events: set[str] = set()
        parsed = False
        for source, endpoint, path in files:
            if source != name or endpoint not in named:
                continue
            try:
                frame = named[endpoint](landing.read(path))
            except (ParseError, OSError):
                continue
            parsed = True
            in_slate = frame.filter(pl.col("commence_time").is_between(start, end, closed="left"))
            events.update(in_slate["event_id"].to_list())
        if parsed:
            counts.append(len(events))
    return max(counts) if counts else None


def file_counts(stores: Stores, partition: date, names: list[str]) -> list[FileCounts]:
    """Landed vs processed distinct files per source (the ledger's view)."""
    frame = stores.warehouse.query(
        """
        SELECT l.source, count(DISTINCT l.file_id) AS landed,
               count(DISTINCT p.file_id) AS processed,
               count(DISTINCT p.file_id) FILTER (p.status <> 'ok') AS failed
        FROM landed_files l LEFT JOIN processed_files p
          ON p.file_id = l.file_id AND p.slate_date = l.slate_date
        WHERE l.slate_date = ? GROUP BY l.source
        """,
        [partition],
    )
    found = {r["source"]: r for r in frame.iter_rows(named=True)}
    return [
        FileCounts(
            name,
            int(found.get(name, {}).get("landed", 0)),
            int(found.get(name, {}).get("processed", 0)),
            int(found.get(name, {}).get("failed", 0)),
        )
        for name in names
    ]


def last_runs(stores: Stores, partition: date) -> list[dict[str, Any]]:
    """The latest run of each processor for the partition."""
    frame = stores.warehouse.query(
        """
        SELECT processor, phase, status, started_at, finished_at,
               epoch(finished_at) - epoch(started_at) AS seconds, files, rows, error, run_id
        FROM run_history WHERE slate_date = ?
        QUALIFY row_number() OVER (PARTITION BY processor ORDER BY started_at DESC) = 1
        ORDER BY started_at, processor
        """,
        [partition],
    )
    return list(frame.iter_rows(named=True))


def partition_lines(stores: Stores, partition: date) -> pl.DataFrame:
    """The partition's `prop_lines` as status uses them: each distinct (source, player, teams)
    with its rows (`n`). One scan of the view for its three uses (rows per source, rows
    consolidated, the identity counts), each of which was a query of its own."""
    return stores.warehouse.query(
        "SELECT source, player_name, player_key, home_team, away_team, count(*) AS n "
        "FROM prop_lines WHERE slate_date = ? GROUP BY ALL",
        [partition],
    )


def staged_by_source(stores: Stores, partition: date) -> dict[str, tuple[int, int]]:
    """Per source with staged lines: its staged rows and the players they name (staging, so a
    player whose lines validation quarantined still counts as delivered by the source). One
    scan of staging for the figures' rows staged and the verdicts' players delivered."""
    frame = stores.warehouse.query(
        "SELECT source, count(*) AS n, count(DISTINCT player_key) AS players "
        "FROM stg_prop_lines WHERE slate_date = ? GROUP BY source",
        [partition],
    )
    return {source: (int(n), int(players)) for source, n, players in frame.iter_rows()}


def source_rows(
    lines: pl.DataFrame, staged: dict[str, tuple[int, int]]
) -> dict[str, tuple[int, int]]:
    """Per source with staged lines: consolidated rows (of `partition_lines`), and the players
    it delivered (`staged_by_source`)."""
    consolidated = dict(lines.group_by("source").agg(pl.col("n").sum()).iter_rows())
    return {
        source: (int(consolidated.get(source) or 0), players)
        for source, (_rows, players) in staged.items()
    }


def blocked_sources(stores: Stores, partition: date, runs: list[dict[str, Any]]) -> dict[str, str]:
    """Sources refused for the partition: a latest scrape that was blocked, or an open block."""
    blocked = {
        run["processor"].removeprefix("scrape:"): run["error"] or "blocked"
        for run in runs
        if run["phase"] == "scrape" and run["status"] == "blocked"
    }
    frame = stores.warehouse.query(
        "SELECT source, detail FROM blocked_resources "
        "WHERE slate_date = ? AND resolved_at IS NULL ORDER BY last_seen",
        [partition],
    )
    for row in frame.iter_rows(named=True):
        blocked.setdefault(row["source"], row["detail"] or "blocked")
    return blocked


def partition_figures(
    settings: Settings,
    stores: Stores,
    partition: date,
    names: list[str],
    files: list[FileCounts],
    lines: pl.DataFrame,
    staged: dict[str, tuple[int, int]],
) -> dict[str, dict[str, int]]:
    """Per processor, the partition's figures under the keys its stage reports in
    `lineflow run` (docs/health.md, "What the figures count"), read from what was recorded
    (`lines`: `partition_lines`; `staged`: `staged_by_source`)."""
    stages = settings.pipeline.stages
    out: dict[str, dict[str, int]] = {}
    by_source = {f.source: f for f in files}
    if "scrape" in stages:
        out |= {f"scrape:{n}": {"files_landed": by_source[n].landed} for n in names}
    if "process" in stages:
        out |= {
            f"process:{n}": {
                "files_processed": by_source[n].processed,
                "rows_staged": staged.get(n, (0, 0))[0],
            }
            for n in names
        }
    if "validate" in stages:
        out["validate"] = figures.verdicts(stores.warehouse, partition)
    if "consolidate" in stages:
        rows = int(lines["n"].sum())
        out["consolidate"] = figures.consolidated(stores.warehouse, partition, rows)
    predict = settings.pipeline.predict
    # no predictions table: predict never ran on this home, it has no figures yet
    if "predict" in stages and predict is not None and "predictions" in stores.duck_tables():
        out["predict"] = figures.predicted(stores.warehouse, partition, predict.markets)
    return out


def active_predictions(
    stores: Stores, partition: date, figures: dict[str, dict[str, int]]
) -> dict[str, int] | None:
    """`recorded.read_predictions`, taken from predict's figures when they were read: the same
    two counts (`is_active` is never NULL), so `predictions` is read once."""
    predict = figures.get("predict")
    if predict is None:
        return recorded.read_predictions(stores, partition)
    return {"rows": predict["predictions"], "player_markets": predict["player_markets_predicted"]}


def line_quality(
    stores: Stores, partition: date, figures: dict[str, dict[str, int]]
) -> dict[str, int] | None:
    """`recorded.read_line_quality`, taken from validate's figures when they were read (every
    judged player market passed or failed: `passed` is never NULL), so `line_quality` is read
    once."""
    validate = figures.get("validate")
    if validate is None:
        return recorded.read_line_quality(stores, partition)
    judged, failing = validate["player_markets_judged"], validate["player_markets_failing"]
    return {"passed": judged - failing, "failed": failing}


def gather(settings: Settings, stores: Stores, partition: date, now: datetime) -> StatusReport:
    """Everything `lineflow status` shows for one partition."""
    enabled = [s.name for s in settings.sources.values() if s.enabled]
    with stores.warehouse.read_session():  # writes nothing: no schema check, no checkpoint
        games = count_games(settings, stores, partition)
        lines = partition_lines(stores, partition)
        staged = staged_by_source(stores, partition)
        rows = source_rows(lines, staged)
        runs = last_runs(stores, partition)
        blocked = blocked_sources(stores, partition, runs)
        components = [
            judge_source(
                name,
                games,
                *rows.get(name, (0, 0)),
                blocked.get(name),
                settings.health.expectations.get(name, SourceExpectation()),
            )
            for name in enabled
        ]
        files = file_counts(stores, partition, enabled)
        figures = partition_figures(settings, stores, partition, enabled, files, lines, staged)
        batch = recorded.read_prediction_batch(stores, partition)
        components += judge_predictions(
            batch,
            active_predictions(stores, partition, figures),
            recorded.read_prediction_staging(stores, partition),
        )
        report = StatusReport(
            partition=partition,
            generated_at=now,
            games=games,
            components=components,
            files=files,
            last_runs=runs,
            prediction_batch=batch,
            line_quality=line_quality(stores, partition, figures),
            figures=figures,
            identity=identity.unresolved(partition, lines.drop("n"), candidates=False).summary(),
        )
    report.locks = recorded.read_locks(stores)
    report.dead_letters = recorded.read_dead_letters(stores)
    report.proxy_health = recorded.read_proxy_health(stores)
    return report
