"""`lineflow serve` refuses a guessable token at start and bodies over its limit, unread."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.conftest import run_cli
from tests.triggers.test_serve import TOKEN, Server

AUTH = {"Authorization": f"Bearer {TOKEN}"}
LANDED = "odds_api/events/2026-01-23/live-20260123T140000Z/events.json"


@pytest.fixture
def server(tmp_path):
    served = Server(tmp_path / "home", "triggers.max_body_bytes=4096")
    yield served
    served.stop()


@pytest.mark.parametrize("token", ["x", "fifteen-chars!!"])
def test_serve_refuses_to_start_with_a_short_token(tmp_path, token):
    result = run_cli("serve", f"home={tmp_path}", "port=0", env={"LINEFLOW_TRIGGER_TOKEN": token})
    assert result.code == 2
    assert result.stderr == (
        f"lineflow: error: LINEFLOW_TRIGGER_TOKEN: the token has {len(token)} characters, "
        "needs 16 or more (e.g. `openssl rand -hex 24`)\n"
    )


def test_a_body_over_the_limit_is_refused_with_413(server):
    small = json.dumps({"processor": "grade", "date": "2026-01-23", "pad": "x" * 3000}).encode()
    large = json.dumps({"processor": "grade", "date": "2026-01-23", "pad": "x" * 5000}).encode()
    with httpx.Client(timeout=30) as client:
        refused = client.post(server.url, content=large, headers=AUTH)
        assert refused.status_code == 413
        assert refused.json() == {"status": "too_large", "reason": "body over 4096 bytes"}
        # Without a Content-Length (chunked), reading stops once the limit is passed.
        chunks = (large[i : i + 1000] for i in range(0, len(large), 1000))
        streamed = client.post(server.url, content=chunks, headers=AUTH)
        assert streamed.status_code == 413
        # Under the limit the message is read and judged (an unknown stage: dead-lettered).
        taken = client.post(server.url, content=small, headers=AUTH)
        assert taken.status_code == 200 and taken.json()["status"] == "dead_lettered"
        # The token is checked first: an unauthorised sender learns nothing of the limit.
        anonymous = client.post(server.url, content=large)
        assert anonymous.status_code == 401


def test_a_landed_name_ending_in_a_newline_is_dead_lettered(server):
    with httpx.Client(timeout=30) as client:
        answer = client.post(
            server.url,
            json={"bucket": "lines-raw", "name": LANDED + "\n"},
            headers={**AUTH, "X-Message-Id": "m-newline"},
        )
    assert answer.status_code == 200
    assert answer.json()["status"] == "dead_lettered"
    assert "does not follow the landing layout" in answer.json()["reason"]
