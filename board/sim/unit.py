"""The unit running on the simulated board (``tla-unit sim`` and ``tla-unit demo``).

One thread owns everything the firmware owns: the :class:`~firmware.unit.Unit`
(its SQLite store belongs to the thread that opened it), the visit
:class:`~firmware.visit.Terminal`, and the SMP server with all its groups, served
on a pseudo-terminal (:class:`board.sim.link_port.PtyLinkPort`). Other threads
(the command reader, the demo) hand it work with :meth:`SimUnit.call`, as the
keypad task will on the real unit.

The board around it is simulated: two :class:`~board.sim.slot.SimCardSlot`
("vitale", "ps") holding emulated cards of ``board/sim/cards``, an
:class:`~firmware.unit.OffsetClock` over the PC's clock, and the
:class:`~board.sim.fuel_gauge.SimMax17048` fuel gauge.

State (``state_dir``): ``unit.db`` (+ ``unit.db.device-key``), the link identity
``unit_identity.json``, the paired hosts ``paired_hosts.json`` and the RTC offset
``clock.json``. The store is
provisioned for the office when the first host pairs: the host's X25519 key is
the office key the store's data key bundle is sealed to (docs/store.md).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from board.sim.card_emulator import CardEmulator
from board.sim.cards.loader import load_card
from board.sim.clock import SavedClock
from board.sim.fuel_gauge import SimMax17048
from board.sim.link_port import PtyLinkPort, load_identity
from board.sim.pki import TestPki
from board.sim.slot import SimCardSlot
from firmware.card.link import CardLink
from firmware.card.slot import SlotConfig
from firmware.link.data_groups import TRANSFER_BUF_SIZE, data_groups
from firmware.link.events import Action, PairingRequested
from firmware.link.group_fse import DeviceIdentity
from firmware.link.group_traces import LinkTracer, traced_groups
from firmware.link.security import JsonTrustStore, PairedHost
from firmware.link.server import SMPServer
from firmware.unit import Unit, UnitConfig
from firmware.visit import Terminal

log = logging.getLogger("opentla.sim")

SLOTS = ("vitale", "ps")


class SimUnitError(RuntimeError):
    """The simulated unit could not start or a command could not run."""


class ProvisioningTrust:
    """The paired-hosts list; the first host paired also provisions the store
    (its X25519 public key becomes the office key and its Ed25519 identity the
    first trusted load signer, docs/security.md). A host paired later is trusted
    as a load signer only if the store is unlocked then (the trusted list is
    keyed from the card-wrapped bundle); otherwise its loads are stored but
    refused at read (store_untrusted_office) until it pairs again unlocked."""

    def __init__(self, inner: JsonTrustStore, unit: Unit):
        self.inner = inner
        self.unit = unit

    def get(self, host_id: bytes) -> PairedHost | None:
        return self.inner.get(host_id)

    def add(self, host: PairedHost) -> None:
        self.inner.add(host)
        store = self.unit.store
        if not store.provisioned:
            store.provision(host.kx_public, host.host_id)
            log.info("store_provisioned host=%s", host.name)
        elif store.is_unlocked:
            store.trust_office(host.host_id)
        else:
            log.warning("store_office_not_trusted host=%s reason=locked", host.name)


class _Port(PtyLinkPort):
    """The pty port plus work queued by other threads, run between link rounds."""

    def __init__(self, server: SMPServer, **kw: Any) -> None:
        super().__init__(server, **kw)
        self.calls: queue.Queue = queue.Queue()

    def _carry_out(self, actions: list[Action], now: float) -> None:
        super()._carry_out(actions, now)
        while not self.calls.empty():
            fn, box = self.calls.get()
            try:
                box.put((True, fn()))
            except BaseException as exc:  # handed back to the caller's thread
                box.put((False, exc))


class SimUnit:
    """Start with :meth:`start`, stop with :meth:`stop` (or use ``with``).

    ``on_event`` sees every link event (pairing code, session...) on the unit's
    thread; ``auto_confirm`` presses Valider as soon as a pairing code shows."""

    def __init__(self, state_dir: Path, *, pki: TestPki | None = None,
                 on_event: Callable[[Action], None] | None = None,
                 auto_confirm: bool = False, battery_percent: float = 87.0):
        self.state_dir = Path(state_dir)
        self.pki = pki or TestPki.create()
        self.on_event = on_event
        self.auto_confirm = auto_confirm
        self.gauge = SimMax17048(soc=battery_percent)
        self.clock = SavedClock(self.state_dir / "clock.json")
        self.slots = {name: SimCardSlot() for name in SLOTS}
        self.cards: dict[str, str] = {}
        self.pairing_codes: list[str] = []
        self._pairing = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self.unit: Unit | None = None
        self.terminal: Terminal | None = None
        self.port: _Port | None = None
        self._tracer: LinkTracer | None = None

    # ---- life cycle ---------------------------------------------------------------------
    def start(self) -> SimUnit:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="sim-unit", daemon=True)
        self._thread.start()
        self._ready.wait(120)
        if self._error is not None:
            self._thread.join(5)
            raise SimUnitError(f"the simulated unit did not start: {self._error}") from self._error
        if self.port is None:
            raise SimUnitError("the simulated unit did not start in time")
        return self

    def _run(self) -> None:
        try:
            unit = Unit(UnitConfig(store_path=str(self.state_dir / "unit.db")),
                        vitale_slot=lambda: self._connect("vitale"),
                        cps_slot=lambda: self._connect("ps"),
                        clock=self.clock, gauge=self.gauge)
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        try:
            trust = ProvisioningTrust(JsonTrustStore(self.state_dir / "paired_hosts.json"), unit)
            device = DeviceIdentity(unit.serial, unit.device_public_key())
            server = SMPServer(load_identity(self.state_dir / "unit_identity.json"), trust,
                               unit,
                               groups=traced_groups(
                                   data_groups(unit.store, device, TRANSFER_BUF_SIZE), unit),
                               buf_size=TRANSFER_BUF_SIZE)
            self.unit, self.terminal = unit, Terminal(unit)
            self._tracer = LinkTracer(unit)  # pairing, sessions, link errors as traces
            self.port = _Port(server, auto_confirm=self.auto_confirm, on_event=self._event)
        except BaseException as exc:
            unit.close()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            self.port.serve()
        finally:
            unit.close()

    def stop(self) -> None:
        """Stop serving, close the store and the pty; idempotent."""
        if self.port is not None:
            self.port._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if self.port is not None:
            self.port.stop()

    def __enter__(self) -> SimUnit:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def path(self) -> str:
        assert self.port is not None
        return self.port.path

    def call(self, fn: Callable[[], Any], timeout: float = 120) -> Any:
        """Run ``fn()`` on the unit's thread; return its result or raise its error."""
        if self.port is None or self._thread is None:
            raise SimUnitError("the simulated unit is not running")
        box: queue.Queue = queue.Queue()
        self.port.calls.put((fn, box))
        try:
            ok, value = box.get(timeout=timeout)
        except queue.Empty:
            raise SimUnitError("the simulated unit did not answer") from None
        if not ok:
            raise value
        return value

    # ---- the board -------------------------------------------------------------------------
    def _connect(self, slot: str) -> CardLink:
        link = CardLink(self.slots[slot], SlotConfig())
        link.power_on()
        return link

    def insert(self, slot: str, card: str) -> None:
        """Put the emulated card ``card`` (a name in board/sim/cards) in ``slot``."""
        if slot not in SLOTS:
            raise SimUnitError(f"unknown slot {slot!r} (vitale or ps)")
        try:
            emulated = load_card(card, self.pki)
        except (OSError, KeyError, ValueError) as exc:
            raise SimUnitError(f"unknown card {card!r}: {exc}") from exc

        def put() -> None:
            self.slots[slot] = SimCardSlot(CardEmulator(emulated))
            self.cards[slot] = card
        self.call(put)

    def remove(self, slot: str) -> None:
        """Pull the card out of ``slot``; pulling the CPS locks the unit."""
        if slot not in SLOTS:
            raise SimUnitError(f"unknown slot {slot!r} (vitale or ps)")

        def pull() -> None:
            self.slots[slot].remove()
            self.cards.pop(slot, None)
            assert self.terminal is not None
            self.terminal.card_removed("cps" if slot == "ps" else slot)
        self.call(pull)

    def press(self, key: str) -> None:
        """A key press on the unit's keypad (``valider`` or ``annuler``)."""
        assert self.port is not None
        if key == "valider":
            self.port.press_valider()
        elif key == "annuler":
            self.port.press_annuler()
        else:
            raise SimUnitError(f"unknown key {key!r} (valider or annuler)")

    def wait_pairing(self, timeout: float) -> str:
        """Block until a pairing code shows on the unit's screen; return it."""
        if not self._pairing.wait(timeout):
            raise SimUnitError(f"no pairing request within {timeout:g} s")
        self._pairing.clear()
        return self.pairing_codes[-1]

    def _event(self, action: Action) -> None:
        if self._tracer is not None:
            self._tracer.observe(action)
        if isinstance(action, PairingRequested):
            self.pairing_codes.append(action.code)
            self._pairing.set()
        if self.on_event is not None:
            self.on_event(action)

    # ---- the professional's session ------------------------------------------------------
    def terminal_call(self, fn: Callable[[Terminal], Any]) -> Any:
        """Run ``fn(terminal)`` on the unit's thread."""
        return self.call(lambda: fn(self.terminal))
