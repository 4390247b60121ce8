"""Trigger messages, fuzzed: whatever arrives (arbitrary bytes, JSON of any shape, push
envelopes with fields dropped, swapped or nested deep), a malformed message is answered 2xx
(dead-lettered, or a duplicate of one) and never 5xx, which would have Pub/Sub redeliver it.

Bounded and deterministic (`derandomize=True`)."""

from __future__ import annotations

import base64
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lineflow.config import compose
from lineflow.ops.triggers.handler import TriggerHandler
from lineflow.ops.triggers.messages import Malformed, read_message, to_work

FUZZ = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
GOOD = {"processor": "consolidate", "date": "2026-01-23"}
LANDED = {"bucket": "b", "name": "odds_api/events/2026-01-23/live-20260123T150000Z/events.json"}

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["consolidate", "process:odds_api", "2026-01-23", "9999", "../x.json"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["processor", "date", "bucket", "name", "gcs_path", "message", "x"])
            | st.text(max_size=8),
            inner,
            max_size=4,
        )
    ),
    max_leaves=8,
)


def _envelope(payload: object, message_id: object, data_is_base64: bool) -> dict[str, object]:
    encoded = json.dumps(payload).encode()
    data = base64.b64encode(encoded).decode() if data_is_base64 else encoded.decode()
    return {"message": {"messageId": message_id, "data": data}, "subscription": "s"}


def _mutated(payload: dict[str, object], drop: list[str], swap: dict[str, object]) -> dict:
    kept = {k: v for k, v in payload.items() if k not in drop}
    return {**kept, **{k: v for k, v in swap.items() if k in payload}}


PAYLOADS = JSON | st.builds(
    _mutated,
    st.sampled_from([GOOD, LANDED]),
    st.lists(st.sampled_from(["processor", "date", "bucket", "name"]), max_size=2),
    st.dictionaries(st.sampled_from(["processor", "date", "bucket", "name"]), JSON, max_size=2),
)
BODIES = (
    st.binary(max_size=300)
    | PAYLOADS.map(lambda p: json.dumps(p).encode())
    | st.builds(_envelope, PAYLOADS, st.text(max_size=6) | JSON, st.booleans()).map(
        lambda e: json.dumps(e).encode()
    )
    | st.integers(1, 200_000).map(lambda n: b"[" * n + b"]" * n)
    | st.integers(1, 200_000).map(lambda n: b'{"processor": ' + b"[" * n + b"]" * n + b"}")
)


def _malformed(body: bytes, settings_) -> bool:
    try:
        to_work(read_message(body).payload, settings_)
    except Malformed:
        return True
    return False


def test_a_malformed_message_is_answered_2xx_never_5xx(tmp_path):
    config = compose([f"home={tmp_path / 'home'}"])
    handler = TriggerHandler(config, clock=lambda: 1000.0, runner=lambda s, w: "run-1")

    @FUZZ
    @given(BODIES)
    def check(body: bytes) -> None:
        if not _malformed(body, config):  # well-formed work is another test's subject
            return
        answer = handler.handle(body, check_age=False)
        assert 200 <= answer.status < 300, (answer.status, answer.body)
        assert answer.body["status"] in ("dead_lettered", "duplicate")

    check()
