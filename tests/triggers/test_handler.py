"""The trigger handler decides by the error's family: a permanent failure of the work is
dead-lettered and acknowledged at once, a transient one (or an unknown exception) asks for
redelivery and backs off."""

from __future__ import annotations

import json

import pytest

from lineflow.config import compose
from lineflow.core.errors import ConfigError, ParseError, ProviderOutage, StageError
from lineflow.ops.triggers.handler import TriggerHandler
from tests.conftest import INCIDENT

BODY = json.dumps({"processor": "consolidate", "date": INCIDENT}).encode()


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
