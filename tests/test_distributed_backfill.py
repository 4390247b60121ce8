"""`lineflow backfill ... executor=ray`: the partitions as tasks on a real local Ray cluster (a
head and a worker node, started for this module), driven as a user drives it, by the CLI in a
subprocess. The results, the manifest and resume are a local backfill's; one source's rate
limit holds across the cluster."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lineflow.core.errors import ConfigError
from tests.conftest import ROOT, query, run_cli, table_checksum
from tests.test_backfill import RANGE, lines_without_run_ids, query_state, wait_for_complete

#: The Odds API key of the stand-in; the nodes have it in their environment, as real nodes
#: would have the provider's key (the driver sends no secret).
STANDIN_KEY = "standin-odds-key"
#: Per partition: what a user compares between two backfills (the node a task ran on aside).
OUTCOME = "SELECT slate_date, status, snapshot_used, requests, credits, rows, last_error, note"
PREDICTIONS = "SELECT * EXCLUDE (run_id, batch_id, created_at, superseded_at) FROM predictions"


def _ray_or_skip() -> None:
    try:
        import ray  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"ray cannot be imported ({exc}): pip install -e '.[test]' brings it")


@pytest.fixture(scope="module")
def cluster():
    _ray_or_skip()
    from tests.support.raycluster import ray_cluster

    with ray_cluster(env={"ODDS_API_KEY": STANDIN_KEY}) as running:
        yield running


@pytest.fixture(scope="module")
def local_home(tmp_path_factory) -> Path:
    """The same backfill, local: what the cluster's must equal."""
    home = tmp_path_factory.mktemp("local") / "home"
    result = run_cli("backfill", *RANGE, f"home={home}")
    assert result.code == 0, result.stdout + result.stderr
    return home


def outcomes(home: Path) -> tuple[list[tuple], set[str]]:
    """The manifest's per-partition outcomes without the node note, and the nodes noted."""
    rows, nodes = [], set()
    for *fields, note in query_state(home, f"{OUTCOME} FROM backfill_partitions ORDER BY 1"):
        found = re.search(r"ran on node (\w+)", note or "")
        if found:
            nodes.add(found.group(1))
        rest = re.sub(r"(; )?ran on node \w+", "", note or "") or None
        rows.append((*fields, rest))
    return rows, nodes


def test_a_backfill_on_the_cluster_equals_a_local_one_and_uses_both_nodes(
    cluster, local_home, tmp_path
):
    home = tmp_path / "home"
    result = run_cli(
        "backfill", *RANGE, f"home={home}", "executor=ray", f"address={cluster.address}"
    )
    assert result.code == 0, result.stdout + result.stderr
    assert "complete" in result.stdout

    assert lines_without_run_ids(home) == lines_without_run_ids(local_home)
    assert table_checksum(home, f"({PREDICTIONS})") == table_checksum(
        local_home, f"({PREDICTIONS})"
    )
    assert query(home, "SELECT count(*) > 0 FROM predictions") == [(True,)]
    ray_outcomes, nodes = outcomes(home)
    local_outcomes, local_nodes = outcomes(local_home)
    assert ray_outcomes == local_outcomes
    assert [status for _, status, *_ in ray_outcomes] == ["complete"] * 4
    assert not local_nodes
    assert len(nodes) == cluster.nodes == 2, f"the partitions ran on {nodes}"

    status = run_cli("backfill", "status", f"home={home}")
    assert status.code == 0 and "4/4" in status.stdout
    again = run_cli(
        "backfill", *RANGE, f"home={home}", "executor=ray", f"address={cluster.address}"
    )
    assert again.code == 0 and "0 partitions to run, 4 skipped" in again.stdout


