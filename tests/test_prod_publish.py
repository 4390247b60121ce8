"""`lineflow run env=prod`: land in a bucket, consolidate in DuckDB, publish to BigQuery.

Offline: HTTP replays the recorded incident day, the bucket is fake-gcs-server and BigQuery an
emulator, all real processes on loopback.
"""

from __future__ import annotations

from tests.conftest import INCIDENT, query, run_cli, table_checksum

TABLES = (
    "prop_lines",
    "validation_results",
    "quarantine",
    "line_quality",
    "predictions",
    "prediction_batches",
    "run_history",
)
D = f"slate_date = DATE '{INCIDENT}'"


SECRET = "odds-secret-5e4d3c2b1a0f9e8d7c6b"


def prod_run(home, bucket, bq, *extra: str):
    return run_cli(
        "run",
        "env=prod",
        f"date={INCIDENT}",
        "http.mode=replay",
        f"home={home}",
        f"landing.url=gs://{bucket}/landing",
        *bq.overrides(),
        *extra,
        env={"ODDS_API_KEY": SECRET},
    )


def duck_count(home, table: str) -> int:
    return query(home, f"SELECT count(*) FROM {table} WHERE {D}")[0][0]


def test_a_prod_run_lands_in_the_bucket_and_publishes_every_table(tmp_path, bucket, gcs_root, bq):
    home = tmp_path / "home"
    result = prod_run(home, bucket, bq)
    assert result.code == 0, result.stdout + result.stderr
    assert "publish" in result.stdout and "success" in result.stdout
    assert "not in this warehouse" not in result.stdout, "every listed table exists now"

    props = list((gcs_root / bucket / "landing" / "odds_api" / "player_props").rglob("*.json"))
    assert len(props) == 16, "every props response landed in the bucket"
    assert not (home / "landing").exists(), "nothing landed on the local disk"

    for table in TABLES:
        assert bq.count(table) == duck_count(home, table) > 0, table
    # one quote per bookmaker: best_price names the source of the price it recommends
    sourced = "SELECT count(*) AS n FROM {} WHERE bookmaker_source = 'odds_api'"
    in_bq = bq.client.query_and_wait(sourced.format(f"`{bq.project}.{bq.dataset}.predictions`"))
    assert [row["n"] for row in in_bq] == [query(home, sourced.format("predictions"))[0][0]]
    assert query(home, sourced.format("predictions"))[0][0] > 0
    statuses = dict(query(home, f"SELECT processor, status FROM run_history WHERE {D}"))
    assert statuses["publish"] == "success"
    published = bq.client.query_and_wait(
        f"SELECT status FROM `{bq.project}.{bq.dataset}.run_history` WHERE processor = 'publish'"
    )
    assert [row["status"] for row in published] == ["success"], "its own row reached BigQuery"

    before = table_checksum(home, "prop_lines")
    again = prod_run(home, bucket, bq, "refresh=true")
    assert again.code == 0, again.stdout + again.stderr
    assert table_checksum(home, "prop_lines") == before
    assert bq.count("prop_lines") == duck_count(home, "prop_lines")
    assert bq.count("run_history") == duck_count(home, "run_history")
    assert bq.count("run_history") > 6, "the rerun's history was published too"

    leaked = [
        p
        for p in (gcs_root / bucket).rglob("*")
        if p.is_file() and SECRET.encode() in p.read_bytes()
    ]
    assert leaked == [] and SECRET not in again.stdout + again.stderr
    history = bq.client.query_and_wait(
        f"SELECT * FROM `{bq.project}.{bq.dataset}.run_history`"
    ).to_arrow(create_bqstorage_client=False)
    assert history.num_rows > 0 and SECRET not in str(history.to_pylist())


def test_a_fresh_machine_finds_the_landed_files_in_the_bucket(tmp_path, bucket, bq):
    """The skip-if-landed check and process read the bucket: no request, same rows."""
    first = prod_run(tmp_path / "a", bucket, bq)
    assert first.code == 0, first.stdout + first.stderr
    second_home = tmp_path / "b"
    second = prod_run(second_home, bucket, bq, "only=[odds_api]")
    assert second.code == 0, second.stdout + second.stderr
    requests = query(second_home, "SELECT sum(requests) FROM run_history")
    assert requests == [(0,)]
    # the second machine asked for the Odds API only: it has the first one's Odds API rows
    odds_api = "SELECT count(*) FROM prop_lines WHERE source = 'odds_api'"
    assert query(second_home, odds_api) == query(tmp_path / "a", odds_api)
    assert duck_count(second_home, "prop_lines") == query(second_home, odds_api)[0][0]
    assert bq.count("prop_lines") == duck_count(second_home, "prop_lines")


def test_prod_without_a_bigquery_project_stops_before_writing(tmp_path):
    home = tmp_path / "home"
    result = run_cli("run", "env=prod", f"date={INCIDENT}", "http.mode=replay", f"home={home}")
    assert result.code == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith("bigquery.project: required by the publish stage (bigquery.project=NAME)")
    )
    assert not home.exists()


def test_a_landing_url_that_is_not_a_bucket_is_bad_input(tmp_path):
    home = tmp_path / "home"
    result = run_cli("run", f"date={INCIDENT}", f"home={home}", "landing.url=s3://x/y")
    assert result.code == 2
    assert "landing.url" in result.stderr and "gs://BUCKET" in result.stderr
    assert not home.exists()
