"""The Postgres test server (tests/support/postgres.py): real, on loopback, a database per test."""

from __future__ import annotations

import psycopg


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
