"""A simulated unit with a real store full of signed FSEs, served over a pty.

FSEs are built with firmware.billing (build_fse) from cards of the simulated test
PKI (board/sim/pki.py) and committed with the store API, as the visit layer will.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from billing.conftest import beneficiary, card_signer, context
from billing.fse_helpers import nurse_invoice
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding
from link.helpers import FakeUnit
from store.helpers import card_proof

from board.sim.link_port import PtyLinkPort
from board.sim.pki import TestPki
from firmware.billing.cose import DeviceSigner
from firmware.billing.fse import build_fse
from firmware.billing.tariffs import TariffTable
from firmware.billing.trust import CardAuthorities
from firmware.office_link.data_groups import TRANSFER_BUF_SIZE, data_groups
from firmware.office_link.events import PairingRequested
from firmware.office_link.group_fse import DeviceIdentity
from firmware.office_link.runner import LinkRunner
from firmware.office_link.security import Identity, MemoryPairedHosts
from firmware.office_link.server import SMPServer
from firmware.store import Store
from firmware.store.crypto import public_raw
from host_tools.unit_link import client as link
from host_tools.unit_link.keystore import HostKeys

UNIT_ID = "SIM-0001"
SEAL = bytes(range(32))
PROF = "123456789"  # the nurse invoice's billing number
SIGNED_AT = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


@dataclass
class Cards:
    cps: object
    vitale: object
    trust: CardAuthorities


_CARDS: list[Cards] = []


def cards() -> Cards:
    """CPS and Vitale signers from the simulated test PKI (keys cached on disk)."""
    if not _CARDS:
        pki = TestPki.create()
        cps_key, cps_cert = pki.issue_professional("MARTIN CLAIRE", "810001234567",
                                                   date(2024, 1, 1), date(2028, 12, 31))
        vit_key, vit_cert = pki.issue_vitale("DUPONT JEAN", "0123456789",
                                             date(2024, 1, 1), date(2030, 12, 31))
        trust = CardAuthorities([der(pki.root)], [der(pki.cps_ca), der(pki.vitale_ca)])
        _CARDS.append(Cards(card_signer(der(cps_cert), cps_key),
                            card_signer(der(vit_cert), vit_key), trust))
    return _CARDS[0]


def trust_pem(path: Path) -> Path:
    """The simulated PKI's root and intermediates as a PEM bundle (for --trust)."""
    pki = TestPki.create()
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM)
                              for c in (pki.root, pki.cps_ca, pki.vitale_ca)))
    return path


_TARIFFS: list[TariffTable] = []


def sign_fse(device_key: Ed25519PrivateKey, number: int, unit_id: str = UNIT_ID,
             when: datetime = SIGNED_AT) -> bytes:
    if not _TARIFFS:
        _TARIFFS.append(TariffTable.load_sample())
    c = cards()
    ctx = context(nurse_invoice(invoice_id=f"INV-{number}"), _TARIFFS[0], mode="secured",
                  ben=beneficiary())
    return build_fse(ctx, number=number, unit_id=unit_id, signed_at=when, cps=c.cps,
                     vitale=c.vitale, device=DeviceSigner(unit_id, device_key, SEAL)).encoded


class UnitPort:
    """The pty, the unit's link runner, and calls queued for the unit's own thread
    (SQLite objects belong to the thread that opened them, as on the real unit).

    The runner drives this object as its server: it passes everything to the real
    server, and subclasses may rewrite what the unit sends (:meth:`outgoing`) or use
    another pty port (``pty_class``). ``events`` lists the server's events."""

    pty_class = PtyLinkPort

    def __init__(self, server) -> None:
        self.server = server
        self.events: list = []
        self.pty = self.pty_class()
        self.path = self.pty.path
        self.runner = LinkRunner(self, self.pty, on_event=self._event)
        self.calls: queue.Queue = queue.Queue()
        self.stopping = threading.Event()

    def outgoing(self, actions: list) -> list:
        return actions

    def receive_data(self, data: bytes, now: float) -> list:
        return self.outgoing(self.server.receive_data(data, now))

    def tick(self, now: float) -> list:
        return self.outgoing(self.server.tick(now))

    def confirm_pairing(self, now: float) -> list:
        return self.outgoing(self.server.confirm_pairing(now))

    def reject_pairing(self, now: float) -> list:
        return self.outgoing(self.server.reject_pairing(now))

    def link_reset(self, now: float) -> list:
        return self.outgoing(self.server.link_reset(now))

    def _event(self, action) -> None:
        self.events.append(action)
        if isinstance(action, PairingRequested):
            self.runner.press_valider()  # the scripted person presses Valider

    def serve(self) -> None:
        try:
            while not self.stopping.is_set():
                self.runner.step(0.02)
                while not self.calls.empty():
                    fn, box = self.calls.get()
                    try:
                        box.put((True, fn()))
                    except BaseException as exc:  # handed back to the test thread
                        box.put((False, exc))
        finally:
            self.pty.close()


