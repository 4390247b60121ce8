"""Real forward-proxy processes on loopback (proxy.py) standing in for proxy providers.

    with ForwardProxy("decodo", username="user", password="p+ss@w:rd") as proxy:
        proxy.address   # "127.0.0.1:PORT", to use as a pool's proxy URL

Each instance is its own `python -m proxy` process requiring HTTP basic auth when credentials
are given, and naming itself to the upstream server (`Forwarded: by=NAME`, see plugin.py), so
the stand-in provider can refuse requests that come through it. Needs the `test` extra.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support import child_env
from tests.support.forward_proxy.plugin_name import NAME_ENV, PLUGIN

STARTUP_TIMEOUT_S = 20.0


class ForwardProxyError(RuntimeError):
    """The proxy process did not start (proxy.py missing, or it exited)."""


class ForwardProxy:
    """One proxy.py process on 127.0.0.1: start it, use `.address`, stop it."""

    def __init__(self, name: str, username: str | None = None, password: str | None = None):
        self.name = name
        self.username = username
        self.password = password
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self.port: int | None = None

    @property
    def address(self) -> str:
        if self.port is None:
            raise ForwardProxyError(f"proxy {self.name} is not running: call start() first")
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The proxy URL without credentials (a pool's configured URL)."""
        return f"http://{self.address}"

    def start(self) -> ForwardProxy:
        if self._process is not None:
            return self
        self._dir = tempfile.TemporaryDirectory(prefix=f"lineflow-proxy-{self.name}-")
        port_file = Path(self._dir.name) / "port"
        command = [
            sys.executable,
            "-m",
            "proxy",
            "--hostname",
            "127.0.0.1",
            "--port",
            "0",
            "--port-file",
            str(port_file),
            "--num-acceptors",
            "1",
            "--num-workers",
            "1",
            "--log-level",
            "ERROR",
            "--plugins",
            PLUGIN,
        ]
        if self.username is not None:
            command += ["--basic-auth", f"{self.username}:{self.password or ''}"]
        # proxy.py imports the plugin by its dotted path: the child needs the repository root.
        env = child_env({NAME_ENV: self.name})
        log = open(Path(self._dir.name) / "proxy.log", "wb")  # noqa: SIM115 (kept for errors)
        self._process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                output = (Path(self._dir.name) / "proxy.log").read_text(errors="replace")
                self.stop()
                raise ForwardProxyError(f"proxy {self.name} exited at start: {output[-500:]}")
            text = port_file.read_text().strip() if port_file.is_file() else ""
            if text.isdigit() and int(text) > 0:
                self.port = int(text)
                return self
            time.sleep(0.05)  # polling for the port file, bounded by the deadline
        self.stop()
        raise ForwardProxyError(f"proxy {self.name} did not start within {STARTUP_TIMEOUT_S}s")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
            self._process = None
        self.port = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> ForwardProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
