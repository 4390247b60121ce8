"""`lineflow serve [host=127.0.0.1] [port=8080]`: the trigger endpoint."""

from __future__ import annotations

from lineflow.commands import MAIN_KEYS

HELP = "serve the trigger endpoint (Pub/Sub push or plain JSON) that runs stages"

USAGE = f"""\
usage: lineflow serve [host=127.0.0.1] [port=8080] [key=value ...]

POST / with `Authorization: Bearer $LINEFLOW_TRIGGER_TOKEN` and a Pub/Sub push envelope or a
plain JSON payload: a storage notification {{bucket, name}} or a scraper completion
{{scraper_name, gcs_path}} for a landed file (runs triggers.file_stages for its partition), or a
processor request {{processor: "process:odds_api", date: "2026-01-23"}}. Answers: 200 processed,
duplicate or dead-lettered (a message that can never succeed); 503 try again later; 401 without
the token; 413 a body over triggers.max_body_bytes. port=0 picks a free port; the first line
printed says where it listens.

{MAIN_KEYS}\
  triggers.max_age_minutes=60   older messages are dead-lettered as stale
  triggers.max_body_bytes=1048576   larger bodies are refused (413) unread
exit codes: 0 stopped, 2 bad input (no token of 16+ characters in the environment, bad key)
"""


def main(args: list[str]) -> int:
    import os
    import socket

    import uvicorn

    from lineflow.commands.args import split
    from lineflow.config import compose
    from lineflow.errors import ConfigError
    from lineflow.triggers.app import MIN_TOKEN_LENGTH, create_app
    from lineflow.triggers.handler import TriggerHandler

    words, mine, overrides = split(args, {"host", "port"})
    if words:
        raise ConfigError(f"unexpected word {words[0]!r} (use host=... port=...)")
    overrides += [f"triggers.{key}={value}" for key, value in mine.items()]
    settings = compose(overrides)
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
    app = create_app(TriggerHandler(settings), token, settings.triggers.max_body_bytes)
    host, port = settings.triggers.host, settings.triggers.port
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        raise ConfigError(f"triggers: cannot listen on {host}:{port}: {exc.strerror}") from None
    print(f"lineflow serve: listening on http://{host}:{sock.getsockname()[1]}/", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0
