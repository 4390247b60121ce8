from lineflow.http.cassette import Cassette, Recorded, request_key


def test_query_order_does_not_matter_but_values_do():
    a = request_key("get", "/v4/x?b=2&a=1")
    assert a == request_key("GET", "/v4/x?a=1&b=2")
    assert a != request_key("GET", "/v4/x?a=1&b=3")


def test_round_trip_and_sequential_playback(tmp_path):
    path = tmp_path / "c" / "live-20260123T140000Z.json.gz"
    cassette = Cassette(path)
    cassette.record("GET", "/x?a=1", Recorded(503, "Service Unavailable", {}, b"busy"))
    cassette.record(
        "GET", "/x?a=1", Recorded(200, "OK", {"Content-Type": "application/json"}, b"{}")
    )
    cassette.record("GET", "/bin", Recorded(200, "OK", {}, b"\xff\x00"))
    cassette.save()
    loaded = Cassette.load(path)
    first, second, third = (loaded.play("GET", "/x?a=1") for _ in range(3))
    assert (first.status, first.body) == (503, b"busy")
    assert (second.status, second.body, second.headers) == (
        200,
        b"{}",
        {"content-type": "application/json"},
    )
    assert third.status == 200, "past the recorded sequence the last answer repeats"
    assert loaded.play("GET", "/bin").body == b"\xff\x00"
    assert loaded.play("GET", "/missing") is None


def test_only_useful_headers_are_kept(tmp_path):
    cassette = Cassette(tmp_path / "c.json.gz")
    headers = {"Date": "Fri, 23 Jan 2026 14:08:00 GMT", "Server": "x", "X-Requests-Last": "4"}
    cassette.record("GET", "/x", Recorded(200, "OK", headers, b"{}"))
    cassette.save()
    played = Cassette.load(tmp_path / "c.json.gz").play("GET", "/x")
    assert played.headers == {"date": "Fri, 23 Jan 2026 14:08:00 GMT", "x-requests-last": "4"}
