"""Proxy pools and chains: which way a source's request goes out, credentials kept inside.

A chain is the ordered list of links a source tries (`[decodo, proxyfuel, direct]`); a link is
a pool (pick one of its proxies by the pool's rotation) or `direct` (no proxy). What is shown
anywhere, and stored in proxy health, is `Proxy.label`: pool and host:port, never credentials.
"""

from __future__ import annotations

import random
import threading
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from lineflow.config import DIRECT, PoolConfig, ProxyConfig
from lineflow.core.errors import MissingSecret
from lineflow.http.secrets import credential_pair


@dataclass(frozen=True)
class Proxy:
    """One way out: a pool's proxy, or the direct path (`url` None)."""

    pool: str
    address: str  # host:port of the proxy, "-" for direct
    url: str | None = field(default=None, repr=False)  # with credentials: never shown

    @property
    def label(self) -> str:
        return self.pool if self.url is None else f"{self.pool} {self.address}"


DIRECT_PROXY = Proxy(DIRECT, "-")


def proxy_url(base: str, username: str | None, password: str | None) -> str:
    """`http://host:port` with credentials percent-encoded into it (`+`, `@`, `:` survive)."""
    if not username and not password:
        return base
    parts = urlsplit(base)
    userinfo = quote(username or "", safe="")
    if password:
        userinfo += ":" + quote(password, safe="")
    return f"{parts.scheme}://{userinfo}@{parts.netloc}"


class Link:
    """A link of a chain: a pool with its rotation state, or the direct path."""

    def __init__(
        self, name: str, proxies: list[Proxy], rotation: str, rng: random.Random | None = None
    ) -> None:
        self.name = name
        self.proxies = proxies
        self.rotation = rotation
        self._rng = rng or random.Random()
        self._next = 0
        self._lock = threading.Lock()

    def pick(self, source: str, usable: Callable[[Proxy], bool]) -> Proxy | None:
        """The proxy for the next request of `source`, skipping unusable ones (open breakers)."""
        candidates = [p for p in self.proxies if usable(p)]
        if not candidates:
            return None
        if self.rotation == "random":
            return self._rng.choice(candidates)
        if self.rotation == "sticky":
            # The same proxy for a source while it is usable (one residential session).
            start = zlib.crc32(source.encode()) % len(self.proxies)
            ordered = self.proxies[start:] + self.proxies[:start]
            return next(p for p in ordered if p in candidates)
        with self._lock:
            for _ in range(len(self.proxies)):
                proxy = self.proxies[self._next % len(self.proxies)]
                self._next += 1
                if proxy in candidates:
                    return proxy
        return candidates[0]


def pool_proxies(
    name: str, pool: PoolConfig, env: Mapping[str, str], need_credentials: bool
) -> list[Proxy]:
    """A pool's proxies with credentials from `env`; missing ones fail when they are needed."""
    username = env.get(pool.username_env) if pool.username_env else None
    password = env.get(pool.password_env) if pool.password_env else None
    if need_credentials:
        for var, value in ((pool.username_env, username), (pool.password_env, password)):
            if var and not value:
                raise MissingSecret(
                    f"proxy.pools.{name}: environment variable {var} is not set "
                    "(needed to use this pool live)"
                )
    return [
        Proxy(name, urlsplit(base).netloc, proxy_url(base, username, password))
        for base in pool.proxies
    ]


def pool_secrets(config: ProxyConfig, env: Mapping[str, str]) -> list[str]:
    """Every proxy credential in `env`, for the redactor (which masks each in every encoding):
    usernames, passwords, and `user:password` as Basic authentication sends it."""
    values = []
    for pool in config.pools.values():
        username = env.get(pool.username_env) if pool.username_env else None
        password = env.get(pool.password_env) if pool.password_env else None
        pair = credential_pair(username, password)
        values += [v for v in (username, password, pair) if v]
    return values


def build_links(
    config: ProxyConfig,
    chain: list[str],
    env: Mapping[str, str],
    need_credentials: bool,
    rng: random.Random | None = None,
) -> list[Link]:
    links = []
    for name in chain:
        if name == DIRECT:
            links.append(Link(DIRECT, [DIRECT_PROXY], "round_robin"))
            continue
        pool = config.pools[name]
        proxies = pool_proxies(name, pool, env, need_credentials)
        links.append(Link(name, proxies, pool.rotation, rng))
    return links
