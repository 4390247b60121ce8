"""A full disk is one line naming the file and "No space left on device", a non-zero exit and
no traceback, for a run and for the commands that only read (their state store needs room for
its shared-memory file); nothing is left half-written: once there is room again the next run
completes with the tables of a run that never met the fault.

A real full disk: home on a tmpfs of a few kilobytes or megabytes (tests/support/sandbox.py).
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import INCIDENT, run_cli, table_checksum
from tests.support.sandbox import mounted, remount

RUN = ("run", f"date={INCIDENT}", "only=[odds_api]")
PROPS = "(SELECT * EXCLUDE (run_id) FROM prop_lines)"


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    home = tmp_path_factory.mktemp("clean") / "home"
    out = run_cli(*RUN, f"home={home}")
    assert out.code == 0, out.stdout + out.stderr
    return table_checksum(home, PROPS)


def no_space(out, mount) -> None:
    text = out.stdout + out.stderr
    assert out.code == 1, text
    assert "Traceback" not in text and "Logging error" not in text, text
    named = re.escape(str(mount)) + r'[^\s"]*"?: No space left on device'
    assert re.search(named, text), text


@pytest.mark.parametrize(
    "size",
    [
        "64k",  # the state store cannot start: `lineflow: error: .../state.sqlite: No space...`
        "2m",  # the landing zone fits, the warehouse's log does not: the process stage fails
    ],
)
def test_a_full_disk_mid_run_is_one_line_and_the_next_run_completes(tmp_path, clean, size):
    with mounted(tmp_path / "disk", f"size={size}") as disk:
        home = disk / "home"
        full = run_cli(*RUN, f"home={home}", cwd=tmp_path)
        no_space(full, disk)
        if full.stderr:
            assert full.stderr.count("\n") == 1 and full.stderr.startswith("lineflow: error: ")
        remount(disk, "size=64m")
        again = run_cli(*RUN, f"home={home}", cwd=tmp_path)
        assert again.code == 0, again.stdout + again.stderr
        assert table_checksum(home, PROPS) == clean


def test_a_run_whose_last_checkpoint_finds_no_room_keeps_its_rows_in_the_log(tmp_path, clean):
    """Room for the landing zone and the warehouse's write-ahead log, not for the checkpoint
    that folds the log into the file when the run's connection closes: every commit is in the
    log, which is durable, so the run is complete (exit 0) and nothing is lost; the next
    connection with room replays the log."""
    with mounted(tmp_path / "disk", "size=3m") as disk:
        home = disk / "home"
        out = run_cli(*RUN, f"home={home}", cwd=tmp_path)
        assert out.code == 0, out.stdout + out.stderr
        assert "Traceback" not in out.stdout + out.stderr
        assert (home / "lineflow.duckdb.wal").stat().st_size > 0  # the checkpoint had no room
        remount(disk, "size=64m")
        assert table_checksum(home, PROPS) == clean


@pytest.mark.parametrize(
    "command",
    [
        ("status", f"date={INCIDENT}"),
        ("health", f"date={INCIDENT}"),
        ("doctor", f"date={INCIDENT}"),
        ("locks",),
        ("dlq",),
        ("backfill", "status"),
        (*RUN, "refresh=true"),  # a run with work to do: it must write the warehouse
    ],
    ids=lambda c: c[0] if c[0] != "backfill" else "backfill status",
)
def test_every_command_on_a_full_disk_is_one_line(command, filled_home):
    disk, home = filled_home
    out = run_cli(*command, f"home={home}")
    no_space(out, disk)
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("lineflow: error: ")


def test_a_rerun_answered_from_its_record_warns_in_one_line_that_its_log_is_lost(filled_home):
    """A rerun of a complete partition writes nothing but its run log (pipeline/complete.py):
    the disk being full loses that log, which is said in one line, and the run itself is done."""
    disk, home = filled_home
    out = run_cli(*RUN, f"home={home}")
    assert out.code == 0, out.stdout + out.stderr
    assert "partition complete since run" in out.stdout and "Traceback" not in out.stderr
    (line,) = out.stderr.splitlines()
    assert line.startswith(f"lineflow: warning: {home}/logs/")
    assert line.endswith(": No space left on device")


@pytest.fixture(scope="module")
def filled_home(tmp_path_factory):
    """A home that ran once, on a disk then filled to the last byte."""
    with mounted(tmp_path_factory.mktemp("filled") / "disk", "size=16m") as disk:
        home = disk / "home"
        out = run_cli(*RUN, f"home={home}")
        assert out.code == 0, out.stdout + out.stderr
        with open(disk / "filler", "wb", buffering=0) as filler:
            try:
                while filler.write(b"\0" * 65536):
                    pass
            except OSError:
                pass  # the disk is full: what this fixture is for
        yield disk, home
