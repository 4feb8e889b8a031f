"""Tariff table loading and validation."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
import yaml

from firmware.billing.errors import TariffError
from firmware.billing.tariffs import SAMPLE_PATH, TariffTable


def test_sample_is_labelled_sample(tariffs):
    assert tariffs.sample is True
    assert "SAMPLE" in tariffs.name and "NOT" in tariffs.name
    assert all(e.label.startswith("SAMPLE") for e in tariffs.entries())


def test_price_periods(tariffs):
    g = tariffs.entry("10", "G")
    assert g.price_at(date(2024, 12, 21)) == Decimal("26.50")
    assert g.price_at(date(2024, 12, 22)) == Decimal("30.00")
    assert g.price_at(date(2023, 10, 31)) is None
    assert tariffs.entry("60", "G") is None  # per profession
    assert tariffs.amo_rate("10") == 70 and tariffs.amo_rate("60") == 60


def test_yaml_equals_json(tmp_path):
    raw = json.loads(SAMPLE_PATH.read_text())
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(raw))
    a, b = TariffTable.load(path), TariffTable.load(SAMPLE_PATH)
    assert a.entries() == b.entries()


def minimal(**act):
    base = {"profession": "60", "code": "AMI", "label": "x", "kind": "coefficient",
            "prices": [{"from": "2024-01-01", "to": None, "unit_price": "3.15"}]}
    base.update(act)
    return {"professions": {"60": {"label": "Inf", "amo_rate": 60}}, "acts": [base]}


@pytest.mark.parametrize("raw,field", [
    (minimal(kind="hourly"), "acts[0].kind"),
    (minimal(profession="99"), "acts[0].profession"),
    (minimal(prices=[{"from": "2024-01-01", "to": None, "unit_price": 3.15}]),
     "acts[0].prices[0].unit_price"),
    (minimal(prices=[{"from": "2024-01-01", "to": "2023-01-01", "unit_price": "1"}]),
     "acts[0].prices[0].to"),
    (minimal(prices=[{"from": "2024-01-01", "to": None, "unit_price": "1"},
                     {"from": "2025-01-01", "to": None, "unit_price": "2"}]), "acts[0].prices"),
    ({"professions": {"60": {"label": "Inf", "amo_rate": 101}}, "acts": []},
     "professions.60.amo_rate"),
])
def test_bad_tables_name_the_field(raw, field):
    with pytest.raises(TariffError) as exc:
        TariffTable.from_dict(raw)
    assert exc.value.field == field


def test_duplicate_act_refused():
    raw = minimal()
    raw["acts"].append(dict(raw["acts"][0]))
    with pytest.raises(TariffError) as exc:
        TariffTable.from_dict(raw)
    assert exc.value.field == "acts[1].code"
