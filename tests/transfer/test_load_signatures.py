"""Group 82 refuses any record not signed by the session's paired office.

Frames are built by hand (tests/link/helpers.raw_request); load messages are built
field by field from docs/protocol.md §8 (tests/store/test_load_integrity.message)
and signed with `cryptography`'s Ed25519 directly.
"""

from __future__ import annotations

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from link.test_security import DocHost, open_session, pair
from store.test_load_integrity import message

from firmware.store import UntrustedOffice

from .helpers import PROF
from .test_groups import R, W, ask

INVOICE = {"invoice_id": "INV-1", "billing_number": PROF, "profession": "60",
           "date_of_care": "2026-03-10", "lines": [{"code": "AMI"}]}


def item(server, rid: str, payload: bytes, key: Ed25519PrivateKey, unit_id: bytes | None = None,
         kind: str = "invoice", prof: str | None = PROF) -> list:
    sig = key.sign(message(unit_id or server.store.unit_id, kind, rid, prof, payload))
    return [kind, rid, prof, payload, sig]


def test_info_gives_the_unit_id_that_signatures_bind(session):  # noqa: F811
    assert ask(session, R, 82, 3, {}) == {"unit": session.store.unit_id}


def test_a_hand_signed_batch_from_the_paired_office_is_stored_and_readable(session):  # noqa: F811
    session.store.lock()
    body = cbor2.dumps(INVOICE)
    assert ask(session, W, 82, 0, {"items": [item(session, "INV-1", body, session.host.sign)]}) \
        == {"n": 1}
    session.store.unlock(session.proof)
    assert session.store.get_invoice("INV-1") == body


@pytest.mark.parametrize("how", ["unpaired key", "other unit", "payload swapped", "no signature"])
def test_a_batch_not_signed_by_the_session_host_is_refused_whole(session, how):  # noqa: F811
    a = cbor2.dumps(INVOICE)
    b = cbor2.dumps(dict(INVOICE, invoice_id="INV-2", lines=[{"code": "AMI", "quantity": 9}]))
    good = item(session, "INV-1", a, session.host.sign)
    if how == "unpaired key":
        bad = item(session, "INV-2", b, Ed25519PrivateKey.generate())
    elif how == "other unit":
        bad = item(session, "INV-2", b, session.host.sign, unit_id=b"\x01" * 16)
    elif how == "payload swapped":
        bad = item(session, "INV-2", a, session.host.sign)
        bad[3] = b  # INV-2 signed over payload a, carrying payload b
    else:
        bad = ["invoice", "INV-2", PROF, b, b""]
    items = [good, bad]
    assert ask(session, W, 82, 0, {"items": items}) == {"err": {"group": 82, "rc": 10}}
    v1 = ask(session, W, 82, 0, {"items": items}, version=0)
    assert v1["rc"] == 11 and v1["rsn"].startswith("bad_office_signature")
    assert session.store.list_records("invoice") == []


def test_a_chunked_record_with_a_wrong_signature_is_refused_when_complete(session):  # noqa: F811
    big = cbor2.dumps({"serials": [f"{i:010d}" for i in range(700)]})
    forged = Ed25519PrivateKey.generate().sign(
        message(session.store.unit_id, "opposition", "current", None, big))
    off = 0
    answers = []
    while off < len(big):
        body = {"kind": "opposition", "id": "current", "off": off, "size": len(big),
                "d": big[off:off + 3000], "sig": forged}
        answer = ask(session, W, 82, 1, body)
        answers.append(answer)
        off = answer.get("next", len(big))
    assert answers[-1] == {"err": {"group": 82, "rc": 10}}
    assert all("next" in a for a in answers[:-1])
    assert session.store.list_records("opposition") == []


def test_an_office_paired_while_locked_loads_but_is_refused_at_read(session):  # noqa: F811
    session.store.lock()
    second = DocHost("second office")
    begun = pair(session, second, 20.0)
    open_session(session, second, begun["ukx"], 21.0)
    body = cbor2.dumps(INVOICE)
    assert ask(session, W, 82, 0, {"items": [item(session, "INV-1", body, second.sign)]}) \
        == {"n": 1}
    session.store.unlock(session.proof)
    with pytest.raises(UntrustedOffice) as refused:
        session.store.get_invoice("INV-1")
    assert refused.value.message_fr == "Cabinet non reconnu"


def test_the_office_tool_explains_a_refused_signature_in_one_line():
    import cbor2
    from smp import header as smphdr

    from host_tools import transfer_messages
    from host_tools.unit_link.client import LinkRefused, check

    _, error_v2 = transfer_messages._errors(82)
    body = cbor2.dumps({"err": {"group": 82, "rc": 10}})  # BAD_SIGNATURE, docs/protocol.md §8
    header = smphdr.Header(op=smphdr.OP.WRITE_RSP, version=smphdr.Version.V2,
                           flags=smphdr.Flag(0), length=len(body), group_id=82, sequence=0,
                           command_id=0)
    with pytest.raises(LinkRefused) as refused:
        check(error_v2.loads(bytes(header) + body))
    assert refused.value.code == "group82.bad_signature"
    assert "paired office" in str(refused.value) and "tla pair" in str(refused.value)
