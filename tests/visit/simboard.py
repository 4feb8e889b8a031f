"""The simulated board for the visit tests: two SimCardSlots with the
character-level card emulator behind the real CardLink (T=0/T=1), a real store
in tmp_path, a settable clock, a fake fuel gauge, and the office's keys."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding

from board.sim.card_emulator import CardEmulator
from board.sim.cards.loader import build_card, load_card, personalisation
from board.sim.pki import TestPki
from board.sim.slot import SimCardSlot
from firmware.billing.trust import CardAuthorities
from firmware.billing.verify import FseVerifier
from firmware.iso7816.link import CardLink
from firmware.iso7816.slot import SlotConfig
from firmware.store.crypto import public_raw
from firmware.store.office_sig import sign_load
from firmware.unit import OffsetClock, Unit, UnitConfig

SIGN_TIME = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
PINS = {"cps_medecin": "1234", "cps_infirmier": "4321", "cpe_ambulance": "1111",
        "cps_kine": "2468"}
MEDECIN_BN = "759999014"
NURSE_BN = "699999025"

# A tariff table of the tests (prices chosen here, amounts computed by hand in
# the tests). Profession codes are the CPS situations' (10 medecin, 60 infirmier).
TEST_TARIFF = {
    "name": "visit tests", "sample": True,
    "professions": {"10": {"label": "Medecin", "amo_rate": 70},
                    "60": {"label": "Infirmier", "amo_rate": 60}},
    "acts": [
        {"profession": "10", "code": "G", "label": "Consultation", "kind": "fixed",
         "category": "care", "prices": [{"from": "2024-01-01", "to": None, "unit_price": "30.00"}]},
        {"profession": "10", "code": "V", "label": "Visite", "kind": "fixed",
         "category": "visit", "prices": [{"from": "2024-01-01", "to": None, "unit_price": "30.00"}]},
        {"profession": "10", "code": "MD", "label": "Majoration deplacement", "kind": "fixed",
         "category": "majoration",
         "prices": [{"from": "2024-01-01", "to": None, "unit_price": "10.00"}]},
        {"profession": "10", "code": "IK", "label": "Indemnite km", "kind": "per_km",
         "category": "travel", "prices": [{"from": "2024-01-01", "to": None, "unit_price": "0.61"}]},
        {"profession": "60", "code": "AMI", "label": "Acte infirmier", "kind": "coefficient",
         "category": "care", "prescription": True,
         "prices": [{"from": "2024-01-01", "to": None, "unit_price": "3.15"}]},
        {"profession": "60", "code": "IFD", "label": "Deplacement", "kind": "fixed",
         "category": "travel", "prices": [{"from": "2024-01-01", "to": None, "unit_price": "2.75"}]},
        {"profession": "60", "code": "LOC", "label": "Location materiel", "kind": "fixed",
         "category": "rental", "prescription": True,
         "prices": [{"from": "2024-01-01", "to": None, "unit_price": "12.50"}]},
    ],
}

PAUL = {"nir": "1800799999012", "nir_key": "56", "birth_date": "15/07/1980", "birth_rank": 1,
        "name": "ESSAI", "first_name": "PAUL", "regime": "01", "caisse": "751",
        "centre": "0001"}
EMMA = {"nir": "2120699999022", "nir_key": "14", "birth_date": "21/06/2012", "birth_rank": 2,
        "name": "ESSAI", "first_name": "EMMA"}
PRESCRIPTION = {"prescriber_id": "10001234567", "date": "2026-03-01"}


class FakeGauge:
    def __init__(self, value: int | None = 87):
        self.value = value

    def percent(self) -> int | None:
        return self.value


class Monotonic:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class SimBoard:
    """Two card slots, the clock and the office around one unit."""

    def __init__(self, tmp_path, pki: TestPki):
        self.pki = pki
        self.path = os.path.join(tmp_path, "unit.db")
        self.slots = {"cps": SimCardSlot(), "vitale": SimCardSlot()}
        self.prefer: dict[str, int | None] = {"cps": None, "vitale": None}
        self.links: dict[str, list[CardLink]] = {"cps": [], "vitale": []}
        self.cards: dict[str, object] = {}
        self.clock = OffsetClock(base=lambda: 0.0)
        self.clock.set(SIGN_TIME)
        self.monotonic = Monotonic()
        self.gauge = FakeGauge()
        self.office = X25519PrivateKey.generate()
        self.office_sign = Ed25519PrivateKey.generate()  # the office's link identity
        self.unit = self.open_unit()

    def open_unit(self) -> Unit:
        return Unit(UnitConfig(store_path=self.path), vitale_slot=lambda: self._connect("vitale"),
                    cps_slot=lambda: self._connect("cps"), clock=self.clock, gauge=self.gauge,
                    monotonic=self.monotonic)

    def reopen(self) -> Unit:
        self.unit.close()
        self.unit = self.open_unit()
        return self.unit

    def _connect(self, slot: str) -> CardLink:
        link = CardLink(self.slots[slot], SlotConfig(prefer_protocol=self.prefer[slot]))
        link.power_on()
        self.links[slot].append(link)
        return link

    # ---- cards -----------------------------------------------------------------
    def insert(self, slot: str, name_or_spec, prefer: int | None = None):
        """A sample card by name, a card built from a personalisation dict, or a card
        already built (the same card moved to another board)."""
        if isinstance(name_or_spec, str):
            card = load_card(name_or_spec, self.pki)
        elif isinstance(name_or_spec, dict):
            card = build_card(name_or_spec, self.pki)
        else:
            card = name_or_spec
        self.slots[slot] = SimCardSlot(CardEmulator(card))
        self.prefer[slot] = prefer
        self.cards[slot] = card
        return card

    def pull(self, slot: str, after_s: float = 0.0) -> None:
        """Pull the card ``after_s`` seconds of the slot's virtual time from now."""
        s = self.slots[slot]
        s.remove(at=s.now() + after_s)

    # ---- office ------------------------------------------------------------------
    def pair(self) -> None:
        """Provision the store for the office (leaves it unlocked for enrolment)."""
        self.unit.store.provision(public_raw(self.office.public_key()),
                                  self.office_sign.public_key().public_bytes_raw())

    def office_signed(self, kind: str, record_id: str, prof: str | None, body: bytes) -> tuple:
        """(signature, signer) as the office's `tla load` makes them."""
        store = self.unit.store
        return (sign_load(self.office_sign, store.unit_id, kind, record_id, prof, body),
                self.office_sign.public_key().public_bytes_raw())

    def load_tariff(self, table: dict = TEST_TARIFF, as_json: bool = False) -> None:
        body = json.dumps(table).encode() if as_json else cbor2.dumps(table)
        self.unit.store.put_tariff("current", body, *self.office_signed("tariff", "current",
                                                                        None, body))

    def load_opposition(self, body: bytes, list_id: str = "current") -> None:
        self.unit.store.put_opposition_list(
            body, *self.office_signed("opposition", list_id, None, body), list_id=list_id)

    def load_invoice(self, invoice: dict, as_json: bool = False) -> None:
        body = json.dumps(invoice).encode() if as_json else cbor2.dumps(invoice)
        iid, prof = invoice["invoice_id"], invoice["billing_number"]
        self.unit.store.put_invoice(iid, prof, body, *self.office_signed("invoice", iid, prof, body))

    def load_range(self, billing_number: str, first: int = 1, last: int = 500) -> None:
        self.unit.store.load_fse_range(f"R-{billing_number}", billing_number, first, last)

    def verifier(self) -> FseVerifier:
        der = [c.public_bytes(Encoding.DER) for c in (self.pki.root, self.pki.cps_ca,
                                                     self.pki.vitale_ca)]
        return FseVerifier(CardAuthorities([der[0]], der[1:]),
                           {self.unit.serial: self.unit.device_public_key()},
                           reference_seals=[self.unit.seal])


def vitale_spec(**changes) -> dict:
    spec = personalisation("vitale_famille_essai")
    spec.update(changes)
    return spec


def invoice(invoice_id: str = "INV-1", billing_number: str = MEDECIN_BN, profession: str = "10",
            lines=None, **kw) -> dict:
    raw = {"invoice_id": invoice_id, "billing_number": billing_number, "profession": profession,
           "date_of_care": "2026-03-10",
           "lines": lines or [{"code": "V"}, {"code": "MD"}, {"code": "IK", "km": "12"}]}
    raw.update(kw)
    return raw
