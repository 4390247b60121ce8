from datetime import UTC, date, datetime

import pytest

from lineflow.landing import LandingConflict, LandingPath, LandingZone, file_id, pass_id, pass_time

WHERE = LandingPath("odds_api", "player_props", date(2026, 1, 23), "live-20260123T140000Z", "abc")


def test_layout_round_trips():
    assert str(WHERE) == "odds_api/player_props/2026-01-23/live-20260123T140000Z/abc.json"
    assert LandingPath.parse(str(WHERE)) == WHERE


@pytest.mark.parametrize(
    "bad",
    [
        "odds_api/player_props/2026-01-23/abc.json",
        "odds_api/player_props/2026-01-23/live-2026/abc.json",
        "../etc/player_props/2026-01-23/live-20260123T140000Z/abc.json",
    ],
)
def test_paths_outside_the_layout_are_refused(bad):
    with pytest.raises(ValueError, match="landing layout"):
        LandingPath.parse(bad)


def test_pass_ids_carry_their_time():
    at = datetime(2026, 1, 23, 14, 8, 5, tzinfo=UTC)
    assert pass_id("live", at) == "live-20260123T140805Z"
    assert pass_time("live-20260123T140805Z") == at


def test_write_once_same_body_is_a_no_op(tmp_path):
    zone = LandingZone(tmp_path)
    assert zone.write(WHERE, b'{"a":1}') == file_id(b'{"a":1}')
    assert zone.write(WHERE, b'{"a":1}') == file_id(b'{"a":1}')
    assert zone.read(WHERE) == b'{"a":1}'


def test_write_once_never_overwrites(tmp_path):
    zone = LandingZone(tmp_path)
    zone.write(WHERE, b'{"a":1}')
    with pytest.raises(LandingConflict, match="different body"):
        zone.write(WHERE, b'{"a":2}')
    assert zone.read(WHERE) == b'{"a":1}'
    assert not list(tmp_path.rglob("*.tmp")), "no temporary file is left behind"


def test_discover_finds_files_dropped_by_hand(tmp_path):
    zone = LandingZone(tmp_path)
    target = tmp_path / str(WHERE)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"{}")
    (target.parent / "notes.txt").write_text("ignored")
    assert list(zone.discover("odds_api", date(2026, 1, 23))) == [WHERE]
    assert list(zone.discover("odds_api", date(2026, 1, 22))) == []


def test_discover_lists_the_partitions_layout_files_in_path_order(tmp_path):
    zone = LandingZone(tmp_path)
    day = "2026-01-23"
    layout = [
        f"odds_api/events/{day}/live-20260123T130000Z/x.json",
        f"odds_api/player_props/{day}/history-20260123T140000Z/z.json",
        f"odds_api/player_props/{day}/live-20260123T140000Z/a-b.json",
        f"odds_api/player_props/{day}/live-20260123T140000Z/a.b.json",
        f"odds_api/player_props/{day}/live-20260123T140000Z/a.json",
    ]
    outside = [
        f"odds_api/player_props/{day}/live-20260123T140000Z/.a.json.meta",  # a sidecar
        f"odds_api/Player-Props/{day}/live-20260123T130000Z/x.json",  # not a layout name
        f"odds_api/events/{day}/not-a-pass/x.json",
        "odds_api/events/2026-01-22/live-20260122T130000Z/x.json",  # another partition
        f"bettingpros/events/{day}/live-20260123T130000Z/x.json",  # another source
    ]
    for name in reversed(layout + outside):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"{}")
    (tmp_path / "odds_api" / "a_file_not_a_folder").write_bytes(b"{}")
    found = [str(where) for where in zone.discover("odds_api", date(2026, 1, 23))]
    assert found == layout
    assert list(zone.discover("draftkings", date(2026, 1, 23))) == []  # nothing landed
