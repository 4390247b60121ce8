"""The `rest:` block of a declarative source: its request plan and its mapping to prop_lines.

Plain data, validated in full when the config loads (this module sits in the config layer and
imports nothing but pydantic, jmespath and lineflow.core): an unknown key, a path that names
no row, lookup or anchor, a template field nothing provides or a JMESPath that does not compile
is one line naming the key. docs/sources.md teaches the form; `engine` runs it.

Paths (`selection.displayOdds.american`, `event.participants[venueRole=Home].name`,
`outcome.price`) start at an anchor: `doc` (the body, unwrapped), `root` (the body as it came),
`meta` (`fetched_at`, `slate_date`, `source`), a name of `rows` or a name of `lookups`. Then
keys, `[N]` (an index) and `[key=value]` (the first element whose key has that value).
"""

from __future__ import annotations

import re
import string
from typing import Annotated, Any, Literal

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- paths ------------------------------------------------------------------------------------

#: A step of a path: ("key", name), ("index", n) or ("match", key, value).
Step = tuple[Any, ...]
_SEGMENT = re.compile(r"([^.\[\]]*)((?:\[[^\]]*\])*)")
_BRACKET = re.compile(r"\[([^\]]*)\]")
#: Anchors every path may start at, besides the names of `rows` and `lookups`.
ANCHORS = ("doc", "root", "meta")
META_FIELDS = ("fetched_at", "slate_date", "source")


def parse_path(text: str) -> tuple[str, tuple[Step, ...]]:
    """`anchor.key[0].key[k=v]` -> (anchor, steps); ValueError saying what is wrong."""
    if not text or text != text.strip():
        raise ValueError(f"empty or padded path {text!r}")
    steps: list[Step] = []
    for i, segment in enumerate(text.split(".")):
        match = _SEGMENT.fullmatch(segment)
        if match is None or (not match[1] and not match[2]):
            raise ValueError(f"path {text!r}: bad segment {segment!r}")
        if match[1]:
            steps.append(("key", match[1]))
        elif i == 0:
            raise ValueError(f"path {text!r} must start with an anchor name")
        for inner in _BRACKET.findall(match[2]):
            if re.fullmatch(r"-?\d+", inner):
                steps.append(("index", int(inner)))
            elif "=" in inner and inner.split("=", 1)[0]:
                key, value = inner.split("=", 1)
                steps.append(("match", key, value))
            else:
                raise ValueError(f"path {text!r}: [{inner}] is neither [N] nor [key=value]")
    anchor = steps[0][1]
    return anchor, tuple(steps[1:])


def _check_path(text: str, known: set[str]) -> str:
    anchor, steps = parse_path(text)
    if anchor not in known:
        raise ValueError(
            f"path {text!r} starts at {anchor!r}: known are {', '.join(sorted(known))}"
        )
    if anchor == "meta" and (len(steps) != 1 or steps[0][1] not in META_FIELDS):
        raise ValueError(f"path {text!r}: meta has {', '.join(META_FIELDS)}")
    return text


def _check_jmespath(text: str) -> str:
    try:
        jmespath.compile(text)
    except JMESPathError as exc:
        message = " ".join(str(exc).split())
        raise ValueError(f"not a JMESPath expression {text!r}: {message}") from None
    return text


# -- the request plan ---------------------------------------------------------------------------


class PageNumber(_Model):
    """Pages 1..N, N read from the first page's body (BettingPros' `_pagination.total_pages`)."""

    kind: Literal["page_number"]
    param: str = "page"
    #: where the first page says how many pages there are (a path from `doc`)
    total_pages: str
    max_pages: int = Field(50, ge=1)


class Cursor(_Model):
    """Each page names the next one's cursor; the last has none."""

    kind: Literal["cursor"]
    param: str = "cursor"
    #: where a page names the next cursor (a path from `doc`)
    next: str
    max_pages: int = Field(50, ge=1)


class Offset(_Model):
    """`offset=0, limit, 2 x limit, ...`: up to `total` when the first page says it, else until a
    page brings fewer than `limit` items."""

    kind: Literal["offset"]
    param: str = "offset"
    limit_param: str = "limit"
    limit: int = Field(100, ge=1)
    #: where a page says how many items there are in all (a path from `doc`), if it does
    total: str | None = None
    #: where a page's items are (a path from `doc`), to count them
    items: str
    max_pages: int = Field(50, ge=1)


Paginate = Annotated[PageNumber | Cursor | Offset, Field(discriminator="kind")]

#: Template fields every request may use.
BUILTIN_FIELDS = ("date", "window_start", "window_end", "snapshot", "markets")


