"""The trigger handler decides by the error's family: a permanent failure of the work is
dead-lettered and acknowledged at once, a transient one (or an unknown exception) asks for
redelivery and backs off."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest

from lineflow.config import compose
from lineflow.core.errors import ConfigError, ParseError, ProviderOutage, StageError
from lineflow.ops.triggers.handler import Coalescer, TriggerHandler
from lineflow.ops.triggers.messages import Work
from tests.conftest import INCIDENT

BODY = json.dumps({"processor": "consolidate", "date": INCIDENT}).encode()


def until(condition: Callable[[], bool], within_s: float = 60) -> None:
    """Poll what other threads write (the state store, the coalescer) until `condition`."""
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "not reached in time"
        threading.Event().wait(0.01)


def handler(tmp_path, error: Exception) -> TriggerHandler:
    def runner(settings, work):
        raise error

    settings = compose([f"home={tmp_path / 'home'}", "work.backoff_base_s=60"])
    return TriggerHandler(settings, clock=lambda: 1000.0, runner=runner)


@pytest.mark.parametrize(
    "error",
    [ConfigError("pipeline.stages: unknown stage 'x'"), ParseError("events: invalid JSON")],
)
def test_a_permanent_failure_is_dead_lettered_and_acknowledged_at_once(tmp_path, error):
    trigger = handler(tmp_path, error)
    answer = trigger.handle(BODY, header_id="m-1", check_age=False)
    assert (answer.status, answer.body["status"]) == (200, "dead_lettered")
    assert answer.body["reason"] == str(error)
    (letter,) = trigger.queue.dead_letters()
    assert (letter.key, letter.permanent, letter.attempts) == ("m-1", 1, 1)


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (StageError("consolidate failed: lock held"), "consolidate failed: lock held"),
        (ProviderOutage("down for maintenance"), "down for maintenance"),
        (OSError("disk full"), "OSError: disk full"),
    ],
)
def test_a_transient_failure_asks_for_redelivery_and_backs_off(tmp_path, error, said):
    trigger = handler(tmp_path, error)
    answer = trigger.handle(BODY, header_id="m-2", check_age=False)
    assert (answer.status, answer.body["status"], answer.body["error"]) == (503, "retry", said)
    assert answer.body["attempts"] == 1 and trigger.queue.dead_letters() == []
    item = trigger.queue.get("message", "m-2")
    assert item is not None and item.status == "pending" and item.next_attempt_at == 1060.0


def test_a_claim_is_renewed_while_its_work_runs_so_no_redelivery_takes_it_over(tmp_path):
    """A message's claim is a lease: however long its run (a lock waited for), a redelivery of
    the same message to another instance finds it running, not abandoned."""
    now = [1000.0]
    started, finish = threading.Event(), threading.Event()

    def slow(settings, work):
        started.set()
        finish.wait(60)
        return "run-1"

    settings = compose(
        [f"home={tmp_path / 'home'}", "locks.ttl_minutes=1", "locks.heartbeat_s=0.01"]
    )
    first = TriggerHandler(settings, clock=lambda: now[0], runner=slow)
    other = TriggerHandler(settings, clock=lambda: now[0], runner=lambda s, w: "run-2")
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(first.handle, BODY, "m-3", False)
        assert started.wait(60)
        now[0] += 3600  # an hour later: far past the TTL of a claim nobody renews
        until(lambda: first.queue.get("message", "m-3").updated_at == now[0])  # a heartbeat
        again = other.handle(BODY, "m-3", check_age=False)
        finish.set()
        assert (again.status, again.body["status"]) == (503, "running")
        assert answer.result(60).body == {
            "status": "processed", "id": "m-3", "work": f"consolidate for {INCIDENT}",
            "run_id": "run-1",
        }  # fmt: skip


def test_messages_for_other_sources_of_a_partition_share_the_next_run():
    """While a run of a partition's file stages goes on, notifications of files of other
    sources queue up as one batch: one more run, for all their sources."""
    ran: list[tuple[str, ...] | None] = []
    release = threading.Event()

    def run(settings, work):
        ran.append(work.only)
        if len(ran) == 1:
            release.wait(60)
        return f"run-{len(ran)}"

    coalescer = Coalescer(run)
    stages = ("process", "validate")

    def work(*only: str) -> Work:
        return Work(date(2026, 1, 23), stages, only or None, "w")

    with ThreadPoolExecutor(4) as pool:
        try:
            first = pool.submit(coalescer, None, work("odds_api"))
            until(lambda: bool(ran))  # the first run has begun
            later = [pool.submit(coalescer, None, work(s)) for s in ("bettingpros", "draftkings")]

            def joined() -> int:  # sources in the batch waiting for the next run
                batch = coalescer._pending.get((date(2026, 1, 23), stages))
                return len(batch.work.only or ()) if batch is not None else 0

            until(lambda: joined() == 2)  # both other sources have joined it
            release.set()
            assert first.result(60) == "run-1"
            assert [f.result(60) for f in later] == ["run-2", "run-2"]
        finally:
            release.set()  # the first run ends, whatever failed
    assert ran == [("odds_api",), ("bettingpros", "draftkings")]
