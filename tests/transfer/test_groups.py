"""Data groups 82-85 driven with raw bytes (sans-I/O): access rules, error forms,
resumable pulls, idempotent acknowledgements, malformed frames and fuzzed bodies.

Requests are built by hand from the header layout (tests/link/helpers.raw_request),
replies parsed by hand; the store is the real one, in this thread.
"""

from __future__ import annotations

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from link.helpers import exchange, raw_request

from firmware.office_link.chunks import DataErr
from firmware.office_link.events import LinkError
from firmware.office_link.framing import encode_packet
from firmware.store.office_sig import sign_load

from .helpers import PROF, UNIT_ID

R, W = 0, 2
BUF = 4096


def signed(server, kind, record_id, prof, payload, key=None):
    """A BATCH item signed as the paired office signs it (docs/protocol.md §6)."""
    sig = sign_load(key or server.host.sign, server.store.unit_id, kind, record_id, prof, payload)
    return [kind, record_id, prof, payload, sig]


def ask(server, op, group, command, body, version=1):
    reply, events = exchange(server, raw_request(op, group, command, body, version=version), 11.0)
    assert reply is not None
    return reply.body


def test_everything_needs_a_session(unit):
    for op, group, command in [(R, 84, 0), (R, 84, 1), (R, 84, 2), (W, 84, 3), (W, 82, 0),
                               (W, 82, 1), (W, 82, 2), (R, 83, 1), (R, 85, 0)]:
        assert ask(unit, op, group, command, {}) == {"rc": 11, "rsn": "pair and open a session first"}
    assert [f.status for f in unit.store.list_fses()] == ["signed"] * 3


def test_unknown_commands_of_the_new_groups_are_not_supported(session):
    for op, group, command in [(W, 84, 0), (R, 84, 9), (R, 82, 0), (W, 85, 0), (R, 86, 0)]:
        assert ask(session, op, group, command, {})["rc"] == 8


def test_device_identity_and_locked_unit_refuses_patient_data(session):
    assert ask(session, R, 84, 0, {}) == {"unit_id": UNIT_ID, "key": session.public}
    session.store.lock()
    for op, command, body in [(R, 1, {}), (R, 2, {}), (W, 3, {"acks": []})]:
        assert ask(session, op, 84, command, body) == {"err": {"group": 84, "rc": 1}}
        # a v1 client gets the general code (EACCESSDENIED) with the reason
        assert ask(session, op, 84, command, body, version=0)["rc"] == 11
    assert ask(session, R, 83, 1, {}) == {"err": {"group": 83, "rc": 1}}
    assert [f.status for f in session.store.list_fses()] == ["signed"] * 3
    # traces hold no patient data: still readable
    assert ask(session, R, 85, 0, {})["traces"] == []


def test_pull_resumes_by_id_and_offset_and_offers_only_complete_fses(session):
    ids = list(session.fses)
    first = ask(session, R, 84, 2, {})
    got: dict[str, bytearray] = {}
    for rid, off, _total, data in first["recs"]:
        assert off == len(got.setdefault(rid, bytearray()))
        got[rid] += data
    assert not first["end"]  # 3 FSEs of ~3.9 kB do not fit a 4 kB buffer
    rid, off = first["recs"][-1][0], first["recs"][-1][1] + len(first["recs"][-1][3])
    statuses = {f.fse_id: f.status for f in session.store.list_fses()}
    assert statuses[ids[-1]] == "signed"
    while True:
        answer = ask(session, R, 84, 2, {"id": rid, "off": off})
        for piece in answer["recs"]:
            assert piece[1] == len(got.setdefault(piece[0], bytearray()))
            got[piece[0]] += piece[3]
            rid, off = piece[0], piece[1] + len(piece[3])
        if answer["end"]:
            break
    assert {k: bytes(v) for k, v in got.items()} == session.fses
    assert {f.status for f in session.store.list_fses()} == {"offered"}
    # asking again for a piece already received answers the same bytes (idempotent)
    again = ask(session, R, 84, 2, {"id": ids[0], "off": 100})
    assert again["recs"][0][3][:50] == session.fses[ids[0]][100:150]