class Request(_Model):
    """One call of the plan, or one per market or listed id (`for_each`)."""

    #: names where its bodies land and which parser reads them
    endpoint: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    #: the path after base_url; a template (`/v4/sports/{sport}/events/{event_id}/odds`)
    path: str
    #: query parameters in order; values are templates
    query: dict[str, str] = {}
    #: the landing file name (a template); default: the for_each value, else the endpoint
    stem: str | None = None
    #: `market`: one call per configured market; or an id name an earlier request lists
    for_each: str | None = None
    #: list the slate's events from this body (with the events parser) under this id name
    lists: str | None = None
    paginate: Paginate | None = None
    #: statuses the plan expects and passes over with a note (404: an event gone)
    skip_statuses: list[int] = []

    def fields(self) -> set[str]:
        """The template fields its path, query and stem use."""
        texts = [self.path, *self.query.values(), self.stem or ""]
        return {name for text in texts for _, name, _, _ in string.Formatter().parse(text) if name}


# -- the mapping to prop_lines ----------------------------------------------------------------


class Column(_Model):
    """How one column is read: a path (or several, first non-null wins) or a constant, then an
    optional map, split and format."""

    path: str | list[str] | None = None
    value: str | float | bool | None = None
    #: `markets` / `books` (the source's maps) or an inline map; then what to do when unmapped
    map: Literal["markets", "books"] | dict[str, str] | None = None
    unmapped: Literal["keep", "drop"] = "keep"
    #: text split on `split` and part `part` taken ("Away @ Home" -> part 1 is home)
    split: str | None = None
    part: int = 0
    #: prices: american (text with U+2212 minus or ints), decimal, fractional ("10/13"), or
    #: auto (a JSON int of 100 or more is American, any other number above 1 decimal);
    #: timestamps: iso (any fraction digits, or none), unix, or a strptime format
    format: str | None = None
    #: a row whose value is missing makes the whole body a ParseError
    required: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> Column:
        if (self.path is None) == (self.value is None):
            raise ValueError("give exactly one of path and value")
        return self

    def paths(self) -> list[str]:
        if self.path is None:
            return []
        return [self.path] if isinstance(self.path, str) else list(self.path)


class Lookup(_Model):
    """A flat array joined by id: `{list: doc.markets, key: id, match: selection.marketId}`."""

    list: str
    key: str
    match: str


class Keep(_Model):
    """A row is kept when its value (as text; true/false for booleans) passes every given test."""

    field: str
    equals: str | float | bool | None = None
    not_equals: str | float | bool | None = None
    in_: list[str | float | bool] | None = Field(None, alias="in")
    not_in: list[str | float | bool] | None = None
    #: whether the value must be there (true) or absent (false)
    present: bool | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _a_test(self) -> Keep:
        tests = (self.equals, self.not_equals, self.in_, self.not_in, self.present)
        if all(test is None for test in tests):
            raise ValueError(f"{self.field}: give a test (equals, not_equals, in, not_in, present)")
        return self


class When(_Model):
    """A JMESPath over the body (`root`): when it is truthy, the body is an outage or an error."""

    when: str
    message: str

    @field_validator("when")
    @classmethod
    def _compiles(cls, value: str) -> str:
        return _check_jmespath(value)


class MainLine(_Model):
    """The main line is flagged in the body: a path whose value is true on main lines."""

    field: str


#: Columns every props mapping gives, and those it may leave out.
REQUIRED_FIELDS: tuple[str, ...] = ("event_id", "commence_time", "bookmaker", "market")
REQUIRED_FIELDS += ("player_name", "side", "line", "price")
OPTIONAL_FIELDS = ("home_team", "away_team", "last_update", "snapshot_at")
EVENT_FIELDS = ("event_id", "commence_time", "home_team", "away_team")
TIME_FIELDS = ("commence_time", "last_update", "snapshot_at")


class RowMapping(_Model):
    """Bodies of `endpoints` -> rows: where they are, which field is which, what is kept."""

    endpoints: list[str] = Field(min_length=1)
    #: a key whose value replaces the body when present (a historical wrapper's `data`)
    unwrap: str | None = None
    #: paths the body must have (else a ParseError naming them)
    require: list[str] = []
    #: JMESPath tests on the body: an outage (transient) or an error body (permanent)
    outage_when: list[When] = []
    error_when: list[When] = []
    #: name -> a list to walk, from `doc` or an earlier name; the last is the row
    rows: dict[str, str] = Field(min_length=1)
    lookups: dict[str, Lookup] = {}
    fields: dict[str, Column]
    keep: list[Keep] = []
    #: which line of a (book, market, player) is the main one
    main_line: Literal["closest_to_even", "all"] | MainLine = "all"
    #: `partition`: drop rows whose game is on another slate (US/Eastern date of tip-off)
    slate: Literal["any", "partition"] = "any"

    @model_validator(mode="after")
    def _names(self) -> RowMapping:
        known = set(ANCHORS)
        for name, path in self.rows.items():
            _check_path(path, known)
            if name in known:
                raise ValueError(f"rows.{name}: the name is taken")
            known.add(name)
        # A lookup's list is indexed once per body, so it starts at the file: `doc`, `root`,
        # `meta` or a lookup matched there (joined once per body too).
        at_file = set(ANCHORS)
        for name, lookup in self.lookups.items():
            for key in ("list", "match"):
                try:
                    _check_path(getattr(lookup, key), known)
                except ValueError as exc:
                    raise ValueError(f"lookups.{name}.{key}: {exc}") from None
            if name in known:
                raise ValueError(f"lookups.{name}: the name is taken")
            start = parse_path(lookup.list)[0]
            if start not in at_file:
                raise ValueError(
                    f"lookups.{name}.list: {lookup.list!r} starts at {start!r}, read per row; "
                    "a lookup's list is read once per body: start it at doc, root or a lookup "
                    "matched there"
                )
            if parse_path(lookup.match)[0] in at_file:
                at_file.add(name)
            known.add(name)
        for column, spec in self.fields.items():
            for path in spec.paths():
                try:
                    _check_path(path, known)
                except ValueError as exc:
                    raise ValueError(f"fields.{column}: {exc}") from None
        for i, keep in enumerate(self.keep):
            try:
                _check_path(keep.field, known)
            except ValueError as exc:
                raise ValueError(f"keep.{i}: {exc}") from None
        if isinstance(self.main_line, MainLine):
            _check_path(self.main_line.field, known)
        for path in self.require:
            _check_path(path, {"doc", "root"})
        return self


