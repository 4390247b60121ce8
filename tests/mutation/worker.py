"""One worker process: runs a module's test selection against each of its mutants, in process.

Importing polars, lineflow and the tests costs seconds; a mutant's tests cost milliseconds. So a
worker imports once, then per mutant: compiles the mutated source (never written anywhere: the
worktree's files are only read) into a fresh module object, points every reference to the
original module and to its functions, classes and constants at the mutant's, runs pytest in
process, and points them back. A mutant that runs longer than its timeout is interrupted by a
timer signal, recorded as timed out, and the worker exits (stray threads of the mutant die with
it); the supervisor starts a fresh worker for the rest. Results are appended one line per
mutant, `start N` before and `N outcome` after, so a worker killed mid-mutant loses nothing.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.mutation.operators import Mutant, mutated_tree

_MISSING = object()


class MutantTimeout(BaseException):
    """Raised by the timer signal inside a mutant's test run."""


def module_name(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


@dataclass
class Swap:
    """What `swap_in` changed, so `swap_out` can put it back."""

    name: str
    original: types.ModuleType
    refs: list[tuple[dict[str, Any], str, Any]] = field(default_factory=list)


def swap_in(name: str, code: types.CodeType) -> Swap:
    """Execute `code` as module `name` and point every reference to the original at it."""
    old = sys.modules[name]
    new = types.ModuleType(name, old.__doc__)
    for attr in ("__file__", "__package__", "__spec__", "__loader__", "__path__"):
        if hasattr(old, attr):
            setattr(new, attr, getattr(old, attr))
    sys.modules[name] = new
    try:
        exec(code, new.__dict__)
    except BaseException:
        sys.modules[name] = old
        raise
    # Old object -> new object, by the name the module binds it to. Functions and classes are
    # also followed under other names (`import x as y`); plain values only under their own
    # name, since small ints and strings are shared by the whole interpreter.
    by_name = {
        key: (value, new.__dict__[key])
        for key, value in old.__dict__.items()
        if not key.startswith("__")
        and new.__dict__.get(key, _MISSING) is not value
        and key in new.__dict__
    }
    by_id = {
        id(old_value): new_value
        for old_value, new_value in by_name.values()
        if isinstance(old_value, type | types.FunctionType)
        and getattr(old_value, "__module__", None) == name
    }
    swap = Swap(name, old)
    for mod in list(sys.modules.values()):
        namespace = getattr(mod, "__dict__", None)
        if mod is new or not isinstance(namespace, dict):
            continue
        for key, value in list(namespace.items()):
            if value is old:
                replacement = new
            elif key in by_name and value is by_name[key][0]:
                replacement = by_name[key][1]
            elif id(value) in by_id and isinstance(value, type | types.FunctionType):
                replacement = by_id[id(value)]
            else:
                continue
            swap.refs.append((namespace, key, value))
            namespace[key] = replacement
    return swap


def swap_out(swap: Swap) -> None:
    for namespace, key, value in swap.refs:
        namespace[key] = value
    sys.modules[swap.name] = swap.original


def _pytest(args: list[str]) -> int:
    import pytest

    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        return int(pytest.main(args))


#: Set by the timer: pytest reports an exception raised inside a test as a failure, so the
#: worker learns from this flag that the failure was the timer's.
_FIRED: list[bool] = []


def _on_timer(_signum: int, _frame: object) -> None:
    _FIRED.append(True)
    raise MutantTimeout


def main(job_path: str) -> int:
    """Run the job described by the JSON file `job_path` (see `__main__._start_worker`)."""
    job = json.loads(Path(job_path).read_text())
    results = open(job["results"], "a", buffering=1)  # noqa: SIM115 - open for the whole run
    args = [*job["tests"], "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    try:
        from hypothesis import settings

        # Reproducible and stateless: no example database in the worktree, same examples always.
        settings.register_profile("mutation", database=None, derandomize=True, deadline=None)
        settings.load_profile("mutation")
    except ImportError:
        pass
    baseline = _pytest(args)
    if baseline != 0:
        results.write(f"baseline {baseline}\n")
        return 2
    name = module_name(job["module"])
    __import__(name)
    source = Path(job["root"], job["module"]).read_text()
    filename = str(Path(job["root"], job["module"]))
    signal.signal(signal.SIGALRM, _on_timer)
    for raw in job["mutants"]:
        mutant = Mutant(**raw)
        results.write(f"start {mutant.index}:{mutant.variant}\n")
        outcome = _run_mutant(name, source, filename, mutant, args, job["timeout_s"])
        results.write(f"{mutant.index}:{mutant.variant} {outcome}\n")
        if outcome == "timeout":
            results.close()
            os._exit(3)  # the mutant's threads may still run: a fresh worker takes the rest
    results.close()
    return 0


def _run_mutant(
    name: str, source: str, filename: str, mutant: Mutant, args: list[str], timeout_s: float
) -> str:
    """killed | survived | timeout for one mutant."""
    _FIRED.clear()
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        code = compile(mutated_tree(source, mutant), filename, "exec")
        swap = swap_in(name, code)
        try:
            exit_code = _pytest(args)
        finally:
            swap_out(swap)
    except MutantTimeout:
        return "timeout"
    except Exception:  # the mutated module does not even import: every test of it fails
        return "killed"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    if _FIRED:
        return "timeout"
    return "survived" if exit_code == 0 else "killed"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
