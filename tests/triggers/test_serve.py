"""`lineflow serve` on loopback, hit with real HTTP requests like a Pub/Sub push subscription."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from lineflow.config import compose
from lineflow.state import SqliteStore
from lineflow.state.locks import Locks
from lineflow.state.work import WorkQueue
from tests.conftest import INCIDENT, ROOT, first_line, query, run_cli, table_checksum

TOKEN = "test-trigger-token-5f1c"
PROPS = f"(SELECT * EXCLUDE (run_id) FROM prop_lines WHERE slate_date = DATE '{INCIDENT}')"


class Server:
    """A real `lineflow serve` subprocess; `url` once it printed where it listens."""

    def __init__(self, home: Path, *overrides: str, token: str = TOKEN) -> None:
        env = {**os.environ, "LINEFLOW_TRIGGER_TOKEN": token}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lineflow", "serve", "port=0", f"home={home}", *overrides],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = first_line(self.proc)
        assert "listening on" in line, self.proc.stderr.read()
        self.url = line.split("listening on ")[1].strip()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A clean `lineflow run` of the incident day: its landing zone and its prop_lines."""
    home = tmp_path_factory.mktemp("reference") / "home"
    result = run_cli("run", f"date={INCIDENT}", f"home={home}", "only=[odds_api]")
    assert result.code == 0, result.stderr
    return home


def landed_names(home: Path) -> list[str]:
    root = home / "landing"
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.json"))


def push(payload: object, message_id: str, published: datetime, raw_data: str | None = None):
    data = raw_data or base64.b64encode(json.dumps(payload).encode()).decode()
    return {
        "message": {
            "data": data,
            "messageId": message_id,
            "publishTime": published.isoformat().replace("+00:00", "Z"),
            "attributes": {"eventType": "OBJECT_FINALIZE"},
        },
        "subscription": "projects/lines/subscriptions/lineflow",
    }


def malformed_messages(names: list[str], now: datetime) -> list[tuple[str, bytes]]:
    """50 messages that can never succeed, each with its own id."""
    out: list[tuple[str, bytes]] = []
    kinds = [
        lambda i: b"{not json " + str(i).encode(),
        lambda i: json.dumps(push({}, f"bad-{i}", now, raw_data="@@not base64@@")).encode(),
        lambda i: json.dumps(push({"hello": i}, f"bad-{i}", now)).encode(),
        lambda i: json.dumps(
            push(
                {"bucket": "lines-raw", "name": f"odds-api/player-props/{i}.json"}, f"bad-{i}", now
            )
        ).encode(),
        lambda i: json.dumps(
            push({"scraper_name": "odds_api", "gcs_path": names[i % len(names)]}, f"bad-{i}", now)
        ).encode(),
        lambda i: json.dumps(
            push({"processor": "grade", "date": INCIDENT}, f"bad-{i}", now)
        ).encode(),
        lambda i: json.dumps(
            push({"processor": "process", "date": "2026-02-30"}, f"bad-{i}", now)
        ).encode(),
        lambda i: json.dumps({"message": {"data": "e30=", "publishTime": "x"}, "n": i}).encode(),
        lambda i: json.dumps(
            push(
                {
                    "bucket": "lines-raw",
                    "name": names[i % len(names)].replace("odds_api", "nope", 1),
                },
                f"bad-{i}",
                now,
            )
        ).encode(),
        lambda i: json.dumps(
            push(
                {"processor": "process", "date": INCIDENT},
                f"bad-{i}",
                now,
                raw_data=base64.b64encode(b"[1,2]").decode(),
            )
        ).encode(),
    ]
    for i in range(50):
        body = kinds[i % len(kinds)](i)
        out.append((f"bad-{i}", body))
    return out


def valid_payload(i: int, names: list[str]) -> dict:
    name = names[i % len(names)]
    return [
        {"bucket": "lines-raw", "name": name},
        {"scraper_name": "odds_api", "gcs_path": f"gs://lines-raw/{name}", "status": "success"},
        {"processor": "process:odds_api", "date": INCIDENT},
        {"processor": "consolidate", "date": INCIDENT},
    ][i % 4]


