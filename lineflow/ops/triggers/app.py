"""The ASGI app of `lineflow serve`: `POST /` takes a trigger, `GET /healthz` says it is up
(and the read-only dashboard's routes, `ops/dashboard.py`, when `serve` adds them).

Every request must carry the token, as `Authorization: Bearer <token>` or in the URL
(`POST /?token=<token>`: a Pub/Sub push subscription cannot set a header, but its endpoint URL
can carry the token). The token comes from the environment (`triggers.token_env`, default
LINEFLOW_TRIGGER_TOKEN), is at least `MIN_TOKEN_LENGTH` characters, is compared in constant
time, and is never logged: `serve` runs uvicorn without its access log (which prints the request
line, query included), and `RedactTokens` masks a `token=` value in any other line uvicorn
writes (the dashboard's `?token=` too). A body over `triggers.max_body_bytes` is refused with
413 before it is read (by its Content-Length, or as soon as a streamed body passes the limit).
The work itself runs on Starlette's thread pool, so a long run does not stall other requests;
locks serialise runs of the same stage and partition.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from lineflow.core.errors import PermanentError
from lineflow.ops.triggers.handler import TriggerHandler

#: A shorter token could be guessed: a token is a shared secret, not a password.
MIN_TOKEN_LENGTH = 16


class TooLarge(PermanentError):
    """The request body passed the configured limit (answered 413: sending it again cannot help)."""


#: `token=VALUE` in a URL's query, as a log line would show it (raw or percent-encoded).
TOKEN_IN_QUERY = re.compile(r"(?i)(token=)[^&\s\"']+")


def authorized(header: str | None, token: str) -> bool:
    scheme, _, given = (header or "").partition(" ")
    given_token = given.strip().encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(given_token, token.encode())


def authorized_request(request: Request, token: str) -> bool:
    """The trigger token in the `Authorization` header or in the URL's `token` parameter."""
    if authorized(request.headers.get("authorization"), token):
        return True
    given = request.query_params.get("token")
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def redact(text: str) -> str:
    """`text` with every `token=` value in it masked."""
    return TOKEN_IN_QUERY.sub(r"\1[redacted]", text)


class RedactTokens(logging.Filter):
    """Masks `token=` values in a log record before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if TOKEN_IN_QUERY.search(message):
            record.msg, record.args = redact(message), None
        return True


async def read_body(request: Request, limit: int) -> bytes:
    """The body, or `TooLarge` without reading past `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge
    return bytes(body)


def create_app(
    handler: TriggerHandler,
    token: str,
    max_body_bytes: int = 1 << 20,
    routes: Sequence[BaseRoute] = (),
) -> Starlette:
    if len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(f"a trigger token needs {MIN_TOKEN_LENGTH} characters or more")

    async def receive(request: Request) -> JSONResponse:
        if not authorized_request(request, token):
            return JSONResponse(
                {"status": "unauthorized"}, 401, headers={"WWW-Authenticate": "Bearer"}
            )
        try:
            body = await read_body(request, max_body_bytes)
        except TooLarge:
            return JSONResponse(
                {"status": "too_large", "reason": f"body over {max_body_bytes} bytes"},
                413,
                headers={"Connection": "close"},  # the rest of the body is not read
            )
        answer = await run_in_threadpool(handler.handle, body, request.headers.get("x-message-id"))
        return JSONResponse(answer.body, answer.status)

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[Route("/", receive, methods=["POST"]), Route("/healthz", healthz), *routes]
    )
