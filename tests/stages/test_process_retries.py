"""process and the dead-letter store: a file that cannot parse is dead-lettered at once, a file
that cannot be read now is retried on later runs with backoff, then dead-lettered."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime

import pytest

from lineflow.config import SourceConfig, compose
from lineflow.core.errors import ParseError, ProviderOutage, SourceFailed
from lineflow.core.identity import Identity
from lineflow.pipeline.request import RunRequest
from lineflow.pipeline.runner import run_partition
from lineflow.pipeline.stages.process import parse_files
from lineflow.sources import Source
from lineflow.sources.base import ParseContext
from lineflow.state import SqliteStore
from lineflow.state.work import WorkQueue
from tests.conftest import INCIDENT, query, run_cli, table_checksum

PROPS = "(SELECT * EXCLUDE (run_id) FROM prop_lines)"
BROKEN = f"odds_api/player_props/{INCIDENT}/live-20260123T150000Z/broken.json"


def run(home, *overrides):
    settings = compose([f"date={INCIDENT}", f"home={home}", "only=[odds_api]", *overrides])
    report = run_partition(settings, RunRequest.from_settings(settings))
    return report, WorkQueue(SqliteStore(settings.state_path), settings.work)


def test_a_file_that_does_not_parse_is_dead_lettered_with_a_pointer_and_others_load(home):
    (home / "landing" / BROKEN).parent.mkdir(parents=True)
    (home / "landing" / BROKEN).write_text('{"id": "evt", "bookmakers": [{"key": ')
    report, queue = run(home)
    process = next(r for r in report.results if r.processor == "process:odds_api")
    assert process.status == "partial"
    (letter,) = queue.dead_letters()
    assert (letter.kind, letter.payload_ref, letter.attempts) == ("file", f"landing:{BROKEN}", 1)
    assert letter.permanent and letter.partition == INCIDENT and letter.reason
    assert query(home, "SELECT count(DISTINCT file_id) FROM prop_lines") == [(16,)]

    listed = run_cli("dlq", f"home={home}")
    assert f"landing:{BROKEN}" in listed.stdout and "1 dead letters" in listed.stdout
    # Replayed after a fix, the file is processed again by the next run (here: still broken).
    replay = run_cli("dlq", "replay", str(letter.id), f"home={home}")
    assert replay.code == 0 and "the next run of 2026-01-23 takes it" in replay.stdout
    assert queue.dead_letters() == []
    report, queue = run(home)
    (again,) = queue.dead_letters()
    assert again.id != letter.id and again.payload_ref == letter.payload_ref
    assert run_cli("dlq", "replay", "999", f"home={home}").code == 2


def test_an_unreadable_file_is_retried_with_backoff_then_dead_lettered(home, tmp_path):
    clean = tmp_path / "clean"
    assert run(clean)[0].exit_code == 0
    report, queue = run(home, "pipeline.stages=[scrape]")
    ((name, file_id),) = query(
        home, "SELECT path, file_id FROM landed_files WHERE endpoint = 'player_props' LIMIT 1"
    )
    aside = tmp_path / "aside.json"
    shutil.move(home / "landing" / name, aside)  # e.g. a network mount that went away

    retry = ["work.backoff_base_s=0", "work.max_attempts=2"]
    report, queue = run(home, *retry)
    process = next(r for r in report.results if r.processor == "process:odds_api")
    assert process.status == "partial" and "FileNotFoundError" in (process.error or "")
    item = queue.get("file", f"{INCIDENT}/{file_id}")
    assert item is not None and (item.status, item.attempts) == ("pending", 1)
    assert query(home, "SELECT count(DISTINCT file_id) FROM prop_lines") == [(15,)]

    report, queue = run(home, *retry)
    (letter,) = queue.dead_letters()
    assert letter.reason.startswith("gave up after 2 attempts: FileNotFoundError")
    assert letter.payload_ref == f"landing:{name}" and not letter.permanent

    # A dead-lettered file is not tried again by later runs; the others are unaffected.
    report, queue = run(home, *retry)
    assert any("in the dead-letter store" in n for r in report.results for n in r.notes)
    assert queue.get("file", f"{INCIDENT}/{file_id}").attempts == 2

    shutil.move(aside, home / "landing" / name)  # the fix
    assert run_cli("dlq", "replay", "all=true", f"home={home}").code == 0
    report, queue = run(home, *retry)
    assert report.exit_code == 0 and queue.dead_letters() == []
    assert table_checksum(home, PROPS) == table_checksum(clean, PROPS)


class _Raising(Source):
    """A source whose props parser raises what the test gives it."""

    def __init__(self, error: Exception) -> None:
        super().__init__(
            SourceConfig(name="acme", module="acme", base_url="https://api.acme-odds.example")
        )

        def parse(body, meta, ctx):
            raise error

        self.prop_parsers = {"props": parse}

    def scrape(self, fetch, partition, snapshot):
        raise NotImplementedError


@pytest.mark.parametrize(
    ("error", "status", "recorded"),
    [
        (ParseError("acme props: invalid JSON at byte 3"), "failed", "acme props: invalid JSON"),
        (SourceFailed("acme props: error body 401"), "failed", "acme props: error body 401"),
        (ProviderOutage("acme says it is down"), "outage", "acme says it is down"),
        (OSError("disk went away"), "retry", "OSError: disk went away"),
        (KeyError("a parser bug"), "retry", "KeyError: 'a parser bug'"),
    ],
)
def test_a_parser_error_s_family_decides_dead_letter_or_retry(error, status, recorded):
    # "failed" is dead-lettered at once and "retry" backs off: the tests above show both
    # through whole runs. Here: which one each kind of error gets.
    file = {
        "path": f"acme/props/{INCIDENT}/live-20260123T150000Z/props.json",
        "endpoint": "props",
        "file_id": "f1",
        "source": "acme",
        "slate_date": date.fromisoformat(INCIDENT),
        "fetched_at": datetime(2026, 1, 23, 15, tzinfo=UTC),
    }
    bodies = {file["path"]: b"{}"}
    nobody = Identity.from_aliases({}, {}, {})
    (outcome,), rows = parse_files(
        _Raising(error), ParseContext(), [file], None, "r1", nobody, bodies
    )
    assert (outcome.status, outcome.rows, rows.height) == (status, 0, 0)
    assert outcome.error is not None and outcome.error.startswith(recorded)
