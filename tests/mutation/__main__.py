"""`python -m tests.mutation`: plant one-line bugs in the modules that decide money and safety,
run each module's fast unit tests against every mutant, and report the score per module.

    python -m tests.mutation                      # every module of tests/mutation/modules.toml
    python -m tests.mutation -m lineflow/core/odds.py --survivors   # one module, list survivors

The modules and their test selections are declared in `modules.toml`; mutants argued to be
equivalent (no test could ever tell them apart from the original) in `equivalents.toml`, and
excluded from the score. Exit status 1 when a module scores under `--threshold` (default 90 %).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests.mutation.operators import Mutant, mutants

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
#: Two cores are what the project's machines have; more workers only slow each other down.
MAX_JOBS = 2
#: Mutants per worker process: each pays a few seconds of imports before its first mutant.
CHUNK = 80


@dataclass(frozen=True)
class Target:
    path: str  # relative to the root: lineflow/core/odds.py
    tests: tuple[str, ...]  # pytest arguments: files or node ids
    functions: tuple[str, ...] = ()  # only these (`Class.method`); empty: the whole module

    def mutants(self, root: Path) -> list[Mutant]:
        return mutants((root / self.path).read_text(), self.functions)


@dataclass(frozen=True)
class Equivalent:
    module: str
    line: int
    operator: str
    mutation: str
    why: str

    def matches(self, module: str, mutant: Mutant) -> bool:
        mine = (self.module, self.line, self.operator, self.mutation)
        return mine == (module, mutant.line, mutant.operator, mutant.description)


@dataclass
class ModuleResult:
    path: str
    outcomes: dict[str, list[Mutant]] = field(default_factory=dict)  # outcome -> mutants
    error: str | None = None

    def count(self, outcome: str) -> int:
        return len(self.outcomes.get(outcome, []))

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.outcomes.values())

    @property
    def score(self) -> float:
        """Killed (timeouts included) over every mutant not declared equivalent."""
        judged = self.total - self.count("equivalent")
        caught = self.count("killed") + self.count("timeout")
        return 100.0 * caught / judged if judged else 100.0


def load_targets(config: Path) -> tuple[list[Target], float]:
    data = tomllib.loads(config.read_text())
    targets = [
        Target(m["path"], tuple(m["tests"]), tuple(m.get("functions", ())))
        for m in data.get("module", [])
    ]
    return targets, float(data.get("timeout_s", 30))


def load_equivalents(path: Path) -> list[Equivalent]:
    if not path.exists():
        return []
    data = tomllib.loads(path.read_text())
    return [Equivalent(**e) for e in data.get("equivalent", [])]


def _run_chunk(
    root: Path, target: Target, chunk: list[Mutant], timeout_s: float, workdir: Path
) -> tuple[dict[str, str], str | None]:
    """Run `chunk` in worker processes until every mutant has an outcome: id -> outcome."""
    outcomes: dict[str, str] = {}
    pending = list(chunk)
    n = 0
    while pending:
        n += 1
        results = workdir / f"results-{id(chunk)}-{n}.txt"
        job = workdir / f"job-{id(chunk)}-{n}.json"
        job.write_text(
            json.dumps(
                {
                    "root": str(root),
                    "module": target.path,
                    "tests": list(target.tests),
                    "mutants": [asdict(m) for m in pending],
                    "timeout_s": timeout_s,
                    "results": str(results),
                }
            )
        )
        log = open(workdir / f"worker-{id(chunk)}-{n}.log", "w")  # noqa: SIM115
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.mutation.worker", str(job)],
            cwd=root,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        _watch(proc, results, timeout_s)
        log.close()
        lines = results.read_text().splitlines() if results.exists() else []
        if lines and lines[0].startswith("baseline"):
            return (
                outcomes,
                f"the tests fail without any mutant (pytest exit {lines[0].split()[1]})",
            )
        started = None
        for line in lines:
            if line.startswith("start "):
                started = line.split()[1]
            else:
                key, outcome = line.split()
                outcomes[key] = outcome
                started = None
        if started is not None:  # killed by the watchdog mid-mutant, or died: it hung
            outcomes[started] = "timeout"
        done = set(outcomes)
        before = len(pending)
        pending = [m for m in pending if f"{m.index}:{m.variant}" not in done]
        if len(pending) == before:
            return outcomes, f"a worker made no progress (see {log.name})"
    return outcomes, None


def _watch(proc: subprocess.Popen[bytes], results: Path, timeout_s: float) -> None:
    """Wait for the worker; kill it when one mutant runs far past its own timer (stuck in C)."""
    last_size, last_change = -1, time.monotonic()
    # Imports and the baseline run come before the first mutant: allow them a generous start.
    grace = timeout_s * 3 + 120
    while proc.poll() is None:
        time.sleep(0.5)
        size = results.stat().st_size if results.exists() else 0
        if size != last_size:
            last_size, last_change = size, time.monotonic()
            grace = timeout_s * 3
        elif time.monotonic() - last_change > grace:
            proc.kill()
            proc.wait()


def run(
    targets: list[Target],
    equivalents: list[Equivalent],
    timeout_s: float,
    jobs: int = MAX_JOBS,
    root: Path = ROOT,
) -> list[ModuleResult]:
    """Mutate every target; the per-module results in the targets' order."""
    jobs = max(1, min(jobs, MAX_JOBS))
    plans: list[tuple[Target, list[Mutant], list[Mutant]]] = []
    for target in targets:
        found = target.mutants(root)
        equivalent = [m for m in found if any(e.matches(target.path, m) for e in equivalents)]
        plans.append((target, [m for m in found if m not in equivalent], equivalent))
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp, ThreadPoolExecutor(jobs) as pool:
        futures = [
            (
                target,
                pool.submit(_run_chunk, root, target, found[i : i + CHUNK], timeout_s, Path(tmp)),
            )
            for target, found, _ in plans
            for i in range(0, len(found), CHUNK)
        ]
        chunk_results = [(target, future.result()) for target, future in futures]
    results = []
    for target, found, equivalent in plans:
        result = ModuleResult(target.path, {"equivalent": equivalent})
        outcomes: dict[str, str] = {}
        for t, (chunk_outcomes, error) in chunk_results:
            if t is target:
                outcomes.update(chunk_outcomes)
                result.error = result.error or error
        for m in found:
            outcome = outcomes.get(f"{m.index}:{m.variant}", "not run")
            result.outcomes.setdefault(outcome, []).append(m)
        results.append(result)
    return results


