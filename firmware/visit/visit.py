"""One visit: an invoice on its way to a signed FSE (docs/visit.md §Visit).

States and the steps each allows (``TRANSITIONS`` is the behaviour)::

    started --read_vitale--> card_read --choose_beneficiary--> patient_set
    started --use_degraded / use_sans_vitale--> patient_set
    patient_set --check (ok)--> checked --sign (store committed)--> signed
    any open state --cancel / lock / CPS pulled--> aborted

Signing (docs/visit.md §Signing): checks again at the unit's date; reserve the
next FSE number (store transaction 1); the cards and the device key sign
(firmware.billing.fse.build_fse), each card signature checked against the card's
certificate first and asked again once on a mismatch (``card_bad_signature``
otherwise: nothing is committed); the store commits the FSE, uses the number
and marks the prepared invoice used (store transaction 2). Only then is
"signed" returned. A failure between the two transactions abandons the number
with the failure's code as the recorded reason (a power cut there leaves it
reserved: the store records it as skipped at the next start).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from firmware.billing import modes
from firmware.billing.checks import CheckContext, CheckResult, check_invoice
from firmware.billing.cose import CardSigner
from firmware.billing.errors import BillingError
from firmware.billing.fse import build_fse
from firmware.billing.invoice import Invoice
from firmware.cardapps.cps import CpsReader
from firmware.cardapps.errors import CardExpired, VitaleOpposed
from firmware.cardapps.model import Beneficiary, Situation, VitaleCard
from firmware.cardapps.signature import card_public_key, sign_checked
from firmware.cardapps.vitale import VitaleReader, check_vitale
from firmware.errors import InternalError
from firmware.iso7816.errors import CardError
from firmware.store.errors import StoreError
from firmware.unit.documents import DocumentError
from firmware.unit.unit import trace_code

from . import vitale_record
from .errors import ChecksRefused, VisitError, WrongState, translate
from .results import CheckReport, IssueView, SignedResult, VitaleView
from .views import beneficiary_views, matches

log = logging.getLogger("opentla.visit")

STARTED, CARD_READ, PATIENT_SET, CHECKED = "started", "card_read", "patient_set", "checked"
SIGNED, ABORTED = "signed", "aborted"
OPEN = (STARTED, CARD_READ, PATIENT_SET, CHECKED)

# step -> states it may start from
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "read_vitale": (STARTED, CARD_READ, PATIENT_SET, CHECKED),
    "choose_beneficiary": (CARD_READ, PATIENT_SET, CHECKED),
    "use_degraded": (STARTED, CARD_READ, PATIENT_SET, CHECKED),
    "use_sans_vitale": (STARTED,),
    "check": (PATIENT_SET, CHECKED),
    "sign": (CHECKED,),
    "cancel": OPEN,
}
# codes of the billing checks that judge the chosen beneficiary
BENEFICIARY_CODES = ("beneficiary_mismatch", "rights_closed", "care_before_rights",
                     "ald_not_on_card", "vitale_opposed", "vitale_expired")


def _reason(exc: BaseException) -> str:
    """A store skip reason (1-48 of [a-z0-9_.]) from an error's code."""
    return trace_code(getattr(exc, "code", "") or "signature_failed")


def _views(issues) -> tuple[IssueView, ...]:
    return tuple(IssueView(i.code, i.message_fr, i.field) for i in issues)




def read_checked_vitale(unit, today: date) -> tuple[VitaleReader, VitaleCard]:
    """Read the card in the Vitale slot; refuse an opposed or expired card."""
    try:
        reader = unit.timed("card.vitale.connect", lambda: VitaleReader(unit.connect_vitale()))
        card = unit.timed("card.vitale.read", reader.read)
        check_vitale(card, today, unit.opposition())
    except VitaleOpposed as exc:
        raise translate(exc) from exc
    except CardExpired as exc:
        raise VisitError(str(exc), code="vitale_expired", message_fr="Carte Vitale expirée",
                         cause=exc) from exc
    except (CardError, StoreError, DocumentError) as exc:
        raise translate(exc, "vitale") from exc
    return reader, card


