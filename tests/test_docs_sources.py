"""docs/sources.md's worked examples work as written: Acme Odds declared in one YAML, and the
same provider as one YAML plus one module, giving the same rows."""

from __future__ import annotations

import json
import re
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lineflow.sources.contract import MODULE_CONTRACT
from tests.conftest import ROOT, query, run_cli

BODY = {
    "games": [
        {
            "game_id": "acme-1",
            "tip": "2026-01-24T00:30:00Z",
            "home": "Boston Celtics",
            "away": "New York Knicks",
            "props": [
                {
                    "player": "Jalen Example",
                    "stat": "points",
                    "book": "draftkings",
                    "line": 24.5,
                    "updated": "2026-01-23T15:00:00Z",
                    "quotes": [
                        {"side": "Over", "american": -115},
                        {"side": "Under", "american": -105},
                    ],
                },
                {
                    "player": "De'Mar Example Jr.",
                    "stat": "rebounds",
                    "book": "fanduel",
                    "line": 8.5,
                    "updated": "2026-01-23T15:02:00Z",
                    "quotes": [
                        {"side": "Under", "american": -130},
                        {"side": "Over", "american": 100},
                    ],
                },
            ],
        }
    ]
}
KEY = "acme-secret-key-5e6f7a8b9c0d"


class _Acme(BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:  # noqa: N802
        _Acme.seen.append((self.path, self.headers.get("x-acme-key")))
        ok = self.headers.get("x-acme-key") == KEY and self.path.startswith("/v1/nba/props")
        payload = json.dumps(BODY if ok else {"message": "Forbidden"}).encode()
        self.send_response(200 if ok else 403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


def doc_files() -> dict[str, str]:
    text = (ROOT / "docs" / "sources.md").read_text()
    blocks = re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", text, re.S)
    return dict(blocks)


def run_example(tmp_path: Path, config: str) -> Path:
    """The page's files in a project, `lineflow run` with the source `config` against a real
    server on loopback; the run's home."""
    files = doc_files()
    assert set(files) == {"conf/source/acme.yaml", "conf/source/acme_module.yaml", "acme.py"}
    project = tmp_path / "project"
    shutil.copytree(ROOT / "conf", project / "conf")
    for name, content in files.items():
        (project / name).write_text(content)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Acme)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    home = tmp_path / "home"
    _Acme.seen.clear()
    try:
        result = run_cli(
            "run",
            "http.mode=live",
            "date=2026-01-23",
            f"+source@sources.acme={config}",
            "only=[acme]",
            f"sources.acme.base_url=http://127.0.0.1:{server.server_address[1]}",
            f"home={home}",
            env={
                "ACME_API_KEY": KEY,
                "PYTHONPATH": str(project),
                "LINEFLOW_CONFIG_DIR": str(project / "conf"),
            },
        )
    finally:
        server.shutdown()
        thread.join(5)
    assert result.code == 0, result.stdout + result.stderr
    assert _Acme.seen and _Acme.seen[0] == ("/v1/nba/props?date=2026-01-23", KEY)
    statuses = dict(query(home, "SELECT processor, status FROM run_history"))
    wanted = ("scrape:acme", "process:acme", "consolidate")
    assert {k: statuses.get(k) for k in wanted} == dict.fromkeys(wanted, "success")
    assert KEY not in "".join(str(p.read_bytes()) for p in home.rglob("*") if p.is_file())
    return home


LINES = (
    "SELECT source, market, player_key, side, line, price_american, commence_time, home_team, "
    "bookmaker, last_update, slate_date FROM prop_lines ORDER BY market, side"
)


@pytest.mark.parametrize("config", ["acme", "acme_module"], ids=["declared", "module"])
def test_the_worked_example_runs_against_a_real_server(tmp_path, config):
    home = run_example(tmp_path, config)
    rows = query(
        home,
        "SELECT source, market, player_key, side, line, price_american "
        "FROM prop_lines ORDER BY market, side",
    )
    assert rows == [
        ("acme", "player_points", "jalen_example", "over", 24.5, -115),
        ("acme", "player_points", "jalen_example", "under", 24.5, -105),
        ("acme", "player_rebounds", "demar_example", "over", 8.5, 100),
        ("acme", "player_rebounds", "demar_example", "under", 8.5, -130),
    ]


def test_the_declared_and_the_module_form_give_the_same_rows(tmp_path):
    declared = query(run_example(tmp_path / "declared", "acme"), LINES)
    module = query(run_example(tmp_path / "module", "acme_module"), LINES)
    assert declared == module and len(declared) == 4


def test_the_contract_table_lists_what_a_source_module_is_checked_for():
    text = (ROOT / "docs" / "sources.md").read_text()
    table = text.split("A source module provides:\n\n")[1].split("\n\n")[0]
    documented = re.findall(r"^\| `(\w+)", table, re.M)
    assert documented == list(MODULE_CONTRACT)
