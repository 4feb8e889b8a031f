"""Group 82's load transaction (BEGIN, COMMIT, ABORT), the FSE range rule at the unit's
boundary, and listing / withdrawing what the office loaded, driven with raw requests
against the real store (docs/protocol.md §8)."""

from __future__ import annotations

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from link.test_security import DocHost, open_session, pair

from .helpers import PROF, sign_fse
from .test_groups import R, W, ask, signed

NIR = {"nir": "1800175123456", "nir_key": "60", "birth_date": "15/01/1980"}
INVOICE = {"invoice_id": "INV-1", "billing_number": PROF, "profession": "60",
           "date_of_care": "2026-03-10", "lines": [{"code": "AMI"}]}
TARIFF = {"professions": {"60": {"label": "Infirmier", "amo_rate": 60}},
          "acts": [{"profession": "60", "code": "AMI", "label": "AMI", "kind": "coefficient",
                    "prices": [{"from": "2024-01-01", "to": None, "unit_price": "3.15"}]}]}
BAD_RECORD = {"err": {"group": 82, "rc": 5}}
BAD_STATE = {"err": {"group": 82, "rc": 4}}


def _invoice(server, invoice_id="INV-1", **changes):
    raw = dict(INVOICE, invoice_id=invoice_id, **changes)
    return signed(server, "invoice", invoice_id, PROF, cbor2.dumps(raw))


def _invoices(server) -> list[str]:
    return [r.record_id for r in server.store.list_records("invoice")]


def test_a_range_the_rule_refuses_leaves_nothing_of_its_load(session):
    # the store holds R1 = 1..100000 for PROF: a range below it is refused at COMMIT
    assert ask(session, W, 82, 4, {}) == {"max": 16 * 1024 * 1024}
    assert ask(session, W, 82, 0, {"items": [_invoice(session)]}) == {"n": 1}
    assert ask(session, W, 82, 2, {"ranges": [["R-low", PROF, 1, 50]]}) == {"n": 1}
    assert _invoices(session) == []  # staged, not stored
    assert ask(session, W, 82, 5, {"n": 1, "r": 1}) == BAD_RECORD
    v1 = ask(session, W, 82, 5, {"n": 1, "r": 1}, version=0)
    assert v1["rc"] == 6  # the transaction ended with the refusal: BAD_STATE now
    assert _invoices(session) == []
    assert [r[0] for r in session.store.fse_ranges()] == ["R1"]


def test_commit_stores_records_and_ranges_together(session):
    ask(session, W, 82, 4, {})
    ask(session, W, 82, 0, {"items": [_invoice(session), _invoice(session, "INV-2")]})
    ask(session, W, 82, 2, {"ranges": [["R2", PROF, 100_001, 100_500]]})
    assert ask(session, W, 82, 5, {"n": 2, "r": 1}) == {"n": 3}
    assert _invoices(session) == ["INV-1", "INV-2"]
    assert ("R2", PROF, 100_001, 100_500) in session.store.fse_ranges()
    assert ask(session, W, 82, 5, {"n": 0, "r": 0}) == BAD_STATE  # no transaction left


def test_a_count_the_unit_did_not_receive_refuses_the_commit(session):
    ask(session, W, 82, 4, {})
    ask(session, W, 82, 0, {"items": [_invoice(session)]})
    assert ask(session, W, 82, 5, {"n": 2, "r": 0}) == BAD_STATE  # one BATCH was lost
    assert _invoices(session) == []


def test_abort_and_a_new_session_drop_what_was_staged(session):
    ask(session, W, 82, 4, {})
    ask(session, W, 82, 0, {"items": [_invoice(session)]})
    assert ask(session, W, 82, 6, {}) == {}
    assert ask(session, W, 82, 5, {"n": 1, "r": 0}) == BAD_STATE
    ask(session, W, 82, 4, {})
    ask(session, W, 82, 0, {"items": [_invoice(session)]})
    host = DocHost()  # another office pairs and opens its own session
    begun = pair(session, host, 20.0)
    open_session(session, host, begun["ukx"], 30.0)
    assert ask(session, W, 82, 5, {"n": 1, "r": 0}) == BAD_STATE
    assert _invoices(session) == []


