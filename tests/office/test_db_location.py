"""Where the office database is (``--db PATH|URL``, ``$OPENTLA_DB``, the default path) and
what a command says when it cannot be reached: one line, exit 2."""

from __future__ import annotations

import pytest

from host_tools import cli, office_lots
from host_tools.office_db import OfficeDb, database_url


def tla(tmp_path, *args) -> int:
    return cli.main(["--keys", str(tmp_path / "k.json"), *args])


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_opentla_db_names_the_database_when_no_db_option(tmp_path, monkeypatch, capsys,
                                                         db_location):
    with OfficeDb(db_location) as db:
        office_lots.add_seal(db, "0.1.0", bytes(32))
    monkeypatch.setenv("OPENTLA_DB", db_location)
    monkeypatch.setenv("OPENTLA_HOME", str(tmp_path / "elsewhere"))
    assert tla(tmp_path, "seal", "list") == 0
    assert capsys.readouterr().out.startswith("0.1.0            " + "00" * 32)


def test_postgresql_urls_use_psycopg_3():
    assert database_url("postgresql://office@db.local/opentla").drivername == \
        "postgresql+psycopg"
    assert database_url("/var/lib/opentla/office.db").database == "/var/lib/opentla/office.db"


@pytest.mark.parametrize("url, message", [
    ("mysql://u@h/db", "error: mysql: the office database is SQLite (a path) or PostgreSQL "
                       "(postgresql://...)"),
])
def test_an_unknown_database_kind_exit_2(tmp_path, capsys, url, message):
    assert tla(tmp_path, "lots", "--db", url, "list") == 2
    assert one_line(capsys.readouterr().err) == message


def test_an_unreachable_postgresql_server_exit_2_one_line(tmp_path, capsys):
    url = f"postgresql://office:secret@/opentla?host={tmp_path}&port=1"
    assert tla(tmp_path, "lots", "--db", url, "list") == 2
    line = one_line(capsys.readouterr().err)
    where, _, why = line.partition(": connection to server on socket ")
    assert where.startswith("error: office database postgresql+psycopg://office:***@/opentla?")
    assert why.endswith("failed: No such file or directory") and "secret" not in line
