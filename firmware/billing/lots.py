"""Lots: FSEs grouped by destination organism (régime + caisse) for one professional,
each closed by an end record carrying counts, totals and the software seal
(seed 004: the seal "est mémorisé dans l'enregistrement de fin de lot").

The lot itself is signed by a CPS situation allowed to sign lots (DESIGN §2); here we
check that habilitation and build the lot data; signing the lot file belongs to
the office tools.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .errors import BillingError
from .verify import VerifiedFse

MAX_FSE_PER_LOT = 500  # our limit; a full group is split into several lots


@dataclass(frozen=True)
class Lot:
    lot_number: int
    billing_number: str
    regime: str
    caisse: str
    fse_numbers: tuple[int, ...]
    total_cents: int
    amo_cents: int
    amc_cents: int
    seal: bytes

    def to_dict(self) -> dict:
        return {
            "header": {"lot_number": self.lot_number, "billing_number": self.billing_number,
                       "regime": self.regime, "caisse": self.caisse},
            "fse_numbers": list(self.fse_numbers),
            "end": {"count": len(self.fse_numbers), "total_cents": self.total_cents,
                    "amo_cents": self.amo_cents, "amc_cents": self.amc_cents,
                    "seal": self.seal},
        }


def group_lots(fses: Iterable[VerifiedFse], *, billing_number: str, can_sign_lot: bool,
               seal: bytes, first_lot_number: int) -> list[Lot]:
    """Group verified FSEs of ``billing_number`` into lots, ordered by (régime, caisse)
    then FSE number. Lot numbers are consecutive from ``first_lot_number``."""
    if not can_sign_lot:
        raise BillingError("situation not allowed to sign lots", code="ps_lot_not_allowed",
                           message_fr="Carte non habilitée aux lots")
    if not seal:
        raise BillingError("a lot needs the software seal", code="lot_seal_missing",
                           message_fr="Sceau logiciel absent")
    groups: dict[tuple[str, str], list[VerifiedFse]] = {}
    seen: set[int] = set()
    for fse in fses:
        if fse.billing_number != billing_number:
            raise BillingError(f"FSE {fse.number} belongs to {fse.billing_number}",
                               code="lot_other_professional",
                               message_fr="FSE d'un autre professionnel")
        if fse.number in seen:
            raise BillingError(f"FSE {fse.number} twice", code="lot_duplicate_fse",
                               message_fr="FSE en double")
        seen.add(fse.number)
        dest = fse.payload["destination"]
        groups.setdefault((dest["regime"], dest["caisse"]), []).append(fse)
    lots = []
    number = first_lot_number
    for (regime, caisse), members in sorted(groups.items()):
        members.sort(key=lambda f: f.number)
        for i in range(0, len(members), MAX_FSE_PER_LOT):
            chunk = members[i:i + MAX_FSE_PER_LOT]
            amounts = [f.payload["amounts"] for f in chunk]
            lots.append(Lot(
                lot_number=number, billing_number=billing_number, regime=regime, caisse=caisse,
                fse_numbers=tuple(f.number for f in chunk),
                total_cents=sum(a["total_cents"] for a in amounts),
                amo_cents=sum(a["amo_cents"] for a in amounts),
                amc_cents=sum(a["amc_cents"] for a in amounts),
                seal=seal,
            ))
            number += 1
    return lots
