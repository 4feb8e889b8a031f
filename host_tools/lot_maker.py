"""Making and signing lots at the office (``tla lots make``, docs/lots.md).

The CPS is read from the card (its situations, habilitations and certificate: never
passed as options), the PIN verified once, each lot signed by the situation whose
billing number it bills (``CpsReader.sign_digest(purpose="lot")`` refuses a situation
without the lot habilitation). Lots are numbered from the office database's counter
per billing number, signed, then stored in one transaction that re-checks the
counters: two office PCs never store the same number.

The card is any ``firmware.iso7816.apdu.CardConnection``: a PC/SC reader in production
(board/pcsc.py), an emulated card in tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from firmware.billing import lots as lot_rules
from firmware.billing.cose import CardSigner
from firmware.cardapps.cps import CpsReader, check_professional
from firmware.cardapps.model import Situation
from firmware.iso7816.apdu import CardConnection

from . import office_lots
from .office_db import OfficeDb


@dataclass
class MakeReport:
    card: str = ""
    made: list[office_lots.NewLot] = field(default_factory=list)
    # billing number -> why its FSEs wait (no situation on this card for it)
    waiting: dict[str, str] = field(default_factory=dict)
    # billing number -> why this card refused to sign its lots (habilitation)
    refused: dict[str, str] = field(default_factory=dict)
    fses_waiting: int = 0


class LotNumberError(ValueError):
    """--first-number is not above the last lot number used (the message says which)."""


def make_lots(db: OfficeDb, conn: CardConnection, pin: Callable[[], str], *, today: date,
              now: float, first_number: int | None = None,
              progress: Callable[[int, int], None] | None = None) -> MakeReport:
    """Lot every imported FSE the CPS in ``conn`` can sign lots for; see the module doc.
    Card errors (wrong PIN, blocked, card pulled) propagate as CardError; nothing is
    stored unless every lot of the run is signed. ``progress(done, total)`` after each
    lot signed."""
    reader = CpsReader(conn)
    card = reader.read()
    check_professional(card, today)
    report = MakeReport(card=f"{card.card_type} {card.serial} {card.name} {card.first_name}")
    by_billing: dict[str, list[office_lots.StoredFse]] = {}
    for fse in office_lots.unlotted(db):
        by_billing.setdefault(fse.billing_number, []).append(fse)
    signable: list[tuple[Situation, list[office_lots.StoredFse]]] = []
    for billing, fses in sorted(by_billing.items()):
        sit = next((s for s in card.situations if s.billing_number == billing), None)
        if sit is None:
            report.waiting[billing] = "this card has no situation for it"
            report.fses_waiting += len(fses)
        elif not sit.can_sign_lot:
            report.refused[billing] = (f"situation {sit.index} ({billing}) of this "
                                       f"{card.card_type} has no lot habilitation")
            report.fses_waiting += len(fses)
        else:
            signable.append((sit, fses))
    if not signable:
        return report
    reader.verify_pin(pin())
    seals = office_lots.reference_seals(db)
    last = office_lots.last_lot_numbers(db)
    planned = []  # every lot of the run grouped first: the progress knows the total
    for sit, fses in signable:
        billing = sit.billing_number
        start = last.get(billing, 0) + 1
        if first_number is not None:
            lot_rules.check_lot_number(first_number, "first_number")
            if first_number < start:
                raise LotNumberError(f"--first-number {first_number}: lot numbers of {billing} "
                                     f"are used up to {start - 1}; give at least {start}")
            start = first_number
        by_number = {f.number: f for f in fses}
        planned.append((sit, by_number, lot_rules.group_lots(
            fses, billing_number=billing, can_sign_lot=True, first_lot_number=start)))
    total = sum(len(lots) for _, _, lots in planned)
    for sit, by_number, lots in planned:
        billing = sit.billing_number
        signer = _lot_signer(reader, sit, card.certificate or b"")
        for lot in lots:
            members = [by_number[n] for n in lot.fse_numbers]
            claimed = tuple(sorted({f.firmware_version for f in members} - {""}))
            version, hold = office_lots.seal_check(lot.seal, claimed, seals)
            payload = lot_rules.lot_payload(lot, [f.cose for f in members], made_at=int(now),
                                            card=card, situation=sit)
            report.made.append(office_lots.NewLot(
                billing_number=billing, lot_number=lot.lot_number, regime=lot.regime,
                caisse=lot.caisse, fse_rows=tuple(f.row_id for f in members),
                total_cents=lot.total_cents, amo_cents=lot.amo_cents, amc_cents=lot.amc_cents,
                seal=lot.seal, firmware_version=version, claimed_versions=claimed,
                hold_reason=hold,
                signer=f"{card.card_type} {card.serial} {card.name} {card.first_name} "
                       f"situation {sit.index}",
                made_at=now, lot_file=lot_rules.sign_lot(payload, sit, signer)))
            if progress is not None:
                progress(len(report.made), total)
    office_lots.store_lots(db, report.made, last)
    return report


def _lot_signer(reader: CpsReader, situation: Situation, certificate: bytes) -> CardSigner:
    def sign_digest(digest: bytes) -> bytes:
        return reader.sign_digest(digest, situation, purpose="lot")

    return CardSigner(certificate, sign_digest)
