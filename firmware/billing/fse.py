"""Building the signed FSE: checks, payload (deterministic CBOR), COSE_Sign.

The payload layout is documented field by field in docs/fse.md.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from firmware.cardapps.model import AmcData, Beneficiary
from firmware.errors import InternalError

from . import cbor_det, cose, modes
from .checks import CheckContext, amc_valid_at, check_invoice
from .errors import CheckFailed

PAYLOAD_FORMAT = "opentla-fse/1"
MAX_FSE_NUMBER = 999_999_999  # the FSE number field is 9 digits (docs/fse.md)


@dataclass(frozen=True)
class SignedFse:
    """A built FSE. Frozen: only bytes and values derived from them."""

    encoded: bytes  # the tagged COSE_Sign, what is stored and sent
    payload_bytes: bytes  # the deterministic-CBOR payload inside it
    mode: str
    billing_number: str
    number: int

    def payload(self) -> dict:
        """A fresh decoded copy of the payload (mutating it changes nothing stored)."""
        return cbor_det.decode_deterministic(self.payload_bytes)  # type: ignore[return-value]


def _sha256(der: bytes | None) -> bytes | None:
    return hashlib.sha256(der).digest() if der else None


def _beneficiary_dict(ben: Beneficiary, day) -> dict:
    period = ben.rights_at(day)
    return {
        "nir": ben.nir,
        "nir_key": ben.nir_key,
        "name": ben.name,
        "first_name": ben.first_name,
        "birth_date": str(ben.birth_date),
        "birth_rank": ben.birth_rank,
        "quality": ben.quality,
        "regime": ben.regime,
        "caisse": ben.caisse,
        "centre": ben.centre,
        "rights": None
        if period is None
        else {
            "start": period.start.isoformat(),
            "end": None if period.end is None else period.end.isoformat(),
            "exoneration": period.exoneration,
            "ald": period.ald,
            "situation_code": period.situation_code,
        },
        "amc": _amc_dict(ben.amc, day),
    }


def _amc_dict(amc: AmcData | None, day) -> dict | None:
    """The complementary insurance named on the card (organism, contract), as read."""
    if amc is None:
        return None
    return {
        "organism": amc.organism,
        "contract_type": amc.contract_type,
        "start": None if amc.start is None else amc.start.isoformat(),
        "end": None if amc.end is None else amc.end.isoformat(),
        "tiers_payant": amc.tiers_payant,
        "valid_at_care": amc_valid_at(amc, day),
    }


def build_payload(ctx: CheckContext, number: int, unit_id: str, signed_at: datetime,
                  cps_cert: bytes, vitale_cert: bytes | None) -> tuple[dict, tuple]:
    """Run the checks and return (payload dict, issues). Raises CheckFailed."""
    result = check_invoice(ctx)
    if not result.ok or result.amounts is None:
        raise CheckFailed(result.issues)
    rules = modes.rules(ctx.mode)
    inv, ps, sit = ctx.invoice, ctx.ps_card, ctx.situation
    if ctx.beneficiary is not None:
        beneficiary = _beneficiary_dict(ctx.beneficiary, inv.date_of_care)
    else:  # degraded: the patient data typed or prepared at the office
        p = inv.patient
        if p is None:  # check_invoice refuses a degraded invoice without patient data
            raise InternalError("checks passed without a beneficiary nor patient data")
        beneficiary = {
            "nir": p.nir, "nir_key": p.nir_key, "name": p.name, "first_name": p.first_name,
            "birth_date": str(p.birth_date), "birth_rank": p.birth_rank, "quality": "",
            "regime": p.regime, "caisse": p.caisse, "centre": p.centre, "rights": None,
            "amc": None,
        }
    vitale = None
    if ctx.vitale is not None and rules.vitale_data != "typed":
        read_on = signed_at.date() if ctx.mode == modes.SECURED else ctx.vitale_read_on
        vitale = {
            "serial": ctx.vitale.serial,
            "variant": ctx.vitale.variant,
            "cert_sha256": _sha256(vitale_cert) if rules.vitale_signs else None,
            "read_on": read_on.isoformat() if read_on else None,
        }
    payload = {
        "format": PAYLOAD_FORMAT,
        "mode": ctx.mode,
        "fse_number": number,
        "billing_number": inv.billing_number,
        "unit_id": unit_id,
        "signed_at": int(signed_at.timestamp()),
        "date_of_care": inv.date_of_care.isoformat(),
        "invoice": inv.to_dict(),
        "amounts": result.amounts.to_dict(),
        "ps": {
            "card_type": ps.card_type,
            "id_type": ps.id_type,
            "national_id": ps.national_id,
            "name": ps.name,
            "first_name": ps.first_name,
            "serial": ps.serial,
            "cert_sha256": _sha256(cps_cert),
            "situation": {
                "index": sit.index,
                "billing_number": sit.billing_number,
                "profession": sit.profession,
                "specialty": sit.specialty,
                "convention_sector": sit.convention_sector,
                "tariff_zone": sit.tariff_zone,
                "role": sit.role,
                "replaced_billing_number": sit.replaced_billing_number,
                "can_sign_fse": sit.can_sign_fse,
            },
        },
        "vitale": vitale,
        "beneficiary": beneficiary,
        "destination": {"regime": beneficiary["regime"], "caisse": beneficiary["caisse"],
                        "centre": beneficiary["centre"]},
        "pj": list(result.pj),
        "payment_guarantee": rules.payment_guarantee,
        "warnings": [i.code for i in result.issues],
    }
    return payload, result.issues


def build_fse(ctx: CheckContext, *, number: int, unit_id: str, signed_at: datetime,
              cps: cose.Signer, device: cose.DeviceSigner,
              vitale: cose.Signer | None = None) -> SignedFse:
    """Check, then sign. ``signed_at`` must be timezone-aware (the unit's RTC in UTC).

    Secured mode needs ``vitale`` (the Vitale card's signer); the other modes refuse it.
    """
    if signed_at.tzinfo is None:
        raise ValueError("signed_at must be timezone-aware")
    if not 1 <= number <= MAX_FSE_NUMBER:
        raise ValueError(f"FSE number {number} out of 1..{MAX_FSE_NUMBER}")
    rules = modes.rules(ctx.mode)
    if rules.vitale_signs != (vitale is not None):
        raise ValueError(f"mode {ctx.mode} {'needs' if rules.vitale_signs else 'refuses'} "
                         "a Vitale signer")
    if ctx.ps_card.certificate and cps.certificate != ctx.ps_card.certificate:
        raise ValueError("CPS signer is not the CPS card that was read")
    if vitale is not None and ctx.vitale is not None and ctx.vitale.certificate \
            and vitale.certificate != ctx.vitale.certificate:
        raise ValueError("Vitale signer is not the Vitale card that was read")
    if device.unit_id != unit_id:
        raise ValueError("device signer belongs to another unit")
    payload, _ = build_payload(ctx, number, unit_id, signed_at.astimezone(UTC),
                               cps.certificate, vitale.certificate if vitale else None)
    payload_bytes = cbor_det.encode(payload)
    signers: list[tuple[str, cose.Signer]] = [("cps", cps)]
    if vitale is not None:
        signers.append(("vitale", vitale))
    signers.append(("unit", device))
    encoded = cose.sign(payload_bytes, rules.content_type, signers)
    return SignedFse(encoded, payload_bytes, ctx.mode, ctx.invoice.billing_number, number)
