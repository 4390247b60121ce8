"""The ASGI app of `lineflow serve`: `POST /` takes a trigger, `GET /healthz` says it is up.

Every request must carry `Authorization: Bearer <token>`; the token comes from the environment
(`triggers.token_env`, default LINEFLOW_TRIGGER_TOKEN) and is never logged. The work itself runs
on Starlette's thread pool, so a long run does not stall other requests; locks serialise runs
of the same stage and partition.
"""

from __future__ import annotations

import hmac

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lineflow.ops.triggers.handler import TriggerHandler


def authorized(header: str | None, token: str) -> bool:
    scheme, _, given = (header or "").partition(" ")
    given_token = given.strip().encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(given_token, token.encode())


def create_app(handler: TriggerHandler, token: str) -> Starlette:
    if not token:
        raise ValueError("an empty trigger token would let anyone in")

    async def receive(request: Request) -> JSONResponse:
        if not authorized(request.headers.get("authorization"), token):
            return JSONResponse(
                {"status": "unauthorized"}, 401, headers={"WWW-Authenticate": "Bearer"}
            )
        body = await request.body()
        answer = await run_in_threadpool(handler.handle, body, request.headers.get("x-message-id"))
        return JSONResponse(answer.body, answer.status)

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/", receive, methods=["POST"]), Route("/healthz", healthz)])
