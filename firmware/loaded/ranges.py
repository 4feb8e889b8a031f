"""The FSE range rule of a load (docs/billing.md §Numbering): per professional, a new
range starts after every number already covered, so FSE numbers only ever go up. With
100-200 in use, 1-50 is refused (the next FSE would otherwise get number 1).

The same rule runs in ``tla load`` over the ranges of its files (in file order) and in
the unit's load group over the ranges it already holds plus those of the load, before
anything is stored. Loading an identical range again (same id, professional and bounds)
is a no-op, as the store has it.
"""

from __future__ import annotations

from collections.abc import Iterable

from .schema import FseRange, RecordError


class RangeBook:
    """The ranges known so far; :meth:`add` applies the rule to one more."""

    def __init__(self, existing: Iterable[FseRange] = ()) -> None:
        self._by_id: dict[str, FseRange] = {}
        self._covered: dict[str, int] = {}  # professional -> highest number covered
        for r in existing:
            self._keep(r)

    def _keep(self, r: FseRange) -> None:
        self._by_id[r.range_id] = r
        self._covered[r.professional_id] = max(self._covered.get(r.professional_id, 0), r.last)

    def covered(self, professional_id: str) -> int:
        """The highest FSE number already covered for ``professional_id`` (0: none)."""
        return self._covered.get(professional_id, 0)

    def add(self, r: FseRange) -> bool:
        """True if ``r`` is new, False if it is already there identically; RecordError
        (field ``range_id`` or ``first``) if the rule refuses it."""
        same = self._by_id.get(r.range_id)
        if same is not None:
            if same == r:
                return False
            raise RecordError(f"range {r.range_id} exists with other bounds "
                              f"({same.professional_id} {same.first}-{same.last})",
                              code="range_conflict", field="range_id")
        top = self.covered(r.professional_id)
        if r.first <= top:
            raise RecordError(f"must start after {top}, the last FSE number already covered "
                              f"for {r.professional_id}", code="range_not_after",
                              field="first")
        self._keep(r)
        return True
