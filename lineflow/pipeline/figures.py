"""The figures of a partition's validate, consolidate and predict stages, read from the
warehouse: what `status` and `health` show for the partition, and what a stage reports in
`lineflow run` when it wrote nothing, come from these queries. A validation or consolidation
just written reports the counts of what it wrote instead (`verdict_counts`, `consolidation`: the
same numbers without reading them back through `prop_lines` and staging), so they agree
(docs/health.md, "What the figures count"; tests/test_output.py checks they do).

Each key names its unit. The caller holds a warehouse session (or lets each query open one).
"""

from __future__ import annotations

from datetime import date

from lineflow.warehouse import DuckDBWarehouse


def verdicts(warehouse: DuckDBWarehouse, partition: date) -> dict[str, int]:
    """Rows the rules ran over and held back; player markets the line-quality gate judged and
    failed (every market)."""
    row = warehouse.query(
        "SELECT (SELECT count(*) FROM stg_prop_lines WHERE slate_date = $1) AS checked, "
        "(SELECT count(*) FROM quarantine WHERE slate_date = $1) AS quarantined, "
        "(SELECT count(*) FROM line_quality WHERE slate_date = $1) AS judged, "
        "(SELECT count(*) FROM line_quality WHERE slate_date = $1 AND NOT passed) AS failing",
        [partition],
    ).row(0, named=True)
    return verdict_counts(
        int(row["checked"]), int(row["quarantined"]), int(row["judged"]), int(row["failing"])
    )


def verdict_counts(checked: int, quarantined: int, judged: int, failing: int) -> dict[str, int]:
    """`verdicts`' figures from counts already known (a validation just written)."""
    return {
        "rows_checked": checked,
        "rows_quarantined": quarantined,
        "player_markets_judged": judged,
        "player_markets_failing": failing,
    }


def consolidated(
    warehouse: DuckDBWarehouse, partition: date, rows: int | None = None
) -> dict[str, int]:
    """Files whose lines `prop_lines` shows, and its rows (`rows`: counted already by a caller
    that scanned the partition's `prop_lines`, as `status` does)."""
    if rows is not None:
        files = warehouse.query(
            "SELECT count(*) AS files FROM consolidated_files WHERE slate_date = ?", [partition]
        ).item()
        return {"files_consolidated": int(files), "rows_consolidated": rows}
    row = warehouse.query(
        "SELECT (SELECT count(*) FROM consolidated_files WHERE slate_date = $1) AS files, "
        "(SELECT count(*) FROM prop_lines WHERE slate_date = $1) AS rows",
        [partition],
    ).row(0, named=True)
    return consolidation(int(row["files"]), int(row["rows"]))


def consolidation(files: int, rows: int) -> dict[str, int]:
    """`consolidated`'s figures from counts already known (a consolidation just written)."""
    return {"files_consolidated": files, "rows_consolidated": rows}


def predicted(warehouse: DuckDBWarehouse, partition: date, markets: list[str]) -> dict[str, int]:
    """Active prediction rows (one per model and player market), the player markets they
    cover, and the player markets of predict's `markets` the line-quality gate excluded. The
    predictions table exists (the predict feature ran)."""
    row = warehouse.query(
        "SELECT (SELECT count(*) FROM predictions WHERE slate_date = $1 AND is_active) AS rows, "
        "(SELECT count(DISTINCT (player_key, market)) FROM predictions "
        " WHERE slate_date = $1 AND is_active) AS units, "
        "(SELECT count(*) FROM line_quality WHERE slate_date = $1 AND NOT passed "
        " AND list_contains($2, market)) AS excluded",
        [partition, markets],
    ).row(0, named=True)
    return {
        "predictions": int(row["rows"]),
        "player_markets_predicted": int(row["units"]),
        "player_markets_excluded": int(row["excluded"]),
    }
