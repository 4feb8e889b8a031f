"""``tla arl import``: returns mark lots and FSEs accepted or rejected with their reason;
negative ARLs, partial rejections, an unknown lot and malformed files (one line naming
the file and the field, exit 2, nothing marked)."""

from __future__ import annotations

import json

import pytest
from billing.conftest import SEAL

from host_tools import cli, office_lots
from host_tools.lot_maker import make_lots
from host_tools.office_db import OfficeDb

from .helpers import NURSE, NURSE_PIN, cps_connection, import_all, nurse_fse
from .test_lots_cli import one_error_line


@pytest.fixture
def office(tmp_path, db_location, pki, tariffs):
    """Lot 1: FSEs 1 and 3 to 01/341; lot 2: FSE 2 to 02/751."""
    path = db_location
    with OfficeDb(path) as db:
        import_all(db, pki, [nurse_fse(pki, tariffs, 1),
                             nurse_fse(pki, tariffs, 2, regime="02", caisse="751"),
                             nurse_fse(pki, tariffs, 3)])
        office_lots.add_seal(db, "0.1.0", SEAL)
        from datetime import date
        made = make_lots(db, cps_connection(), lambda: NURSE_PIN, today=date(2026, 3, 12),
                         now=1773300000.0).made
        assert [(x.lot_number, len(x.fse_rows)) for x in made] == [(1, 2), (2, 1)]
    return path


def arl(tmp_path, name="arl.json", **fields) -> str:
    doc = {"format": "opentla-arl/1", "billing_number": NURSE, "lot_number": 1,
           "organism": {"regime": "01", "caisse": "341"},
           "received_at": "2026-03-14T08:00:00Z", "status": "accepted", "reason": None}
    doc.update(fields)
    path = tmp_path / name
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return str(path)


def tla(tmp_path, office, *files) -> int:
    return cli.main(["--keys", str(tmp_path / "keys.json"), "arl", "--db", str(office),
                     "import", *files])


def state(office):
    with OfficeDb(office) as db:
        return {(r["lot_number"]): (r["status"], r["reason_code"], [
            (f["fse_number"], f["status"], f["reason_code"], f["reason"])
            for f in office_lots.lot_fses(db, r["row_id"])]) for r in office_lots.lots(db)}


REJECT_3 = [{"fse_number": 3, "status": "rejected",
             "reason": {"code": "R102", "text": "Droits non ouverts à la date des soins"}}]


def test_positive_arl_with_one_fse_rejected_and_a_negative_arl(tmp_path, office, capsys):
    ok = arl(tmp_path, "arl-1.json", fses=REJECT_3)
    neg = arl(tmp_path, "arl-2.json", lot_number=2, organism={"regime": "02", "caisse": "751"},
              status="rejected", reason={"code": "L07", "text": "Lot illisible"})
    assert tla(tmp_path, office, ok, neg) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{ok}: lot {NURSE}/1 accepted, FSE 3 rejected",
        f"{neg}: lot {NURSE}/2 REJECTED: L07 Lot illisible"]
    assert state(office) == {
        1: ("accepted", "", [(1, "accepted", "", ""),
                             (3, "rejected", "R102", "Droits non ouverts à la date des soins")]),
        2: ("rejected", "L07", [(2, "rejected", "L07", "Lot illisible")])}
    # the same file again changes nothing
    assert tla(tmp_path, office, ok) == 0
    assert capsys.readouterr().out == f"{ok}: lot {NURSE}/1 already imported, unchanged\n"


