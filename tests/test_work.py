"""Work items: attempts, exponential backoff, dead letters after the last attempt."""

from __future__ import annotations

from lineflow.config import WorkConfig
from lineflow.state.work import WorkQueue, backoff_s


def queue(state_target, now, **config):
    """A work queue on the test's store (each test runs on SQLite and on Postgres)."""
    return WorkQueue(state_target.store(), WorkConfig(**config), lambda: now[0])


def test_backoff_doubles_from_the_base_up_to_the_cap():
    config = WorkConfig(backoff_base_s=60, backoff_max_s=600)
    assert [backoff_s(config, n) for n in range(1, 7)] == [60, 120, 240, 480, 600, 600]


def test_transient_failures_back_off_then_end_in_the_dead_letter_store(state_target):
    now = [1000.0]
    work = queue(state_target, now, max_attempts=3, backoff_base_s=10)
    first = work.failed("file", "k", "landing:a.json", "boom", permanent=False, partition="D")
    assert (first.attempts, first.next_attempt_at, first.dead) == (1, 1010.0, False)
    assert work.claim("file", "k", "landing:a.json", "me")[0] == "backoff"
    assert work.claim("file", "new", "landing:b.json", "me")[0] == "claimed", "new work goes on"
    now[0] = 1010.0
    assert work.claim("file", "k", "landing:a.json", "me")[0] == "claimed"
    second = work.failed("file", "k", "landing:a.json", "boom", permanent=False)
    assert second.next_attempt_at == 1030.0
    third = work.failed("file", "k", "landing:a.json", "boom again", permanent=False)
    assert third.dead
    (letter,) = work.dead_letters()
    assert (letter.reason, letter.attempts, letter.payload_ref, letter.permanent) == (
        "gave up after 3 attempts: boom again",
        3,
        "landing:a.json",
        0,
    )
    assert work.depth() == 1


def test_a_permanent_failure_is_dead_lettered_once_on_the_first_attempt(state_target):
    work = queue(state_target, [0.0])
    failure = work.failed("message", "m1", "message:m1", "bad", permanent=True, payload="{}")
    again = work.failed("message", "m1", "message:m1", "bad", permanent=True, payload="{}")
    assert failure.dead and again.letter_id == failure.letter_id
    assert [d.payload for d in work.dead_letters()] == ["{}"]


def test_a_replayed_dead_letter_is_new_work_again(state_target):
    work = queue(state_target, [0.0])
    work.failed("message", "m1", "message:m1", "bad", permanent=True)
    assert work.claim("message", "m1", "message:m1", "me")[0] == "dead"
    work.requeue(work.dead_letters()[0])
    assert work.dead_letters() == [] and work.depth() == 0
    state, item = work.claim("message", "m1", "message:m1", "me")
    assert state == "claimed" and item is not None and item.attempts == 0


def test_a_running_claim_is_exclusive_until_its_owner_is_gone(state_target):
    work = queue(state_target, [0.0])
    assert work.claim("message", "m", "message:m", "a")[0] == "claimed"
    assert work.claim("message", "m", "message:m", "b")[0] == "running"
    assert work.claim("message", "m", "message:m", "b", is_stale_claim=lambda _i: True)[0] == (
        "claimed"
    )


def test_a_claimed_item_succeeds_and_keeps_its_partition(state_target):
    """A claim, then its success: the row the claim wrote is updated in place (on Postgres the
    upsert named `partition` ambiguously, and every trigger message's success failed)."""
    work = queue(state_target, [5.0])
    assert work.claim("message", "m", "message:m", "a", partition="2026-01-23")[0] == "claimed"
    work.succeeded("message", "m", "message:m", result="run-1")
    work.claim("message", "n", "message:n", "a")
    work.succeeded("message", "n", "message:n", partition="2026-01-22", result="run-2")
    done = [work.get("message", key) for key in ("m", "n")]
    assert [(i.status, i.partition, i.result, i.claimed_by) for i in done] == [
        ("done", "2026-01-23", "run-1", None),
        ("done", "2026-01-22", "run-2", None),
    ]
