"""The source contract is a type, checked when a source loads: whatever a source module lacks
or has of the wrong kind is one line naming the source, the module and the name, before a run
writes anything; what the source declares (history, pricing) is what the backfill uses."""

from __future__ import annotations

import uuid

import pytest

from lineflow import sources
from lineflow.config import SourceConfig, compose
from lineflow.core.errors import ConfigError
from lineflow.sources import Cost, Source
from tests.conftest import run_cli

#: A module that keeps the contract, for the cases to break one piece of.
COMPLETE = """
SUPPORTS_HISTORY = True
EVENT_PARSERS = {}
PROP_PARSERS = {"props": lambda body, meta, ctx: None}


def scrape(fetch, source, partition, snapshot):
    pass
"""


def module(tmp_path, monkeypatch, text: str) -> str:
    """A source module on the import path, under a name no other test uses."""
    name = f"src_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def config(name: str) -> SourceConfig:
    return SourceConfig(name="acme", module=name, base_url="https://api.acme-odds.example")


def test_a_complete_module_loads_as_a_source_with_what_it_declares(tmp_path, monkeypatch):
    source = sources.load(config(module(tmp_path, monkeypatch, COMPLETE)))
    assert isinstance(source, Source) and source.name == "acme"
    assert source.supports_history and list(source.prop_parsers) == ["props"]
    assert (source.lists_events, source.pricing, source.options) == (False, None, None)
    assert source.batch_parser("props") is not None and source.batch_parser("other") is None


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (
            ("SUPPORTS_HISTORY = True", "SUPPORTS_HISTORY = 'yes'"),
            "{m}.SUPPORTS_HISTORY should be a bool, not a str",
        ),
        (
            ("lambda body, meta, ctx: None", "lambda body: None"),
            "{m}.PROP_PARSERS should be a dict of endpoint -> function (body, meta, ctx), "
            "not a dict whose 'props' is a function (body)",
        ),
        (
            ("EVENT_PARSERS = {}", "EVENT_PARSERS = ['events']"),
            "{m}.EVENT_PARSERS should be a dict of endpoint -> function (body), not a list",
        ),
        (
            ("EVENT_PARSERS = {}", "EVENT_PARSERS = {}\nOptions = {'sport': 'nba'}"),
            "{m}.Options should be a pydantic model class, not a dict",
        ),
        (
            ("def scrape(fetch, source, partition, snapshot):", "def scrape(fetch, source):"),
            "{m}.scrape should be a function (fetch, source, partition, snapshot), "
            "not a function (fetch, source)",
        ),
    ],
)
def test_a_piece_of_the_wrong_kind_is_named(tmp_path, monkeypatch, change, said):
    name = module(tmp_path, monkeypatch, COMPLETE.replace(*change))
    with pytest.raises(ConfigError) as raised:
        sources.load(config(name))
    message = str(raised.value)
    assert message == f"sources.acme.module: {name} {said.format(m=name)} (see docs/sources.md)"
    assert "\n" not in message


def test_pricing_must_be_a_pricing(tmp_path, monkeypatch):
    text = COMPLETE + "\n\ndef pricing(source):\n    return {'credits': 1}\n"
    name = module(tmp_path, monkeypatch, text)
    with pytest.raises(
        ConfigError, match=rf"{name}.pricing\(source\) should return a Pricing, not a dict"
    ):
        sources.load(config(name))


def test_a_module_missing_pieces_is_one_line_and_exit_2_before_anything_is_written(tmp_path):
    (tmp_path / "incomplete.py").write_text("SUPPORTS_HISTORY = 'no'\nEVENT_PARSERS = {}\n")
    home = tmp_path / "home"
    result = run_cli(
        "run",
        "date=2026-01-23",
        f"home={home}",
        "sources.odds_api.module=incomplete",
        "only=[odds_api]",
        env={"PYTHONPATH": str(tmp_path)},
    )
    assert result.code == 2, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        "lineflow: error: sources.odds_api.module: incomplete lacks scrape, PROP_PARSERS; "
        "incomplete.SUPPORTS_HISTORY should be a bool, not a str (see docs/sources.md)"
    ]
    assert not home.exists()


PRICED = (
    COMPLETE
    + """

from lineflow.sources import Cost, Pricing


def pricing(source):
    return Pricing(
        unit="Acme credits",
        per_partition=Cost(requests=2, credits=0),
        per_game=Cost(requests=3, credits=len(source.markets) + 1),
        basis="2 listing calls, then 3 calls per game at markets + 1 credits",
    )
"""
)


def dry_run(tmp_path, module: str, text: str) -> str:
    """What `lineflow backfill ... dry_run=true` prints over four days of five games, with
    odds_api's module replaced by `text`; nothing is written."""
    (tmp_path / f"{module}.py").write_text(text)
    home = tmp_path / "home"
    result = run_cli(
        "backfill",
        "start=2026-01-19",
        "end=2026-01-22",
        "games_per_day=5",
        "dry_run=true",
        f"home={home}",
        f"sources.odds_api.module={module}",
        env={"PYTHONPATH": str(tmp_path)},
    )
    assert result.code == 0, result.stdout + result.stderr
    assert not home.exists()
    return result.stdout


def test_a_backfill_estimate_is_what_the_source_declares(tmp_path):
    # 4 partitions x (2 + 5 x 3) requests; 4 x 5 x (4 markets + 1) credits
    assert (
        "4 partitions, about 68 requests and 100 Acme credits (2 listing calls, then 3 calls "
        "per game at markets + 1 credits)"
    ) in dry_run(tmp_path, "priced", PRICED)
    assert (
        "4 partitions, about 0 requests; odds_api: no pricing declared (requests and credits "
        "not counted)"
    ) in dry_run(tmp_path, "unpriced", COMPLETE)


def test_the_odds_api_declares_its_historical_price():
    settings = compose(["sources.odds_api.options.regions='us,eu'"])
    pricing = sources.load(settings.sources["odds_api"]).pricing
    markets = len(settings.sources["odds_api"].markets)
    assert pricing is not None and pricing.unit == "Odds API credits"
    assert pricing.partition(3) == Cost(requests=4, credits=1 + 3 * 10 * markets * 2)
