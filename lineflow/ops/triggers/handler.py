"""What happens to one trigger message: dedup, validation, age, the work, and the answer.

The answer follows what a push broker does with it: 2xx acknowledges (processed, a duplicate,
or dead-lettered because it can never succeed), 5xx asks for redelivery (a transient failure,
or the same message still being worked on). Which failures can never succeed is decided by the
error's family, as for every unit of work (`lineflow.state.work.is_permanent`): a malformed or stale
message, or work this config cannot do (a ConfigError), is dead-lettered at once. A message is
worked on once: its id is claimed in the state store before anything runs.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from lineflow.config import Settings
from lineflow.core.errors import StageError, TransientError
from lineflow.core.slate import RELATIVE_DAYS
from lineflow.landing import LandingPath, open_landing
from lineflow.ops.triggers.messages import (
    Ignored,
    Malformed,
    Message,
    Work,
    body_key,
    envelope_id,
    read_message,
    to_work,
)
from lineflow.pipeline.predictions import Heartbeat
from lineflow.state import open_state
from lineflow.state.locks import pid_alive, this_host
from lineflow.state.work import Failure, WorkItem, WorkQueue, is_permanent, reason

KIND = "message"


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any] = field(default_factory=dict)


def run_work(settings: Settings, work: Work) -> str:
    """Run the stages a message names, in this process, under the stage locks; the run id."""
    from lineflow.pipeline.request import RunRequest
    from lineflow.pipeline.runner import EXIT_FAILED, run_partition

    request = RunRequest.from_settings(settings, date=work.partition, stages=tuple(work.stages))
    if work.only is not None:
        request = request.replace(only=tuple(work.only))
    report = run_partition(settings, request)
    if report.exit_code == EXIT_FAILED:
        first = report.failed[0]
        raise StageError(f"{first.processor} failed: {first.error}")
    return report.run_id


class Coalescer:
    """Messages naming the same stages of a partition while a run for them waits share that
    run, whichever sources they name: the run takes every source its messages named (all of
    them, when one named none).

    A burst of notifications for one partition, from every source, then costs a few runs, not
    one per message or per source, and every message is still covered by a run that started
    after it arrived and ran its stages for its source: a batch closes when its run begins, and
    later arrivals form the next batch.
    """

    def __init__(self, fn: Callable[[Settings, Work], str]) -> None:
        self.fn = fn
        self._guard = threading.Lock()
        self._pending: dict[tuple[date, tuple[str, ...]], _Batch] = {}
        self._running: dict[tuple[date, tuple[str, ...]], threading.Lock] = {}

    def __call__(self, settings: Settings, work: Work) -> str:
        group = (work.partition, work.stages)
        with self._guard:
            batch = self._pending.get(group)
            leader = batch is None
            if batch is None:
                batch = self._pending[group] = _Batch(work)
            else:
                batch.widen(work)
            running = self._running.setdefault(group, threading.Lock())
        if not leader:
            return batch.result.result()
        with running:  # one run per work at a time in this process; the batch fills meanwhile
            with self._guard:
                del self._pending[group]
                todo = batch.work
            try:
                batch.result.set_result(self.fn(settings, todo))
            except BaseException as exc:
                batch.result.set_exception(exc)
        return batch.result.result()


class _Batch:
    """The work of the messages waiting for one run, and that run's outcome."""

    def __init__(self, work: Work) -> None:
        self.work = work
        self.result: Future[str] = Future()

    def widen(self, work: Work) -> None:
        """Take another message's sources in (`only=None`: every source)."""
        mine, theirs = self.work.only, work.only
        only = None if mine is None or theirs is None else tuple(dict.fromkeys(mine + theirs))
        self.work = replace(self.work, only=only)


