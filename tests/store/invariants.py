"""What must hold after any crash and recovery, checked from the outside."""

from __future__ import annotations

from dataclasses import dataclass, field

from firmware.store import Store, UnknownRecord
from firmware.store.database import check_integrity

from .workload import PS, RANGE, fse_body, invoice_body

RANK = {"signed": 0, "offered": 1, "imported": 2}


@dataclass
class Acks:
    """What the child acknowledged before it died."""

    fses: dict[str, int] = field(default_factory=dict)  # id -> number
    state: dict[str, int] = field(default_factory=dict)  # id -> acked rank
    invoices: set[str] = field(default_factory=set)
    gone: set[str] = field(default_factory=set)  # imported, then an acked purge
    last: str = ""

    @classmethod
    def parse(cls, text: str) -> Acks:
        acks = cls()
        lines = text.splitlines()
        if text and not text.endswith("\n"):
            lines = lines[:-1]  # a torn last line was never fully said
        for line in lines:
            word, *rest = line.split()
            if word == "signed":
                acks.fses[rest[0]] = int(rest[1])
                acks.state[rest[0]] = 0
            elif word == "offered":
                acks.state[rest[0]] = 1
            elif word == "imported":
                acks.state[rest[0]] = 2
            elif word == "purged":
                acks.gone |= {f for f, rank in acks.state.items() if rank == 2}
            elif word == "invoice":
                acks.invoices.add(rest[0])
            acks.last = line
        return acks


def check(store: Store, acks: Acks) -> None:
    """Integrity, every acknowledged FSE exactly once and readable, at most one
    step beyond what was acknowledged, numbering without reuse or silent gap."""
    assert check_integrity(store._conn, full=True) == []
    present = {f.fse_id: f for f in store.list_fses()}
    advanced = 0
    for fse_id, number in acks.fses.items():
        acked = acks.state[fse_id]
        if fse_id in acks.gone:
            assert fse_id not in present, f"{fse_id} survived an acknowledged purge"
            continue
        if fse_id not in present:
            # only an imported FSE may be gone (a purge may have been in flight)
            assert acked == 2, f"{fse_id} lost"
            continue
        info = present[fse_id]
        assert info.fse_number == number
        assert store.get_fse(fse_id) == fse_body(fse_id)
        assert RANK[info.status] in (acked, acked + 1), f"{fse_id} {info.status} vs {acked}"
        advanced += RANK[info.status] > acked
    unacked = set(present) - set(acks.fses)
    assert len(unacked) + advanced <= 1, "more than the one in-flight call took effect"
    for fse_id in unacked:
        assert store.get_fse(fse_id) == fse_body(fse_id)
    # numbering: a contiguous prefix of the range, each number used or explained
    states = store.numbering(PS)
    numbers = [s.number for s in states]
    first = RANGE[2]
    assert numbers == list(range(first, first + len(numbers))), "a number was silently skipped"
    assert store.fse_numbers_left(PS) == RANGE[3] - RANGE[2] + 1 - len(numbers)
    by_fse = {}
    for s in states:
        assert s.state in ("used", "skipped"), f"{s.number} left {s.state}"
        if s.state == "skipped":
            assert s.reason in ("card_removed", "interrupted_before_signature")
        else:
            assert s.fse_id not in by_fse, "one FSE on two numbers"
            by_fse[s.fse_id] = s.number
    for fse_id, info in present.items():
        assert by_fse.get(fse_id) == info.fse_number
    for fse_id, number in acks.fses.items():
        assert by_fse[fse_id] == number  # purged or not, its number stays recorded
    for inv in acks.invoices:
        try:
            assert store.get_invoice(inv) == invoice_body(inv)
        except UnknownRecord as exc:
            raise AssertionError(f"acknowledged invoice {inv} lost") from exc
