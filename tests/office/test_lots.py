"""Lots made from imported FSEs and signed with an emulated CPS (host_tools/lot_maker.py):
grouping per professional and destination organism, numbering without reuse, the end
record's seal against the office's reference seals, the lot habilitation read from the
card. Amounts: each nurse FSE is 748 cents, AMO 449 (tests/office/helpers.py)."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest
from billing.conftest import SEAL

from firmware.billing.errors import BillingError
from firmware.billing.lots import read_lot
from firmware.cardapps.cps import CpsReader
from firmware.cardapps.errors import CardExpired, WrongPin
from host_tools import office_lots
from host_tools.lot_maker import LotNumberError, make_lots
from host_tools.office_db import OfficeDbError

from .helpers import DOCTOR, NURSE, NURSE_PIN, cps_connection, cps_spec, import_all, nurse_fse

TODAY = date(2026, 3, 12)
NOW = 1773300000.0  # 2026-03-12T07:20:00Z
OTHER_SEAL = bytes(31) + b"\x01"


def make(db, conn=None, pin=NURSE_PIN, **kw):
    return make_lots(db, conn or cps_connection(), lambda: pin, today=TODAY, now=NOW, **kw)


@pytest.fixture
def week(db, pki, tariffs):
    """Four nurse FSEs (1, 3, 4 for 01/341 with 4 degraded; 2 for 02/751), one FSE of
    another professional; the firmware's reference seal is known."""
    fses = [nurse_fse(pki, tariffs, 1), nurse_fse(pki, tariffs, 2, regime="02", caisse="751"),
            nurse_fse(pki, tariffs, 3), nurse_fse(pki, tariffs, 4, mode="degraded"),
            nurse_fse(pki, tariffs, 1, billing=DOCTOR)]
    import_all(db, pki, fses)
    office_lots.add_seal(db, "0.1.0", SEAL)
    return fses


def test_lots_per_destination_signed_by_the_card(db, week):
    conn = cps_connection()
    report = make(db, conn)
    assert [(x.billing_number, x.lot_number, x.regime, x.caisse, x.status) for x in report.made] \
        == [(NURSE, 1, "01", "341", "ready"), (NURSE, 2, "02", "751", "ready")]
    assert report.waiting == {DOCTOR: "this card has no situation for it"}
    assert report.fses_waiting == 1
    rows = office_lots.lots(db)
    assert [(r["lot_number"], r["fse_count"], r["total_cents"], r["amo_cents"],
             r["firmware_version"]) for r in rows] == [(1, 3, 2244, 1347, "0.1.0"),
                                                       (2, 1, 748, 449, "0.1.0")]
    assert [f["fse_number"] for f in office_lots.lot_fses(db, rows[0]["row_id"])] == [1, 3, 4]
    # the lot file: signed by the card's own certificate, end record with the seal
    data = office_lots.lot_file(db, rows[0]["row_id"])
    payload = read_lot(data)
    assert payload["header"] == {"lot_number": 1, "billing_number": NURSE, "regime": "01",
                                 "caisse": "341", "made_at": 1773300000}
    assert payload["end"] == {"count": 3, "fse_numbers": [1, 3, 4], "total_cents": 2244,
                              "amo_cents": 1347, "amc_cents": 0, "seal": SEAL}
    assert payload["fses"] == [week[0].encoded, week[2].encoded, week[3].encoded]
    card_cert = CpsReader(conn).read().certificate
    assert payload["signer"]["cert_sha256"] == hashlib.sha256(card_cert).digest()
    assert (payload["signer"]["serial"], payload["signer"]["situation"]) == ("8100000002", 0)
    assert rows[0]["sha256"] == hashlib.sha256(data).digest()