def test_a_killed_driver_leaves_a_backfill_that_resume_completes(cluster, local_home, tmp_path):
    home = tmp_path / "home"
    driver = subprocess.Popen(
        [sys.executable, "-m", "lineflow", "backfill", *RANGE, f"home={home}", "max_parallel=1",
         "executor=ray", f"address={cluster.address}"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    done = wait_for_complete(driver, home, 1, timeout=240)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait(30)
    assert 1 <= done < 4, f"killed after {done} partitions"
    statuses = dict(query_state(home, "SELECT slate_date, status FROM backfill_partitions"))
    assert "running" in statuses.values(), statuses  # as the dead driver left it
    (backfill_id,) = query_state(home, "SELECT id FROM backfills")[0]
    listed = run_cli("backfill", "status", backfill_id, f"home={home}")
    assert "interrupted" in listed.stdout, listed.stdout

    resumed = run_cli(
        "backfill", "resume", backfill_id, f"home={home}", "executor=ray",
        f"address={cluster.address}",
    )  # fmt: skip
    assert resumed.code == 0, resumed.stdout + resumed.stderr
    attempts = dict(query_state(home, "SELECT slate_date, attempts FROM backfill_partitions"))
    assert sum(attempts.values()) <= 5, f"completed partitions are not run again: {attempts}"
    assert lines_without_run_ids(home) == lines_without_run_ids(local_home)
    assert outcomes(home)[0] == outcomes(local_home)[0]


def test_one_rate_limit_holds_across_the_cluster(cluster, tmp_path):
    """Live against the stand-in, tasks on both nodes: every request the stand-in saw was
    granted by the one limiter of the source, and its grants never exceed the bucket's
    rate and burst over any interval (what a token bucket guarantees)."""
    from lineflow.pipeline.distributed import limiter_name
    from tests.support.raycluster import limiter_grants
    from tests.support.standin import StandIn

    rate, burst = 6.0, 2
    home = tmp_path / "home"
    with StandIn() as standin:
        result = run_cli(
            "backfill", *RANGE, f"home={home}", "executor=ray", f"address={cluster.address}",
            "http.mode=live", f"sources.odds_api.base_url={standin.url}",
            f"sources.odds_api.rate_limit.per_second={rate:g}",
            f"sources.odds_api.rate_limit.burst={burst}",
            env={"ODDS_API_KEY": STANDIN_KEY},
        )  # fmt: skip
        seen = len(standin.request_log)
    assert result.code == 0, result.stdout + result.stderr
    assert seen > 2 * burst

    granted = limiter_grants(cluster, limiter_name("odds_api", rate, burst))
    assert (granted["rate"], granted["burst"]) == (rate, burst)
    slots = sorted(at for at, _ in granted["grants"])
    assert len(slots) == seen, "every request the stand-in saw was granted by the limiter"
    assert len({node for _, node in granted["grants"]}) == 2, "tasks on both nodes asked it"
    for i, first in enumerate(slots):
        for j in range(i, len(slots)):
            assert j - i + 1 <= burst + rate * (slots[j] - first) + 1e-6, (i, j)


def test_a_bad_address_is_one_line_and_writes_nothing(tmp_path):
    _ray_or_skip()
    home = tmp_path / "home"
    for args, code, message in [
        (("executor=ray", "address=127.0.0.1:1"), 1, "executor=ray: no Ray cluster at 127.0.0.1:1"),
        (("executor=ray",), 2, "address: required with executor=ray"),
        (("executor=ray", "address=head"), 2, "address: expected the head node's HOST:PORT"),
        (("address=127.0.0.1:1",), 2, "address: only with executor=ray"),
        (("executor=spark",), 2, "executor: expected one of local, ray"),
    ]:
        result = run_cli("backfill", *RANGE, f"home={home}", *args)
        assert result.code == code, (args, result.stdout, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not home.exists(), "nothing was written"


def test_without_ray_the_error_names_the_extra_to_install(tmp_path):
    """Ray made unimportable (as where it is not installed): one line, exit 2, and local
    backfills and dry runs are untouched."""
    hide = tmp_path / "no-ray"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['ray'] = None\n")
    env = {"PYTHONPATH": f"{hide}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    home = tmp_path / "home"
    result = run_cli(
        "backfill", *RANGE, f"home={home}", "executor=ray", "address=127.0.0.1:6379", env=env
    )
    assert result.code == 2, result.stdout + result.stderr
    assert result.stderr.strip() == (
        "lineflow: error: executor=ray: Ray is not installed (pip install 'lineflow[ray]')"
    )
    assert not home.exists()
    dry = run_cli("backfill", *RANGE, f"home={home}", "dry_run=true", env=env)
    assert dry.code == 0 and "4 partitions, about 44 requests" in dry.stdout


def test_a_cluster_of_several_machines_needs_shared_stores(tmp_path):
    from lineflow.config import compose
    from lineflow.pipeline.distributed import check_layout

    settings = compose([f"home={tmp_path / 'home'}"])
    check_layout(settings, {"10.0.0.5"})  # one machine: the nodes share the home
    with pytest.raises(ConfigError) as refused:
        check_layout(settings, {"10.0.0.5", "10.0.0.6"})
    message = str(refused.value)
    assert "nodes are on 2 machines (10.0.0.5, 10.0.0.6)" in message
    assert "state.backend=postgres, warehouse.kind=ducklake and landing.url=gs://" in message
    assert "\n" not in message


def test_a_task_ray_could_not_run_fails_its_partition_in_one_line():
    """A worker or node lost (after Ray's own retries) or an error outside lineflow's in the
    task: that partition failed, with the reason, and the backfill goes on."""
    _ray_or_skip()
    from concurrent.futures import Future
    from datetime import date

    import ray

    from lineflow.pipeline.backfill import PartitionOutcome
    from lineflow.pipeline.distributed import settle

    day = date(2026, 1, 20)
    try:
        raise KeyError("odds")
    except KeyError as bug:
        task_error = ray.exceptions.RayTaskError("run_task", "Traceback ...\nKeyError: 'odds'", bug)
    for error, reason in [
        (ray.exceptions.WorkerCrashedError(), "WorkerCrashedError: The worker died unexpectedly"),
        (task_error, "KeyError: 'odds'"),
    ]:
        done: Future = Future()
        done.set_exception(error)
        outcome: Future = Future()
        settle(ray, day, done, outcome)
        failed = outcome.result()
        assert (failed.day, failed.status) == (day, "failed")
        assert failed.error.startswith(f"ray task failed: {reason}"), failed.error
        assert "\n" not in failed.error

    fine: Future = Future()
    fine.set_result(PartitionOutcome(day, "complete", rows=3))
    settle(ray, day, fine, outcome := Future())
    assert outcome.result().rows == 3
    lost: Future = Future()
    lost.set_exception(ConnectionError("the driver lost the cluster"))
    settle(ray, day, lost, outcome := Future())
    assert isinstance(outcome.exception(), ConnectionError)