def test_invoices_are_checked_against_a_tariff_in_the_same_load(session):
    tariff = signed(session, "tariff", "current", None, cbor2.dumps(TARIFF))
    ask(session, W, 82, 4, {})
    unknown_act = _invoice(session, "INV-X", lines=[{"code": "IFD"}])
    ask(session, W, 82, 0, {"items": [tariff, _invoice(session), unknown_act]})
    reply = ask(session, W, 82, 5, {"n": 3, "r": 0}, version=0)
    assert reply["rc"] == 3 and reply["rsn"] == ("invoice INV-X: field lines[0].code invalid "
                                                 "(tariff_unknown)")
    assert session.store.list_records("tariff") == [] and _invoices(session) == []


def test_without_begin_each_request_stores_at_once_as_before(session):
    assert ask(session, W, 82, 0, {"items": [_invoice(session)]}) == {"n": 1}
    assert _invoices(session) == ["INV-1"]


def test_the_range_rule_holds_without_a_transaction_too(session):
    # issue 10 item 6: with 100-200 in use, 1-50 was accepted and the next FSE got number 1
    other = "555555555"
    assert ask(session, W, 82, 2, {"ranges": [["A", other, 100, 200]]}) == {"n": 1}
    reply = ask(session, W, 82, 2, {"ranges": [["B", other, 1, 50]]}, version=0)
    assert reply["rc"] == 3 and reply["rsn"] == ("fse_range B: field first invalid "
                                                 "(range_not_after)")
    assert ask(session, W, 82, 2, {"ranges": [["A", other, 100, 200]]}) == {"n": 1}  # same: no-op
    assert ask(session, W, 82, 2, {"ranges": [["C", other, 201, 300]]}) == {"n": 1}
    assert ask(session, R, 82, 9, {})["ranges"] == [
        ["R1", PROF, 1, 100_000], ["A", other, 100, 200], ["C", other, 201, 300]]
    assert session.store.next_fse_number(other) == 100


def test_list_and_withdraw_what_was_loaded(session):
    patient = signed(session, "patient", "P-1", None, cbor2.dumps({"patient_id": "P-1", **NIR}))
    ask(session, W, 82, 0, {"items": [_invoice(session), _invoice(session, "INV-2"), patient]})
    session.store.lock()  # the office's ids are sealed at rest: listing needs the CPS
    assert ask(session, R, 82, 7, {}) == {"err": {"group": 82, "rc": 1}}  # LOCKED
    session.store.unlock(session.proof)
    listed = ask(session, R, 82, 7, {})
    assert [r[:4] for r in listed["recs"]] == [["invoice", "INV-1", PROF, "loaded"],
                                               ["invoice", "INV-2", PROF, "loaded"],
                                               ["patient", "P-1", None, "loaded"]]
    assert listed["more"] is False
    after = ask(session, R, 82, 7, {"after": ["invoice", "INV-2"]})
    assert [r[1] for r in after["recs"]] == ["P-1"]
    # one unknown id refuses the whole withdrawal
    gone = ask(session, W, 82, 8, {"recs": [["invoice", "INV-1"], ["invoice", "NOPE"]]})
    assert gone == {"err": {"group": 82, "rc": 3}} and _invoices(session) == ["INV-1", "INV-2"]
    assert ask(session, W, 82, 8, {"recs": [["invoice", "INV-1"]]}) == {"n": 1}
    assert _invoices(session) == ["INV-2"]


def test_an_invoice_a_signed_fse_used_cannot_be_withdrawn(session):
    ask(session, W, 82, 0, {"items": [_invoice(session)]})
    n = session.store.next_fse_number(PROF)
    session.store.signed_fse("F-used", PROF, n, sign_fse(Ed25519PrivateKey.generate(), n),
                             invoice_id="INV-1")
    assert ask(session, W, 82, 8, {"recs": [["invoice", "INV-1"]]}) == BAD_STATE
    assert _invoices(session) == ["INV-1"]
