"""A Pub/Sub push subscription cannot set `Authorization`: `lineflow serve` takes the trigger token
in the endpoint's URL too (`POST /?token=...`), and that URL's token reaches no output or log."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import httpx

from lineflow.ops.triggers.app import RedactTokens
from tests.conftest import INCIDENT
from tests.triggers.test_serve import TOKEN, Server, push


def test_a_push_with_the_token_in_its_url_is_processed_and_the_token_is_logged_nowhere(tmp_path):
    home = tmp_path / "home"
    now = datetime.now(UTC)
    payload = {"processor": "consolidate", "date": INCIDENT}
    by_url, by_header = (
        json.dumps(push(payload, mid, now)).encode() for mid in ("m-url", "m-header")
    )
    wrong_token = "wrong-trigger-token-5f1c"
    server = Server(home)
    try:
        with httpx.Client(timeout=120) as client:
            wrong = client.post(server.url, params={"token": wrong_token}, content=by_url)
            empty = client.post(server.url, params={"token": ""}, content=by_url)
            url_answer = client.post(server.url, params={"token": TOKEN}, content=by_url)
            header_answer = client.post(
                server.url, headers={"Authorization": f"Bearer {TOKEN}"}, content=by_header
            )
            again = client.post(server.url, params={"token": TOKEN}, content=by_url)
            # The dashboard's `?token=` goes through the same server and the same rule.
            dashboard = client.get(
                f"{server.url}dashboard", params={"token": TOKEN}, follow_redirects=True
            )
    finally:
        server.stop()
    out, err = server.proc.stdout.read(), server.proc.stderr.read()

    assert (wrong.status_code, wrong.json()) == (401, {"status": "unauthorized"})
    assert empty.status_code == 401
    assert url_answer.status_code == 200, url_answer.text
    assert header_answer.status_code == 200, header_answer.text
    assert url_answer.json()["status"] == header_answer.json()["status"] == "processed"
    work = f"consolidate for {INCIDENT}"
    assert url_answer.json()["work"] == header_answer.json()["work"] == work
    assert again.json()["status"] == "duplicate", "the refused tries recorded nothing; this did"
    assert dashboard.status_code == 200 and TOKEN not in str(dashboard.url)

    logs = sorted((home / "logs").glob("*.jsonl"))
    assert len(logs) == 2, "one run per processed message"
    assert TOKEN not in out + err
    for written in (p for p in home.rglob("*") if p.is_file()):
        assert TOKEN.encode() not in written.read_bytes(), written


def test_uvicorns_lines_have_a_token_in_a_url_masked():
    """Whatever uvicorn would log with a request's URL (its access line, shaped as uvicorn
    shapes it) loses the token before a handler formats it."""
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", f"/?token={TOKEN}&x=1", "1.1", 200),
        None,
    )
    assert RedactTokens().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "POST /?token=[redacted]&x=1 HTTP/1.1" 200'
    plain = logging.LogRecord("uvicorn.error", logging.WARNING, __file__, 1, "%s", ("ok",), None)
    assert RedactTokens().filter(plain) and plain.getMessage() == "ok"
