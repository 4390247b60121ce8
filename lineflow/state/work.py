"""Units of work with attempts, exponential backoff and a dead-letter store.

A unit of work (a landed file to process, a trigger message) is identified by (kind, key). Each
failure counts an attempt and sets `next_attempt_at` = now + base * 2^(attempts-1) (capped);
work in backoff is skipped, never waited for, so failing items cannot starve new ones. A
permanent failure (malformed message, parse error in a complete response, a 4xx retrying
cannot fix) or the last allowed attempt moves the item to `dead_letters` with its reason and a
pointer to its payload. `replay` puts a dead letter's item back in the queue after a fix.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from lineflow.config import WorkConfig
from lineflow.core.errors import LineflowError, PermanentError
from lineflow.state import StateStore

#: Status of a work item: pending (new or waiting for its next attempt), running, done, dead.
Status = Literal["pending", "running", "done", "dead"]
#: The longest payload kept inline in a dead letter (the pointer always is).
MAX_PAYLOAD_CHARS = 64_000


@dataclass(frozen=True)
class WorkItem:
    kind: str
    key: str
    partition: str | None
    payload_ref: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: float | None
    claimed_by: str | None
    created_at: float
    updated_at: float
    result: str | None

    @classmethod
    def from_row(cls, row: Any) -> WorkItem:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})

    def waits(self, now: float) -> bool:
        """Whether its unit is not to be tried at `now`: dead-lettered, or backing off."""
        return self.status == "dead" or (self.next_attempt_at or 0) > now


@dataclass(frozen=True)
class DeadLetter:
    id: int
    kind: str
    key: str
    partition: str | None
    reason: str
    permanent: int
    attempts: int
    payload_ref: str
    payload: str | None
    created_at: float
    replayed_at: float | None

    @classmethod
    def from_row(cls, row: Any) -> DeadLetter:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})

    @property
    def created(self) -> datetime:
        return datetime.fromtimestamp(self.created_at, UTC)


@dataclass(frozen=True)
class Failure:
    """What `WorkQueue.failed` decided: retry at `next_attempt_at`, or dead letter `letter_id`
    (with the `reason` it was dead-lettered for)."""

    attempts: int
    next_attempt_at: float | None = None
    letter_id: int | None = None
    reason: str | None = None

    @property
    def dead(self) -> bool:
        return self.letter_id is not None


def is_permanent(error: BaseException) -> bool:
    """Dead letter at once or retry with backoff, by the error's family: a PermanentError
    cannot succeed by retrying. Everything else, a TransientError or an exception lineflow does
    not know (a bug, an I/O error), is retried: a fix deployed meanwhile is then picked up
    without anyone replaying a dead letter, and max_attempts still ends a hopeless item."""
    return isinstance(error, PermanentError)


def reason(error: BaseException) -> str:
    """The one line a failure is recorded with: a lineflow error's own message; any other
    exception named by its type, which is all a reader has to go on."""
    return str(error) if isinstance(error, LineflowError) else f"{type(error).__name__}: {error}"


def backoff_s(config: WorkConfig, attempts: int) -> float:
    """Seconds before attempt `attempts + 1`: base * 2^(attempts-1), capped at the max."""
    return float(min(config.backoff_max_s, config.backoff_base_s * 2 ** max(0, attempts - 1)))


class WorkQueue:
    """Work items and dead letters of one state store."""

    def __init__(
        self, store: StateStore, config: WorkConfig, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        store.ensure("work")

    def get(self, kind: str, key: str) -> WorkItem | None:
        with self.store.connect() as con:
            row = con.execute(
                "SELECT * FROM work_items WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
        return WorkItem.from_row(row) if row else None

    def items(self, kind: str, partition: str) -> dict[str, WorkItem]:
        """Every item of a kind in a partition, by key (items without history have no row)."""
        with self.store.connect() as con:
            rows = con.execute(
                "SELECT * FROM work_items WHERE kind = ? AND partition = ?", (kind, partition)
            ).fetchall()
        return {r["key"]: WorkItem.from_row(r) for r in rows}

    def claim(
        self,
        kind: str,
        key: str,
        payload_ref: str,
        claimed_by: str,
        partition: str | None = None,
        is_stale_claim: Callable[[WorkItem], bool] = lambda _i: False,
    ) -> tuple[str, WorkItem | None]:
        """Atomically take an item to work on: ("claimed", item), or why not: ("done"|"dead"|
        "running"|"backoff", item). A new key is created; a running claim whose owner is gone
        (`is_stale_claim`) is taken over.

        The claim is one statement: insert the item as running, or flip a pending item whose
        backoff is over to running, and return the row only if this call did it. Of two
        processes claiming the same item at once (on SQLite or across Postgres instances)
        exactly one gets the row back: the other's conflicting update waits for the first's
        commit and then finds the item running.
        """
        now = self.clock()
        with self.store.connect() as con:
            row = con.execute(
                "INSERT INTO work_items (kind, key, partition, payload_ref, status, "
                "claimed_by, created_at, updated_at) VALUES (?, ?, ?, ?, 'running', ?, ?, ?) "
                "ON CONFLICT (kind, key) DO UPDATE SET status = 'running', "
                "claimed_by = excluded.claimed_by, updated_at = excluded.updated_at "
                "WHERE work_items.status = 'pending' "
                "AND coalesce(work_items.next_attempt_at, 0) <= excluded.updated_at "
                "RETURNING *",
                (kind, key, partition, payload_ref, claimed_by, now, now),
            ).fetchone()
        if row is not None:
            return "claimed", WorkItem.from_row(row)
        item = self.get(kind, key)
        if item is None:  # deleted meanwhile (nothing deletes items): claim again
            return self.claim(kind, key, payload_ref, claimed_by, partition, is_stale_claim)
        if item.status in ("done", "dead"):
            return item.status, item
        if item.status == "pending":
            return "backoff", item
        if not is_stale_claim(item):
            return "running", item
        # Its owner is gone: take it over only if nobody else did since we read it.
        with self.store.connect() as con:
            row = con.execute(
                "UPDATE work_items SET claimed_by = ?, updated_at = ? "
                "WHERE kind = ? AND key = ? AND status = 'running' AND claimed_by = ? "
                "AND updated_at = ? RETURNING *",
                (claimed_by, now, kind, key, item.claimed_by, item.updated_at),
            ).fetchone()
        if row is None:
            return "running", self.get(kind, key)
        return "claimed", WorkItem.from_row(row)

    def renew(self, kind: str, key: str, claimed_by: str) -> bool:
        """Renew a running claim (its `updated_at`, which `is_stale_claim` judges by); False
        when the claim is no longer `claimed_by`'s."""
        with self.store.connect() as con:
            cur = con.execute(
                "UPDATE work_items SET updated_at = ? "
                "WHERE kind = ? AND key = ? AND status = 'running' AND claimed_by = ?",
                (self.clock(), kind, key, claimed_by),
            )
            return cur.rowcount == 1

    def succeeded(
        self,
        kind: str,
        key: str,
        payload_ref: str,
        partition: str | None = None,
        result: str | None = None,
    ) -> None:
        now = self.clock()
        with self.store.transaction() as con:
            con.execute(
                "INSERT INTO work_items (kind, key, partition, payload_ref, status, created_at, "
                "updated_at, result) VALUES (?, ?, ?, ?, 'done', ?, ?, ?) "
                "ON CONFLICT (kind, key) DO UPDATE SET status = 'done', last_error = NULL, "
                "next_attempt_at = NULL, claimed_by = NULL, updated_at = excluded.updated_at, "
                "result = excluded.result, "
                "partition = coalesce(excluded.partition, work_items.partition)",
                (kind, key, partition, payload_ref, now, now, result),
            )

    def failed(
        self,
        kind: str,
        key: str,
        payload_ref: str,
        error: str,
        *,
        permanent: bool,
        partition: str | None = None,
        payload: str | None = None,
        attempts_seen: int = 0,
    ) -> Failure:
        """Count a failed attempt; dead-letter the item when permanent or out of attempts.

        `attempts_seen` lets a caller report attempts counted elsewhere (Pub/Sub's
        deliveryAttempt): the larger count wins.
        """
        now = self.clock()
        with self.store.transaction() as con:
            row = con.execute(
                "SELECT attempts, status FROM work_items WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
            if row is not None and row["status"] == "dead":  # already dead-lettered: once
                letter_id, reason = self._letter_of(con, kind, key)
                return Failure(row["attempts"], letter_id=letter_id, reason=reason)
            attempts = max((row["attempts"] if row else 0) + 1, attempts_seen)
            dead = permanent or attempts >= self.config.max_attempts
            next_at = None if dead else now + backoff_s(self.config, attempts)
            con.execute(
                "INSERT INTO work_items (kind, key, partition, payload_ref, status, attempts, "
                "last_error, next_attempt_at, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (kind, key) DO UPDATE SET status = excluded.status, "
                "attempts = excluded.attempts, last_error = excluded.last_error, "
                "next_attempt_at = excluded.next_attempt_at, claimed_by = NULL, "
                "updated_at = excluded.updated_at",
                (
                    kind,
                    key,
                    partition,
                    payload_ref,
                    "dead" if dead else "pending",
                    attempts,
                    error,
                    next_at,
                    now,
                    now,
                ),
            )
            if not dead:
                return Failure(attempts, next_attempt_at=next_at)
            reason = error if permanent else f"gave up after {attempts} attempts: {error}"
            (letter_id,) = con.execute(
                "INSERT INTO dead_letters (kind, key, partition, reason, permanent, attempts, "
                "payload_ref, payload, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "RETURNING id",
                (
                    kind,
                    key,
                    partition,
                    reason,
                    int(permanent),
                    attempts,
                    payload_ref,
                    None if payload is None else payload[:MAX_PAYLOAD_CHARS],
                    now,
                ),
            ).fetchone()
            return Failure(attempts, letter_id=letter_id, reason=reason)

    @staticmethod
    def _letter_of(con: Any, kind: str, key: str) -> tuple[int | None, str | None]:
        row = con.execute(
            "SELECT id, reason FROM dead_letters WHERE kind = ? AND key = ? "
            "ORDER BY id DESC LIMIT 1",
            (kind, key),
        ).fetchone()
        return (row[0], row[1]) if row else (None, None)

    # -- dead letters ------------------------------------------------------------------------
    def dead_letters(self, include_replayed: bool = False) -> list[DeadLetter]:
        sql = "SELECT * FROM dead_letters"
        if not include_replayed:
            sql += " WHERE replayed_at IS NULL"
        with self.store.connect() as con:
            rows = con.execute(sql + " ORDER BY id").fetchall()
        return [DeadLetter.from_row(r) for r in rows]

    def dead_letter(self, letter_id: int) -> DeadLetter | None:
        with self.store.connect() as con:
            row = con.execute("SELECT * FROM dead_letters WHERE id = ?", (letter_id,)).fetchone()
        return DeadLetter.from_row(row) if row else None

    def requeue(self, letter: DeadLetter) -> None:
        """Mark a dead letter replayed and put its item back as new (attempts reset)."""
        now = self.clock()
        with self.store.transaction() as con:
            con.execute("UPDATE dead_letters SET replayed_at = ? WHERE id = ?", (now, letter.id))
            con.execute(
                "UPDATE work_items SET status = 'pending', attempts = 0, next_attempt_at = NULL, "
                "last_error = NULL, claimed_by = NULL, updated_at = ? WHERE kind = ? AND key = ?",
                (now, letter.kind, letter.key),
            )

    def depth(self) -> int:
        """Dead letters not yet replayed: what the health summary reports."""
        with self.store.connect() as con:
            (n,) = con.execute(
                "SELECT count(*) FROM dead_letters WHERE replayed_at IS NULL"
            ).fetchone()
        return int(n)
