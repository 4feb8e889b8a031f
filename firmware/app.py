"""The unit application, composed from a :class:`firmware.parts.Board`.

``board.build(config)`` gives the parts; :class:`UnitApp` puts the firmware on
them: the :class:`~firmware.unit.Unit` (store, clock, gauge, card readers, seal
over ``firmware/`` plus ``board.sealed``), the visit
:class:`~firmware.visit.Terminal`, the SMP server with every group (pairing,
unit info, data groups, traces), the :class:`~firmware.office_link.runner.LinkRunner`
on the board's link port, and the keypad-and-screen interface
(:class:`~firmware.ui.host.UiHost` over :class:`~firmware.ui.Ui`: keys, card
presence, pairing codes, a tick and the battery in; the screen, beeps, pairing
answers out; its card jobs run in the main loop, one per round, so the link is
served between two). One thread owns it all (the SQLite store belongs to
the thread that opened it): build the app on that thread, then call
:meth:`UnitApp.step` in a loop or :meth:`UnitApp.run`; other threads hand it
work with :meth:`UnitApp.call`. :class:`UnitThread` does exactly that::

    thread = UnitThread(lambda: UnitApp(board.build(config), state_dir))
    app = thread.start()               # built and running on its own thread
    app.call(lambda: app.unit.unit_info())
    thread.stop()

State (``state_dir``): ``unit.db`` (+ ``unit.db.device-key``), the link identity
``unit_identity.json`` and the paired hosts ``paired_hosts.json``. The store is
provisioned for the office when the first host pairs (:class:`ProvisioningTrust`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from firmware.office_link.data_groups import TRANSFER_BUF_SIZE, data_groups
from firmware.office_link.events import Action, PairingEnded, PairingRequested, ResetRequested
from firmware.office_link.group_fse import DeviceIdentity
from firmware.office_link.group_image import ImageGroup
from firmware.office_link.group_traces import LinkTracer, traced_groups
from firmware.office_link.identity_file import load_identity
from firmware.office_link.runner import LinkRunner
from firmware.office_link.security import JsonPairedHosts, PairedHost
from firmware.office_link.server import SMPServer
from firmware.parts import Board
from firmware.ui import Ui
from firmware.ui.events import CardInserted, CardRemoved
from firmware.ui.host import UiHost
from firmware.unit import Unit, UnitConfig
from firmware.unit.seal import FIRMWARE_ROOTS
from firmware.update import health
from firmware.update.runtime import HEALTH_ROUNDS, UnitUpdates
from firmware.update.service import UpdateMode
from firmware.visit import Terminal

log = logging.getLogger("opentla.app")

STEP_S = 0.02  # longest wait for the link in one main-loop round
RESET_DELAY_S = 0.25  # an OS reset waits this long for its answer to leave (Zephyr's
#                       CONFIG_MCUMGR_GRP_OS_RESET_MS default)
PRESENCE_EVERY_S = 0.2  # how often card presence is checked


class UnitAppError(RuntimeError):
    """The unit did not start or does not answer (our side, not the user's)."""


class ProvisioningTrust:
    """The paired-hosts list; the first host paired also provisions the store
    (its X25519 public key becomes the office key and its Ed25519 identity the
    first trusted load signer, docs/security.md). A host paired later is trusted
    as a load signer only if the store is unlocked then (the trusted list is
    keyed from the card-wrapped bundle); otherwise its loads are stored but
    refused at read (store_untrusted_office) until it pairs again unlocked."""

    def __init__(self, inner: JsonPairedHosts, unit: Unit):
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


class UnitApp:
    """See the module docstring. ``on_event`` sees every link event (pairing
    code, session, clock set...) on the unit's thread; ``seal_base`` is the
    directory the seal roots are relative to (default: the running tree);
    ``buf_size`` the SMP buffer the unit offers (MCUmgr params); ``serial`` the
    provisioned serial (default: derived from the store, docs/visit.md); ``updates`` the
    boot decision of the update slots (default: made here, over ``state_dir/update``,
    trusting the built-in key): the slot gives the version the unit reports, the
    base of its seal, and whether this start is a trial to health-check
    (docs/update.md). ``reset_requested`` is set when the unit must restart (OS
    reset, a rolled-back trial): :meth:`run` returns and the launcher starts again."""

    def __init__(self, board: Board, state_dir: str | Path, *,
                 on_event: Callable[[Action], None] | None = None,
                 seal_base: str | None = None, idle_timeout_s: float = 900.0,
                 buf_size: int = TRANSFER_BUF_SIZE, serial: str | None = None,
                 monotonic: Callable[[], float] = time.monotonic,
                 updates: UnitUpdates | None = None):
        self.board = board
        self.state_dir = Path(state_dir)
        self.on_event = on_event
        self.monotonic = monotonic
        self._calls: queue.Queue[tuple[Callable[[], Any], queue.Queue]] = queue.Queue()
        self._thread = threading.get_ident()
        self._present = {"vitale": False, "cps": False}
        self._presence_at = float("-inf")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.reset_requested = False
        self._reset_at: float | None = None
        self._rounds = 0
        roots = FIRMWARE_ROOTS + tuple(board.sealed)
        self.updates = updates or UnitUpdates.start(self.state_dir, roots, board=board.kind,
                                                    seal_base=seal_base,
                                                    mode=UpdateMode(clock=monotonic))
        unit_seal_base = self.updates.seal_base or seal_base
        known = self.updates.factory_seal  # the running tree's, hashed by the boot decision
        self.unit = Unit(
            UnitConfig(store_path=str(self.state_dir / "unit.db"), serial=serial or None,
                       seal_roots=roots,
                       seal_base=unit_seal_base, board=board.kind,
                       idle_timeout_s=idle_timeout_s, version=self.updates.version,
                       migrate=not self.updates.trial,
                       seal=known[2] if known and known[:2] == (roots, unit_seal_base)
                       else None),
            vitale_slot=board.vitale.connect, cps_slot=board.cps.connect,
            clock=board.clock, gauge=board.gauge, monotonic=monotonic)
        try:
            trust = ProvisioningTrust(JsonPairedHosts(self.state_dir / "paired_hosts.json"),
                                      self.unit)
            device = DeviceIdentity(self.unit.serial, self.unit.device_public_key())
            groups = traced_groups(data_groups(self.unit.store, device, buf_size), self.unit)
            groups.append(ImageGroup(self.updates.service))
            self.server = SMPServer(load_identity(self.state_dir / "unit_identity.json"),
                                    trust, self.unit, groups=groups, buf_size=buf_size,
                                    update_open=self.updates.service.mode.active)
            self.terminal = Terminal(self.unit)
            self.tracer = LinkTracer(self.unit)  # pairing, sessions, link errors as traces
            self.runner = LinkRunner(self.server, board.link, clock=monotonic,
                                     on_event=self._event)
            self.ui = UiHost(Ui(self.terminal), board, self.runner, monotonic)
            self.ui.ui.update_mode = self.updates.service.mode
        except BaseException:
            self.unit.close()
            raise
        log.info("unit_ready board=%s serial=%s", board.kind, self.unit.serial)

    # ---- the main loop -------------------------------------------------------------
    def step(self, timeout: float = STEP_S) -> None:
        """One round: the link (poll, feed, tick, flush), the keypad, card
        presence, the screen's tick and at most one of its card jobs, then the
        work other threads queued."""
        self.runner.step(timeout)
        if self.board.keypad is not None:
            for event in self.board.keypad.events():
                self.ui.feed(event)
        now = self.monotonic()
        if now - self._presence_at >= PRESENCE_EVERY_S:
            self.check_cards()
        self.ui.step(now)
        self._run_calls()
        if self._reset_at is not None and now >= self._reset_at:
            self.reset_requested = True
        if not self.updates.decided:
            self._rounds += 1
            if self._rounds >= HEALTH_ROUNDS:
                self.health_check()

    def health_check(self) -> list[str]:
        """The trial's health check (firmware/update/health.py): confirm, then run the
        store's deferred migrations; or roll back and ask for a reset."""
        problems = health.run_checks({
            "store": health.store_check(self.unit.store),
            "card_vitale": health.reader_check(self.board.vitale),
            "card_cps": health.reader_check(self.board.cps),
            "display": self._show_frame,
            "link": health.link_check(self.server, self.monotonic),
        })
        if self.updates.health(problems):
            self.unit.store.migrate()
        else:
            self.reset_requested = True
        return problems

    def _show_frame(self) -> None:
        if self.board.display is not None:
            self.board.display.show(self.ui.ui.render())

    def run(self, stop: threading.Event, *,
            after_step: Callable[[], None] | None = None) -> None:
        """Step until ``stop`` is set or a reset is requested, then close the unit
        and the board. ``after_step`` runs after each round that completed
        (``tla-unit run``: systemd's READY=1 then watchdog kicks, ``board/systemd.py``)."""
        self._thread = threading.get_ident()
        try:
            while not stop.is_set() and not self.reset_requested:
                self.step()
                if after_step is not None:
                    after_step()
        finally:
            self.close()

    def close(self) -> None:
        try:
            self.unit.close()
        finally:
            self.board.close()

    @property
    def on_unit_thread(self) -> bool:
        """The caller runs on the thread that owns the unit (its main loop)."""
        return threading.get_ident() == self._thread

    def call(self, fn: Callable[[], Any], timeout: float = 120) -> Any:
        """Run ``fn()`` on the unit's thread; return its result or raise its error.
        Called on the unit's thread itself, ``fn`` runs at once."""
        if self.on_unit_thread:
            return fn()
        box: queue.Queue = queue.Queue()
        self._calls.put((fn, box))
        try:
            ok, value = box.get(timeout=timeout)
        except queue.Empty:
            raise UnitAppError(f"the unit did not answer within {timeout:g} s") from None
        if not ok:
            raise value
        return value

    # ---- internals --------------------------------------------------------------------
    def _run_calls(self) -> None:
        while True:
            try:
                fn, box = self._calls.get_nowait()
            except queue.Empty:
                return
            try:
                box.put((True, fn()))
            except BaseException as exc:  # handed back to the caller's thread
                box.put((False, exc))

    def check_cards(self) -> None:
        """Look at card presence now (the loop does every PRESENCE_EVERY_S); a
        change goes to the screen, which tells the terminal of a card pulled."""
        self._presence_at = self.monotonic()
        for slot, reader in (("vitale", self.board.vitale), ("cps", self.board.cps)):
            present = reader.card_present()
            if present != self._present[slot]:
                self._present[slot] = present
                log.info("card_%s slot=%s", "inserted" if present else "removed", slot)
                self.ui.feed(CardInserted(slot) if present else CardRemoved(slot))

    def _event(self, action: Action) -> None:
        self.tracer.observe(action)
        if isinstance(action, ResetRequested) and self._reset_at is None:
            self._reset_at = self.monotonic() + RESET_DELAY_S
        if isinstance(action, (PairingRequested, PairingEnded)):
            self.ui.feed(action)  # the code screen; its Valider / Annuler answer the runner
        if self.on_event is not None:
            self.on_event(action)


class UnitThread:
    """Builds a :class:`UnitApp` with ``make()`` on a thread of its own and runs
    it there until :meth:`stop`."""

    def __init__(self, make: Callable[[], UnitApp], *, name: str = "unit"):
        self._make = make
        self._name = name
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self.app: UnitApp | None = None

    def start(self, timeout: float = 120) -> UnitApp:
        """Start the thread; return the app once built, or raise why it was not."""
        self._thread = threading.Thread(target=self._main, name=self._name, daemon=True)
        self._thread.start()
        self._ready.wait(timeout)
        if self._error is not None:
            self._thread.join(5)
            raise UnitAppError(f"the unit did not start: {self._error}") from self._error
        if self.app is None:
            raise UnitAppError(f"the unit did not start within {timeout:g} s")
        return self.app

    def _main(self) -> None:
        try:
            app = self._make()
        except BaseException as exc:  # handed to start()'s caller
            self._error = exc
            self._ready.set()
            return
        self.app = app
        self._ready.set()
        app.run(self._stop)

    def stop(self, timeout: float = 30) -> None:
        """Stop the main loop, close the unit and the board; idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
