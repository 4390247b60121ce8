"""Which trigger messages are accepted, and the one-line reason for those that are not."""

from __future__ import annotations

import base64
import json
from datetime import date

import pytest

from lineflow.config import compose
from lineflow.ops.triggers.messages import Malformed, read_message, to_work

LANDED = (
    "odds_api/player_props/2026-01-23/live-20260123T140000Z/0c3e3d7128d78e27a2a06ff18b276290.json"
)


@pytest.fixture(scope="module")
def settings():
    return compose([])


def envelope(payload: object, **message: object) -> bytes:
    data = base64.b64encode(json.dumps(payload).encode()).decode()
    msg = {"data": data, "messageId": "m-1", "publishTime": "2026-01-23T14:10:00Z", **message}
    return json.dumps({"message": msg, "subscription": "projects/p/subscriptions/s"}).encode()


def test_a_push_envelope_is_decoded_with_its_id_time_and_attempt():
    body = json.loads(envelope({"bucket": "lines-raw", "name": LANDED}))
    body["deliveryAttempt"] = 3
    message = read_message(json.dumps(body).encode())
    assert message.id == "m-1"
    assert message.published_at is not None and message.published_at.hour == 14
    assert message.delivery_attempt == 3
    assert message.payload == {"bucket": "lines-raw", "name": LANDED}


def test_a_plain_json_payload_takes_its_id_from_the_header():
    message = read_message(b'{"processor": "consolidate", "date": "2026-01-23"}', "hdr-7")
    assert (message.id, message.published_at) == ("hdr-7", None)


def test_storage_notification_and_scraper_completion_name_the_landed_files_partition(settings):
    work = to_work({"bucket": "lines-raw", "name": LANDED}, settings)
    assert (work.partition, work.stages, work.only) == (
        date(2026, 1, 23),
        ("process", "validate", "consolidate", "predict"),
        ("odds_api",),
    )
    done = {"scraper_name": "odds_api", "gcs_path": f"gs://lines-raw/{LANDED}", "status": "ok"}
    assert to_work(done, settings) == work


def test_a_processor_request_runs_one_stage_for_one_date(settings):
    work = to_work({"processor": "process:odds_api", "date": "2026-01-22"}, settings)
    assert (work.partition, work.stages, work.only) == (
        date(2026, 1, 22),
        ("process",),
        ("odds_api",),
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json{", "body is not JSON"),
        (b"[1, 2]", "expected an object"),
        (b'{"message": {"data": "e30="}}', "push envelope: message.messageId"),
        (b'{"message": {"data": "%%%", "messageId": "x"}}', "not base64-encoded JSON"),
    ],
)
def test_undecodable_bodies_are_malformed(body, reason):
    with pytest.raises(Malformed, match=reason):
        read_message(body)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"hello": 1}, "matches no trigger shape"),
        ({"bucket": "lines-raw", "name": "odds-api/player-props/x.json"}, "landing layout"),
        ({"bucket": "Bad Bucket!", "name": LANDED}, "not a bucket name"),
        ({"scraper_name": "odds_api", "gcs_path": "lines-raw/" + LANDED}, "not gs://bucket/object"),
        ({"scraper_name": "odds_api", "gcs_path": "gs://lines-raw/a/b.json"}, "landing layout"),
        ({"bucket": "b-1", "name": LANDED.replace("odds_api", "pinnacle", 1)}, "unknown source"),
        ({"processor": "grade", "date": "2026-01-23"}, "unknown stage 'grade'"),
        ({"processor": "process:nope", "date": "2026-01-23"}, "unknown source 'nope'"),
        ({"processor": "process", "date": "2026-13-40"}, "date"),
        ({"processor": "process", "date": "23/01/2026"}, "expected YYYY-MM-DD"),
        # `run date=`'s range: beyond it the slate arithmetic overflowed (a 503 retry loop)
        ({"processor": "process", "date": "9999-12-31"}, "outside 1970-01-01..2999-12-31"),
        ({"bucket": "b-1", "name": LANDED.replace("2026-01-23", "9999-12-31", 1)}, "outside"),
        # `$` matches before a trailing newline: each check must take the whole value.
        ({"bucket": "lines-raw", "name": LANDED + "\n"}, "landing layout"),
        ({"bucket": "lines-raw\n", "name": LANDED}, "not a bucket name"),
        ({"scraper_name": "odds_api", "gcs_path": f"gs://lines-raw/{LANDED}\n"}, "not gs://"),
        ({"processor": "process\n", "date": "2026-01-23"}, "expected STAGE or STAGE:SOURCE"),
    ],
)
def test_payloads_that_can_never_succeed_say_why(settings, payload, reason):
    with pytest.raises(Malformed, match=reason):
        to_work(payload, settings)
