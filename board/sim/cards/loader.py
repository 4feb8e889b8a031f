"""Load the sample personalisations (``board/sim/cards/*.yaml``) into emulated cards.

>>> sorted(list_samples())[:2]
['cde_direction', 'cpe_ambulance']
>>> card = load_card("vitale_famille_essai")
>>> card.atr.hex()
'3b751300004709ea9000'

The YAML holds test secrets (PIN, unblocking code) on purpose: these are test cards.
Every NIR key and billing-number key is checked on load, so a typo fails loudly.
Tests change a copy of :func:`personalisation` and call :func:`build_card`.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import yaml

from board.sim.cardos.card import CardOS
from board.sim.cardos.personalise import make_professional, make_vitale
from board.sim.pki import TestPki
from firmware.cardapps.billing_number import is_valid_billing_number
from firmware.cardapps.model import AmcData, Beneficiary, PartialDate, RightsPeriod, Situation
from firmware.cardapps.nir import is_valid_nir

SAMPLES_DIR = Path(__file__).resolve().parent


class PersonalisationError(ValueError):
    """A sample file that does not describe a valid card."""


def list_samples() -> list[str]:
    return sorted(p.stem for p in SAMPLES_DIR.glob("*.yaml"))


def personalisation(name: str) -> dict:
    path = SAMPLES_DIR / f"{name}.yaml"
    if not path.is_file():
        raise PersonalisationError(f"no sample card named {name!r} (have: {list_samples()})")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("kind") not in ("vitale", "professional"):
        raise PersonalisationError(f"{path.name}: 'kind' must be vitale or professional")
    data.setdefault("label", name)
    return data


def _date(value, what: str) -> date:
    """A required date (YAML date or ISO text)."""
    if value is None:
        raise PersonalisationError(f"{what}: missing, a date is required")
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise PersonalisationError(f"{what}: not a date: {value!r}") from exc


def _optional_date(value, what: str) -> date | None:
    return None if value is None else _date(value, what)


def _partial(value) -> PartialDate:
    if isinstance(value, date):
        return PartialDate(value.year, value.month, value.day)
    try:
        y, m, d = (int(x) for x in str(value).split("-"))
    except ValueError as exc:
        raise PersonalisationError(f"birth date {value!r} is not YYYY-MM-DD") from exc
    return PartialDate(y, m, d)


def _beneficiary(i: int, b: dict) -> Beneficiary:
    if not is_valid_nir(b["nir"] + b["nir_key"]):
        raise PersonalisationError(f"beneficiary {i}: wrong NIR key for {b['nir']}")
    amc = b.get("amc")
    return Beneficiary(
        index=i,
        name=b["name"],
        first_name=b["first_name"],
        birth_date=_partial(b["birth_date"]),
        birth_rank=int(b["birth_rank"]),
        quality=str(b["quality"]),
        nir=b["nir"],
        nir_key=b["nir_key"],
        regime=str(b["regime"]),
        caisse=str(b["caisse"]),
        centre=str(b["centre"]),
        rights=tuple(
            RightsPeriod(
                start=_date(r["start"], "rights start"),
                end=_optional_date(r.get("end"), "rights end"),
                exoneration=str(r.get("exoneration", "0")),
                ald=bool(r.get("ald", False)),
                situation_code=str(r.get("situation", "")),
            )
            for r in b.get("rights", [])
        ),
        amc=(
            AmcData(
                organism=str(amc["organism"]),
                contract_type=str(amc.get("contract_type", "")),
                start=_optional_date(amc.get("start"), "AMC start"),
                end=_optional_date(amc.get("end"), "AMC end"),
                tiers_payant=bool(amc.get("tiers_payant", False)),
            )
            if amc
            else None
        ),
    )


def _situation(i: int, s: dict) -> Situation:
    for key in ("billing_number", "replaced_billing_number"):
        number = str(s.get(key, ""))
        if number and not is_valid_billing_number(number):
            raise PersonalisationError(f"situation {i + 1}: wrong key in {key} {number}")
    return Situation(
        index=i,
        billing_number=str(s["billing_number"]),
        profession=str(s["profession"]),
        specialty=str(s["specialty"]),
        convention_sector=str(s["sector"]),
        tariff_zone=str(s["tariff_zone"]),
        can_sign_fse=bool(s["sign_fse"]),
        can_sign_lot=bool(s["sign_lot"]),
        role=str(s.get("role", "titulaire")),
        practice_name=str(s.get("practice_name", "")),
        replaced_billing_number=str(s.get("replaced_billing_number", "")),
    )


def build_card(spec: dict, pki: TestPki | None = None) -> CardOS:
    """An emulated card from a personalisation dict (see the YAML samples)."""
    pki = pki or TestPki.create()
    try:
        issued = _date(spec["issued"], "issued")
        valid_until = _optional_date(spec.get("valid_until"), "valid_until")
        cert_end = valid_until or date(issued.year + 20, issued.month, 1)
        if spec["kind"] == "vitale":
            bens = [_beneficiary(i, b) for i, b in enumerate(spec["beneficiaries"])]
            key = cert = None
            if int(spec["variant"]) == 2:
                holder = f"{bens[0].first_name} {bens[0].name}"
                issue = pki.issue_with_foreign_ca if spec.get("foreign_ca") else pki.issue_vitale
                key, cert = issue(holder, str(spec["serial"]), issued, cert_end)
            return make_vitale(
                serial=str(spec["serial"]), variant=int(spec["variant"]),
                valid_until=valid_until, beneficiaries=bens, key=key, cert=cert,
                name=spec.get("label", ""),
            )
        full = f"{spec['first_name']} {spec['name']}"
        issue = pki.issue_with_foreign_ca if spec.get("foreign_ca") else pki.issue_professional
        key, cert = issue(full, str(spec["serial"]), issued, cert_end)
        return make_professional(
            card_type=spec["card_type"], id_type=str(spec["id_type"]),
            national_id=str(spec["national_id"]), name=spec["name"],
            first_name=spec["first_name"], serial=str(spec["serial"]),
            valid_until=valid_until,
            situations=[_situation(i, s) for i, s in enumerate(spec["situations"])],
            pin=str(spec["pin"]), puk=str(spec["puk"]), key=key, cert=cert,
            generation=int(spec.get("generation", 4)), label=spec.get("label", ""),
        )
    except KeyError as exc:
        raise PersonalisationError(f"{spec.get('label', '?')}: missing field {exc}") from exc


def load_card(name: str, pki: TestPki | None = None) -> CardOS:
    return build_card(personalisation(name), pki)
