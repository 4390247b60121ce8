"""A tiny module for the harness's own test: a tested function, an untested one, a loop."""

from __future__ import annotations


def fare(km: float) -> float:
    """2.50 to board, then 1.20 per km after the first."""
    return 2.5 + max(km - 1, 0) * 1.2


def member_price(price: float, member: bool) -> float:
    """Members pay 90 %. No test checks this: its mutants survive."""
    return price * 0.9 if member else price


def countdown(n: int) -> int:
    while n > 0:
        n -= 1
    return n
