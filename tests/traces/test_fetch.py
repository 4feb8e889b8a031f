"""Fetching traces: paging over group 85 (the firmware's own TracesGroup over a real
store, small buffer so it pages), resume after an interruption, exactly once per
(unit, trace id), malformed rows refused with nothing stored."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.office_link.group_traces import TracesGroup
from firmware.store import Store
from host_tools.office_db import OfficeDb
from host_tools.traces import TraceRowError, fetch, parse_row
from host_tools.transfer_messages import TracesRead

Response = TracesRead._Response.default


class GroupClient:
    """An smpclient stand-in answering TracesRead from the firmware's group 85."""

    def __init__(self, group: TracesGroup, fail_after: int | None = None):
        self.group = group
        self.asked: list[int] = []
        self.fail_after = fail_after

    async def request(self, message):
        assert isinstance(message, TracesRead)
        if self.fail_after is not None and len(self.asked) >= self.fail_after:
            raise TimeoutError("cable pulled")
        self.asked.append(message.after)
        body = self.group.read(SimpleNamespace(body={"after": message.after}), None)
        return Response(**body)


@pytest.fixture
def store(tmp_path):
    s = Store.open(str(tmp_path / "unit.db"), wall_clock=lambda: 1_700_000_000.0)
    for i in range(30):
        s.add_trace("card.vitale.read" if i % 2 else "visit.sign", 0.001 * (i + 1),
                    "ok" if i % 5 else "card_absent")
    yield s
    s.close()


def test_pages_resume_and_import_once(store, tmp_path):
    group = TracesGroup(store, 400)  # a few rows per response
    with OfficeDb(tmp_path / "office.db") as db:
        broken = GroupClient(group, fail_after=2)
        with pytest.raises(TimeoutError):
            asyncio.run(fetch(broken, db, "TLA-1"))
        held = db.traces("TLA-1")
        assert 0 < len(held) < 30  # two pages were stored before the cable went
        assert [t["trace_id"] for t in held] == list(range(1, len(held) + 1))

        client = GroupClient(group)
        got = asyncio.run(fetch(client, db, "TLA-1"))
        assert client.asked[0] == len(held)  # resumed after the last id held
        assert len(client.asked) >= 2  # it paged
        assert (got.received, got.imported, got.last_id) == (30 - len(held), 30 - len(held), 30)
        rows = db.traces("TLA-1")
        assert [t["trace_id"] for t in rows] == list(range(1, 31))
        # i = 4: even -> visit.sign, 4 % 5 != 0 -> ok ; i = 5: odd, 5 % 5 == 0 -> card_absent
        assert (rows[4]["operation"], rows[4]["outcome"]) == ("visit.sign", "ok")
        assert (rows[5]["operation"], rows[5]["outcome"]) == ("card.vitale.read", "card_absent")
        assert rows[5]["duration_s"] == pytest.approx(0.006)

        again = asyncio.run(fetch(GroupClient(group), db, "TLA-1"))
        assert (again.received, again.imported, again.last_id) == (0, 0, 30)
        # same ids from another unit are other traces
        other = asyncio.run(fetch(GroupClient(group), db, "TLA-2"))
        assert other.imported == 30 and len(db.traces()) == 60


def test_import_traces_keeps_the_first_copy(tmp_path):
    with OfficeDb(tmp_path / "office.db") as db:
        assert db.import_traces("U", [(1, 1.0, "visit.sign", 0.5, "ok")]) == 1
        assert db.import_traces("U", [(1, 9.0, "visit.sign", 9.9, "pin_wrong"),
                                      (2, 2.0, "visit.sign", 0.7, "ok")]) == 1
        assert [(t["trace_id"], t["duration_s"], t["outcome"]) for t in db.traces("U")] == [
            (1, 0.5, "ok"), (2, 0.7, "ok")]


class PageClient:
    def __init__(self, traces):
        self.traces = traces

    async def request(self, message):
        return Response(traces=self.traces, more=False)


@pytest.mark.parametrize("row", [
    [1, 1.0, "visit.sign", 0.1],  # 4 fields
    [0, 1.0, "visit.sign", 0.1, "ok"],  # id 0
    [True, 1.0, "visit.sign", 0.1, "ok"],  # bool id
    [1, 1.0, "DUPONT JEAN", 0.1, "ok"],  # not a code
    [1, 1.0, "visit.sign", -0.1, "ok"],  # negative duration
    [1, 1.0, "visit.sign", float("nan"), "ok"],
    [1, 1.0, "visit.sign", 0.1, "1850575123456"[:3] + " x"],
])
def test_a_malformed_row_refuses_the_page(tmp_path, row):
    with OfficeDb(tmp_path / "office.db") as db:
        with pytest.raises(TraceRowError) as err:
            asyncio.run(fetch(PageClient([[1, 1.0, "visit.sign", 0.2, "ok"], row]), db, "U"))
        assert err.value.code == "trace_malformed"
        assert db.traces() == []


def test_ids_going_backwards_are_refused(tmp_path):
    with OfficeDb(tmp_path / "office.db") as db:
        db.import_traces("U", [(5, 1.0, "visit.sign", 0.1, "ok")])
        with pytest.raises(TraceRowError):
            asyncio.run(fetch(PageClient([[3, 1.0, "visit.sign", 0.2, "ok"]]), db, "U"))
        assert len(db.traces()) == 1


@given(st.integers(1, 2**63 - 1), st.floats(0, 4e9), st.from_regex(r"[a-z0-9_.]{1,48}", fullmatch=True),
       st.floats(0, 1e6), st.from_regex(r"[a-z0-9_.]{1,48}", fullmatch=True))
def test_parse_row_accepts_every_well_formed_row(trace_id, at, op, duration, outcome):
    assert parse_row([trace_id, at, op, duration, outcome]) == (trace_id, at, op, duration, outcome)
