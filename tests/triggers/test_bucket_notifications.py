"""A bucket landing zone's own object notifications (`{bucket, name}`, name as the bucket has it,
prefix included) run their partition's stages from the bucket, on fake-gcs-server on loopback."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import gcsfs
import httpx
import pytest

from lineflow.config import compose
from lineflow.ops.triggers.messages import Ignored, Malformed, to_work
from tests.conftest import INCIDENT, run_cli, table_checksum
from tests.triggers.test_serve import PROPS, TOKEN, Server, deliver, push

LANDED = f"odds_api/events/{INCIDENT}/live-20260123T140000Z/events.json"


@pytest.fixture
def settings(tmp_path):
    return compose([f"home={tmp_path / 'home'}", "landing.url=gs://lines-landing/lf/raw"])


def test_a_notification_names_its_object_as_the_bucket_does_prefix_included(settings):
    work = to_work({"bucket": "lines-landing", "name": f"lf/raw/{LANDED}"}, settings)
    assert (str(work.partition), work.landed, work.only) == (INCIDENT, LANDED, ("odds_api",))
    completion = {"scraper_name": "odds_api", "gcs_path": f"gs://lines-landing/lf/raw/{LANDED}"}
    assert to_work(completion, settings).landed == LANDED


@pytest.mark.parametrize(
    ("bucket", "name", "reason"),
    [
        ("other-bucket", f"lf/raw/{LANDED}", "not in the landing bucket gs://lines-landing/lf/raw"),
        ("lines-landing", LANDED, "not under the landing zone gs://lines-landing/lf/raw"),
        ("lines-landing", f"lf/rawer/{LANDED}", "not under the landing zone"),
        ("lines-landing", "lf/raw/odds_api/notes.txt", "landing layout"),
    ],
)
def test_an_object_outside_the_landing_zone_is_malformed(settings, bucket, name, reason):
    with pytest.raises(Malformed, match=reason):
        to_work({"bucket": bucket, "name": name}, settings)


@pytest.mark.parametrize(
    "name",
    [
        f"lf/raw/odds_api/events/{INCIDENT}/live-20260123T140000Z/.events.json.meta",
        f"lf/raw/odds_api/events/{INCIDENT}/live-20260123T140000Z/events.json.corrupt-20260124T"
        "000000Z",
    ],
)
def test_what_the_zone_writes_beside_a_landed_file_is_ignored(settings, name):
    with pytest.raises(Ignored, match="written beside a landed file"):
        to_work({"bucket": "lines-landing", "name": name}, settings)


def test_the_buckets_own_notifications_process_the_partition_from_the_bucket(bucket, tmp_path):
    """Scrape into the bucket, then notify `lineflow serve` of every object as the bucket would:
    the landed files are processed (tables equal to a local run's), the sidecars acknowledged,
    a file not there yet retried."""
    url = f"gs://{bucket}/lf/raw"
    local = tmp_path / "local"
    ran = run_cli("run", f"date={INCIDENT}", f"home={local}", "only=[odds_api]")
    assert ran.code == 0, ran.stderr
    home = tmp_path / "home"
    scraped = run_cli(
        "run",
        f"date={INCIDENT}",
        f"home={home}",
        "only=[odds_api]",
        "pipeline.stages=[scrape]",
        f"landing.url={url}",
    )
    assert scraped.code == 0, scraped.stderr
    assert not (home / "landing").exists(), "the files are in the bucket, not on the disk"
    fs = gcsfs.GCSFileSystem(token="anon", cache_timeout=0)
    objects = sorted(p.removeprefix(f"{bucket}/") for p in fs.find(f"{bucket}/lf/raw"))
    bodies = [o for o in objects if o.endswith(".json")]
    sidecars = [o for o in objects if o.endswith(".meta")]
    assert len(bodies) == 18 and len(sidecars) == 18, objects

    now = datetime.now(UTC)
    missing = bodies[0].replace("live-", "history-", 1)
    server = Server(home, f"landing.url={url}", "locks.wait_s=60")
    try:
        with httpx.Client(timeout=120) as client:

            def notify(name: str, mid: str) -> httpx.Response:
                body = json.dumps(push({"bucket": bucket, "name": name}, mid, now)).encode()
                return deliver(client, server.url, body)[-1]

            not_yet = client.post(
                server.url,
                headers={"Authorization": f"Bearer {TOKEN}"},
                content=json.dumps(push({"bucket": bucket, "name": missing}, "m-x", now)).encode(),
            )
            answers = [notify(name, f"m-{i}") for i, name in enumerate(bodies + sidecars)]
    finally:
        server.stop()

    assert not_yet.status_code == 503
    assert "is not in the landing zone (yet)" in not_yet.json()["error"]
    said = [a.json()["status"] for a in answers]
    assert said == ["processed"] * len(bodies) + ["ignored"] * len(sidecars), answers[-1].text
    assert table_checksum(home, PROPS) == table_checksum(local, PROPS)
    assert table_checksum(home, PROPS)[0] > 0
