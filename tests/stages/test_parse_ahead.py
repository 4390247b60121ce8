"""A backfill sends a partition's dropped files to its parse pool before the partition's run
(`process.Parsers`, `process.send_ahead`): the run takes those results when it finds the very
same files, as its own (its run id), and nothing is parsed twice; files that changed in
between are read again by the run, and files already processed are never sent."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from lineflow.config import Settings, compose
from lineflow.pipeline.request import RunRequest
from lineflow.pipeline.runner import RunReport, open_context, run_partition
from lineflow.pipeline.stages import process
from lineflow.state import open_state
from lineflow.state.work import WorkQueue
from tests.conftest import INCIDENT, query

DAY = date.fromisoformat(INCIDENT)
STAGES = "pipeline.stages=[process,validate,consolidate]"
LINES = (
    "SELECT count(*), md5(string_agg(t::VARCHAR, ',' ORDER BY t::VARCHAR)) "
    "FROM (SELECT * EXCLUDE (run_id) FROM prop_lines) t"
)


class Trips(ThreadPoolExecutor):
    """A parse pool in this process that names each trip sent to it."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.sent: list[str] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if fn is process._in_worker:
            self.sent.append(args[0].__name__)
        return super().submit(fn, *args, **kwargs)


def restored(daily: Path, tmp_path: Path) -> tuple[Settings, RunRequest]:
    """A home with the daily run's landing zone only (no manifest rows: files dropped in)."""
    home = tmp_path / "restored"
    shutil.copytree(daily / "landing", home / "landing")
    settings = compose([f"home={home}", STAGES])
    return settings, RunRequest.from_settings(settings, date=DAY, only=["odds_api"])


def send_ahead(settings: Settings, request: RunRequest, parsers: process.Parsers) -> None:
    """What a backfill's sender does for a partition before its run."""
    assert parsers.ahead(DAY)
    ctx = open_context(settings, request, parse_pool=parsers)
    ctx.work = WorkQueue(open_state(settings), settings.work)
    parsers.sent(DAY, process.send_ahead(ctx, parsers))


@contextmanager
def parse_pool() -> Iterator[tuple[Trips, process.Parsers]]:
    trips = Trips()
    parsers = process.Parsers(trips, depth=1)
    try:
        yield trips, parsers
    finally:
        parsers.shutdown()


def run(settings: Settings, request: RunRequest, parsers: process.Parsers) -> RunReport:
    try:
        return run_partition(settings, request, parse_pool=parsers)
    finally:
        parsers.forget(DAY)


def test_files_sent_ahead_are_parsed_once_and_staged_as_the_run_s(daily, tmp_path):
    settings, request = restored(daily, tmp_path)
    home = settings.home
    with parse_pool() as (trips, parsers):
        send_ahead(settings, request, parsers)
        report = run(settings, request, parsers)

    assert report.exit_code == 0
    # Sent once, ahead of the run (its listings, then its batch once they were back), and
    # not again by the run.
    assert trips.sent == ["_land_listings", "_land_batch"]
    assert query(home, LINES) == query(daily, LINES)
    # Every row, manifest row and ledger row is the run's, as if it had sent the files itself.
    for table in ("stg_prop_lines", "landed_files", "processed_files"):
        assert query(home, f"SELECT DISTINCT run_id FROM {table}") == [(report.run_id,)], table
    landed = "SELECT count(*) FROM landed_files"
    assert query(home, landed) == query(daily, landed)


def test_a_file_dropped_after_the_partition_was_sent_is_read_by_its_run(daily, tmp_path):
    settings, request = restored(daily, tmp_path)
    home = settings.home
    with parse_pool() as (trips, parsers):
        send_ahead(settings, request, parsers)
        # A file lands between the sending and the run: what was sent is not the run's files.
        some_pass = sorted((home / "landing/odds_api/player_props" / INCIDENT).iterdir())[0]
        copied = sorted(some_pass.glob("*.json"))[0]
        (some_pass / "zz-late.json").write_bytes(copied.read_bytes())
        report = run(settings, request, parsers)

    assert report.exit_code == 0
    assert trips.sent == ["_land_listings", "_land_batch"] * 2
    assert query(home, LINES) == query(daily, LINES)
    late = "SELECT run_id FROM landed_files WHERE path LIKE '%zz-late.json'"
    assert query(home, late) == [(report.run_id,)]


def test_processed_files_are_not_sent_ahead_again(daily, tmp_path):
    settings, request = restored(daily, tmp_path)
    with parse_pool() as (trips, parsers):
        first = run(settings, request, parsers)
        parsed = list(trips.sent)
        send_ahead(settings, request.replace(refresh=True), parsers)
        ahead = trips.sent[len(parsed) :]
        again = run(settings, request.replace(refresh=True), parsers)

    assert first.exit_code == 0 and again.exit_code == 0
    assert parsed == ["_land_listings", "_land_batch"]
    assert ahead == [], "files in the manifest were sent ahead"
    # The rerun reads no file again (validate's look at the events is its own).
    assert [t for t in trips.sent[len(parsed) :] if t.startswith("_land")] == []
