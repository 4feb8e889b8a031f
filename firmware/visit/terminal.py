"""The professional's session on the unit: unlock with the CPS and its PIN,
lock, idle timeout, prepared invoices, visits, Vitale read only
(docs/visit.md has the state machine).

>>> # term = Terminal(unit)
>>> # pro = term.unlock("1234")                 # CPS in its slot
>>> # visit = term.start_visit(term.prepared_invoices()[0].invoice_id)
>>> # visit.read_vitale(); visit.choose_beneficiary(0); visit.check(); visit.sign()

Every method returns a plain result (:mod:`firmware.visit.results`) or raises
:class:`~firmware.visit.errors.VisitError` (code + message_fr). No printing, no
screen code: the keypad UI drives these methods.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import date, datetime

from firmware.billing.errors import BillingError
from firmware.billing.invoice import Invoice
from firmware.billing.pricing import price_invoice
from firmware.cardapps.cps import CpsReader, check_professional
from firmware.cardapps.cps_profile import PIN_TRIES
from firmware.cardapps.errors import WrongPin
from firmware.cardapps.model import ProfessionalCard, Situation
from firmware.cardapps.signature import card_public_key, sign_checked
from firmware.iso7816.errors import CardError
from firmware.store.errors import StoreError
from firmware.unit.clock import ClockNotSet
from firmware.unit.documents import DocumentError
from firmware.unit.unit import Unit

from . import vitale_record
from .errors import PinRejected, VisitError, translate
from .results import (
    ActChoice,
    ActOption,
    InvoiceSummary,
    Professional,
    SituationView,
    VitaleReadResult,
)
from .views import beneficiary_views, matches
from .visit import Visit, VitaleRead, read_checked_vitale

log = logging.getLogger("opentla.visit")
# Loaded records the store refuses (firmware/store/office_sig.py): left out of the
# prepared-invoice list so one planted row cannot hide the genuine ones.
REFUSED_LOADS = ("store_record_unsigned", "store_untrusted_office", "store_bad_office_signature",
                 "store_record_unreadable")

class Terminal:
    """One unit's use cases. States: ``locked`` -> ``unlocked`` (a CPS proved
    with its PIN) -> ``locked`` (lock, idle timeout, CPS pulled)."""

    def __init__(self, unit: Unit):
        self.unit = unit
        self._cps: CpsReader | None = None
        self._card: ProfessionalCard | None = None
        self.visit: Visit | None = None
        self._vitale_session = 0  # Vitale removals seen: a read belongs to one session
        # prepared invoices decoded and priced: record id -> (record version, summary, invoice)
        self._prepared: dict[str, tuple[tuple, InvoiceSummary, Invoice]] = {}

    # ---- helpers -------------------------------------------------------------------
    def now(self) -> datetime:
        try:
            return self.unit.clock.now()
        except ClockNotSet as exc:
            raise translate(exc) from exc

    def today(self) -> date:
        return self.now().date()

    @property
    def state(self) -> str:
        return "unlocked" if self.is_unlocked else "locked"

    @property
    def is_unlocked(self) -> bool:
        """False after lock, idle timeout (the store's timer) or CPS removal."""
        if self._cps is not None and not self.unit.store.is_unlocked:
            self._forget("idle")
        return self._cps is not None

    def touch(self) -> None:
        """A key press: restart the idle timer."""
        self.unit.store.touch()

    def _require_unlocked(self) -> tuple[CpsReader, ProfessionalCard]:
        if not self.is_unlocked or self._cps is None or self._card is None:
            raise VisitError("unit locked", code="unit_locked", message_fr="Insérer carte CPS")
        self.unit.store.touch()
        return self._cps, self._card

    def _forget(self, reason: str) -> None:
        self._cps = None
        self._card = None
        self._prepared = {}
        if self.visit is not None:
            self.visit.abort()
            self.visit = None
        log.info("session_closed reason=%s", reason)

    def card_removed(self, slot: str) -> None:
        """A card left its slot (the UI calls this on the slot's removal event;
        the use cases call it when a card error says so). Pulling the CPS locks;
        pulling the Vitale ends its card session (a kept read is not reused)."""
        if slot == "cps" and self._cps is not None:
            self.lock("card_removed")
        elif slot == "vitale":
            self._vitale_session += 1

    @property
    def vitale_session(self) -> int:
        """The Vitale slot's card session: changes when the card is pulled."""
        return self._vitale_session

    # ---- unlock and lock ---------------------------------------------------------------
    def _prove(self, pin: str) -> tuple[CpsReader, ProfessionalCard, bytes]:
        """Read the CPS, verify its PIN, and make the store's card proof: the card's
        RSASSA-PKCS1-v1_5 signature (deterministic, RFC 8017 §8.2) of SHA-256 of
        ``store.unlock_challenge`` (docs/store.md), verified under the card's
        certificate (``card_bad_signature`` after two answers that do not verify)."""
        try:
            reader = self.unit.timed("card.cps.connect", lambda: CpsReader(self.unit.connect_cps()))
            card = self.unit.timed("card.cps.read", reader.read)
        except (CardError, StoreError) as exc:
            raise translate(exc, "cps") from exc
        try:
            check_professional(card, self.today())
        except CardError as exc:
            raise VisitError(str(exc), code="ps_card_expired", message_fr="Carte CPS expirée",
                             cause=exc) from exc
        if card.pin_tries_left == 0:
            raise VisitError("PIN blocked", code="pin_blocked", message_fr="Carte bloquée")
        try:
            key = card_public_key(card.certificate or b"")
            self.unit.timed("card.cps.verify_pin", lambda: reader.verify_pin(pin))
            digest = hashlib.sha256(self.unit.store.unlock_challenge).digest()
            # checked against the card's certificate (asked again once) before it wraps
            # or opens the store key: a proof corrupted on the line must not be enrolled
            proof = self.unit.timed("card.cps.sign", lambda: sign_checked(
                lambda d: reader.sign_digest(d, purpose="unlock"), key, digest))
        except WrongPin as exc:
            raise PinRejected(exc) from exc
        except CardError as exc:  # PinBlocked, PinFormatError, card pulled...
            raise translate(exc, "cps") from exc
        return reader, card, proof

    def unlock(self, pin: str) -> Professional:
        """CPS in its slot + PIN: unlock the store. Wrong PIN: :class:`PinRejected`
        with ``tries_left``; blocked card: ``pin_blocked``; a CPS not enrolled on
        this unit: ``store_wrong_card``; expired card: ``ps_card_expired``."""
        if self.is_unlocked:
            self.lock("replace")
        started = self.unit.monotonic()
        try:
            reader, card, proof = self._prove(pin)
            try:
                self.unit.store.unlock(proof)
            except StoreError as exc:
                raise translate(exc) from exc
            finally:
                del proof
        except VisitError as exc:
            self.unit.trace("visit.unlock", started, exc.code)
            raise
        self.unit.trace("visit.unlock", started, "ok")
        self._cps, self._card = reader, card
        log.info("session_unlocked card_type=%s", card.card_type)
        return self._professional(card)

    def enrol(self, pin: str) -> Professional:
        """Enrol the CPS in the slot so it can unlock this unit (store must be
        unlocked: right after pairing/provisioning, or by an enrolled card).
        The session then goes on with this card."""
        if not self.unit.store.is_unlocked:
            raise VisitError("enrolment needs an unlocked store", code="unit_locked",
                             message_fr="Insérer carte CPS")
        started = self.unit.monotonic()
        try:
            reader, card, proof = self._prove(pin)
            try:
                self.unit.store.enrol_card(proof, label=card.card_type.lower())
            except StoreError as exc:
                raise translate(exc) from exc
        except VisitError as exc:
            self.unit.trace("visit.enrol", started, exc.code)
            raise
        self.unit.trace("visit.enrol", started, "ok")
        self._cps, self._card = reader, card  # the session goes on with this card
        return self._professional(card)

    def lock(self, reason: str = "demand") -> None:
        self.unit.store.lock(reason)
        self._forget(reason)

    @staticmethod
    def _professional(card: ProfessionalCard) -> Professional:
        return Professional(
            card_type=card.card_type, name=card.name, first_name=card.first_name,
            situations=tuple(SituationView(s.index, s.billing_number, s.profession, s.specialty,
                                           s.can_sign_fse, s.practice_name)
                             for s in card.situations),
            pin_tries_left=PIN_TRIES,
        )

    def situation(self, index: int = 0) -> Situation:
        _, card = self._require_unlocked()
        if not 0 <= index < len(card.situations):
            raise VisitError(f"no situation {index}", code="ps_no_situation",
                             message_fr="Situation inconnue")
        return card.situations[index]

    def _situation_for(self, billing_number: str) -> Situation:
        _, card = self._require_unlocked()
        for sit in card.situations:
            if sit.billing_number == billing_number:
                return sit
        raise VisitError(f"no situation billed as {billing_number}",
                         code="ps_situation_mismatch", message_fr="Facture d'une autre situation")

    # ---- prepared invoices ------------------------------------------------------------
    def prepared_invoices(self) -> list[InvoiceSummary]:
        """Loaded, unsigned invoices of the unlocked professional's situations
        (the store's professional id is the situation's billing number)."""
        _, card = self._require_unlocked()
        try:
            tariffs = self.unit.tariffs()
        except (DocumentError, StoreError):
            tariffs = None
        cache: dict[str, tuple[tuple, InvoiceSummary, Invoice]] = {}
        try:
            for sit in card.situations:
                for info in self.unit.store.list_records("invoice", sit.billing_number):
                    if info.status != "loaded":
                        continue
                    key = (info.updated_at, info.size, id(tariffs))
                    kept = self._prepared.get(info.record_id)
                    if kept is not None and kept[0] == key:
                        cache[info.record_id] = kept
                        continue
                    try:
                        inv = self._load_invoice(info.record_id)
                    except VisitError as exc:
                        if exc.code not in REFUSED_LOADS:
                            raise
                        log.warning("invoice_refused code=%s", exc.code)
                        continue  # not listed; starting it shows why (docs/store.md)
                    total = None
                    if tariffs is not None:
                        try:
                            total = price_invoice(inv, tariffs).total_cents
                        except BillingError:
                            total = None
                    name = "" if inv.patient is None else \
                        f"{inv.patient.name} {inv.patient.first_name}".strip()
                    cache[info.record_id] = (key, InvoiceSummary(
                        inv.invoice_id, inv.billing_number, inv.date_of_care, name,
                        len(inv.lines), total), inv)
        except StoreError as exc:
            raise translate(exc) from exc
        self._prepared = cache  # decoded once per record version, until the lock
        return sorted((c[1] for c in cache.values()), key=lambda s: (s.date_of_care, s.invoice_id))

    def _load_invoice(self, invoice_id: str) -> Invoice:
        try:
            from firmware.unit import documents

            return documents.invoice(self.unit.store.get_invoice(invoice_id), invoice_id)
        except (StoreError, DocumentError) as exc:
            raise translate(exc) from exc

    def start_visit(self, invoice_id: str) -> Visit:
        """Start the visit of a prepared invoice (it must be loaded and unsigned,
        billed under one of the card's situations)."""
        cps, _ = self._require_unlocked()
        try:
            info = self.unit.store.record_info("invoice", invoice_id)
        except StoreError as exc:
            raise translate(exc) from exc
        if info.status != "loaded":
            raise VisitError(f"invoice {invoice_id} is {info.status}", code="invoice_used",
                             message_fr="Facture déjà signée")
        inv = self._load_invoice(invoice_id)
        sit = self._situation_for(inv.billing_number)
        return self._open_visit(Visit(self, cps, sit, inv, prepared=True))

    def _open_visit(self, visit: Visit) -> Visit:
        if self.visit is not None and not self.visit.finished:
            self.visit.abort()
        self.visit = visit
        return visit

    # ---- invoice on the spot ------------------------------------------------------------
    def tariff_acts(self, situation: int = 0, day: date | None = None) -> list[ActOption]:
        """Acts of the loaded tariff for this situation's profession, priced at ``day``."""
        sit = self.situation(situation)
        day = day or self.today()
        try:
            table = self.unit.tariffs()
        except (DocumentError, StoreError) as exc:
            raise translate(exc) from exc
        out = []
        for e in table.entries():
            price = e.price_at(day)
            if e.profession == sit.profession and price is not None:
                out.append(ActOption(e.code, e.label, e.kind, str(price), e.prescription))
        return out

    def new_visit(self, acts: list[ActChoice], *, situation: int = 0,
                  date_of_care: date | None = None, prescription: dict | None = None,
                  nature: str = "maladie", tiers_payant: str = "none",
                  exoneration: str = "none", patient: dict | None = None) -> Visit:
        """An invoice created on the spot from the loaded tariff, then a visit on it.
        ``prescription`` / ``patient`` take the dict shapes of docs/billing.md."""
        cps, _ = self._require_unlocked()
        sit = self.situation(situation)
        raw = {
            "invoice_id": "spot-" + secrets.token_hex(6),
            "billing_number": sit.billing_number,
            "profession": sit.profession,
            "date_of_care": (date_of_care or self.today()).isoformat(),
            "lines": [{"code": a.code, "coefficient": a.coefficient, "quantity": a.quantity,
                       "km": a.km} for a in acts],
            "patient": patient, "prescription": prescription, "nature": nature,
            "exoneration": exoneration, "tiers_payant": tiers_payant,
        }
        try:
            inv = Invoice.from_dict(raw)
        except BillingError as exc:
            raise translate(exc) from exc
        return self._open_visit(Visit(self, cps, sit, inv, prepared=False))

    # ---- the Vitale card inserted on the home screen ------------------------------------
    def read_vitale_card(self) -> VitaleRead:
        """Read and check the card in the Vitale slot (opposed, expired: refused),
        for :meth:`invoices_for` and then the visit (``Visit.read_vitale(kept)``)."""
        self._require_unlocked()
        reader, card = read_checked_vitale(self.unit, self.today())
        return VitaleRead(reader, card, self._vitale_session)

    def invoices_for(self, read: VitaleRead) -> list[InvoiceSummary]:
        """The prepared invoices of the patients on the card (NIR + key + birth
        date + rank, the rule of the checks), oldest care first."""
        out = []
        summaries = self.prepared_invoices()
        invoices = {id(summary): inv for _, summary, inv in self._prepared.values()}
        for summary in summaries:
            patient = invoices[id(summary)].patient
            if patient is not None and any(matches(patient, b) for b in read.card.beneficiaries):
                out.append(summary)
        return out

    # ---- Vitale read only ----------------------------------------------------------------
    def read_vitale_only(self) -> VitaleReadResult:
        """Read the Vitale card and keep the read for billing later at the office
        (and for SESAM sans Vitale). An opposed or expired card is refused and
        nothing is stored."""
        _, card = self._require_unlocked()
        return self.unit.timed("visit.read_vitale_only", lambda: self._read_and_keep(card))

    def _read_and_keep(self, card: ProfessionalCard) -> VitaleReadResult:
        now = self.now()
        _, vitale = read_checked_vitale(self.unit, now.date())
        read_id = "VR-" + secrets.token_hex(8)  # opaque: no card serial in an id (docs/store.md)
        payload = vitale_record.encode(vitale, now, self.unit.serial)
        try:
            self.unit.store.put_vitale_read(read_id, card.situations[0].billing_number, payload)
        except StoreError as exc:
            raise translate(exc) from exc
        return VitaleReadResult(read_id, vitale.serial, now,
                                beneficiary_views(vitale, now.date(), None))

    def vitale_reads(self) -> list[str]:
        """Ids of the Vitale reads kept on the unit (newest last)."""
        self._require_unlocked()
        return [i.record_id for i in sorted(self.unit.store.list_records("vitale_read"),
                                            key=lambda i: (i.created_at, i.record_id))]
