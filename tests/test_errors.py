"""One error tree: every lineflow exception is a LineflowError, and its family (permanent or
transient) is what the work queue decides retry or dead letter by."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import lineflow
from lineflow import http
from lineflow.core import errors
from lineflow.ops.triggers.messages import Malformed
from lineflow.sources import base
from lineflow.state.work import is_permanent


def lineflow_exceptions() -> list[type[Exception]]:
    found = set()
    for module in pkgutil.walk_packages(lineflow.__path__, "lineflow."):
        for _, value in inspect.getmembers(importlib.import_module(module.name), inspect.isclass):
            if issubclass(value, Exception) and value.__module__.startswith("lineflow."):
                found.add(value)
    return sorted(found, key=lambda c: (c.__module__, c.__name__))


def test_every_lineflow_exception_is_a_lineflow_error():
    classes = lineflow_exceptions()
    assert errors.ParseError in classes and errors.Blocked in classes
    assert [c for c in classes if not issubclass(c, errors.LineflowError)] == []


def test_no_error_is_both_permanent_and_transient_and_blocked_is_neither():
    both = [
        c
        for c in lineflow_exceptions()
        if issubclass(c, errors.PermanentError) and issubclass(c, errors.TransientError)
    ]
    assert both == []
    assert not issubclass(errors.Blocked, errors.PermanentError | errors.TransientError)


def test_blocked_is_one_class_wherever_it_is_imported_from():
    assert http.Blocked is base.Blocked is errors.Blocked


@pytest.mark.parametrize(
    "error",
    [
        errors.ParseError("odds_api events: invalid JSON at byte 12"),
        errors.SourceFailed("odds_api events: HTTP 401"),
        errors.ConfigError("sources.acme.module: acme lacks scrape"),
        http.MissingSecret("ODDS_API_KEY is not set"),
        Malformed("body is not JSON"),
    ],
)
def test_permanent_errors_are_dead_lettered_at_once(error):
    assert is_permanent(error)


@pytest.mark.parametrize(
    "error",
    [
        errors.ProviderOutage("bettingpros offers: the provider says it is down"),
        errors.StageError("consolidate failed: lock held"),
        http.RequestFailed("GET https://example failed: ConnectTimeout"),
        http.QuotaExhausted("quota floor reached"),
        http.Blocked("blocked via direct (403)"),
        OSError("disk full"),  # unknown to lineflow: a later attempt may succeed
        KeyError("a bug"),
    ],
)
def test_everything_else_backs_off_and_retries(error):
    assert not is_permanent(error)
