"""The tariff table loaded from the office: act codes, labels, unit prices with
validity dates, per profession, and each profession's default AMO rate.

File format (JSON or YAML, documented with an example in docs/billing.md)::

    {"name": "...", "sample": true,
     "professions": {"60": {"label": "Infirmier", "amo_rate": 60}},
     "acts": [{"profession": "60", "code": "AMI", "label": "...", "kind": "coefficient",
               "prescription": true, "category": "care",
               "prices": [{"from": "2024-01-01", "to": null, "unit_price": "3.15"}]}]}

``kind``: ``coefficient`` (price per unit of coefficient: AMI 1.5 = 1.5 x AMI),
``fixed`` (forfait, majoration, CCAM act: coefficient must be 1), ``per_km``
(IK, transport km: price per km, the line carries ``km``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from .amounts import parse_decimal
from .errors import TariffError

KINDS = ("coefficient", "fixed", "per_km")
CATEGORIES = ("care", "visit", "majoration", "travel", "transport", "rental", "ccam")
SAMPLE_PATH = Path(__file__).with_name("data") / "sample_tariffs.json"


@dataclass(frozen=True)
class PricePeriod:
    start: date
    end: date | None  # inclusive; None: open-ended
    unit_price: Decimal  # euros

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


@dataclass(frozen=True)
class TariffEntry:
    profession: str
    code: str
    label: str
    kind: str
    prices: tuple[PricePeriod, ...]
    prescription: bool = False  # the act needs a prescription (prescriber + date)
    category: str = "care"

    def price_at(self, day: date) -> Decimal | None:
        for period in self.prices:
            if period.covers(day):
                return period.unit_price
        return None


@dataclass(frozen=True)
class Profession:
    code: str
    label: str
    amo_rate: int  # percent, default rate outside exoneration


def _date(value: object, field: str) -> date:
    if not isinstance(value, str):
        raise TariffError("expected an ISO date YYYY-MM-DD", field=field)
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise TariffError(f"not an ISO date: {value!r}", field=field) from exc


def _text(raw: Mapping, key: str, field: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise TariffError(f"missing or empty text {key!r}", field=f"{field}.{key}")
    return value


class TariffTable:
    """Lookup of act codes per profession and date. Immutable once loaded."""

    def __init__(
        self,
        professions: Mapping[str, Profession],
        entries: Mapping[tuple[str, str], TariffEntry],
        *,
        name: str = "",
        sample: bool = False,
    ):
        self.professions = dict(professions)
        self._entries = dict(entries)
        self.name = name
        self.sample = sample

    def entry(self, profession: str, code: str) -> TariffEntry | None:
        return self._entries.get((profession, code))

    def entries(self) -> tuple[TariffEntry, ...]:
        return tuple(self._entries.values())

    def amo_rate(self, profession: str) -> int | None:
        prof = self.professions.get(profession)
        return prof.amo_rate if prof else None

    # ---- loading -------------------------------------------------------------
    @classmethod
    def from_dict(cls, raw: object) -> TariffTable:
        if not isinstance(raw, Mapping):
            raise TariffError("tariff table must be a mapping", field="$")
        profs_raw = raw.get("professions")
        if not isinstance(profs_raw, Mapping) or not profs_raw:
            raise TariffError("missing professions", field="professions")
        professions: dict[str, Profession] = {}
        for code, prof in profs_raw.items():
            field = f"professions.{code}"
            if not isinstance(prof, Mapping):
                raise TariffError("profession must be a mapping", field=field)
            rate = prof.get("amo_rate")
            if isinstance(rate, bool) or not isinstance(rate, int) or not 0 <= rate <= 100:
                raise TariffError("amo_rate must be an integer 0..100", field=f"{field}.amo_rate")
            professions[str(code)] = Profession(str(code), _text(prof, "label", field), rate)
        acts_raw = raw.get("acts")
        if not isinstance(acts_raw, list):
            raise TariffError("missing acts list", field="acts")
        entries: dict[tuple[str, str], TariffEntry] = {}
        for i, act in enumerate(acts_raw):
            entry = cls._entry(act, f"acts[{i}]", professions)
            key = (entry.profession, entry.code)
            if key in entries:
                raise TariffError(f"duplicate act {entry.code}", field=f"acts[{i}].code")
            entries[key] = entry
        return cls(
            professions,
            entries,
            name=str(raw.get("name", "")),
            sample=bool(raw.get("sample", False)),
        )

    @staticmethod
    def _entry(act: object, field: str, professions: Mapping[str, Profession]) -> TariffEntry:
        if not isinstance(act, Mapping):
            raise TariffError("act must be a mapping", field=field)
        profession = _text(act, "profession", field)
        if profession not in professions:
            raise TariffError(f"unknown profession {profession}", field=f"{field}.profession")
        kind = _text(act, "kind", field)
        if kind not in KINDS:
            raise TariffError(f"kind must be one of {KINDS}", field=f"{field}.kind")
        category = act.get("category", "care")
        if category not in CATEGORIES:
            raise TariffError(f"category must be one of {CATEGORIES}", field=f"{field}.category")
        prices_raw = act.get("prices")
        if not isinstance(prices_raw, list) or not prices_raw:
            raise TariffError("missing prices", field=f"{field}.prices")
        prices = []
        for j, p in enumerate(prices_raw):
            pf = f"{field}.prices[{j}]"
            if not isinstance(p, Mapping):
                raise TariffError("price must be a mapping", field=pf)
            start = _date(p.get("from"), f"{pf}.from")
            end = None if p.get("to") is None else _date(p.get("to"), f"{pf}.to")
            if end is not None and end < start:
                raise TariffError("period ends before it starts", field=f"{pf}.to")
            try:
                price = parse_decimal(p.get("unit_price"), f"{pf}.unit_price")
            except Exception as exc:
                raise TariffError(str(exc), field=f"{pf}.unit_price") from exc
            prices.append(PricePeriod(start, end, price))
        prices.sort(key=lambda p: p.start)
        for a, b in zip(prices, prices[1:], strict=False):
            if a.end is None or a.end >= b.start:
                raise TariffError("price periods overlap", field=f"{field}.prices")
        return TariffEntry(
            profession=profession,
            code=_text(act, "code", field),
            label=_text(act, "label", field),
            kind=kind,
            prices=tuple(prices),
            prescription=bool(act.get("prescription", False)),
            category=category,
        )

    @classmethod
    def load(cls, path: str | Path) -> TariffTable:
        """Load a JSON (.json) or YAML (.yaml/.yml) table."""
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        if path.suffix in (".yaml", ".yml"):
            import yaml

            return cls.from_dict(yaml.safe_load(text))
        return cls.from_dict(json.loads(text))

    @classmethod
    def load_sample(cls) -> TariffTable:
        """The bundled SAMPLE table (illustrative prices, NOT official)."""
        return cls.load(SAMPLE_PATH)
