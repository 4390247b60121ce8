"""Proxy URLs, credentials and rotation within a pool."""

from __future__ import annotations

import random

import httpx
import pytest

from lineflow.config import PoolConfig
from lineflow.http import MissingSecret
from lineflow.http.proxies import Link, Proxy, pool_proxies, proxy_url


@pytest.mark.parametrize("password", ["p+ss", "p@ss", "p:ss", "p/ss%2B#?&= ü"])
def test_credentials_are_url_encoded_and_decode_back_exactly(password):
    url = proxy_url("http://gate.decodo.com:7000", "user+1@x", password)
    parsed = httpx.URL(url)
    assert (parsed.username, parsed.password) == ("user+1@x", password)
    assert (parsed.host, parsed.port) == ("gate.decodo.com", 7000)


def test_a_proxy_shows_its_pool_and_address_never_its_credentials():
    (proxy,) = pool_proxies(
        "decodo",
        PoolConfig(
            provider="Decodo",
            kind="residential",
            proxies=["http://gate.decodo.com:7000"],
            username_env="U",
            password_env="P",
        ),
        {"U": "someone", "P": "s3cret+pass"},
        need_credentials=True,
    )
    assert proxy.label == "decodo gate.decodo.com:7000"
    assert "s3cret" not in repr(proxy) and "s3cret" in (proxy.url or "")


def test_missing_credentials_name_the_variable_when_needed():
    pool = PoolConfig(
        provider="X", kind="datacenter", proxies=["http://p:1"], password_env="PF_PASS"
    )
    with pytest.raises(MissingSecret, match="PF_PASS is not set"):
        pool_proxies("proxyfuel", pool, {}, need_credentials=True)
    assert pool_proxies("proxyfuel", pool, {}, need_credentials=False)  # replay needs none


PROXIES = [Proxy("pool", f"p{i}:1", f"http://p{i}:1") for i in range(3)]


def test_round_robin_cycles_and_skips_open_breakers():
    link = Link("pool", PROXIES, "round_robin")
    picks = [link.pick("s", lambda p: p.address != "p1:1") for _ in range(4)]
    assert [p.address for p in picks if p] == ["p0:1", "p2:1", "p0:1", "p2:1"]


def test_sticky_keeps_one_proxy_per_source_until_it_is_unusable():
    link = Link("pool", PROXIES, "sticky")
    first = link.pick("bettingpros", lambda p: True)
    assert all(link.pick("bettingpros", lambda p: True) == first for _ in range(5))
    other = link.pick("bettingpros", lambda p: p != first)
    assert other is not None and other != first


def test_random_picks_only_usable_proxies_and_none_when_all_are_open():
    link = Link("pool", PROXIES, "random", random.Random(7))
    picks = {link.pick("s", lambda p: p.address != "p0:1") for _ in range(30)}
    assert {p.address for p in picks if p} == {"p1:1", "p2:1"}
    assert link.pick("s", lambda p: False) is None
