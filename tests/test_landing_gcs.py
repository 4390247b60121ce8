"""The landing zone in a bucket (fake-gcs-server on loopback): same layout, same write-once."""

from __future__ import annotations

import threading
from datetime import date

import gcsfs
import pytest

from lineflow.config import LandingConfig
from lineflow.landing import LandingConflict, LandingPath, file_id, open_landing
from lineflow.landing.gcs import GcsLanding

WHERE = LandingPath("odds_api", "player_props", date(2026, 1, 23), "live-20260123T140000Z", "abc")


def test_landing_url_selects_the_bucket(bucket, tmp_path):
    zone = open_landing(LandingConfig(root=tmp_path, url=f"gs://{bucket}/landing"))
    assert isinstance(zone, GcsLanding)
    zone.write(WHERE, b"{}")
    assert not list(tmp_path.iterdir()), "nothing lands on the local disk"


def test_write_once_same_body_is_a_no_op(bucket):
    zone = GcsLanding(f"gs://{bucket}/landing")
    assert zone.write(WHERE, b'{"a":1}') == file_id(b'{"a":1}')
    assert zone.write(WHERE, b'{"a":1}') == file_id(b'{"a":1}')
    assert zone.read(WHERE) == b'{"a":1}'
    assert zone.read(str(WHERE)) == b'{"a":1}'
    assert zone.exists(WHERE)


def test_a_second_writer_gets_a_conflict_not_an_overwrite(bucket):
    fs = gcsfs.GCSFileSystem(token="anon", cache_timeout=0)
    GcsLanding(f"gs://{bucket}/landing").write(WHERE, b'{"a":1}')
    generation = fs.info(f"{bucket}/landing/{WHERE}")["generation"]
    with pytest.raises(LandingConflict, match="different body"):
        GcsLanding(f"gs://{bucket}/landing").write(WHERE, b'{"a":2}')
    assert fs.cat_file(f"{bucket}/landing/{WHERE}") == b'{"a":1}'
    assert fs.info(f"{bucket}/landing/{WHERE}")["generation"] == generation


def test_racing_writers_of_one_object_leave_exactly_one_body(bucket):
    bodies = [f'{{"writer":{i}}}'.encode() for i in range(4)]
    outcomes: list[str] = []
    start = threading.Barrier(len(bodies))

    def write(body: bytes) -> None:
        zone = GcsLanding(f"gs://{bucket}/race")
        start.wait(timeout=30)
        try:
            zone.write(WHERE, body)
            outcomes.append("landed")
        except LandingConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=write, args=(b,)) for b in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["conflict"] * 3 + ["landed"]
    assert GcsLanding(f"gs://{bucket}/race").read(WHERE) in bodies


def test_discover_finds_files_of_the_partition_only(bucket):
    zone = GcsLanding(f"gs://{bucket}/landing")
    zone.write(WHERE, b"{}")
    fs = gcsfs.GCSFileSystem(token="anon", cache_timeout=0)
    fs.pipe_file(f"{bucket}/landing/odds_api/player_props/2026-01-23/notes.txt", b"ignored")
    other_day = LandingPath("odds_api", "events", date(2026, 1, 22), WHERE.pass_id, "events")
    zone.write(other_day, b"[]")
    assert list(zone.discover("odds_api", date(2026, 1, 23))) == [WHERE]
    assert list(zone.discover("bettingpros", date(2026, 1, 23))) == []


@pytest.mark.parametrize("url", ["s3://bucket/x", "gs://", "gs://Bad_Bucket"])
def test_a_url_that_is_not_a_bucket_is_refused(url, tmp_path):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="gs://BUCKET"):
        LandingConfig(root=tmp_path, url=url)
