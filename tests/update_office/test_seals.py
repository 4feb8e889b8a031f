"""Reference seals from a bundle (``tla seal add --bundle``) and the seal flag of
``tla unload``: an FSE whose seal is no reference is imported and flagged."""

from __future__ import annotations

import pytest
from billing.conftest import SEAL
from office.helpers import nurse_fse
from transfer.helpers import SimUnit, pair_host, run, trust_pem

from firmware.update import bundle as fmt
from host_tools import office_lots
from host_tools.cli import main as tla
from host_tools.office_db import OfficeDb
from host_tools.seals import SealFlags

from .conftest import VERSION


def cli(tmp_path, *args) -> int:
    return tla(["--keys", str(tmp_path / "keys.json"), "--timeout", "5", *args])


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "office.db"
    OfficeDb(path).close()
    return path


def test_seal_add_from_a_bundle_stores_the_boards_seal_of_its_version(built, tmp_path, db_path,
                                                                      capsys):
    manifest = fmt.verify_bundle(built.path.read_bytes(), fmt.builtin_keys()).manifest
    assert cli(tmp_path, "seal", "--db", str(db_path), "add", "--bundle", str(built.path),
               "--board", "pi") == 0
    assert f"firmware {VERSION}: reference seal {manifest.seals['pi']}" in capsys.readouterr().out
    with OfficeDb(db_path) as db:
        assert office_lots.reference_seals(db) == {VERSION: bytes.fromhex(manifest.seals["pi"])}
    # the same bundle again changes nothing; another board's seal for that version is refused
    assert cli(tmp_path, "seal", "--db", str(db_path), "add", "--bundle", str(built.path),
               "--board", "pi") == 0
    assert cli(tmp_path, "seal", "--db", str(db_path), "add", "--bundle", str(built.path),
               "--board", "sim") == 2
    assert f"firmware {VERSION} already has reference seal" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "message"), [
    (["--bundle", "{bundle}"], "{bundle}: carries the seals of pc, pi, sim: pick the practice's "
                               "board with --board"),
    (["0.2.0", "00" * 32, "--bundle", "{bundle}"], "tla seal add: give VERSION SEAL or --bundle "
                                                   "FILE, not both"),
    (["0.2.0"], "tla seal add: give VERSION SEAL, or --bundle FILE [--board B]"),
    (["0.2.0", "00" * 32, "--board", "pi"], "tla seal add: give VERSION SEAL, or --bundle FILE"),
    (["--bundle", "{cut}"], "{cut}: not a valid update bundle: "),
    (["--bundle", "{missing}"], "{missing}: cannot read: No such file or directory"),
])
def test_seal_add_refusals_exit_2_and_store_nothing(built, tmp_path, db_path, capsys, args,
                                                    message):
    cut = tmp_path / "cut.bundle"
    cut.write_bytes(built.path.read_bytes()[:-100])  # truncated: the signature is gone
    names = {"bundle": built.path, "cut": cut, "missing": tmp_path / "nope.bundle"}
    args = [a.format(**names) for a in args]
    assert cli(tmp_path, "seal", "--db", str(db_path), "add", *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: " + message.format(**names)) and err.count("\n") == 1
    with OfficeDb(db_path) as db:
        assert office_lots.reference_seals(db) == {}


def test_a_truncated_bundle_is_refused_with_the_verifiers_code(built, tmp_path, db_path, capsys):
    cut = tmp_path / "cut.bundle"
    cut.write_bytes(built.path.read_bytes()[:-100])
    assert cli(tmp_path, "seal", "--db", str(db_path), "add", "--bundle", str(cut)) == 2
    assert "[bundle.truncated]" in capsys.readouterr().err


def test_unload_flags_fses_whose_seal_is_no_reference_and_imports_them(tmp_path, capsys):
    unit = SimUnit(tmp_path, 3)  # FSEs signed with the stand-in seal, no version named
    try:
        run(pair_host(unit.path, tmp_path / "keys.json"))
        db = tmp_path / "office.db"
        unload = ["unload", "--port", unit.path, "--db", str(db),
                  "--trust", str(trust_pem(tmp_path / "trust.pem"))]
        assert cli(tmp_path, *unload) == 0  # imported and acknowledged all the same
        out = capsys.readouterr()
        assert "3 FSEs imported" in out.out
        flagged = [line for line in out.err.splitlines() if line.startswith("FLAGGED")]
        assert len(flagged) == 3
        assert all("is no reference seal" in f and f.endswith("[seal_unknown] (imported; its "
                                                               "lot will wait on hold)")
                   for f in flagged)
        with OfficeDb(db) as office:
            assert len(office.fses()) == 3
        # once the practice records the seal, new FSEs of that firmware pass unflagged
        assert cli(tmp_path, "seal", "--db", str(db), "add", "0.1.0", SEAL.hex()) == 0
        unit.add_fses(2)
        capsys.readouterr()
        assert cli(tmp_path, *unload) == 0
        out = capsys.readouterr()
        assert "2 FSEs imported" in out.out and "FLAGGED" not in out.err
    finally:
        unit.stop()


def test_a_seal_that_is_another_versions_reference_is_flagged_mismatch(db_path, pki, tariffs):
    with OfficeDb(db_path) as db:
        office_lots.add_seal(db, "0.1.0", SEAL)
        office_lots.add_seal(db, "0.2.0", bytes(32))
        flags = SealFlags(db)
    named_right = nurse_fse(pki, tariffs, 1, version="0.1.0").encoded
    named_wrong = nurse_fse(pki, tariffs, 2, version="0.2.0").encoded
    assert flags.check("F1", named_right, SEAL) is None
    flag = flags.check("F2", named_wrong, SEAL)
    assert flag is not None and flag.code == "seal_mismatch"
    assert "is not the reference seal of firmware 0.2.0" in flag.message
