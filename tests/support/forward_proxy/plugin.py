"""A proxy.py plugin that names the proxy to the upstream server: `Forwarded: by=NAME`.

proxy.py writes its own fixed `Via` header after plugins run, so two instances would look the
same to the stand-in provider; RFC 7239's `by` parameter carries the instance's name instead.
The name comes from the environment variable LINEFLOW_PROXY_NAME of the proxy process.
"""

from __future__ import annotations

import os

from proxy.http.parser import HttpParser
from proxy.http.proxy import HttpProxyBasePlugin

from tests.support.forward_proxy.plugin_name import NAME_ENV


class NamedForwarded(HttpProxyBasePlugin):
    """Adds `Forwarded: by=NAME` to every request forwarded upstream."""

    def handle_client_request(self, request: HttpParser) -> HttpParser | None:
        name = os.environ.get(NAME_ENV, "")
        if name:
            request.add_header(b"Forwarded", f"by={name}".encode())
        return request