class TriggerHandler:
    """Handles trigger bodies for one lineflow home; safe to call from many threads."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        runner: Callable[[Settings, Work], str] = run_work,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.runner = Coalescer(runner)
        self.queue = WorkQueue(open_state(settings), settings.work, clock)
        #: Where a notified file must be before its stages run: the configured landing zone
        #: (`landing.url`'s bucket, else `landing.root`), as the stages themselves read it.
        self.landing = open_landing(settings.landing)
        self.host = this_host()

    def handle(self, body: bytes, header_id: str | None = None, check_age: bool = True) -> Answer:
        try:
            message: Message | None = read_message(body, header_id)
        except Malformed as exc:
            message, problem = None, str(exc)
        key = message.id if message else envelope_id(body) or header_id or body_key(body)
        ref = f"message:{key}"
        claimed_by = f"{self.host}:{os.getpid()}:{threading.get_ident()}"
        state, item = self.queue.claim(KIND, key, ref, claimed_by, is_stale_claim=self._gone)
        if state in ("done", "dead"):
            return Answer(200, {"status": "duplicate", "id": key, "was": state})
        if state in ("running", "backoff"):
            retry_at = item.next_attempt_at if item and state == "backoff" else None
            return Answer(503, {"status": state, "id": key, "next_attempt_at": _iso(retry_at)})
        text = body.decode("utf-8", "replace")
        if message is None:
            return self._dead(key, ref, problem, text, None)
        try:
            work = to_work(message.payload, self.settings, self._as_of(message))
        except Malformed as exc:
            return self._dead(key, ref, str(exc), text, None)
        except Ignored as exc:
            self.queue.succeeded(KIND, key, ref, result="ignored")
            return Answer(200, {"status": "ignored", "id": key, "reason": str(exc)})
        if message.published_at is None and str(message.payload.get("date")) in RELATIVE_DAYS:
            # Recorded resolved: a dead letter replayed on a later day runs the same partition
            # (an envelope keeps its publish time, which resolves it the same way again).
            text = json.dumps({**message.payload, "date": str(work.partition)})
        if check_age and (stale := self._stale(message)) is not None:
            return self._dead(key, ref, stale, text, str(work.partition))
        try:
            with Heartbeat(lambda: self._renew(key, claimed_by), self.settings.locks.heartbeat_s):
                if work.landed is not None and not self.landing.exists(
                    LandingPath.parse(work.landed)
                ):
                    raise TransientError(f"{work.landed} is not in the landing zone (yet)")
                run_id = self.runner(self.settings, work)
        except Exception as exc:  # by its family: dead letter at once (work this config
            # cannot do) or retry (a lock held too long, a failed stage, I/O), up to max_attempts
            error = reason(exc)
            failure = self.queue.failed(
                KIND,
                key,
                ref,
                error,
                permanent=is_permanent(exc),
                partition=str(work.partition),
                payload=text,
                attempts_seen=message.delivery_attempt,
            )
            if failure.dead:
                return _dead_lettered(key, failure)
            return Answer(
                503,
                {
                    "status": "retry",
                    "id": key,
                    "error": error,
                    "attempts": failure.attempts,
                    "next_attempt_at": _iso(failure.next_attempt_at),
                },
            )
        self.queue.succeeded(KIND, key, ref, str(work.partition), result=run_id)
        return Answer(200, {"status": "processed", "id": key, "work": work.what, "run_id": run_id})

    def _dead(self, key: str, ref: str, why: str, payload: str, partition: str | None) -> Answer:
        """A message that can never succeed (malformed, stale): dead-lettered at once."""
        failure = self.queue.failed(
            KIND, key, ref, why, permanent=True, partition=partition, payload=payload
        )
        return _dead_lettered(key, failure)

    def _as_of(self, message: Message) -> datetime:
        """The moment `today` means in a message: when it was published (a redelivery after
        midnight still names the day it was sent for), else now, its receipt."""
        return message.published_at or datetime.fromtimestamp(self.clock(), UTC)

    def _stale(self, message: Message) -> str | None:
        if message.published_at is None:
            return None
        age_min = (self.clock() - message.published_at.timestamp()) / 60
        limit = self.settings.triggers.max_age_minutes
        if age_min <= limit:
            return None
        return (
            f"stale: published {message.published_at:%Y-%m-%d %H:%M:%S}Z, {age_min:.0f} min "
            f"ago (triggers.max_age_minutes={limit:g})"
        )

    def _renew(self, key: str, claimed_by: str) -> None:
        """The claim's heartbeat: a claim is a lease, renewed like a stage lock while its work
        runs (a long wait for a lock included), so that no other instance takes it over."""
        with suppress(Exception):  # a busy or unreachable store: the next beat tries again
            self.queue.renew(KIND, key, claimed_by)

    def _gone(self, item: WorkItem) -> bool:
        """A running claim whose process died on this host, or whose holder stopped renewing
        it for a lock's TTL (the only sign of a holder on another host that died), is free."""
        host, _, rest = (item.claimed_by or "").partition(":")
        pid = rest.partition(":")[0]
        if host == self.host and pid.isdigit() and not pid_alive(int(pid)):
            return True
        return self.clock() - item.updated_at > self.settings.locks.ttl_minutes * 60


def _dead_lettered(key: str, failure: Failure) -> Answer:
    """Acknowledged: the broker must not redeliver what is in the dead-letter store."""
    return Answer(
        200,
        {
            "status": "dead_lettered",
            "id": key,
            "reason": failure.reason,
            "dead_letter": failure.letter_id,
        },
    )


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
