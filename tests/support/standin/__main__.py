"""Run the stand-in provider as its own process.

    python -m tests.support.standin --port 0 [--now 2026-01-23T14:08:00Z]

Prints one line, ``listening on http://127.0.0.1:PORT``, then serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from datetime import datetime

from tests.support.standin.server import StandIn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.standin",
        description="Serve The Odds API v4, BettingPros v3 and DraftKings stand-ins on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0 = any free)")
    parser.add_argument("--now", type=_moment, help="freeze the clock here (ISO 8601, UTC)")
    parser.add_argument("--quota", type=int, default=20000, help="Odds API credits remaining")
    parser.add_argument("--odds-api-key", default="standin-odds-key")
    parser.add_argument("--bettingpros-key", default="standin-bp-key")
    args = parser.parse_args(argv)

    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    standin = StandIn(
        now=args.now,
        odds_api_key=args.odds_api_key,
        bettingpros_key=args.bettingpros_key,
        quota=args.quota,
        port=args.port,
    )
    try:
        standin.start()
    except OSError as error:
        print(f"standin: cannot listen on port {args.port}: {error}", file=sys.stderr)
        return 1
    print(f"listening on {standin.url}", flush=True)
    # Wake up now and then: a wait without timeout can miss the signal on some platforms.
    while not stopping.wait(0.5):
        pass
    standin.stop()
    return 0


def _moment(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None


if __name__ == "__main__":
    sys.exit(main())
