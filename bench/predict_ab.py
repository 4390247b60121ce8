"""The predict stage in a backfill, two versions of lineflow side by side:
`python -m bench.predict_ab --before REF [--dates 8] [--passes 7] [--rounds 2]`.

A season of `--dates` x `--passes` is generated once (`bench.season`); each round runs
`lineflow backfill ... pipeline.stages=[process,validate,consolidate,predict]` (the
command's own code path, `max_parallel` 4) once with `REF`'s code (`git archive`) and once
with this checkout's, each in its own process with that code first on its path, in a fresh
home each time, alternating which goes first. It prints each run's stage seconds summed over
the partitions (`run_history`) and the predict ratio. Ratios, not absolute times: run both in
one go on the same machine, and say its load.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.measure import ROOT

STAGES = "process,validate,consolidate,predict"


def job(home: str, landing: str, dates: int) -> None:
    """One backfill into `home` with the lineflow on sys.path; prints its stages' seconds."""
    import duckdb

    from bench.season import season_dates
    from bench.worker import _backfill
    from lineflow.core.allocator import configure

    configure()
    from lineflow.config import compose

    settings = compose([f"home={home}", f"landing.root={landing}", f"pipeline.stages=[{STAGES}]"])
    _backfill(settings, [d.isoformat() for d in season_dates(dates)], {})
    con = duckdb.connect(str(Path(home) / "lineflow.duckdb"), read_only=True)
    rows = con.execute(
        "SELECT phase, sum(epoch(finished_at) - epoch(started_at)), count(*) FROM run_history "
        "GROUP BY 1"
    ).fetchall()
    predictions = con.execute("SELECT count(*) FROM predictions WHERE is_active").fetchone()
    print(json.dumps({"stages": {p: [s, n] for p, s, n in rows}, "predictions": predictions}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.predict_ab")
    parser.add_argument("--before", required=True, help="git ref of the code to compare with")
    parser.add_argument("--dates", type=int, default=8)
    parser.add_argument("--passes", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    from bench.season import generate, season_dates

    with tempfile.TemporaryDirectory(prefix="predict-ab-") as tmp:
        work = Path(tmp)
        landing = work / "landing"
        generate(landing, season_dates(args.dates), args.passes)
        before = work / "before"
        before.mkdir()
        archive = subprocess.run(
            ["git", "archive", args.before], cwd=ROOT, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
        codes = {"before": before, "after": ROOT}
        seconds: dict[str, list[float]] = {name: [] for name in codes}
        for round_no in range(args.rounds):
            order = list(codes) if round_no % 2 == 0 else list(reversed(codes))
            for name in order:
                home = work / f"home-{name}"
                shutil.rmtree(home, ignore_errors=True)
                done = subprocess.run(
                    [sys.executable, __file__, "--job", str(home), str(landing), str(args.dates)],
                    capture_output=True, text=True, cwd=work,
                    env={**os.environ, "PYTHONPATH": str(codes[name])},
                )  # fmt: skip
                if done.returncode:
                    print(done.stderr[-3000:], file=sys.stderr)
                    return 1
                result = json.loads(done.stdout.strip().splitlines()[-1])
                predict, partitions = result["stages"]["predict"]
                seconds[name].append(predict / partitions)
                load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
                print(
                    f"round {round_no + 1} {name:6s} predict {predict / partitions:.3f} s a "
                    f"partition; stages {json.dumps(result['stages'])}; load {load}",
                    flush=True,
                )
        ratio = statistics.median(seconds["before"]) / statistics.median(seconds["after"])
        print(f"predict a partition, median: before / after = {ratio:.1f}x")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--job":
        job(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(main())