def test_a_tampered_lot_file_fails_its_signature(db, week):
    from firmware.billing.errors import FseVerificationError

    make(db)
    data = bytearray(office_lots.lot_file(db, office_lots.lots(db)[0]["row_id"]))
    at = data.find(b"01")  # inside the header: regime "01" -> "02"
    data[at + 1] = ord("2")
    with pytest.raises(FseVerificationError) as exc:
        read_lot(bytes(data))
    assert exc.value.code == "lot_bad_signature"


def test_numbers_continue_per_billing_number_and_are_never_reused(db, pki, tariffs, week):
    make(db)
    import_all(db, pki, [nurse_fse(pki, tariffs, 5)])
    assert [x.lot_number for x in make(db).made] == [3]
    import_all(db, pki, [nurse_fse(pki, tariffs, 6)])
    with pytest.raises(LotNumberError) as exc:
        make(db, first_number=3)
    assert str(exc.value) == (f"--first-number 3: lot numbers of {NURSE} are used up to 3; "
                              "give at least 4")
    assert [x.lot_number for x in make(db, first_number=10).made] == [10]
    import_all(db, pki, [nurse_fse(pki, tariffs, 7)])
    assert [x.lot_number for x in make(db).made] == [11]
    assert office_lots.last_lot_numbers(db) == {NURSE: 11}


def test_lot_number_zero_refused(db, week):
    with pytest.raises(BillingError) as exc:
        make(db, first_number=0)
    assert exc.value.code == "lot_number_invalid" and exc.value.field == "first_number"
    assert office_lots.lots(db) == []


def test_unknown_seal_puts_the_lot_on_hold_until_its_reference_is_added(db, pki, tariffs):
    import_all(db, pki, [nurse_fse(pki, tariffs, 1, seal=OTHER_SEAL)])
    office_lots.add_seal(db, "0.1.0", SEAL)
    [lot] = make(db).made
    assert (lot.status, lot.firmware_version) == ("on_hold", None)
    assert office_lots.lots(db)[0]["hold_reason"] == "seal_unknown"
    assert office_lots.add_seal(db, "0.2.0", OTHER_SEAL) == [(NURSE, 1)]
    row = office_lots.lots(db)[0]
    assert (row["status"], row["hold_reason"], row["firmware_version"]) == ("ready", "", "0.2.0")


@pytest.mark.parametrize("claims, seal, reason", [
    ("0.1.0", OTHER_SEAL, "seal_mismatch"),  # 0.1.0's reference is SEAL
    ("0.3.0", SEAL, "seal_mismatch"),        # SEAL is 0.1.0's, not 0.3.0's
    ("0.3.0", OTHER_SEAL, "seal_unknown"),   # a version the office does not know
    ("", OTHER_SEAL, "seal_unknown"),        # older firmware: no version in the FSE
])
def test_the_seal_is_compared_with_its_version_s_reference(db, pki, tariffs, claims, seal,
                                                           reason):
    import_all(db, pki, [nurse_fse(pki, tariffs, 1, seal=seal, version=claims)])
    office_lots.add_seal(db, "0.1.0", SEAL)
    [lot] = make(db).made
    assert (lot.status, lot.hold_reason, lot.claimed_versions) == (
        "on_hold", reason, (claims,) if claims else ())


def test_a_version_s_reference_releases_its_lots_and_only_those(db, pki, tariffs):
    import_all(db, pki, [nurse_fse(pki, tariffs, 1, seal=OTHER_SEAL, version="0.3.0"),
                         nurse_fse(pki, tariffs, 2, seal=OTHER_SEAL, version="0.4.0",
                                   regime="02", caisse="751")])
    made = make(db).made
    assert [x.hold_reason for x in made] == ["seal_unknown", "seal_unknown"]
    # OTHER_SEAL becomes 0.3.0's reference: lot 1 (claims 0.3.0) is released; lot 2
    # claims 0.4.0 with 0.3.0's seal: a mismatch now, it stays on hold
    assert office_lots.add_seal(db, "0.3.0", OTHER_SEAL) == [(NURSE, 1)]
    rows = office_lots.lots(db)
    assert [(r["status"], r["hold_reason"], r["firmware_version"]) for r in rows] == [
        ("ready", "", "0.3.0"), ("on_hold", "seal_mismatch", None)]


