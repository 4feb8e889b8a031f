"""Several office PCs sharing one PostgreSQL office database (a real server, started by
the tests): two unload two simulated units at the same time while two more import the
same FSEs again (from a copy), in small overlapping batches; two make lots of one
professional at the same time. Every FSE is stored once, none is lost, the units hold
the import ids the database holds, and no lot number is used twice."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from datetime import date

import pytest
from billing.conftest import SEAL
from transfer.helpers import SimUnit, cards, pair_host, run

from firmware.billing import lots as lot_rules
from firmware.billing.verify import FseVerifier
from host_tools import importer, lot_maker, office_lots
from host_tools.importer import unload
from host_tools.office_db import NewFse, OfficeDb, OfficeDbError
from host_tools.unit_link import client as link
from host_tools.unit_link.keystore import HostKeys

from .helpers import DOCTOR, NURSE, NURSE_PIN, cps_connection, cps_spec, import_all, nurse_fse

PER_UNIT = 24


def _unload_into(url: str, unit: SimUnit, keys: HostKeys) -> importer.UnloadReport:
    async def go():
        with OfficeDb(url) as db:
            async with link.connect(unit.path, 5.0) as client:
                await link.open_session(client, keys)
                return await unload(client, db, cards().trust)
    return asyncio.run(asyncio.wait_for(go(), 120))


def _reimport(url: str, unit: SimUnit, batch: int, reverse: bool) -> list:
    """Another office PC importing the same FSEs from a copy, ``batch`` at a time."""
    verifier = FseVerifier(cards().trust, {unit.unit_id: unit.device_public})
    items = sorted(unit.fses.items(), reverse=reverse)
    results = []
    with OfficeDb(url) as db:
        for start in range(0, len(items), batch):
            chunk = []
            for fse_id, cose in items[start:start + batch]:
                v = verifier.verify(cose)
                chunk.append(NewFse(fse_id, cose, v.payload, v.seal))
            results += db.import_fses(unit.unit_id, chunk)
    return results


def _threads(*targets):
    """Start every target at once (a barrier), wait for all, re-raise the first error."""
    barrier = threading.Barrier(len(targets))
    out: list = [None] * len(targets)
    errors: list[BaseException] = []

    def wrap(i, fn):
        barrier.wait()
        try:
            out[i] = fn()
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(i, fn)) for i, fn in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    if errors:
        raise errors[0]
    return out


@pytest.fixture
def units(tmp_path):
    made = [SimUnit(tmp_path, PER_UNIT, db_name="u1.db", unit_id="SIM-0001"),
            SimUnit(tmp_path, PER_UNIT, db_name="u2.db", unit_id="SIM-0002",
                    first_number=500_001)]
    for unit in made:
        unit.device_public = _public(unit)
    yield made
    for unit in made:
        unit.stop()


def _public(unit: SimUnit) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return unit.device_key.public_key().public_bytes(serialization.Encoding.Raw,
                                                     serialization.PublicFormat.Raw)


def test_two_office_pcs_unload_two_units_into_one_postgresql_database(
        tmp_path, pg_url, units, monkeypatch):
    monkeypatch.setattr(importer, "IMPORT_BATCH", 3)  # many small transactions interleave
    OfficeDb(pg_url).close()  # the schema, as the first tla run makes it
    keys = [run(pair_host(u.path, tmp_path / f"keys{i}.json")) for i, u in enumerate(units)]
    reports = _threads(
        lambda: _unload_into(pg_url, units[0], keys[0]),
        lambda: _unload_into(pg_url, units[1], keys[1]),
        lambda: _reimport(pg_url, units[0], 5, reverse=True),
        lambda: _reimport(pg_url, units[1], 1, reverse=False))
    unloads, copies = reports[:2], reports[2:]
    with OfficeDb(pg_url) as db:
        rows = db.fses()
        stored = {(r["unit_id"], r["fse_id"]): db.fse(r["import_id"])[1] for r in rows}
    expected = {(u.unit_id, fid): cose for u in units for fid, cose in u.fses.items()}
    assert len(rows) == 2 * PER_UNIT and stored == expected  # each once, byte for byte
    for unit, report, copy in zip(units, unloads, copies, strict=True):
        assert report.rejected == []
        assert sorted(report.imported + report.already) == sorted(unit.fses)
        assert report.acked == PER_UNIT
        new_by_copy = sum(not r.duplicate for r in copy)
        assert all(not isinstance(r, OfficeDbError) for r in copy)
        assert len(report.imported) + new_by_copy == PER_UNIT  # stored once, by one of them
        ids = {r["fse_id"]: r["import_id"] for r in rows if r["unit_id"] == unit.unit_id}
        assert unit.statuses() == {fid: ("imported", imp) for fid, imp in ids.items()}
    assert [r["fse_id"] for r in rows if r["acked_at"] is None] == []


def test_conflicting_copies_at_the_same_time_keep_the_first(pg_url, pki, tariffs):
    """Two PCs import one identity with different bytes at once: one row, one refusal."""
    a, b = nurse_fse(pki, tariffs, 1), nurse_fse(pki, tariffs, 1, tiers_payant="amo")
    OfficeDb(pg_url).close()

    def put(fse):
        with OfficeDb(pg_url) as db:
            try:
                return import_all(db, pki, [fse])
            except OfficeDbError as exc:
                return exc.code

    results = _threads(lambda: put(a), lambda: put(b))
    assert sorted(map(str, results), key=len)[0] == "fse_conflict"
    with OfficeDb(pg_url) as db:
        assert len(db.fses()) == 1


def _make(url: str, spec=None, pin=NURSE_PIN):
    with OfficeDb(url) as db:
        try:
            return lot_maker.make_lots(db, cps_connection(spec), lambda: pin,
                                       today=date(2026, 3, 12), now=1773300000.0)
        except OfficeDbError as exc:
            return exc.code


def test_two_lots_make_at_once_never_reuse_a_lot_number(pg_url, pki, tariffs, monkeypatch):
    with OfficeDb(pg_url) as db:
        import_all(db, pki, [nurse_fse(pki, tariffs, n, regime="01" if n % 2 else "02",
                                       caisse="341" if n % 2 else "751") for n in range(1, 9)]
                   + [nurse_fse(pki, tariffs, n, billing=DOCTOR) for n in range(1, 4)])
        office_lots.add_seal(db, "0.1.0", SEAL)
    # both PCs have read the counters and signed before either stores
    barrier = threading.Barrier(3)
    real_sign = lot_rules.sign_lot
    signed = Counter()

    def sign_then_wait(payload, situation, signer):
        data = real_sign(payload, situation, signer)
        signed[threading.get_ident()] += 1
        if signed[threading.get_ident()] == 1:
            barrier.wait(60)
        return data

    monkeypatch.setattr(lot_maker.lot_rules, "sign_lot", sign_then_wait)
    doctor = cps_spec("cps_medecin")
    nurse_a, nurse_b, doc = _threads(lambda: _make(pg_url), lambda: _make(pg_url),
                                     lambda: _make(pg_url, doctor, "1234"))
    outcomes = sorted([nurse_a, nurse_b], key=lambda r: isinstance(r, str))
    assert outcomes[1] == "lots_changed"  # the second to store changed nothing
    assert [(x.lot_number, len(x.fse_rows)) for x in outcomes[0].made] == [(1, 4), (2, 4)]
    assert [(x.billing_number, x.lot_number) for x in doc.made] == [(DOCTOR, 1)]
    with OfficeDb(pg_url) as db:
        numbers = [(r["billing_number"], r["lot_number"]) for r in office_lots.lots(db)]
        assert sorted(numbers) == [(NURSE, 1), (NURSE, 2), (DOCTOR, 1)]
        assert office_lots.last_lot_numbers(db) == {NURSE: 2, DOCTOR: 1}
        assert office_lots.unlotted(db) == []
    monkeypatch.setattr(lot_maker.lot_rules, "sign_lot", real_sign)
    again = _make(pg_url)  # the loser runs again: nothing left to lot, nothing reused
    assert again.made == []