@dataclass(frozen=True)
class VitaleRead:
    """A Vitale card read and checked (:meth:`Terminal.read_vitale_card`), with
    the card session it belongs to: the terminal's count of Vitale removals
    when it was read. A visit reuses it only in the same session (the card not
    pulled since); the card's link itself still refuses a swapped card when
    the Vitale signs."""

    reader: VitaleReader
    card: VitaleCard
    session: int


class Visit:
    """Made by :class:`~firmware.visit.terminal.Terminal` (start_visit, new_visit)."""

    def __init__(self, terminal, cps: CpsReader, situation: Situation, invoice: Invoice,
                 *, prepared: bool):
        self.terminal = terminal
        self.unit = terminal.unit
        self._cps = cps
        self.situation = situation
        self.invoice = invoice
        self.prepared = prepared  # loaded by the office (marked used when signed)
        self.state = STARTED
        self.mode: str | None = None
        self._vitale_reader: VitaleReader | None = None
        self.vitale: VitaleCard | None = None
        self.beneficiary: Beneficiary | None = None
        self.read_on: date | None = None

    # ---- state ---------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.state in (SIGNED, ABORTED)

    def _expect(self, step: str) -> None:
        if self.state not in TRANSITIONS[step]:
            raise WrongState(f"{step} not allowed in state {self.state}")
        if not self.terminal.is_unlocked:
            self.state = ABORTED
            raise VisitError("unit locked", code="unit_locked", message_fr="Insérer carte CPS")
        self.terminal.touch()

    def abort(self) -> None:
        if not self.finished:
            self.state = ABORTED

    def cancel(self) -> None:
        """The professional gives up this visit: nothing is stored."""
        self._expect("cancel")
        self.state = ABORTED

    def _drop_card(self) -> None:
        self._vitale_reader = None
        self.vitale = self.beneficiary = None
        self.read_on = None
        self.mode = None
        self.state = STARTED

    # ---- patient -------------------------------------------------------------------
    def read_vitale(self, kept: VitaleRead | None = None) -> VitaleView:
        """Read the Carte Vitale (secured mode). Opposed or expired: refused.
        ``kept``: a read of the card still in its slot (same card session: not
        pulled since), used instead of reading the card again; from another
        session it is ignored and the card is read."""
        self._expect("read_vitale")
        today = self.terminal.today()
        self._drop_card()
        if kept is not None and kept.session == self.terminal.vitale_session:
            reader, card = kept.reader, kept.card
        else:
            reader, card = read_checked_vitale(self.unit, today)
        self._vitale_reader, self.vitale = reader, card
        self.mode, self.state = modes.SECURED, CARD_READ
        views = beneficiary_views(card, self.invoice.date_of_care, self.invoice.patient)
        matching = [v.index for v in views if v.matches_invoice]
        return VitaleView(card.serial, card.variant, card.certificate is not None, views,
                          matching[0] if len(matching) == 1 else None)

    def choose_beneficiary(self, index: int) -> None:
        """Pick the patient on the card. A NIR-bound invoice must match; rights
        must be open at the date of care."""
        self._expect("choose_beneficiary")
        if self.vitale is None:
            raise InternalError(f"state {self.state} allows choose_beneficiary without a Vitale read")
        self._set_beneficiary(self.vitale, index)
        self.state = PATIENT_SET

    def _set_beneficiary(self, card: VitaleCard, index: int) -> None:
        found = [b for b in card.beneficiaries if b.index == index]
        if not found:
            raise VisitError(f"no beneficiary {index}", code="beneficiary_unknown",
                             message_fr="Bénéficiaire inconnu")
        previous, self.beneficiary = self.beneficiary, found[0]
        result = self._run_checks()
        bad = [i for i in result.issues if i.blocking and i.code in BENEFICIARY_CODES]
        if bad:
            self.beneficiary = previous
            raise VisitError(bad[0].code, code=bad[0].code, message_fr=bad[0].message_fr)

    def use_degraded(self) -> None:
        """SESAM dégradé: no Vitale card (absent, not presented, faulty). A card
        read in this visit is dropped only if it cannot sign (Vitale 1)."""
        self._expect("use_degraded")
        if self.vitale is not None and self.vitale.certificate is not None:
            raise VisitError("a Vitale card that can sign was read", code="mode_vitale_present",
                             message_fr="Vitale présente: mode sécurisé")
        self._drop_card()
        self.mode, self.state = modes.DEGRADED, PATIENT_SET

    def use_sans_vitale(self, read_id: str, beneficiary: int | None = None) -> None:
        """SESAM sans Vitale on a Vitale read kept on the unit (rental acts only).
        ``beneficiary`` may be omitted when the invoice is bound to a patient."""
        self._expect("use_sans_vitale")
        try:
            card, read_at, _ = vitale_record.decode(
                self.unit.store.get_record("vitale_read", read_id))
        except (StoreError, vitale_record.VitaleRecordError) as exc:
            raise translate(exc) from exc
        if beneficiary is None:
            found = [b.index for b in card.beneficiaries
                     if self.invoice.patient is not None and matches(self.invoice.patient, b)]
            if len(found) != 1:
                raise VisitError("choose the beneficiary", code="beneficiary_unknown",
                                 message_fr="Choisir le bénéficiaire")
            beneficiary = found[0]
        self.mode, self.vitale, self.read_on = modes.SANS_VITALE, card, read_at.date()
        try:
            self._set_beneficiary(card, beneficiary)
        except VisitError:
            self._drop_card()
            raise
        self.state = PATIENT_SET

    # ---- checks --------------------------------------------------------------------
    def _context(self, today: date) -> CheckContext:
        try:
            tariffs, opposition = self.unit.tariffs(), self.unit.opposition()
        except (DocumentError, StoreError) as exc:
            raise translate(exc) from exc
        card = self._cps.read()
        degraded = self.mode == modes.DEGRADED
        return CheckContext(
            invoice=self.invoice, mode=self.mode or modes.SECURED, tariffs=tariffs,
            ps_card=card, situation=self.situation, today=today,
            vitale=None if degraded else self.vitale,
            beneficiary=None if degraded else self.beneficiary,
            opposition=opposition, vitale_read_on=self.read_on)

    def _run_checks(self) -> CheckResult:
        return check_invoice(self._context(self.terminal.today()))

    def check(self) -> CheckReport:
        """Run the billing checks; errors block, warnings are shown and recorded."""
        self._expect("check")
        result = self._run_checks()
        self.state = CHECKED if result.ok else PATIENT_SET
        errors = tuple(i for i in result.issues if i.blocking)
        warnings = tuple(i for i in result.issues if not i.blocking)
        a = result.amounts
        return CheckReport(result.ok, _views(errors), _views(warnings),
                           *(None,) * 5 if a is None else
                           (a.total_cents, a.amo_cents, a.amc_cents, a.patient_cents,
                            a.due_now_cents))

    # ---- signing ---------------------------------------------------------------------
    def sign(self) -> SignedResult:
        """Sign in the chosen mode; returns only after the store committed the
        FSE. Timed in the traces as ``visit.sign`` with the outcome code."""
        self._expect("sign")
        started = self.unit.monotonic()
        try:
            result = self._sign()
        except VisitError as exc:
            self.unit.trace("visit.sign", started, exc.code)
            raise
        self.unit.trace("visit.sign", started, "ok")
        return result

    def _sign(self) -> SignedResult:
        store, bn = self.unit.store, self.invoice.billing_number
        now = self.terminal.now()
        ctx = self._context(now.date())
        result = check_invoice(ctx)
        if not result.ok:
            self.state = PATIENT_SET
            raise ChecksRefused(result.issues)
        card = ctx.ps_card
        if not self.situation.can_sign_fse:
            raise VisitError("situation cannot sign FSEs", code="cps_no_fse_right",
                             message_fr="Carte non habilitée FSE")
        vitale_signer = None
        if self.mode == modes.SECURED:
            if self.vitale is None or self._vitale_reader is None:
                raise InternalError("secured mode passed the checks without a Vitale read")
            if self.vitale.certificate is None:
                raise VisitError("Vitale 1 has no card key", code="vitale_cannot_sign",
                                 message_fr="Vitale 1: mode dégradé")
            vitale_signer = CardSigner(self.vitale.certificate, self._signing(
                "vitale", self.vitale.certificate, self._vitale_reader.sign_digest))
        cps_signer = CardSigner(card.certificate or b"", self._signing(
            "cps", card.certificate or b"", lambda d: self._cps.sign_digest(d, self.situation)))
        device = self.unit.device_signer()
        try:
            number = store.next_fse_number(bn)
        except StoreError as exc:
            raise translate(exc) from exc
        self._slot = ""
        try:
            fse = self.unit.timed("fse.build", lambda: build_fse(
                ctx, number=number, unit_id=self.unit.serial, signed_at=now,
                cps=cps_signer, vitale=vitale_signer, device=device))
        except (CardError, BillingError, ValueError) as exc:
            self._abandon(bn, number, exc)
            raise self._failed(exc) from exc
        fse_id = f"FSE-{bn}-{number:09d}"
        try:
            info = self.unit.timed("fse.commit", lambda: store.signed_fse(
                fse_id, bn, number, fse.encoded,
                invoice_id=self.invoice.invoice_id if self.prepared else None))
        except StoreError as exc:
            self._abandon(bn, number, exc)
            raise translate(exc) from exc
        self.state = SIGNED
        log.info("visit_signed mode=%s number=%d", self.mode, number)
        amounts = result.amounts
        if amounts is None:  # an unpriced invoice always carries a blocking issue
            raise InternalError("checks passed but the invoice was not priced")
        warnings = tuple(i for i in result.issues if not i.blocking)
        return SignedResult(info.fse_id, number, fse.mode, bn, now, amounts.total_cents,
                            amounts.due_now_cents, tuple(result.pj),
                            modes.rules(fse.mode).paper_sheet, _views(warnings))

    def _signing(self, slot: str, certificate: bytes, sign):
        """The card's ``sign_digest``, each answer checked against the card's
        certificate (read from the card) before it goes into the FSE, asked once more
        on a mismatch (firmware.cardapps.signature.sign_checked); a certificate that
        holds no RSA key is refused here, before an FSE number is reserved."""
        try:
            key = card_public_key(certificate)
        except CardError as exc:
            raise self._refused(exc, slot) from exc

        def run(digest: bytes) -> bytes:
            self._slot = slot
            return self.unit.timed(f"card.{slot}.sign", lambda: sign_checked(sign, key, digest))

        return run

    def _refused(self, exc: CardError, slot: str) -> VisitError:
        if slot == "cps":
            self.terminal.lock("card_error")
        else:
            self._drop_card()
        return translate(exc, slot)

    def _abandon(self, bn: str, number: int, exc: BaseException) -> None:
        try:
            self.unit.store.abandon_fse_number(bn, number, _reason(exc))
        except StoreError:  # left reserved: recorded as skipped at the next start
            log.error("fse_number_abandon_failed number=%d", number)

    def _failed(self, exc: BaseException) -> VisitError:
        """After a failed signature: a CPS error locks the unit (the card must be
        presented again with its PIN); a Vitale error asks for a new read."""
        slot = self._slot
        if isinstance(exc, ValueError) and not isinstance(exc, BillingError):
            self.state = ABORTED
            return VisitError(str(exc), code="visit_internal", message_fr="Erreur interne",
                              cause=exc)
        if isinstance(exc, CardError) and slot in ("cps", "vitale"):
            return self._refused(exc, slot)
        self.state = PATIENT_SET
        return translate(exc, slot)
