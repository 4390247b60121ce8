"""`today` and `yesterday` as a partition: the US/Eastern date at a moment, resolved where the
date comes in (a trigger message, `lineflow run date=`) and recorded resolved. A scheduler's
message body is fixed text, so this is how it asks for the day's run."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime

import pytest

from lineflow.config import compose
from lineflow.core.errors import ConfigError
from lineflow.core.slate import relative_partition
from lineflow.ops.triggers.handler import TriggerHandler
from lineflow.ops.triggers.messages import Malformed, to_work
from tests.conftest import run_cli

#: 03:30 UTC on the 24th is 22:30 Eastern (EST) on the 23rd: still the 23rd's slate.
BEFORE_MIDNIGHT = datetime(2026, 1, 24, 3, 30, tzinfo=UTC)
#: 05:30 UTC on the 24th is 00:30 Eastern on the 24th.
AFTER_MIDNIGHT = datetime(2026, 1, 24, 5, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "today", "yesterday"),
    [
        (BEFORE_MIDNIGHT, date(2026, 1, 23), date(2026, 1, 22)),
        (datetime(2026, 1, 24, 4, 59, 59, tzinfo=UTC), date(2026, 1, 23), date(2026, 1, 22)),
        (datetime(2026, 1, 24, 5, 0, tzinfo=UTC), date(2026, 1, 24), date(2026, 1, 23)),
        (AFTER_MIDNIGHT, date(2026, 1, 24), date(2026, 1, 23)),
        # Summer time: Eastern is UTC-4, midnight is 04:00 UTC.
        (datetime(2026, 7, 1, 3, 59, tzinfo=UTC), date(2026, 6, 30), date(2026, 6, 29)),
        (datetime(2026, 7, 1, 4, 0, tzinfo=UTC), date(2026, 7, 1), date(2026, 6, 30)),
        # Across a month's and a year's end.
        (datetime(2027, 1, 1, 4, 0, tzinfo=UTC), date(2026, 12, 31), date(2026, 12, 30)),
    ],
)
def test_today_is_the_eastern_date_of_the_moment(moment, today, yesterday):
    assert relative_partition("today", moment) == today
    assert relative_partition("yesterday", moment) == yesterday
    assert relative_partition("tomorrow", moment) is None


@pytest.fixture
def settings(tmp_path):
    return compose([f"home={tmp_path / 'home'}", "work.backoff_base_s=60"])


@pytest.mark.parametrize(
    ("word", "moment", "partition"),
    [
        ("today", BEFORE_MIDNIGHT, date(2026, 1, 23)),
        ("today", AFTER_MIDNIGHT, date(2026, 1, 24)),
        ("yesterday", AFTER_MIDNIGHT, date(2026, 1, 23)),
    ],
)
def test_a_processor_request_for_today_names_the_resolved_partition(
    settings, word, moment, partition
):
    work = to_work({"processor": "scrape", "date": word}, settings, moment)
    assert work.partition == partition
    assert work.what == f"scrape for {partition}"


@pytest.mark.parametrize("word", ["tomorrow", "Today", " today", "today\n"])
def test_other_words_are_malformed(settings, word):
    with pytest.raises(Malformed, match="expected YYYY-MM-DD, today or yesterday"):
        to_work({"processor": "scrape", "date": word}, settings, BEFORE_MIDNIGHT)


def recording_handler(settings, clock_at: datetime, ran: list):
    def runner(_settings, work):
        ran.append(work)
        return f"run-{work.partition}"

    return TriggerHandler(settings, clock=clock_at.timestamp, runner=runner)


def test_a_plain_message_resolves_at_receipt_and_records_the_real_date(settings):
    ran: list = []
    trigger = recording_handler(settings, BEFORE_MIDNIGHT, ran)
    body = json.dumps({"processor": "consolidate", "date": "today"}).encode()
    answer = trigger.handle(body, header_id="m-today")
    assert (answer.status, answer.body["status"]) == (200, "processed")
    assert answer.body["work"] == "consolidate for 2026-01-23"
    assert answer.body["run_id"] == "run-2026-01-23"
    assert [w.partition for w in ran] == [date(2026, 1, 23)]
    item = trigger.queue.get("message", "m-today")
    assert item is not None and (item.status, item.partition) == ("done", "2026-01-23")


def test_an_envelope_resolves_at_its_publish_time_not_at_a_redelivery(tmp_path):
    """Published at 22:30 Eastern, redelivered after midnight: still the day it was sent for."""
    settings = compose([f"home={tmp_path / 'home'}", "triggers.max_age_minutes=180"])
    ran: list = []
    trigger = recording_handler(settings, AFTER_MIDNIGHT, ran)
    data = base64.b64encode(json.dumps({"processor": "scrape", "date": "today"}).encode())
    envelope = {
        "message": {
            "data": data.decode(),
            "messageId": "m-sched",
            "publishTime": BEFORE_MIDNIGHT.isoformat().replace("+00:00", "Z"),
        },
        "subscription": "projects/p/subscriptions/lineflow-push",
    }
    answer = trigger.handle(json.dumps(envelope).encode())
    assert (answer.status, answer.body["work"]) == (200, "scrape for 2026-01-23")
    assert [w.partition for w in ran] == [date(2026, 1, 23)]
    item = trigger.queue.get("message", "m-sched")
    assert item is not None and item.partition == "2026-01-23"


def test_a_dead_letter_keeps_the_resolved_date_for_a_later_replay(settings):
    def runner(_settings, _work):
        raise ConfigError("pipeline: this config cannot run it")

    trigger = TriggerHandler(settings, clock=BEFORE_MIDNIGHT.timestamp, runner=runner)
    body = json.dumps({"processor": "consolidate", "date": "yesterday"}).encode()
    answer = trigger.handle(body, header_id="m-dead")
    assert answer.body["status"] == "dead_lettered"
    (letter,) = trigger.queue.dead_letters()
    assert letter.partition == "2026-01-22"
    assert json.loads(letter.payload or "") == {"processor": "consolidate", "date": "2026-01-22"}


@pytest.mark.parametrize(
    ("words", "partition"),
    [
        (["date=today", "now=2026-01-24T03:30:00Z"], "2026-01-23"),
        (["date=today", "now=2026-01-24T05:30:00Z"], "2026-01-24"),
        (["date=yesterday", "now=2026-01-24T05:30:00Z"], "2026-01-23"),
    ],
)
def test_run_date_today_runs_the_eastern_date_of_now(tmp_path, words, partition):
    home = tmp_path / "home"
    result = run_cli("run", *words, f"home={home}", "pipeline.stages=[consolidate]")
    assert result.code == 0, result.stderr
    assert f"partition {partition}" in result.stdout
    (log,) = (home / "logs").glob("*.jsonl")
    assert log.name.startswith(partition.replace("-", "") + "-"), log.name