def test_the_lot_shows_its_return(tmp_path, office, capsys):
    assert tla(tmp_path, office, arl(tmp_path, fses=REJECT_3)) == 0
    capsys.readouterr()
    assert cli.main(["--keys", str(tmp_path / "keys.json"), "lots", "--db", str(office), "show",
                     f"{NURSE}/1"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["status"], shown["arl_at"]) == ("accepted", "2026-03-14T08:00:00Z")
    assert [(f["fse_number"], f["status"]) for f in shown["fses"]] == [(1, "accepted"),
                                                                       (3, "rejected")]


@pytest.mark.parametrize("fields, message", [
    ({"lot_number": 9}, "lot_number: no lot 699999025/9 in the office database (unknown lot)"),
    ({"billing_number": "123456789"},
     "lot_number: no lot 123456789/1 in the office database (unknown lot)"),
    ({"lot_number": 0}, "lot_number: 0 is not a lot number (1..999999)"),
    ({"organism": {"regime": "02", "caisse": "751"}},
     f"organism: lot {NURSE}/1 went to 01/341, not 02/751"),
    ({"fses": [{"fse_number": 2, "status": "rejected", "reason": {"code": "X", "text": ""}}]},
     f"fses[0].fse_number: FSE 2 is not in lot {NURSE}/1"),
    ({"status": "rejected"}, "reason: must be an object {\"code\", \"text\"}"),
    ({"status": "refused"}, "status: 'refused' is not valid (expected accepted|rejected)"),
    ({"fses": [{"fse_number": 3, "status": "rejected"}]},
     "fses[0].reason: must be an object {\"code\", \"text\"}"),
    ({"fses": [{"fse_number": "3", "status": "rejected"}]},
     "fses[0].fse_number: '3' is not an FSE number"),
    ({"received_at": "yesterday"},
     "received_at: 'yesterday' is not valid (expected \\d{4}-\\d\\d-\\d\\dT[\\d:.]+(Z|[+-]\\d\\d:\\d\\d))"),
    ({"format": "other/1"}, "format: 'other/1' is not 'opentla-arl/1'"),
    ({"organism": None}, "organism: must be an object {\"regime\", \"caisse\"}"),
], ids=["unknown_lot", "unknown_professional", "lot_zero", "organism", "fse_not_in_lot",
        "rejected_without_reason", "bad_status", "fse_without_reason", "fse_number_text",
        "date", "format", "no_organism"])
def test_bad_arl_names_file_and_field_exit_2_and_marks_nothing(tmp_path, office, fields,
                                                                message, capsys):
    before = state(office)
    path = arl(tmp_path, **fields)
    assert tla(tmp_path, office, path) == 2
    assert one_error_line(capsys.readouterr().err) == f"error: {path}: {message}"
    assert state(office) == before


def test_missing_field_and_bad_json(tmp_path, office, capsys):
    path = tmp_path / "arl.json"
    path.write_text('{"format": "opentla-arl/1", "lot_number": 1}')
    assert tla(tmp_path, office, str(path)) == 2
    assert one_error_line(capsys.readouterr().err) == f"error: {path}: billing_number: missing"
    path.write_text('{"format": ')
    assert tla(tmp_path, office, str(path)) == 2
    assert one_error_line(capsys.readouterr().err) == (
        f"error: {path}: not JSON: line 1 column 12: Expecting value")
    assert tla(tmp_path, office, str(tmp_path / "none.json")) == 2
    assert "none.json: cannot read: No such file or directory" in capsys.readouterr().err


def test_one_bad_file_among_several_marks_nothing(tmp_path, office, capsys):
    before = state(office)
    good = arl(tmp_path, "good.json")
    bad = arl(tmp_path, "bad.json", lot_number=7)
    assert tla(tmp_path, office, good, bad) == 2
    assert state(office) == before and "bad.json: lot_number" in capsys.readouterr().err


def test_a_second_different_arl_for_a_lot_is_refused(tmp_path, office, capsys):
    first = arl(tmp_path, "first.json")
    assert tla(tmp_path, office, first) == 0
    capsys.readouterr()
    other = arl(tmp_path, "other.json", status="rejected", reason={"code": "L1", "text": "x"})
    assert tla(tmp_path, office, other) == 2
    assert one_error_line(capsys.readouterr().err) == (
        f"error: {other}: lot_number: lot {NURSE}/1 was already answered by {first}")
    assert state(office)[1][0] == "accepted"


def test_help_lists_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        cli.main(["arl", "import", "--help"])
    out = capsys.readouterr().out
    assert all(f"\n  {c}" in out for c in ("0 ", "1 ", "2 ", "130 "))
