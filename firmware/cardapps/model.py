"""Plain domain objects read from the cards. The billing core, the store and the
office tools use these; the card readers build them; nothing here talks to a card.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class PartialDate:
    """A Vitale birth date: month and/or day may be unknown (0 on the card).
    Lunar birth dates (day up to 31 in any month, e.g. 31/02) are kept as read:
    ``lunar`` is True when the date does not exist in the Gregorian calendar."""

    year: int
    month: int = 0
    day: int = 0

    @property
    def lunar(self) -> bool:
        if not self.month or not self.day:
            return False
        try:
            date(self.year, self.month, self.day)
        except ValueError:
            return True
        return False

    def __str__(self) -> str:
        return f"{self.day:02d}/{self.month:02d}/{self.year:04d}"


@dataclass(frozen=True)
class RightsPeriod:
    """One AMO rights period. ``end`` None means open-ended."""

    start: date
    end: date | None
    exoneration: str = "0"  # code exonération du ticket modérateur ("0": none)
    ald: bool = False
    situation_code: str = ""  # code situation (e.g. maternité, AT, CMU-C)

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


@dataclass(frozen=True)
class AmcData:
    """Complementary insurance (mutuelle) data, optional on the card."""

    organism: str  # numéro AMC
    contract_type: str = ""
    start: date | None = None
    end: date | None = None
    tiers_payant: bool = False


@dataclass(frozen=True)
class Beneficiary:
    index: int  # position on the card (0 = holder)
    name: str
    first_name: str
    birth_date: PartialDate
    birth_rank: int  # rang de naissance (1, 2 for twins...)
    quality: str  # code qualité: "00" assuré, "02" conjoint, "06" enfant...
    nir: str  # 13 characters (digits; 2A/2B for Corsica)
    nir_key: str  # 2 digits
    regime: str  # 2 digits, e.g. "01" régime général
    caisse: str  # 3 digits
    centre: str  # 4 digits
    rights: tuple[RightsPeriod, ...] = ()
    amc: AmcData | None = None

    def rights_at(self, day: date) -> RightsPeriod | None:
        for period in self.rights:
            if period.covers(day):
                return period
        return None


@dataclass(frozen=True)
class VitaleCard:
    serial: str
    variant: str  # "vitale1" | "vitale2"
    valid_until: date | None
    holder_nir: str
    beneficiaries: tuple[Beneficiary, ...]
    certificate: bytes | None = None  # DER X.509 of the card-authentication key
    atr: bytes = b""


@dataclass(frozen=True)
class Situation:
    """One practice setting of a professional card."""

    index: int
    billing_number: str  # 8 digits + 1 key digit (numéro de facturation / AM)
    profession: str  # code profession (e.g. "10" médecin, "60" infirmier)
    specialty: str  # code spécialité
    convention_sector: str  # secteur conventionnel ("1", "2"...)
    tariff_zone: str  # zone tarifaire
    can_sign_fse: bool
    can_sign_lot: bool
    role: str = "titulaire"  # "titulaire" | "remplacant" | "salarie"
    practice_name: str = ""
    replaced_billing_number: str = ""  # for a remplaçant: the replaced professional


@dataclass(frozen=True)
class ProfessionalCard:
    """A CPS-family card (CPS, CPE, CDE)."""

    card_type: str  # "CPS" | "CPE" | "CDE"
    id_type: str  # type d'identification nationale (e.g. "8" RPPS, "0" ADELI)
    national_id: str
    name: str
    first_name: str
    serial: str
    valid_until: date | None
    situations: tuple[Situation, ...] = field(default_factory=tuple)
    certificate: bytes | None = None  # DER X.509 of the signature key
    pin_tries_left: int | None = None
    atr: bytes = b""
