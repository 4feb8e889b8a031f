"""Fixtures of the office tests: the billing tests' PKI and tariffs, and an office
database on each backend: a SQLite file, and a fresh database of a PostgreSQL server
started once for the session (tests/pg_server.py)."""

from __future__ import annotations

import pytest
from billing.conftest import pki, tariffs  # noqa: F401 - fixtures shared with tests/billing
from pg_server import PgServer

from host_tools.office_db import OfficeDb

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def pg_server():
    server = PgServer().start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server) -> str:
    """A new PostgreSQL database, without tables (``postgresql://`` URL, as tla --db takes)."""
    return pg_server.new_database()


@pytest.fixture(scope="session")
def pg_shared(pg_server) -> str:
    """One office database for the session's PostgreSQL tests, emptied before each."""
    url = pg_server.new_database()
    OfficeDb(url).close()
    return url


@pytest.fixture(params=BACKENDS)
def db_location(request, tmp_path) -> str:
    """Where the office database of a test is: a new SQLite file, or the shared
    PostgreSQL office database with no rows (a new database each time would cost a
    second per test)."""
    if request.param == "sqlite":
        return str(tmp_path / "office.db")
    url = request.getfixturevalue("pg_shared")
    request.getfixturevalue("pg_server").empty(url)
    return url


@pytest.fixture
def db(db_location):
    with OfficeDb(db_location) as office:
        yield office