def deliver(client: httpx.Client, url: str, body: bytes, within_s: float = 120):
    """Deliver like a push subscription: redeliver on 5xx until a 2xx (bounded in time)."""
    answers = []
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        response = client.post(url, content=body, headers={"Authorization": f"Bearer {TOKEN}"})
        answers.append(response)
        if response.status_code < 500:
            return answers
        threading.Event().wait(0.05)  # a broker's redelivery delay, not synchronisation
    raise AssertionError(f"no 2xx within {within_s}s: {answers[-1].text}")


def test_a_burst_processes_every_valid_message_once_and_dead_letters_the_rest(reference, tmp_path):
    home = tmp_path / "home"
    names = landed_names(reference)
    assert len(names) == 18
    # The files arrive in the landing zone (as from a bucket sync); the triggers say so.
    for name in names:
        (home / "landing" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(reference / "landing" / name, home / "landing" / name)
        sidecar = Path(name).with_name(f".{Path(name).name}.meta")  # fetch metadata, synced too
        shutil.copy(reference / "landing" / sidecar, home / "landing" / sidecar)
    now = datetime.now(UTC)
    valid = [
        (f"ok-{i}", json.dumps(push(valid_payload(i, names), f"ok-{i}", now)).encode())
        for i in range(130)
    ]
    stale_at = now - timedelta(hours=3)
    stale = [
        (f"old-{i}", json.dumps(push(valid_payload(i, names), f"old-{i}", stale_at)).encode())
        for i in range(20)
    ]
    bad = malformed_messages(names, now)
    burst = valid + stale + bad
    assert len(burst) == 200
    # 10 valid messages are delivered twice, concurrently with their first delivery.
    deliveries = burst + valid[:10]
    server = Server(home, "triggers.max_age_minutes=60", "locks.wait_s=60")
    try:
        with httpx.Client(timeout=60) as client:
            refused = [
                client.post(server.url, content=valid[0][1]),
                client.post(
                    server.url, content=valid[0][1], headers={"Authorization": "Bearer nope"}
                ),
                client.post(server.url, content=valid[0][1], headers={"Authorization": TOKEN}),
            ]
            # A push subscription delivers many messages at once.
            with ThreadPoolExecutor(40) as pool:
                answers = list(pool.map(lambda d: deliver(client, server.url, d[1]), deliveries))
    finally:
        server.stop()

    assert [r.status_code for r in refused] == [401, 401, 401]
    final = [a[-1] for a in answers]
    assert all(r.status_code == 200 for r in final)
    every = [r for a in answers for r in a]
    assert {r.status_code for r in every} <= {200, 503}, "5xx only while the same id is in flight"
    statuses = Counter()
    processed = Counter()
    for (mid, _), response in zip(deliveries, final, strict=True):
        statuses[mid.split("-")[0], response.json()["status"]] += 1
        if response.json()["status"] == "processed":
            processed[mid] += 1
    assert set(processed) == {mid for mid, _ in valid}, "every valid message processed"
    assert max(processed.values()) == 1, "no message processed twice"
    assert statuses["ok", "duplicate"] == 10
    assert statuses["bad", "dead_lettered"] == 50
    assert statuses["old", "dead_lettered"] == 20

    # The tables are those of a clean run: every landed file processed, nothing twice.
    assert table_checksum(home, PROPS) == table_checksum(reference, PROPS)
    assert query(home, "SELECT count(*) FROM landed_files") == [(18,)]

    settings = compose([f"home={home}"])
    letters = WorkQueue(SqliteStore(settings.state_path), settings.work).dead_letters()
    assert len(letters) == 70
    assert sorted(d.key for d in letters if d.reason.startswith("stale: ")) == sorted(
        m for m, _ in stale
    )
    assert all(d.permanent and d.attempts == 1 and d.reason for d in letters)
    answered = {r.json()["dead_letter"] for r in final if r.json()["status"] == "dead_lettered"}
    assert {d.id for d in letters} == answered
    assert all(d.payload for d in letters), "the message itself is kept for a replay"
    assert Locks(SqliteStore(settings.state_path), settings.locks).held() == []
    for written in [home / "state.sqlite", *(home / "logs").glob("*.jsonl")]:
        assert TOKEN not in written.read_bytes().decode("latin-1"), written


def test_a_transient_failure_answers_5xx_then_the_redelivery_succeeds(reference, tmp_path):
    home = tmp_path / "home"
    settings = compose([f"home={home}", "locks.wait_s=0.2"])
    locks = Locks(SqliteStore(settings.state_path), settings.locks, host="other-host", pid=1)
    locks.acquire("nba_props", "consolidate", INCIDENT, "a-long-run")
    server = Server(home, "locks.wait_s=0.2", "work.backoff_base_s=0")
    body = json.dumps(
        push({"processor": "consolidate", "date": INCIDENT}, f"m-{uuid.uuid4()}", datetime.now(UTC))
    ).encode()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        with httpx.Client(timeout=60) as client:
            first = client.post(server.url, content=body, headers=headers)
            locks.release("nba_props:consolidate:" + INCIDENT, "a-long-run")
            second = client.post(server.url, content=body, headers=headers)
            third = client.post(server.url, content=body, headers=headers)
    finally:
        server.stop()
    assert first.status_code == 503, first.text
    assert "held by host other-host pid 1 run a-long-run" in first.json()["error"]
    assert first.json()["attempts"] == 1
    assert (second.status_code, second.json()["status"]) == (200, "processed")
    assert (third.status_code, third.json()["status"]) == (200, "duplicate")


def test_a_message_failing_max_attempts_times_is_dead_lettered_and_acknowledged(tmp_path):
    home = tmp_path / "home"
    settings = compose([f"home={home}"])
    locks = Locks(SqliteStore(settings.state_path), settings.locks, host="other-host", pid=1)
    locks.acquire("nba_props", "consolidate", INCIDENT, "a-stuck-run")
    server = Server(home, "locks.wait_s=0", "work.backoff_base_s=0", "work.max_attempts=3")
    body = json.dumps(
        push({"processor": "consolidate", "date": INCIDENT}, "m-stuck", datetime.now(UTC))
    ).encode()
    try:
        with httpx.Client(timeout=60) as client:
            codes = [
                client.post(server.url, content=body, headers={"Authorization": f"Bearer {TOKEN}"})
                for _ in range(4)
            ]
    finally:
        server.stop()
    assert [c.status_code for c in codes] == [503, 503, 200, 200]
    assert codes[2].json()["status"] == "dead_lettered"
    assert "gave up after 3 attempts" in codes[2].json()["reason"]
    assert codes[3].json()["status"] == "duplicate"
    replay = run_cli("dlq", f"home={home}")
    assert "m-stuck" in replay.stdout and "gave up after 3 attempts" in replay.stdout


def test_serve_refuses_to_start_without_a_token(tmp_path):
    env = {"LINEFLOW_TRIGGER_TOKEN": ""}
    result = run_cli("serve", f"home={tmp_path}", "port=0", env=env)
    assert result.code == 2
    assert "LINEFLOW_TRIGGER_TOKEN: environment variable not set" in result.stderr


def test_serve_stops_on_sigterm_with_exit_0_as_its_help_says(tmp_path):
    assert "0 stopped" in run_cli("serve", "--help").stdout
    server = Server(tmp_path / "home")
    try:
        with httpx.Client() as client:  # it is really serving before it is told to stop
            assert client.post(server.url, content=b"{}").status_code == 401
    finally:
        server.proc.send_signal(signal.SIGTERM)
        code = server.proc.wait(30)
    assert code == 0, server.proc.stderr.read()
