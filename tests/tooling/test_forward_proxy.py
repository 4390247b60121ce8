"""A forward proxy of tests/support is a real proxy.py process that names itself upstream."""

from __future__ import annotations

from urllib.parse import quote

import httpx

from tests.proxied import PROXY_PASSWORD, PROXY_USER
from tests.support.forward_proxy import ForwardProxy
from tests.support.standin import StandIn

BP_KEY = "bp-key-forward-proxy"


def test_names_itself_upstream_when_started_outside_the_repository(tmp_path, monkeypatch) -> None:
    # proxy.py loads the naming plugin by its dotted path in its own process: that process must
    # find `tests.support` whatever directory the tests were started from.
    monkeypatch.chdir(tmp_path)
    with (
        StandIn(bettingpros_key=BP_KEY) as standin,
        ForwardProxy("decodo", username=PROXY_USER, password=PROXY_PASSWORD) as proxy,
    ):
        credentials = f"{quote(PROXY_USER, safe='')}:{quote(PROXY_PASSWORD, safe='')}"
        proxied = httpx.Client(proxy=f"http://{credentials}@{proxy.address}", timeout=10)
        with proxied:
            answer = proxied.get(
                f"{standin.url}/v3/events", params={"sport": "NBA"}, headers={"x-api-key": BP_KEY}
            )
            assert answer.status_code == 200
            assert standin.request_log[-1].headers["forwarded"] == "by=decodo"

            standin.block_via("decodo")
            refused = proxied.get(
                f"{standin.url}/v3/events", params={"sport": "NBA"}, headers={"x-api-key": BP_KEY}
            )
            assert refused.status_code == 403
            # Without the credentials the proxy itself refuses.
            anonymous = httpx.get(f"{standin.url}/v4/sports/", proxy=f"http://{proxy.address}")
            assert anonymous.status_code == 407