class SimUnit:
    """Store, server and pty port living on one background thread."""

    def __init__(self, tmp: Path, fse_count: int = 0, port_class=UnitPort,
                 buf_size: int = TRANSFER_BUF_SIZE, db_name: str = "unit.db",
                 unit_id: str = UNIT_ID, first_number: int = 1) -> None:
        self.device_key = Ed25519PrivateKey.generate()
        self.unit_id, self.first_number = unit_id, first_number
        self.fses: dict[str, bytes] = {}
        self._ready = threading.Event()
        self._error: BaseException | None = None
        args = (tmp / db_name, fse_count, port_class, buf_size)
        self._thread = threading.Thread(target=self._run, args=args, daemon=True)
        self._thread.start()
        self._ready.wait(300)
        if self._error is not None:
            raise self._error

    def _run(self, db: Path, fse_count: int, port_class, buf_size: int) -> None:
        try:
            self.store, self.proof = make_store(db, self.first_number)
            device = DeviceIdentity(self.unit_id, self.device_key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw))
            self.services = FakeUnit()
            self.server = SMPServer(Identity.generate(), OfficeTrust(self.store), self.services,
                                    groups=data_groups(self.store, device, buf_size),
                                    buf_size=buf_size)
            self.port = port_class(self.server)
            self._add_fses(fse_count)
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            self.port.serve()
        finally:
            self.store.close()

    @property
    def path(self) -> str:
        return self.port.path

    def call(self, fn):
        """Run ``fn()`` on the unit's thread; return its result or raise its error."""
        box: queue.Queue = queue.Queue()
        self.port.calls.put((fn, box))
        ok, value = box.get(timeout=300)
        if not ok:
            raise value
        return value

    def _add_fses(self, count: int) -> None:
        for _ in range(count):
            number = self.store.next_fse_number(PROF)
            cose = sign_fse(self.device_key, number, self.unit_id)
            fse_id = f"FSE-{number:06d}"
            self.store.signed_fse(fse_id, PROF, number, cose)
            self.fses[fse_id] = cose

    def add_fses(self, count: int) -> None:
        self.call(lambda: self._add_fses(count))

    def unlock(self) -> None:
        self.call(lambda: self.store.unlock(self.proof))

    def lock(self) -> None:
        self.call(lambda: self.store.lock())

    def statuses(self) -> dict[str, tuple[str, str | None]]:
        return self.call(lambda: {f.fse_id: (f.status, f.import_ack)
                                  for f in self.store.list_fses()})

    def stop(self) -> None:
        self.port.stopping.set()
        self._thread.join(timeout=10)


class OfficeTrust(MemoryPairedHosts):
    """Paired hosts; a host paired while the store is unlocked becomes a trusted
    load signer (as board/sim/unit.py ProvisioningTrust does)."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store

    def add(self, host) -> None:
        super().add(host)
        if self.store.is_unlocked:
            self.store.trust_office(host.host_id)


def make_store(path: Path, first_number: int = 1) -> tuple[Store, bytes]:
    """A provisioned store with one enrolled card (left unlocked) and an FSE range
    (``first_number`` .. +99,999: two units of one professional get disjoint ones)."""
    store = Store.open(str(path), wall_clock=lambda: SIGNED_AT.timestamp() + 60)
    store.provision(public_raw(X25519PrivateKey.generate().public_key()))
    proof = card_proof(store)
    store.enrol_card(proof)
    store.load_fse_range("R1", PROF, first_number, first_number + 99_999)
    return store, proof


def run(coro, timeout: float = 120):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def pair_host(path: str, keys_path: Path) -> HostKeys:
    keys = HostKeys.load_or_create(keys_path)
    async with link.connect(path, 5) as client:
        await link.pair(client, keys, lambda code: None, wait_s=10, poll_s=0.05)
    return keys


def future(days: int) -> float:
    return (SIGNED_AT + timedelta(days=days)).timestamp()
