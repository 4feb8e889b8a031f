"""The whole-day demo (host_tools.demo.run_day) leaves the traces the day's script
implies, counted here by hand from that script; fetching again after a restart
imports only what is new; no trace carries a key, PIN or patient data."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from board.sim.pki import TestPki
from board.sim.unit import SimUnit
from firmware.visit import VisitError
from host_tools.cli import main as tla
from host_tools.demo import CPS_CARD, CPS_PIN, run_day
from host_tools.demo_round import PRESCRIPTION
from host_tools.office_db import OfficeDb

# The day: enrol (CPS + PIN) then unlock; PAUL and EMMA secured, LUCAS degraded, one
# secured visit made on the spot, one Vitale read only. So: 2 CPS reads and PIN checks,
# CPS signatures = enrol proof + unlock proof + 4 FSEs = 6, Vitale reads = 2 + 1 + 1 = 4,
# Vitale signatures = 3 secured FSEs, 4 FSEs built, committed and signed.
EXPECTED_VISIT = {
    ("card.cps.connect", "ok"): 2, ("card.cps.read", "ok"): 2,
    ("card.cps.verify_pin", "ok"): 2, ("card.cps.sign", "ok"): 6,
    ("card.vitale.connect", "ok"): 4, ("card.vitale.read", "ok"): 4,
    ("card.vitale.sign", "ok"): 3,
    ("fse.build", "ok"): 4, ("fse.commit", "ok"): 4, ("visit.sign", "ok"): 4,
    ("visit.enrol", "ok"): 1, ("visit.unlock", "ok"): 1, ("visit.read_vitale_only", "ok"): 1,
    # one pairing; sessions of tla pair, clock set, load, unload, unload again (the
    # traces fetch's own session closes after the fetch)
    ("link.pairing", "ok"): 1, ("link.session", "ok"): 5,
}
LINK_OPS = {"link.load.info", "link.load.fse_ranges", "link.load.begin", "link.load.batch",
            "link.load.ranges", "link.load.commit", "link.fse.device_info", "link.fse.list",
            "link.fse.pull", "link.fse.ack", "link.vitale_reads.list",
            "link.vitale_reads.pull", "link.vitale_reads.ack"}
CODE = re.compile(r"[a-z0-9_.]{1,48}")


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    state = tmp_path_factory.mktemp("day")
    lines: list[str] = []
    result = run_day(state, lines.append)
    with OfficeDb(result.office_db) as db:
        traces = db.traces()
        fses = db.fses()
    return state, result, lines, traces, fses


def test_the_day_records_the_expected_operations(day):
    _, result, _, traces, _ = day
    assert len({t["unit_id"] for t in traces}) == 1
    counts = Counter((t["operation"], t["outcome"]) for t in traces)
    link_requests = {op for op, _ in counts if op in LINK_OPS}
    assert {k: v for k, v in counts.items() if k[0] not in LINK_OPS} == EXPECTED_VISIT
    assert link_requests == LINK_OPS  # every data-group command of load and unload
    assert all(outcome == "ok" for (_, outcome) in counts)  # nothing failed that day
    assert counts[("link.fse.device_info", "ok")] == 2  # two unloads
    assert [t["trace_id"] for t in traces] == list(range(1, len(traces) + 1))
    assert all(t["duration_s"] >= 0 for t in traces)


def test_the_demo_prints_the_report(day):
    _, _, lines, traces, _ = day
    head = next(line for line in lines if line.startswith("9. Traces:"))
    assert f"{len(traces)} traces received, {len(traces)} new" in head
    row = next(line for line in lines if line.split()[:1] == ["visit.sign"])
    assert row.split()[1:3] == ["4", "0"]
    assert lines.index(head) < lines.index(row)


def _forbidden(fses, reads) -> set[str]:
    """Patient and professional data, card serials and the PIN: never in a trace."""
    words = {CPS_PIN, PRESCRIPTION["prescriber_id"], "essai", "paul", "emma", "lucas",
             "nicolas", "9100000001", *reads}
    for f in fses:
        words |= {f["nir"], f["nir"][:13], f["billing_number"], f["fse_id"],
                  str(f["total_cents"])}
        words |= {w.lower() for w in f["patient_name"].split()}
    return {w.lower() for w in words}


def _assert_clean(rows, forbidden):
    for op, outcome in rows:
        assert CODE.fullmatch(op) and CODE.fullmatch(outcome)
        for word in forbidden:
            assert word not in op and word not in outcome, (op, outcome, word)


def test_fetch_again_imports_only_the_new_traces_and_none_holds_patient_data(day, tmp_path):
    state, result, _, before, fses = day
    pki = TestPki.create()
    keys = ["--keys", str(state / "office" / "host_keys.json"), "--timeout", "10"]
    with SimUnit(state / "unit", pki=pki) as sim:  # the same unit, started again
        sim.insert("ps", CPS_CARD)
        with pytest.raises(VisitError) as wrong:
            sim.terminal_call(lambda t: t.unlock("0000"))
        assert wrong.value.code == "pin_wrong"
        sim.terminal_call(lambda t: t.unlock(CPS_PIN))
        fetch = [*keys, "traces", "--port", sim.path, "--db", str(result.office_db), "--json"]
        for _ in range(2):
            assert tla(fetch) == 0
        unit_rows = sim.call(lambda: [(t.trace_id, t.operation, t.outcome)
                                      for t in sim.unit.store.traces()])
    with OfficeDb(result.office_db) as db:
        after = db.traces()
    ids = [t["trace_id"] for t in after]
    assert ids == list(range(1, len(after) + 1))  # each trace once, none missing
    assert after[:len(before)] == before  # what was imported stays as it was
    new = [(t["operation"], t["outcome"]) for t in after[len(before):]]
    # first the demo's own fetch session closing, then the wrong PIN and the good one
    assert new[0] == ("link.session", "ok")
    assert ("card.cps.verify_pin", "pin_wrong") in new and ("visit.unlock", "pin_wrong") in new
    assert new.count(("visit.unlock", "ok")) == 1
    # the second fetch got exactly the first fetch's session close; the unit has one
    # more trace (the second fetch's session) that the office will get next time
    assert new[-1] == ("link.session", "ok") and new[-2] != ("link.session", "ok")
    assert [(i, o, r) for i, o, r in unit_rows[:-1]] == [
        (t["trace_id"], t["operation"], t["outcome"]) for t in after]
    assert unit_rows[-1][1:] == ("link.session", "ok")
    forbidden = _forbidden(fses, result.vitale_reads)
    assert len(forbidden) > 10
    _assert_clean([(o, r) for _, o, r in unit_rows], forbidden)


def test_fetch_json_counts(day, tmp_path, capsys):
    """A fresh office database: everything the unit holds is new, once."""
    state, result, _, before, _ = day
    keys = ["--keys", str(state / "office" / "host_keys.json"), "--timeout", "10"]
    db = tmp_path / "fresh.db"
    with SimUnit(state / "unit", pki=TestPki.create()) as sim:
        held = sim.call(lambda: len(sim.unit.store.traces()))
        assert tla([*keys, "traces", "--port", sim.path, "--db", str(db), "--json"]) == 0
        first = json.loads(capsys.readouterr().out)
        assert tla([*keys, "traces", "--port", sim.path, "--db", str(db), "--json"]) == 0
        second = json.loads(capsys.readouterr().out)
    assert first["received"] == first["imported"] == first["last_id"] == held
    assert second == {"unit_id": first["unit_id"], "received": 1, "imported": 1,
                      "last_id": held + 1}  # the first fetch's session, closed after it
