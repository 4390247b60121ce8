"""`lineflow serve [host=127.0.0.1] [port=8080]`: the trigger endpoint and the dashboard."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lineflow.cli.keys import Command, Key, text, whole

if TYPE_CHECKING:
    from lineflow.cli.keys import Parsed

COMMAND = Command(
    name="serve",
    summary="serve the trigger endpoint (Pub/Sub push or plain JSON) and a live dashboard",
    usage=("[host=127.0.0.1] [port=8080] [key=value ...]",),
    about="""\
POST / with `Authorization: Bearer $LINEFLOW_TRIGGER_TOKEN` (or POST /?token=TOKEN, for a Pub/Sub
push subscription, which cannot set a header) and a Pub/Sub push envelope or a plain JSON
payload: a storage notification {bucket, name} or a scraper completion {scraper_name, gcs_path}
for a landed file in the landing zone (runs triggers.file_stages for its partition), or a
processor request {processor: "process:odds_api", date: "2026-01-23"} (date may be "today" or
"yesterday": the US/Eastern date when the message was published). Answers: 200 processed,
duplicate or dead-lettered (a message that can never succeed); 503 try again later; 401 without
the token; 413 a body over triggers.max_body_bytes. port=0 picks a free port; the first line
printed says where it listens.

GET /dashboard is a read-only live dashboard (dates x components, each cell's detail, self-heal
log, exclusions, locks, dead letters, proxy breakers, backfills; GET /dashboard/data is its
JSON). It takes $LINEFLOW_READ_TOKEN (triggers.read_token_env) or the trigger token: open
/dashboard?token=TOKEN once in a browser, or send `Authorization: Bearer TOKEN`.""",
    keys=(
        Key("host", text, None, "address to listen on (default triggers.host)", "127.0.0.1"),
        Key("port", whole(0, 65535), None, "port (default triggers.port; 0: a free one)", "8080"),
    ),
    config=(
        ("triggers.max_age_minutes=60", "older messages are dead-lettered as stale"),
        ("triggers.max_body_bytes=1048576", "larger bodies are refused (413) unread"),
        ("triggers.dashboard_refresh_s=10", "the dashboard asks for new figures this often"),
    ),
    exit_codes="0 stopped, 2 bad input (no token of 16+ characters in the environment, bad key)",
    examples=("LINEFLOW_TRIGGER_TOKEN=... lineflow serve port=8080 home=/tmp/lf",),
)


def main(args: Parsed) -> int:
    import logging
    import os
    import signal
    import socket

    import uvicorn

    from lineflow.config import compose
    from lineflow.core.errors import ConfigError
    from lineflow.ops.dashboard import Readers, dashboard_routes
    from lineflow.ops.triggers.app import MIN_TOKEN_LENGTH, RedactTokens, create_app
    from lineflow.ops.triggers.handler import TriggerHandler

    COMMAND.no_words(args)
    given = {key: args.values[key] for key in sorted(args.given)}
    settings = compose([*args.overrides, *(f"triggers.{k}={v}" for k, v in given.items())])
    token = os.environ.get(settings.triggers.token_env, "")
    if not token:
        raise ConfigError(
            f"{settings.triggers.token_env}: environment variable not set "
            "(every request must carry `Authorization: Bearer <token>`)"
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"{settings.triggers.token_env}: the token has {len(token)} characters, needs "
            f"{MIN_TOKEN_LENGTH} or more (e.g. `openssl rand -hex 24`)"
        )
    read_token = os.environ.get(settings.triggers.read_token_env, "")
    if read_token and len(read_token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"{settings.triggers.read_token_env}: the token has {len(read_token)} characters, "
            f"needs {MIN_TOKEN_LENGTH} or more (e.g. `openssl rand -hex 24`)"
        )
    dashboard = dashboard_routes(settings, Readers([token, read_token]))
    app = create_app(TriggerHandler(settings), token, settings.triggers.max_body_bytes, dashboard)
    host, port = settings.triggers.host, settings.triggers.port
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen()  # before the line below: a client may connect as soon as it appears
    except OSError as exc:
        raise ConfigError(f"triggers: cannot listen on {host}:{port}: {exc.strerror}") from None
    url = f"http://{host}:{sock.getsockname()[1]}/"
    print(f"lineflow serve: listening on {url}", flush=True)
    print(f"lineflow serve: dashboard at {url}dashboard (read token or trigger token)", flush=True)
    # No access log: it prints every request line, and a push endpoint's and the dashboard's
    # URLs carry a token (`?token=`). Whatever uvicorn still logs has `token=` values masked.
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).addFilter(RedactTokens())
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to the handler
    # it found, which by default kills the process (exit 143). Stopping is this command's
    # normal end (exit 0, as its help says): the handlers it finds take note and return.
    stopped: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda number, _frame: stopped.append(number))
    uvicorn.Server(config).run(sockets=[sock])
    return 0
