"""`lineflow run -m date=a,b,...`: Hydra's multirun, each partition its own job.

The sweep goes through Hydra itself (its override grammar, sweeper and launcher), with the
joblib launcher by default so partitions run in parallel processes. Locks and the warehouse's
session lock keep partitions safe; lineflow's ledgers, not Hydra, decide what work is left.

Invariants: every value of the sweep is checked before any job starts (a bad key or date is
one line, exit 2, nothing written); each job hands back a small `Outcome` instead of printing,
and the sweep ends with one table of all of them and the worst exit code.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

from lineflow.config import (
    compose,
    compose_sweep,
    open_hydra,
    register_resolvers,
    to_settings_dict,
    validate,
)
from lineflow.core.errors import ConfigError
from lineflow.pipeline.request import check_only

#: Hydra writes nothing into the working directory: sweep metadata goes under home.
HYDRA_DEFAULTS = [
    "hydra.sweep.dir=${home}/multirun/${now:%Y-%m-%d_%H-%M-%S}",
    "hydra.sweep.subdir=${hydra.job.num}",
    "hydra.output_subdir=null",
    "hydra.job.chdir=False",
    "hydra/job_logging=none",
    "hydra/hydra_logging=none",
]


@dataclass(frozen=True)
class Outcome:
    """What one job of the sweep hands back for the combined summary."""

    partition: str
    exit_code: int
    verdict: str
    requests: int = 0
    files: int = 0
    rows: int = 0
    seconds: float = 0.0
    problem: str = ""


def _job(cfg: Any, level: int = logging.INFO) -> Outcome:
    """One partition of the sweep (runs in a launcher worker process)."""
    from lineflow.core.errors import LineflowError
    from lineflow.pipeline.logs import set_level
    from lineflow.pipeline.request import RunRequest
    from lineflow.pipeline.runner import run_partition

    set_level(level)
    register_resolvers()
    container = to_settings_dict(cfg)
    partition = str(container.get("date"))
    try:
        settings = validate(container)
        report = run_partition(settings, RunRequest.from_settings(settings))
    except LineflowError as exc:
        return Outcome(partition, exc.exit_code, "error", problem=str(exc))
    problems = [
        f"{r.processor} {r.status}: {r.error}"
        for r in report.results
        if r.error and r.status != "success"
    ]
    verdict = {0: "completed", 1: "failed", 3: "degraded (strict)"}[report.exit_code]
    return Outcome(
        partition,
        report.exit_code,
        verdict,
        requests=report.requests,
        files=sum(r.files for r in report.results if r.phase == "scrape"),
        rows=sum(r.rows for r in report.results if r.phase == "consolidate"),
        seconds=sum(r.seconds for r in report.results),
        problem="; ".join(problems),
    )


def check(overrides: list[str]) -> int:
    """Every job's values, before any job runs (and before Hydra creates the sweep folder
    under home): run keys by their parsers, what the jobs share (home, keys) composed once,
    any other swept key by composing each of its values. The job count."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    from lineflow.cli.keys import RUN_KEYS

    ours = [o for o in overrides if not o.lstrip("+~").startswith(("hydra.", "hydra/"))]
    try:
        parsed = OverridesParser.create().parse_overrides(ours)
    except HydraException as exc:
        raise ConfigError(f"bad override: {str(exc).splitlines()[0]}") from None
    first, swept, jobs = [], [], 1
    for text, override in zip(ours, parsed, strict=True):
        if not override.is_sweep_override():
            first.append(text)
            continue
        values = list(override.sweep_string_iterator())
        name, spelled = override.key_or_group, override.get_key_element()
        jobs *= len(values)
        first.append(f"{spelled}={values[0]}")
        swept.append((name, spelled, values))
    for name, _, values in swept:
        for value in values:
            if name in RUN_KEYS:
                try:
                    RUN_KEYS[name].parse(value)
                except ValueError as exc:
                    raise ConfigError(f"{name}: {exc}") from None
    swept_settings = compose_sweep(overrides)  # home, unknown keys
    check_only(swept_settings.sources, swept_settings.only)
    for name, spelled, values in swept:
        if name not in RUN_KEYS:
            for value in values:
                compose(
                    [*[o for o in first if not o.startswith(f"{spelled}=")], f"{spelled}={value}"]
                )
    return jobs


def multirun(overrides: list[str], level: int = logging.INFO, fmt: str = "table") -> int:
    from hydra.core.global_hydra import GlobalHydra

    user_launcher = any(o.startswith(("hydra/launcher=", "+hydra/launcher=")) for o in overrides)
    extra = [] if user_launcher else ["hydra/launcher=joblib"]
    everything = [*HYDRA_DEFAULTS, *extra, *overrides]
    check(everything)  # home, keys and every value, before Hydra writes under home
    hydra = open_hydra()  # the same config layers as `lineflow run`
    try:
        returns = hydra.multirun(
            config_name="config",
            task_function=functools.partial(_job, level=level),
            overrides=everything,
        )
    finally:
        GlobalHydra.instance().clear()
    outcomes = sorted((_outcome(job) for batch in returns for job in batch), key=_order)
    worst = max((o.exit_code for o in outcomes), default=0)
    if fmt == "json":
        from dataclasses import asdict

        from lineflow.reporting.output import emit

        emit({"exit_code": worst, "partitions": [asdict(o) for o in outcomes]})
    else:
        summarize(outcomes)
    return worst


def _outcome(job: Any) -> Outcome:
    partition = next(
        (o.split("=", 1)[1] for o in job.overrides if o.lstrip("+").startswith("date=")), "?"
    )
    try:
        value = job.return_value
    except Exception as exc:  # the job raised: Hydra stores the exception on the JobReturn
        return Outcome(partition, 1, "crashed", problem=f"{type(exc).__name__}: {exc}")
    return value if isinstance(value, Outcome) else Outcome(partition, 1, "crashed")


def _order(outcome: Outcome) -> str:
    return outcome.partition


def summarize(outcomes: list[Outcome]) -> None:
    """One table of every job of the sweep, then one line: how many ended how."""
    from rich.table import Table

    from lineflow.pipeline.logs import quiet
    from lineflow.reporting.output import console as make_console

    console = make_console()
    worst = max((o.exit_code for o in outcomes), default=0)
    if not quiet():
        table = Table(title=f"lineflow run -m · {len(outcomes)} partitions")
        for column in (
            "partition",
            "status",
            "exit",
            "requests",
            "files landed",
            "rows consolidated",
            "time",
        ):
            right = column not in ("partition", "status")
            table.add_column(column, justify="right" if right else "left", no_wrap=True)
        for o in outcomes:
            figures = (o.requests, o.files, o.rows)
            table.add_row(
                o.partition,
                o.verdict,
                str(o.exit_code),
                *(f"{n:,}" for n in figures),
                f"{o.seconds:.2f}s",
            )
        console.print(table)
    for o in outcomes:
        if o.problem and (o.exit_code or not quiet()):
            console.print(f"  {o.partition}: {o.problem}", soft_wrap=True, markup=False)
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.verdict] = counts.get(o.verdict, 0) + 1
    if not quiet() or worst:
        said = ", ".join(f"{n} {verdict}" for verdict, n in counts.items())
        console.print(f"multirun: {len(outcomes)} partitions: {said}; exit {worst}", soft_wrap=True)
