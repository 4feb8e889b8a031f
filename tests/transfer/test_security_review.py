"""Security review of the data groups: patient data stays out of logs, and every
unload command (chunked and resumed pulls included) needs the unit unlocked."""

from __future__ import annotations

import cbor2

from firmware.office_link.events import LinkError

from .helpers import PROF
from .test_groups import R, W, ask, signed

NIR = "180017512345"  # 12 digits: one short of a NIR, so the invoice is refused
BIRTH = "15/01/1980"


def test_a_refused_load_names_the_field_but_never_logs_the_patient_value(session):  # noqa: F811
    invoice = {"invoice_id": "A", "billing_number": PROF, "profession": "60",
               "date_of_care": "2026-03-10", "lines": [{"code": "AMI"}],
               "patient": {"nir": NIR, "nir_key": "60", "birth_date": BIRTH}}
    from link.helpers import exchange, raw_request

    reply, events = exchange(session, raw_request(W, 82, 0, {"items": [
        signed(session, "invoice", "A", PROF, cbor2.dumps(invoice))]}, version=0), 20.0)
    assert reply.body["rc"] == 3
    assert "patient.nir" in reply.body["rsn"]  # the office still learns which field
    logged = [e for e in events if isinstance(e, LinkError)]
    assert logged and all(NIR not in e.detail and NIR not in e.code for e in logged)
    assert NIR not in reply.body["rsn"]
    assert session.store.list_records("invoice") == []


def test_locked_unit_refuses_every_unload_command_of_both_groups(session):  # noqa: F811
    fse_id = next(iter(session.fses))
    first = ask(session, R, 84, 2, {})  # unlocked: a pull starts
    assert first["recs"]
    session.store.lock()
    for group in (83, 84):
        for op, command, body in [(R, 1, {}), (R, 1, {"after": fse_id}), (R, 2, {}),
                                  (R, 2, {"id": fse_id, "off": 100}),  # a resumed pull
                                  (W, 3, {"acks": [[fse_id, "IMP-1"]]})]:
            assert ask(session, op, group, command, body) == {"err": {"group": group, "rc": 1}}
    assert {f.status for f in session.store.list_fses()} <= {"signed", "offered"}
    assert all(f.status != "imported" for f in session.store.list_fses())