def test_ack_is_durable_idempotent_and_refuses_another_import_id(session):
    ids = list(session.fses)
    assert ask(session, W, 84, 3, {"acks": [[ids[0], "imp-1"]]}) == {"n": 1}
    assert ask(session, W, 84, 3, {"acks": [[ids[0], "imp-1"]]}) == {"n": 1}
    assert ask(session, W, 84, 3, {"acks": [[ids[0], "imp-2"]]}) == {"err": {"group": 84, "rc": 4}}
    assert ask(session, W, 84, 3, {"acks": [["nope", "imp-3"]]}) == {"err": {"group": 84, "rc": 3}}
    info = session.store.fse_info(ids[0])
    assert (info.status, info.import_ack) == ("imported", "imp-1")
    listed = ask(session, R, 84, 1, {})
    assert [r[0] for r in listed["recs"]] == ids[1:] and listed["more"] is False


def test_load_batch_chunk_and_ranges_work_while_locked(session):
    session.store.lock()
    invoice = {"invoice_id": "INV-9", "billing_number": PROF, "profession": "60",
               "date_of_care": "2026-03-10", "lines": [{"code": "AMI"}]}
    items = [signed(session, "invoice", "INV-9", PROF, cbor2.dumps(invoice)),
             signed(session, "patient", "P-1", None, cbor2.dumps(
                 {"patient_id": "P-1", "nir": "1800175123456", "nir_key": "60",
                  "birth_date": "15/01/1980"}))]
    assert ask(session, W, 82, 0, {"items": items}) == {"n": 2}
    big = cbor2.dumps({"serials": [f"{i:010d}" for i in range(700)]})  # > one 4 kB frame
    sig = signed(session, "opposition", "current", None, big)[4]
    off = 0
    while off < len(big):
        body = {"kind": "opposition", "id": "current", "off": off, "size": len(big),
                "d": big[off:off + 3000], "sig": sig}
        off = ask(session, W, 82, 1, body)["next"]
    bad = {"kind": "opposition", "id": "current", "off": 5, "size": 10, "d": b"x", "sig": sig}
    assert ask(session, W, 82, 1, bad) == {"err": {"group": 82, "rc": 7}}
    assert ask(session, W, 82, 2, {"ranges": [["R2", "999999999", 1, 50]]}) == {"n": 1}
    assert ask(session, W, 82, 2, {"ranges": [["R3", "999999999", 40, 60]]})["err"]["group"] == 82
    session.store.unlock(session.proof)
    assert cbor2.loads(session.store.get_record("invoice", "INV-9")) == invoice
    assert session.store.get_record("opposition", "current") == big
    assert session.store.fse_numbers_left("999999999") == 50


def test_load_refuses_an_invalid_invoice_and_stores_nothing_of_its_batch(session):
    good = {"invoice_id": "A", "billing_number": PROF, "profession": "60",
            "date_of_care": "2026-03-10", "lines": [{"code": "AMI"}]}
    bad = dict(good, invoice_id="B", lines=[])
    items = [signed(session, "invoice", "A", PROF, cbor2.dumps(good)),
             signed(session, "invoice", "B", PROF, cbor2.dumps(bad))]
    assert ask(session, W, 82, 0, {"items": items}) == {"err": {"group": 82, "rc": 5}}
    v1 = ask(session, W, 82, 0, {"items": items}, version=0)
    assert v1["rc"] == 3 and "lines" in v1["rsn"]
    assert session.store.list_records("invoice") == []


def test_corrupted_and_oversized_frames_are_dropped_without_a_reply(session):
    packet = raw_request(R, 84, 1, {})
    frame = bytearray(encode_packet(packet))
    frame[10] ^= 0x01  # one base64 character changed: CRC (or base64) fails
    actions = session.receive_data(bytes(frame), 12.0)
    assert all(isinstance(a, LinkError) for a in actions) and actions
    huge = raw_request(W, 82, 0, {"items": [["patient", "P", None, bytes(BUF), bytes(64)]]})
    actions = session.receive_data(encode_packet(huge), 12.0)
    codes = [a.code for a in actions]
    assert codes[0] == "frame.too_large" and set(codes[1:]) == {"frame.orphan_continuation"}
    assert session.store.list_records("patient") == []
    assert ask(session, R, 84, 0, {})["unit_id"] == UNIT_ID  # the link carries on


_cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.text(max_size=70)
    | st.binary(max_size=300),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=6), inner, max_size=5),
    max_leaves=20)
_keys = st.sampled_from(["id", "off", "after", "acks", "items", "kind", "size", "d", "prof",
                         "ranges", "recs", "n", "r", "x"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from([(R, 84, 0), (R, 84, 1), (R, 84, 2), (W, 84, 3), (R, 83, 1),
                                (R, 83, 2), (W, 83, 3), (W, 82, 0), (W, 82, 1), (W, 82, 2),
                                (W, 82, 4), (W, 82, 5), (W, 82, 6), (R, 82, 7), (W, 82, 8),
                                (R, 85, 0)]),
       body=st.dictionaries(_keys, _cbor_values, max_size=4))
def test_fuzzed_request_bodies_get_a_clear_answer_never_an_internal_error(session, command, body):
    op, group, cmd = command
    reply, events = exchange(session, raw_request(op, group, cmd, body), 11.0)
    assert reply is not None and isinstance(reply.body, dict)
    assert not any(getattr(e, "code", "") == "smp.internal" for e in events), events
    if "rc" in reply.body:
        assert reply.body["rc"] in (3, 8) and reply.body.get("rsn")
    elif "err" in reply.body:
        assert reply.body["err"]["group"] == group and 1 <= reply.body["err"]["rc"] <= 9


def test_traces_page_through_every_trace_once_in_order(session):
    for i in range(300):
        session.store.add_trace("card.read", i / 1000, "ok" if i % 7 else "timeout")
    seen, after, answers = [], 0, 0
    while True:
        answer = ask(session, R, 85, 0, {"after": after})
        answers += 1
        seen += answer["traces"]
        if not answer["more"]:
            break
        after = answer["traces"][-1][0]
    assert answers > 1  # 300 traces do not fit one 4 kB answer
    assert [t[0] for t in seen] == sorted({t[0] for t in seen}) and len(seen) == 300
    assert [t[4] for t in seen].count("timeout") == len([i for i in range(300) if i % 7 == 0])
    assert seen[5][2:4] == ["card.read", 0.005]


@pytest.mark.parametrize("command, body, method", [
    (2, {"ranges": [["R9", PROF, 200_000, 200_010]]}, "load_fse_range"),
    (3, {"acks": [["F1", "imp-1"]]}, "confirm_import"),
])
def test_a_bug_behind_a_data_group_is_an_internal_error_not_the_offices_fault(
        session, caplog, monkeypatch, command, body, method):
    """Issue 10 item 7: an exception that is not the store's own refusal is our bug:
    smp.internal with its traceback in the log, never BAD_RECORD."""
    def broken(*args, **kwargs):
        raise KeyError("a bug of ours")

    monkeypatch.setattr(session.store, method, broken)
    group, op = (82, W) if command == 2 else (84, W)
    with caplog.at_level("ERROR", logger="opentla.link"):
        reply, events = exchange(session, raw_request(op, group, command, body), 11.0)
    assert reply.body == {"rc": 1, "rsn": "internal error"}
    assert LinkError("smp.internal", "KeyError: 'a bug of ours'") in events
    [record] = [r for r in caplog.records if r.name == "opentla.link"]
    assert record.exc_info is not None and record.exc_info[0] is KeyError


def test_a_store_refusal_is_mapped_by_its_type(session):
    """The store's own errors keep their data-group codes (here: a range overlap is
    the office's record breaking a store rule, a duplicate id a state conflict)."""
    assert ask(session, W, 82, 2, {"ranges": [["R2", PROF, 50, 60]]}) == {
        "err": {"group": 82, "rc": DataErr.BAD_RECORD}}