class Props(RowMapping):
    @field_validator("fields")
    @classmethod
    def _columns(cls, value: dict[str, Column]) -> dict[str, Column]:
        return _columns(value, REQUIRED_FIELDS, OPTIONAL_FIELDS)


class Events(RowMapping):
    """Bodies that list events: one row per event (`EVENT_COLUMNS`)."""

    @field_validator("fields")
    @classmethod
    def _columns(cls, value: dict[str, Column]) -> dict[str, Column]:
        return _columns(value, ("event_id", "commence_time"), ("home_team", "away_team"))


def _columns(
    value: dict[str, Column], required: tuple[str, ...], optional: tuple[str, ...]
) -> dict[str, Column]:
    unknown = sorted(set(value) - set(required) - set(optional))
    if unknown:
        raise ValueError(
            f"{unknown[0]!r} is not a column (columns: {', '.join(required + optional)})"
        )
    missing = [name for name in required if name not in value]
    if missing:
        raise ValueError(f"{', '.join(missing)} missing")
    price = value.get("price")
    if price is not None and price.format not in ("american", "decimal", "fractional", "auto"):
        raise ValueError(
            f"price.format: one of american, decimal, fractional, auto (got {price.format!r})"
        )
    return value


class CostSpec(_Model):
    requests: int = Field(default=0, ge=0)
    credits: int = Field(default=0, ge=0)


class PricingSpec(_Model):
    unit: str
    per_partition: CostSpec = CostSpec()
    per_game: CostSpec = CostSpec()
    basis: str = ""


class RestSpec(_Model):
    """A whole line source in YAML: `vars`, the live plan, the historical plan, the mappings."""

    #: constants the templates may use (`{league}`)
    vars: dict[str, str] = {}
    requests: list[Request] = Field(min_length=1)
    #: the plan of `snapshot=...` runs (templates may use `{snapshot}`); none: no history
    history: list[Request] = []
    events: Events | None = None
    props: Props
    pricing: PricingSpec | None = None

    @model_validator(mode="after")
    def _plan(self) -> RestSpec:
        event_endpoints = set(self.events.endpoints if self.events else ())
        for plan_name, plan in (("requests", self.requests), ("history", self.history)):
            listed: set[str] = set()
            for i, request in enumerate(plan):
                where = f"{plan_name}.{i}"
                known = {*BUILTIN_FIELDS, *self.vars, *listed}
                if request.for_each is not None:
                    if request.for_each != "market" and request.for_each not in listed:
                        raise ValueError(
                            f"{where}.for_each: {request.for_each!r} is neither market nor an id "
                            "an earlier request lists"
                        )
                    known.add(request.for_each)
                unknown = sorted(request.fields() - known)
                if unknown:
                    raise ValueError(
                        f"{where}: template field {{{unknown[0]}}} is not known "
                        f"(known: {', '.join(sorted(known))})"
                    )
                if request.lists is not None:
                    if request.endpoint not in event_endpoints:
                        raise ValueError(
                            f"{where}.lists: endpoint {request.endpoint!r} has no events mapping"
                        )
                    listed.add(request.lists)
                parsed = event_endpoints | set(self.props.endpoints)
                if request.endpoint not in parsed:
                    raise ValueError(
                        f"{where}.endpoint: {request.endpoint!r} is read by no mapping "
                        "(events.endpoints, props.endpoints)"
                    )
        return self


def validate_spec(raw: Any) -> RestSpec:
    """The `rest:` block as a RestSpec; ValueError in one line naming the first key at fault."""
    if isinstance(raw, RestSpec):
        return raw
    try:
        return RestSpec.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"] if p not in ("page_number", "cursor", "offset")]
        key = ".".join(loc)
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        else:
            msg = err["msg"].removeprefix("Value error, ")
        raise ValueError(f"{key}: {msg}" if key else msg) from None