def stale_declarations(
    targets: list[Target], equivalents: list[Equivalent], root: Path = ROOT
) -> list[Equivalent]:
    """Declared equivalents that match no mutant any more (the code moved): to review."""
    found = {t.path: t.mutants(root) for t in targets}
    return [
        e
        for e in equivalents
        if e.module in found and not any(e.matches(e.module, m) for m in found[e.module])
    ]


def table(results: list[ModuleResult]) -> str:
    lines = [
        "| module | mutants | killed | timed out | survived | equivalent | score |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        score = "error" if r.error else f"{r.score:.1f} %"
        lines.append(
            f"| `{r.path}` | {r.total} | {r.count('killed')} | {r.count('timeout')} | "
            f"{r.count('survived')} | {r.count('equivalent')} | {score} |"
        )
    return "\n".join(lines)


def survivors(results: list[ModuleResult]) -> str:
    lines = []
    for r in results:
        for m in r.outcomes.get("survived", []) + r.outcomes.get("not run", []):
            lines.append(f"{r.path}:{m.line} [{m.operator}] {m.description}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutation", description=__doc__)
    parser.add_argument("-m", "--module", action="append", help="only this module (repeatable)")
    parser.add_argument("--config", type=Path, default=HERE / "modules.toml")
    parser.add_argument("--equivalents", type=Path, default=HERE / "equivalents.toml")
    parser.add_argument("--jobs", type=int, default=MAX_JOBS, help=f"at most {MAX_JOBS}")
    parser.add_argument("--threshold", type=float, default=90.0)
    parser.add_argument("--survivors", action="store_true", help="list every survivor")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    targets, timeout_s = load_targets(args.config)
    if args.module:
        unknown = set(args.module) - {t.path for t in targets}
        if unknown:
            print(
                f"error: not in {args.config.name}: {', '.join(sorted(unknown))}", file=sys.stderr
            )
            return 2
        targets = [t for t in targets if t.path in args.module]
    equivalents = load_equivalents(args.equivalents)
    started = time.monotonic()
    results = run(targets, equivalents, timeout_s, args.jobs)
    print(table(results))
    print(f"\n{sum(r.total for r in results)} mutants in {time.monotonic() - started:.0f}s")
    for r in results:
        if r.error:
            print(f"error: {r.path}: {r.error}", file=sys.stderr)
    for e in stale_declarations(targets, equivalents):
        print(f"stale equivalent (matches no mutant): {e.module}:{e.line} {e.mutation}")
    if args.survivors:
        print("\nsurvivors:\n" + survivors(results))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    r.path: {k: [asdict(m) for m in v] for k, v in r.outcomes.items()}
                    for r in results
                },
                indent=1,
            )
        )
    failing = [r for r in results if r.error or r.score < args.threshold]
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
