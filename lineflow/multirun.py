"""`lineflow run -m date=a,b,...`: Hydra's multirun, each partition its own job.

The sweep goes through Hydra itself (its override grammar, sweeper and launcher), with the
joblib launcher by default so partitions run in parallel processes. Locks and the warehouse's
session lock keep partitions safe; lineflow's ledgers, not Hydra, decide what work is left.
"""

from __future__ import annotations

from typing import Any

from lineflow.config import (
    compose_sweep,
    open_hydra,
    register_resolvers,
    to_settings_dict,
    validate,
)

#: Hydra writes nothing into the working directory: sweep metadata goes under home.
HYDRA_DEFAULTS = [
    "hydra.sweep.dir=${home}/multirun/${now:%Y-%m-%d_%H-%M-%S}",
    "hydra.sweep.subdir=${hydra.job.num}",
    "hydra.output_subdir=null",
    "hydra.job.chdir=False",
    "hydra/job_logging=none",
    "hydra/hydra_logging=none",
]


def _job(cfg: Any) -> int:
    """One partition of the sweep (runs in a launcher worker process)."""
    from rich.console import Console

    from lineflow.errors import LineflowError
    from lineflow.reporting.summary import render
    from lineflow.runner import run_partition

    register_resolvers()
    container = to_settings_dict(cfg)
    console = Console(highlight=False)
    try:
        report = run_partition(validate(container))
    except LineflowError as exc:
        console.print(f"lineflow: error: {exc}", markup=False)
        return exc.exit_code
    render(report, console)
    return report.exit_code


def multirun(overrides: list[str]) -> int:
    from hydra.core.global_hydra import GlobalHydra

    user_launcher = any(o.startswith(("hydra/launcher=", "+hydra/launcher=")) for o in overrides)
    extra = [] if user_launcher else ["hydra/launcher=joblib"]
    everything = [*HYDRA_DEFAULTS, *extra, *overrides]
    compose_sweep(everything)  # home and keys, before Hydra writes under home
    hydra = open_hydra()  # the same config layers as `lineflow run`
    try:
        returns = hydra.multirun(
            config_name="config",
            task_function=_job,
            overrides=everything,
        )
    finally:
        GlobalHydra.instance().clear()
    codes = [_code(job) for batch in returns for job in batch]
    return max(codes, default=0)


def _code(job: Any) -> int:
    try:
        value = job.return_value
    except Exception:  # the job raised: Hydra stores the exception on the JobReturn
        return 1
    return int(value) if isinstance(value, int) else 1
