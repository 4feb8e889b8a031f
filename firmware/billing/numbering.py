"""FSE numbers: ranges allocated per professional (billing number) by the office.

Rules (docs/billing.md §Numbering):
- a number is handed out once (``allocate``) and then either ``confirm``-ed (an FSE
  was stored under it) or ``skip``-ped with a recorded reason; never reused;
- numbers are consumed in order, range after range; a new range may not overlap
  or precede any number already covered (no reuse through a range reload);
- the allocator is a pure object; its state round-trips through ``to_dict``/
  ``from_dict`` so the store can persist it in the same transaction as the FSE.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import NumberingError

MAX_NUMBER = 999_999_999  # the FSE number field is 9 digits


@dataclass
class _Account:
    ranges: list[tuple[int, int]] = field(default_factory=list)  # inclusive, ascending
    next: int | None = None  # next number to hand out, None when exhausted
    pending: list[int] = field(default_factory=list)  # handed out, not yet resolved
    skipped: list[tuple[int, str]] = field(default_factory=list)
    confirmed: int = 0


class FseNumberAllocator:
    def __init__(self) -> None:
        self._accounts: dict[str, _Account] = {}

    # ---- office side ---------------------------------------------------------
    def add_range(self, billing_number: str, first: int, last: int) -> None:
        if not 1 <= first <= last <= MAX_NUMBER:
            raise NumberingError(f"bad range {first}..{last}", code="fse_range_invalid",
                                 message_fr="Plage FSE invalide")
        acc = self._accounts.setdefault(billing_number, _Account())
        if acc.ranges and first <= acc.ranges[-1][1]:
            raise NumberingError(
                f"range {first}..{last} overlaps or precedes {acc.ranges[-1]}",
                code="fse_range_overlap", message_fr="Plage FSE déjà utilisée")
        acc.ranges.append((first, last))
        if acc.next is None:
            acc.next = first

    def remaining(self, billing_number: str) -> int:
        acc = self._accounts.get(billing_number)
        if acc is None or acc.next is None:
            return 0
        return sum(last - max(first, acc.next) + 1 for first, last in acc.ranges
                   if last >= acc.next)

    # ---- unit side -----------------------------------------------------------
    def allocate(self, billing_number: str) -> int:
        acc = self._accounts.get(billing_number)
        if acc is None or acc.next is None:
            raise NumberingError(f"no FSE number left for {billing_number}",
                                 code="fse_range_exhausted",
                                 message_fr="Plus de numéros FSE: recharger")
        number = acc.next
        acc.pending.append(number)
        acc.next = self._after(acc, number)
        return number

    def confirm(self, billing_number: str, number: int) -> None:
        """The FSE numbered ``number`` is durably stored."""
        self._resolve(billing_number, number).confirmed += 1

    def skip(self, billing_number: str, number: int, reason: str) -> None:
        """``number`` was handed out but no FSE will carry it (signature failed,
        card pulled, checks refused...). The reason is kept for the office."""
        if not reason:
            raise NumberingError("a skip needs a reason", code="fse_skip_reason")
        self._resolve(billing_number, number).skipped.append((number, reason))

    def pending(self, billing_number: str) -> tuple[int, ...]:
        acc = self._accounts.get(billing_number)
        return tuple(acc.pending) if acc else ()

    def skipped(self, billing_number: str) -> tuple[tuple[int, str], ...]:
        acc = self._accounts.get(billing_number)
        return tuple(acc.skipped) if acc else ()

    def _resolve(self, billing_number: str, number: int) -> _Account:
        acc = self._accounts.get(billing_number)
        if acc is None or number not in acc.pending:
            raise NumberingError(f"{number} is not pending for {billing_number}",
                                 code="fse_number_not_pending")
        acc.pending.remove(number)
        return acc

    @staticmethod
    def _after(acc: _Account, number: int) -> int | None:
        for first, last in acc.ranges:
            if first <= number < last:
                return number + 1
            if number < first:
                return first
        return None

    # ---- persistence ---------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            bn: {
                "ranges": [[a, b] for a, b in acc.ranges],
                "next": acc.next,
                "pending": list(acc.pending),
                "skipped": [[n, r] for n, r in acc.skipped],
                "confirmed": acc.confirmed,
            }
            for bn, acc in self._accounts.items()
        }

    @staticmethod
    def _validate(acc: _Account) -> None:
        """Refuse a state that could make the allocator reuse a number."""
        last = 0
        for first, end in acc.ranges:
            if not (last < first <= end <= MAX_NUMBER):
                raise ValueError("ranges must be ascending and disjoint")
            last = end

        def inside(n: int) -> bool:
            return any(a <= n <= b for a, b in acc.ranges)

        if acc.next is not None and not inside(acc.next):
            raise ValueError("next number outside the ranges")
        handed = acc.pending + [n for n, _ in acc.skipped]
        if any(not inside(n) or (acc.next is not None and n >= acc.next) for n in handed):
            raise ValueError("pending or skipped number not yet handed out")
        if len(set(handed)) != len(handed) or acc.confirmed < 0:
            raise ValueError("number resolved twice")

    @classmethod
    def from_dict(cls, raw: dict) -> FseNumberAllocator:
        self = cls()
        try:
            for bn, a in raw.items():
                if not isinstance(a, dict):
                    raise TypeError("account must be a mapping")
                acc = _Account(
                    ranges=[(int(x), int(y)) for x, y in a["ranges"]],
                    next=None if a["next"] is None else int(a["next"]),
                    pending=[int(n) for n in a["pending"]],
                    skipped=[(int(n), str(r)) for n, r in a["skipped"]],
                    confirmed=int(a["confirmed"]),
                )
                cls._validate(acc)
                self._accounts[str(bn)] = acc
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise NumberingError(f"bad allocator state: {exc}", code="fse_numbering_state") from None
        return self