def test_a_matching_version_and_seal_is_ready(db, pki, tariffs):
    import_all(db, pki, [nurse_fse(pki, tariffs, 1, version="0.1.0")])
    office_lots.add_seal(db, "0.1.0", SEAL)
    [lot] = make(db).made
    assert (lot.status, lot.firmware_version, lot.claimed_versions) == ("ready", "0.1.0",
                                                                        ("0.1.0",))


def test_a_reference_seal_is_never_replaced(db):
    office_lots.add_seal(db, "0.1.0", SEAL)
    office_lots.add_seal(db, "0.1.0", SEAL)  # the same again: nothing changes
    with pytest.raises(OfficeDbError) as exc:
        office_lots.add_seal(db, "0.1.0", OTHER_SEAL)
    assert exc.value.code == "seal_conflict"
    with pytest.raises(OfficeDbError) as exc:
        office_lots.add_seal(db, "0.3.0", SEAL)
    assert exc.value.code == "seal_conflict"
    assert [(v, s) for v, s, _ in office_lots.seal_rows(db)] == [("0.1.0", SEAL)]


def test_two_seals_for_one_destination_make_two_lots(db, pki, tariffs):
    import_all(db, pki, [nurse_fse(pki, tariffs, 1), nurse_fse(pki, tariffs, 2, seal=OTHER_SEAL)])
    made = make(db).made
    # one seal per lot: sorted by seal, OTHER_SEAL (00..01) before SEAL (00 01 02 ..)
    assert [(x.lot_number, x.fse_rows, x.seal) for x in made] == [(1, (2,), OTHER_SEAL),
                                                                   (2, (1,), SEAL)]


def test_situation_without_lot_habilitation_is_refused_before_the_pin(db, week):
    spec = cps_spec()
    spec["situations"][0]["sign_lot"] = False

    def no_pin():
        raise AssertionError("the PIN must not be asked")

    report = make_lots(db, cps_connection(spec), no_pin, today=TODAY, now=NOW)
    assert report.made == [] and report.refused == {
        NURSE: f"situation 0 ({NURSE}) of this CPS has no lot habilitation"}
    assert office_lots.lots(db) == []


def test_second_situation_signs_its_own_lots(db, pki, tariffs, week):
    """A card with two situations: the nurse's, and a doctor's one (DOCTOR)."""
    spec = cps_spec()
    spec["situations"].append({**spec["situations"][0], "billing_number": DOCTOR})
    report = make(db, cps_connection(spec))
    assert [(x.billing_number, x.lot_number) for x in report.made] == [
        (NURSE, 1), (NURSE, 2), (DOCTOR, 1)]  # by billing number
    assert report.made[2].signer.endswith("situation 1")
    assert read_lot(report.made[2].lot_file)["signer"]["billing_number"] == DOCTOR


def test_wrong_pin_stores_nothing(db, week):
    conn = cps_connection()
    with pytest.raises(WrongPin) as exc:
        make(db, conn, pin="0000")
    assert exc.value.tries_left == 2
    assert office_lots.lots(db) == [] and len(office_lots.unlotted(db)) == 5


def test_expired_cps_refused(db, week):
    with pytest.raises(CardExpired):
        make(db, cps_connection(cps_spec(valid_until="2026-03-11")))


def test_another_office_pc_made_lots_meanwhile(db, week):
    made = make(db).made  # stored; now replay the same lots as if numbered from nothing
    with pytest.raises(OfficeDbError) as exc:
        office_lots.store_lots(db, made, {})
    assert exc.value.code == "lots_changed"
    assert len(office_lots.lots(db)) == 2


def test_nothing_to_lot(db):
    report = make(db)
    assert report.made == [] and report.fses_waiting == 0
