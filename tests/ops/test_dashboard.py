"""`lineflow serve`'s dashboard: a real server on loopback over a home where 2026-01-23 ran
offline, opened in headless Chromium, clicked through, and checked against the warehouse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser import Page, needs_chromium
from tests.conftest import INCIDENT, copy_home, run_cli
from tests.stages.test_predict import _drop, second_book
from tests.triggers.test_serve import TOKEN, Server

READ_TOKEN = "dashboard-read-token-9d2e71"


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("dashboard") / "home"
    result = run_cli("run", f"date={INCIDENT}", f"home={home}")
    assert result.code == 0, result.stderr
    return home


@pytest.fixture(scope="module")
def server(home):
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LINEFLOW_READ_TOKEN", READ_TOKEN)
        served = Server(home, "triggers.dashboard_refresh_s=1")
    yield served
    served.stop()


def warehouse(home: Path, sql: str) -> dict[str, Any]:
    """One row of figures, read the way a user reads a loading warehouse (`lineflow query`)."""
    result = run_cli("query", sql, "format=json", f"home={home}")
    assert result.code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    return row


def figures(page: Page) -> dict[str, str]:
    return page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('#figures dd')]"
        ".map((d) => [d.dataset.figure, d.textContent]))"
    )


def column(page: Page, table: str, key: str) -> list[str]:
    return page.evaluate(
        f"[...document.querySelectorAll('#{table} td[data-key=\"{key}\"]')]"
        ".map((td) => td.textContent)"
    )


def open_cell(page: Page, day: str, component: str) -> None:
    page.click(f'button.cell[data-date="{day}"][data-component="{component}"]')
    page.wait_for(
        f"document.querySelector('#detail').dataset.date === '{day}' && "
        f"document.querySelector('#detail').dataset.component === '{component}'"
    )


@needs_chromium
def test_a_click_on_a_cell_shows_its_detail_as_the_warehouse_has_it(home, server, tmp_path):
    expected = warehouse(
        home,
        f"""
        SELECT
          (SELECT count(*) FROM prop_lines
           WHERE slate_date = DATE '{INCIDENT}' AND source = 'odds_api') AS odds_rows,
          (SELECT count(*) FROM landed_files
           WHERE slate_date = DATE '{INCIDENT}' AND source = 'odds_api') AS odds_paths,
          (SELECT count(DISTINCT file_id) FROM landed_files
           WHERE slate_date = DATE '{INCIDENT}' AND source = 'odds_api') AS odds_landed,
          (SELECT count(DISTINCT l.file_id) FROM landed_files l JOIN processed_files p
             USING (file_id, slate_date)
           WHERE l.slate_date = DATE '{INCIDENT}' AND l.source = 'odds_api') AS odds_processed,
          (SELECT error FROM run_history WHERE slate_date = DATE '{INCIDENT}'
           AND processor = 'scrape:bettingpros' ORDER BY started_at DESC LIMIT 1) AS blocked,
          (SELECT count(*) FROM quarantine WHERE slate_date = DATE '{INCIDENT}') AS quarantined,
          (SELECT count(DISTINCT player_key) FROM predictions
           WHERE slate_date = DATE '{INCIDENT}' AND is_active) AS predicted,
          (SELECT list(player_name ORDER BY market, player_key) FROM line_quality
           WHERE slate_date = DATE '{INCIDENT}' AND NOT passed) AS excluded
        """,
    )
    page = Page(tmp_path / "profile")
    try:
        page.goto(f"{server.url}dashboard?token={READ_TOKEN}")
        # the token is traded for a session cookie and leaves the address bar
        page.wait_for("document.querySelector('button.cell') !== null")
        assert "token" not in page.evaluate("location.href")

        open_cell(page, INCIDENT, "odds_api")
        shown = figures(page)
        assert page.evaluate("document.querySelector('#detail-status').textContent") == "ok"
        assert shown["rows"] == f"{expected['odds_rows']:,}"
        assert shown["files landed"] == str(expected["odds_landed"])
        assert shown["files processed"] == str(expected["odds_processed"])
        assert shown["landed paths"] == str(expected["odds_paths"])
        assert len(column(page, "detail-files", "path")) == expected["odds_paths"]

        open_cell(page, INCIDENT, "bettingpros")
        assert page.evaluate("document.querySelector('#detail-status').textContent") == "blocked"
        assert figures(page)["rows"] == "0"
        assert expected["blocked"] in column(page, "detail-failures", "reason")

        open_cell(page, INCIDENT, "validation")
        assert figures(page)["rows quarantined"] == str(expected["quarantined"])

        open_cell(page, INCIDENT, "predictions")
        assert figures(page)["player markets predicted"] == str(expected["predicted"])
        assert column(page, "detail-exclusions", "player_name") == expected["excluded"]
        assert column(page, "exclusions-table", "player_name") == expected["excluded"]
        page.screenshot(tmp_path / "dashboard.png")

        # It refreshes itself: a run of another date appears without a reload.
        assert (
            page.evaluate(
                'document.querySelector(\'button.cell[data-date="2026-01-22"]'
                '[data-component="bettingpros"]\').dataset.status'
            )
            == "not run"
        )
        assert run_cli("run", "date=2026-01-22", f"home={home}").code == 0
        page.wait_for(
            'document.querySelector(\'button.cell[data-date="2026-01-22"]'
            "[data-component=\"bettingpros\"]').dataset.status === 'ok'"
        )
        assert page.evaluate("document.querySelector('#detail').dataset.component") == (
            "predictions"
        ), "the open detail stays open across refreshes"
    finally:
        page.close()


def test_reading_needs_a_token_and_the_read_token_cannot_trigger(server):
    data, page = f"{server.url}dashboard/data", f"{server.url}dashboard"
    assert httpx.get(data).status_code == 401
    assert (
        httpx.get(data, headers={"Authorization": "Bearer not-the-token-at-all"}).status_code == 401
    )
    assert httpx.get(page).status_code == 401
    assert httpx.get(f"{page}?token=not-the-token-at-all").status_code == 401
    for token in (READ_TOKEN, TOKEN):
        answer = httpx.get(data, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200 and answer.json()["components"]
    # a browser trades the token for a cookie that is not the token
    answer = httpx.get(f"{page}?token={READ_TOKEN}", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard"
    cookie = answer.cookies["lineflow_dashboard"]
    assert READ_TOKEN not in cookie and TOKEN not in cookie
    assert httpx.get(data, cookies={"lineflow_dashboard": cookie}).status_code == 200
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    # the read token reads; it runs nothing
    trigger = httpx.post(
        server.url,
        json={"processor": "process:odds_api", "date": INCIDENT},
        headers={"Authorization": f"Bearer {READ_TOKEN}"},
    )
    assert trigger.status_code == 401


def test_the_figures_change_after_a_self_heal_and_a_backfill(home, tmp_path):
    """A second run of 2026-01-23, after a second book quoted Andrés Kingsley, regenerates his
    predictions; the figures endpoint shows who, when and why, and then a backfill's progress."""
    own = copy_home(home, tmp_path)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LINEFLOW_READ_TOKEN", READ_TOKEN)
        served = Server(own)
    try:
        url, headers = f"{served.url}dashboard/data", {"Authorization": f"Bearer {READ_TOKEN}"}
        before = httpx.get(url, headers=headers, timeout=60).json()
        assert before["self_heal"] == [] and before["backfills"] == "not recorded yet"
        _drop(own, "andres_kingsley", second_book)
        assert run_cli("run", f"date={INCIDENT}", f"home={own}").code == 0
        # The server shares what it gathered for a second (`Figures.FRESH_S`), and a run now
        # takes less: each read after a change asks a window no earlier read asked, so its
        # figures are gathered afresh, however quickly the change came.
        healed = httpx.get(f"{url}?date={INCIDENT}&days=7", headers=headers, timeout=60).json()
        log = warehouse(
            own,
            "SELECT players[1] AS who, reason, triggered_by, "
            "strftime(timezone('UTC', healed_at), '%Y-%m-%dT%H:%M:%S') AS at, "
            "(SELECT count(DISTINCT player_key) FROM predictions "
            f"WHERE is_active AND slate_date = DATE '{INCIDENT}') AS predicted "
            "FROM self_heal_log",
        )
        (entry,) = healed["self_heal"]
        assert (entry["what"], entry["who"], entry["why"]) == ("self-heal", log["who"], "repaired")
        assert log["who"] == "andres_kingsley" and entry["at"].startswith(log["at"])
        assert log["triggered_by"] in entry["by"]
        cell = healed["grid"][INCIDENT]["predictions"]
        assert cell["figures"]["player markets predicted"] == log["predicted"] == 78
        assert "Andrés Kingsley" not in [x["player_name"] for x in cell["detail"]["exclusions"]]

        backfill = run_cli(
            "backfill",
            f"start={INCIDENT}",
            f"end={INCIDENT}",
            "sources=[odds_api,bettingpros]",
            "pipeline.stages=[process,validate,consolidate]",
            f"home={own}",
        )
        assert backfill.code == 0, backfill.stderr
        after = httpx.get(f"{url}?date={INCIDENT}&days=6", headers=headers, timeout=60).json()
        (progress,) = after["backfills"]
        assert progress["id"] in backfill.stdout
        assert (progress["status"], progress["done"], progress["partitions"]) == ("complete", 1, 1)
    finally:
        served.stop()


def test_a_read_token_too_short_is_refused_before_serving(home):
    result = run_cli(
        "serve",
        "port=0",
        f"home={home}",
        env={"LINEFLOW_TRIGGER_TOKEN": TOKEN, "LINEFLOW_READ_TOKEN": "short"},
    )
    assert result.code == 2
    assert result.stderr.strip() == (
        "lineflow: error: LINEFLOW_READ_TOKEN: the token has 5 characters, needs 16 or more "
        "(e.g. `openssl rand -hex 24`)"
    )
