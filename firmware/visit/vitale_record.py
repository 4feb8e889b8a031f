"""A Vitale read kept in the store (kind ``vitale_read``), format
``opentla-vitale-read/1`` (docs/visit.md §Vitale read record).

Deterministic CBOR (RFC 8949 §4.2.1, :mod:`firmware.billing.cbor_det`) of::

    {"format": "opentla-vitale-read/1",
     "read_at": 1773135000,            / seconds since 1970 UTC, the unit's RTC /
     "unit": "TLA-0A1B2C3D4E5F",
     "card": {"serial": "9100000001", "variant": "vitale2",
              "valid_until": "2031-08-31" | null, "holder_nir": "180079999901256",
              "certificate": h'30 82 ...' | null,
              "beneficiaries": [{"index": 0, "name": "ESSAI", "first_name": "PAUL",
                                 "birth_date": [1980, 7, 15], "birth_rank": 1,
                                 "quality": "00", "nir": "1800799999012",
                                 "nir_key": "56", "regime": "01", "caisse": "751",
                                 "centre": "0001",
                                 "rights": [{"start": "2024-01-01", "end": "2026-12-31",
                                             "exoneration": "0", "ald": false,
                                             "situation_code": ""}],
                                 "amc": {"organism": "99999991", ...} | null}, ...]}}

It is what the office unloads to bill later, and what a SESAM sans Vitale FSE
uses as "the earlier secured read" (docs/billing.md §Modes).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from firmware.billing import cbor_det
from firmware.cardapps.model import AmcData, Beneficiary, PartialDate, RightsPeriod, VitaleCard
from firmware.errors import TlaError

FORMAT = "opentla-vitale-read/1"


class VitaleRecordError(TlaError, ValueError):
    code = "vitale_read_invalid"
    message_fr = "Lecture Vitale illisible"


def _d(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _rights(r: RightsPeriod) -> dict:
    return {"start": r.start.isoformat(), "end": _d(r.end), "exoneration": r.exoneration,
            "ald": r.ald, "situation_code": r.situation_code}


def _amc(a: AmcData | None) -> dict | None:
    if a is None:
        return None
    return {"organism": a.organism, "contract_type": a.contract_type, "start": _d(a.start),
            "end": _d(a.end), "tiers_payant": a.tiers_payant}


def beneficiary_to_dict(b: Beneficiary) -> dict:
    return {"index": b.index, "name": b.name, "first_name": b.first_name,
            "birth_date": [b.birth_date.year, b.birth_date.month, b.birth_date.day],
            "birth_rank": b.birth_rank, "quality": b.quality, "nir": b.nir,
            "nir_key": b.nir_key, "regime": b.regime, "caisse": b.caisse, "centre": b.centre,
            "rights": [_rights(r) for r in b.rights], "amc": _amc(b.amc)}


def card_to_dict(card: VitaleCard) -> dict:
    return {"serial": card.serial, "variant": card.variant,
            "valid_until": _d(card.valid_until), "holder_nir": card.holder_nir,
            "certificate": card.certificate,
            "beneficiaries": [beneficiary_to_dict(b) for b in card.beneficiaries]}


def encode(card: VitaleCard, read_at: datetime, unit: str) -> bytes:
    return cbor_det.encode({"format": FORMAT, "read_at": int(read_at.timestamp()),
                            "unit": unit, "card": card_to_dict(card)})


def _date(value) -> date | None:
    return None if value is None else date.fromisoformat(_t(value))


def _t(value) -> str:
    if not isinstance(value, str):
        raise VitaleRecordError(f"expected text, got {type(value).__name__}")
    return value


def _i(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise VitaleRecordError(f"expected an integer, got {type(value).__name__}")
    return value


def _b(value) -> bool:
    if not isinstance(value, bool):
        raise VitaleRecordError(f"expected a boolean, got {type(value).__name__}")
    return value


def _beneficiary(b: dict) -> Beneficiary:
    y, m, d = (_i(x) for x in b["birth_date"])
    amc = b["amc"]
    return Beneficiary(
        index=_i(b["index"]), name=_t(b["name"]), first_name=_t(b["first_name"]),
        birth_date=PartialDate(y, m, d), birth_rank=_i(b["birth_rank"]),
        quality=_t(b["quality"]), nir=_t(b["nir"]), nir_key=_t(b["nir_key"]),
        regime=_t(b["regime"]), caisse=_t(b["caisse"]), centre=_t(b["centre"]),
        rights=tuple(RightsPeriod(date.fromisoformat(_t(r["start"])), _date(r["end"]),
                                  _t(r["exoneration"]), _b(r["ald"]), _t(r["situation_code"]))
                     for r in b["rights"]),
        amc=None if amc is None else AmcData(_t(amc["organism"]), _t(amc["contract_type"]),
                                              _date(amc["start"]), _date(amc["end"]),
                                              _b(amc["tiers_payant"])),
    )


def decode(data: bytes) -> tuple[VitaleCard, datetime, str]:
    """(card, read_at, unit serial). Raises VitaleRecordError."""
    try:
        raw = cbor_det.decode_deterministic(data)
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise VitaleRecordError("not an opentla-vitale-read/1 record")
        c = raw["card"]
        cert = c["certificate"]
        if cert is not None and not isinstance(cert, bytes):
            raise VitaleRecordError("certificate must be bytes or null")
        card = VitaleCard(serial=_t(c["serial"]), variant=_t(c["variant"]),
                          valid_until=_date(c["valid_until"]), holder_nir=_t(c["holder_nir"]),
                          beneficiaries=tuple(_beneficiary(b) for b in c["beneficiaries"]),
                          certificate=cert)
        return card, datetime.fromtimestamp(_i(raw["read_at"]), UTC), _t(raw["unit"])
    except VitaleRecordError:
        raise
    except Exception as exc:  # noqa: BLE001 - any malformed field is the same error
        raise VitaleRecordError(f"bad Vitale read record: {exc}") from None
