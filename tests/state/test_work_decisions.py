"""The work queue's decisions, field by field: retry when, dead-letter why, claim or skip."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from lineflow.config import WorkConfig
from lineflow.core.errors import LineflowError, PermanentError, TransientError
from lineflow.state import SqliteStore
from lineflow.state.work import (
    MAX_PAYLOAD_CHARS,
    DeadLetter,
    Failure,
    WorkItem,
    WorkQueue,
    backoff_s,
    is_permanent,
    reason,
)


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(tmp_path: Path, clock: Clock, **config: float) -> WorkQueue:
    return WorkQueue(SqliteStore(tmp_path / "state.sqlite"), WorkConfig(**config), clock)


def test_backoff_starts_at_the_base_and_doubles_to_the_cap() -> None:
    config = WorkConfig(backoff_base_s=5, backoff_max_s=30)
    got = [backoff_s(config, n) for n in (0, 1, 2, 3, 4, 5)]
    assert got == [5.0, 5.0, 10.0, 20.0, 30.0, 30.0]
    assert all(type(s) is float for s in got)


def test_the_errors_family_decides_retry_or_dead_letter() -> None:
    assert is_permanent(PermanentError("bad message"))
    assert not is_permanent(TransientError("timeout"))
    assert not is_permanent(OSError("disk"))
    assert reason(TransientError("proxy refused")) == "proxy refused"
    assert reason(KeyError("home")) == "KeyError: 'home'"
    assert reason(LineflowError("x")) == "x"


def test_a_first_failure_is_retried_after_the_base_backoff(tmp_path: Path) -> None:
    clock = Clock()
    work = make(tmp_path, clock, max_attempts=3, backoff_base_s=10)
    failure = work.failed("file", "k", "ref", "boom", permanent=False, partition="D")
    assert failure == Failure(1, next_attempt_at=1010.0)
    assert not failure.dead
    item = work.get("file", "k")
    assert item is not None
    assert (item.status, item.attempts, item.last_error, item.next_attempt_at) == (
        "pending",
        1,
        "boom",
        1010.0,
    )
    assert (item.partition, item.claimed_by, item.payload_ref) == ("D", None, "ref")
    assert work.dead_letters() == [] and work.depth() == 0


def test_the_last_allowed_attempt_dead_letters(tmp_path: Path) -> None:
    clock = Clock()
    work = make(tmp_path, clock, max_attempts=2, backoff_base_s=10)
    work.failed("file", "k", "ref", "boom", permanent=False)
    clock.now = 1010.0
    last = work.failed("file", "k", "ref", "boom 2", permanent=False, payload="body")
    assert last.dead and (last.attempts, last.next_attempt_at) == (2, None)
    assert last.reason == "gave up after 2 attempts: boom 2"
    (letter,) = work.dead_letters()
    assert letter == DeadLetter(
        last.letter_id, "file", "k", None, "gave up after 2 attempts: boom 2", 0, 2, "ref",
        "body", 1010.0, None,
    )  # fmt: skip
    assert letter.created == datetime.fromtimestamp(1010.0, UTC)
    assert work.get("file", "k").status == "dead"  # type: ignore[union-attr]


def test_attempts_seen_elsewhere_count_when_larger(tmp_path: Path) -> None:
    work = make(tmp_path, Clock(), max_attempts=5, backoff_base_s=10)
    assert work.failed("msg", "m", "ref", "e", permanent=False, attempts_seen=3).attempts == 3
    assert work.failed("msg", "m", "ref", "e", permanent=False, attempts_seen=2).attempts == 4
    # the fifth attempt is the last allowed one
    assert work.failed("msg", "m", "ref", "e", permanent=False).dead


def test_a_permanent_failure_is_dead_lettered_with_its_own_reason(tmp_path: Path) -> None:
    work = make(tmp_path, Clock())
    big = "x" * (MAX_PAYLOAD_CHARS + 10)
    failure = work.failed("msg", "m", "ref", "bad json", permanent=True, payload=big)
    assert failure.dead and failure.reason == "bad json" and failure.attempts == 1
    (letter,) = work.dead_letters()
    assert (letter.permanent, letter.reason) == (1, "bad json")
    assert letter.payload == "x" * 64_000 and MAX_PAYLOAD_CHARS == 64_000
    again = work.failed("msg", "m", "ref", "bad json", permanent=True)
    assert again == Failure(1, letter_id=failure.letter_id, reason="bad json")
    assert len(work.dead_letters()) == 1


def test_claims_skip_work_in_backoff_until_exactly_its_time(tmp_path: Path) -> None:
    clock = Clock()
    work = make(tmp_path, clock, backoff_base_s=10)
    work.failed("file", "k", "ref", "boom", permanent=False)
    clock.now = 1009.9
    state, item = work.claim("file", "k", "ref", "me")
    assert state == "backoff" and item is not None and item.status == "pending"
    clock.now = 1010.0
    state, item = work.claim("file", "k", "ref", "me")
    assert state == "claimed" and item is not None
    assert (item.status, item.claimed_by, item.updated_at, item.attempts) == (
        "running",
        "me",
        1010.0,
        1,
    )


def test_a_new_key_is_claimed_as_running(tmp_path: Path) -> None:
    work = make(tmp_path, Clock())
    state, item = work.claim("file", "k", "ref", "me", partition="D")
    assert state == "claimed"
    assert item == WorkItem(
        "file", "k", "D", "ref", "running", 0, None, None, "me", 1000.0, 1000.0, None
    )


def test_done_and_dead_items_are_not_claimed(tmp_path: Path) -> None:
    work = make(tmp_path, Clock())
    work.succeeded("file", "done", "ref", partition="D", result="12 rows")
    state, item = work.claim("file", "done", "ref", "me")
    assert state == "done" and item is not None
    assert (item.result, item.partition, item.status) == ("12 rows", "D", "done")
    work.failed("file", "dead", "ref", "bad", permanent=True)
    assert work.claim("file", "dead", "ref", "me")[0] == "dead"


def test_success_clears_the_failure_history(tmp_path: Path) -> None:
    clock = Clock()
    work = make(tmp_path, clock, backoff_base_s=10)
    work.failed("file", "k", "ref", "boom", permanent=False, partition="D")
    work.succeeded("file", "k", "ref", result="ok")
    item = work.get("file", "k")
    assert item is not None
    assert (item.status, item.last_error, item.next_attempt_at, item.claimed_by) == (
        "done",
        None,
        None,
        None,
    )
    assert (item.partition, item.result) == ("D", "ok")  # a missing partition keeps the old


def test_items_of_a_partition_by_key(tmp_path: Path) -> None:
    work = make(tmp_path, Clock())
    work.succeeded("file", "a", "ref", partition="D")
    work.succeeded("file", "b", "ref", partition="E")
    work.succeeded("message", "c", "ref", partition="D")
    assert list(work.items("file", "D")) == ["a"]
    assert work.get("file", "zzz") is None


def test_requeue_makes_a_dead_letter_new_work(tmp_path: Path) -> None:
    clock = Clock()
    work = make(tmp_path, clock)
    work.failed("msg", "m", "ref", "bad", permanent=True)
    (letter,) = work.dead_letters()
    clock.now = 2000.0
    work.requeue(letter)
    assert work.dead_letters() == [] and work.depth() == 0
    (replayed,) = work.dead_letters(include_replayed=True)
    assert replayed.replayed_at == 2000.0
    assert work.dead_letter(letter.id) == replayed
    assert work.dead_letter(letter.id + 100) is None
    item = work.get("msg", "m")
    assert item is not None
    assert (item.status, item.attempts, item.last_error, item.updated_at) == (
        "pending",
        0,
        None,
        2000.0,
    )


@pytest.mark.parametrize("letters", [0, 3])
def test_depth_counts_unreplayed_letters(tmp_path: Path, letters: int) -> None:
    work = make(tmp_path, Clock())
    for n in range(letters):
        work.failed("msg", f"m{n}", "ref", "bad", permanent=True)
    assert work.depth() == letters
    assert [d.key for d in work.dead_letters()] == [f"m{n}" for n in range(letters)]
