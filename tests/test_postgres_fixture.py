"""The Postgres test server (tests/support/postgres.py): real, on loopback, a database per test."""

from __future__ import annotations

import psycopg
import pytest


def test_the_server_answers_on_loopback_as_postgres(postgres) -> None:
    with psycopg.connect(postgres.dsn()) as con:
        user, addr = con.execute("SELECT current_user, inet_server_addr()::text").fetchone()
    assert user == "postgres"
    assert addr.startswith("127.0.0.1")


def test_each_test_gets_a_fresh_empty_database(postgres_db) -> None:
    with psycopg.connect(postgres_db.dsn) as con:
        assert con.execute("SELECT current_database()").fetchone()[0] == postgres_db.name
        tables = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()[0]
        assert tables == 0
        con.execute("CREATE TABLE marker (x int)")


def test_a_database_is_dropped_when_its_block_ends(postgres) -> None:
    lingering = None
    try:
        with postgres.database("scratch") as db:
            name = db.name
            lingering = psycopg.connect(db.dsn)  # still connected: the drop must succeed anyway
            lingering.execute("SELECT 1")
    finally:
        if lingering is not None:
            lingering.close()
    with psycopg.connect(postgres.dsn()) as con:
        left = con.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [name])
        assert left.fetchone()[0] == 0


def test_the_server_keeps_its_log_where_it_says(postgres) -> None:
    with psycopg.connect(postgres.dsn()) as con, pytest.raises(psycopg.errors.UndefinedTable):
        con.execute("SELECT * FROM no_such_table_here")
    assert "no_such_table_here" in postgres.log.read_text()


def test_without_binaries_no_server_is_started_and_the_reason_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.support import postgres as support

    monkeypatch.setattr(support, "binaries", lambda: None)
    with (
        pytest.raises(support.PostgresUnavailable, match="apt-get install postgresql"),
        support.postgres_server(),
    ):
        pass
