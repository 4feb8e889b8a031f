"""The unit's store: durable, crash-safe, sealed record by record.

Usage (the rest of the firmware sees only this class)::

    store = Store.open("/data/tla.db", clock=time.monotonic, wall_clock=rtc.now)
    store.provision(office_public_raw, office_sign_public)   # once, at pairing
    store.enrol_card(cps_proof)                 # the CPS signed store.unlock_challenge
    store.lock()
    store.put_invoice("INV-1", "10101010101", payload, office_signature, office_sign_public)
    store.unlock(cps_proof)                     # in visit
    n = store.next_fse_number("10101010101")
    store.signed_fse("FSE-1", "10101010101", n, cose_bytes, invoice_id="INV-1")

Every method that changes state is one SQLite transaction committed (WAL
synced) before it returns. Invoices/FSE lifecycle methods are in fse.py.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from . import crypto, office_sig
from .capacity import (
    DEFAULT_BUDGET,
    DEFAULT_RESERVE,
    MIB,
    WARN_FRACTION,
    Usage,
    measure,
    used_bytes,
)
from .database import check_integrity, connect, transaction
from .errors import (
    BadTransition,
    DuplicateRecord,
    NotProvisioned,
    StoreCorrupted,
    StoreIOError,
    StoreLocked,
    StoreTooNew,
    StoreUsageError,
    WrongCardProof,
)
from .fse import FseMixin
from .records import RecordsMixin, check_code
from .salvage import export_readable
from .schema import MIGRATIONS, Migration, apply_migrations

log = logging.getLogger("opentla.store")

WAL_CHECKPOINT_BYTES = 4 * MIB
WAL_HARD_BYTES = 64 * MIB

CORRUPT_CODES = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB


class Store(RecordsMixin, FseMixin):
    """See the module docstring. Build with :meth:`open`."""

    def __init__(self, conn: sqlite3.Connection, path: str, *, clock: Callable[[], float],
                 wall_clock: Callable[[], float], budget_bytes: int, reserve_bytes: int,
                 idle_timeout_s: float):
        self._conn = conn
        self.path = path
        self._clock = clock
        self._wall = wall_clock
        self.budget_bytes = budget_bytes
        self.reserve_bytes = reserve_bytes
        self.idle_timeout_s = idle_timeout_s
        self._bundle: crypto.KeyBundle | None = None
        self._last_activity = 0.0
        self._failed = False
        self._warned = False
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        self.unit_id: bytes = meta["unit_id"]
        self._salt: bytes = meta["salt"]
        self._id_key: bytes = meta["id_key"]
        self._data_public: bytes | None = meta.get("data_public")

    # ---- opening ---------------------------------------------------------------
    @classmethod
    def open(cls, path: str, *, clock: Callable[[], float] = time.monotonic,
             wall_clock: Callable[[], float] = time.time, budget_bytes: int = DEFAULT_BUDGET,
             reserve_bytes: int | None = None, idle_timeout_s: float = 900.0,
             export_dir: str | None = None, full_check: bool = False,
             migrations: Sequence[Migration] = MIGRATIONS, migrate: bool = True) -> Store:
        """Open (creating if needed), check integrity, migrate, recover.
        A damaged database is exported for the office first, then
        :class:`StoreCorrupted` is raised with the export's path.
        ``migrate=False`` (a new firmware on trial, docs/update.md §Store) leaves an
        existing database at its schema, so the previous firmware still opens it if
        the trial fails; :meth:`migrate` applies the rest once the new one is confirmed."""
        if reserve_bytes is None:
            reserve_bytes = min(DEFAULT_RESERVE, budget_bytes // 8)
        existed = os.path.exists(path)
        conn: sqlite3.Connection | None = None
        try:
            conn = connect(path, budget_bytes)
            problems = check_integrity(conn, full=full_check) if existed else []
        except sqlite3.DatabaseError as exc:
            if conn is not None:
                conn.close()
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF not in CORRUPT_CODES:
                raise StoreIOError(f"sqlite: {exc}") from exc
            conn, problems = None, [str(exc)]
        if conn is None or problems:  # conn is None only after a corruption error
            if conn is not None:
                conn.close()
            where = export_dir or os.path.dirname(os.path.abspath(path))
            export = export_readable(path, where, wall_clock())
            log.error("store_corrupted problems=%d export=%s", len(problems), export)
            raise StoreCorrupted("; ".join(problems[:5]), export_path=export)
        try:
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            if current > len(migrations):
                raise StoreTooNew(f"database schema {current} > supported {len(migrations)}")
            if migrate or current == 0:
                if migrations is MIGRATIONS:
                    apply_migrations(conn)
                else:
                    apply_migrations(conn, migrations)
            with transaction(conn):
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('unit_id', ?)", (os.urandom(16),))
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('salt', ?)", (os.urandom(16),))
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('id_key', ?)", (os.urandom(32),))
            store = cls(conn, path, clock=clock, wall_clock=wall_clock, budget_bytes=budget_bytes,
                        reserve_bytes=reserve_bytes, idle_timeout_s=idle_timeout_s)
            store._migrations = tuple(migrations)
            store._recover()
            store._rekey_legacy()
        except BaseException:
            conn.close()
            raise
        return store

    def close(self) -> None:
        self.lock("close")
        self._conn.close()

    # ---- schema across firmware versions (docs/update.md §Store) ------------------
    _migrations: tuple[Migration, ...] = MIGRATIONS

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    @property
    def pending_migrations(self) -> int:
        """Migrations this firmware knows that the database has not had yet."""
        return len(self._migrations) - self.schema_version

    def migrate(self) -> int:
        """Apply the pending migrations (after a new firmware is confirmed); returns
        the schema version."""
        if self.pending_migrations > 0:
            apply_migrations(self._conn, self._migrations)
            log.info("store_migrated schema=%d", self.schema_version)
        return self.schema_version

    def quick_check(self) -> list[str]:
        """SQLite's quick_check now (the update health check); empty when sound."""
        return check_integrity(self._conn)

    @contextmanager
    def _tx(self, critical: bool = False) -> Iterator[sqlite3.Connection]:
        """One durable transaction. ``critical`` marks the signature path
        (number reservation, signed FSE, Vitale read): no checkpoint follows
        it unless the WAL passed its hard bound."""
        if self._failed:
            raise StoreIOError("an earlier write failed; reopen the store")
        try:
            with transaction(self._conn) as conn:
                yield conn
        except StoreIOError:
            self._failed = True
            log.error("store_io write failed; store needs reopening")
            raise
        self._after_write(critical)

    def _after_write(self, critical: bool) -> None:
        fraction = used_bytes(self._conn) / self.budget_bytes
        if fraction >= WARN_FRACTION and not self._warned:
            log.warning("store_usage_high fraction=%.2f", fraction)
        self._warned = fraction >= WARN_FRACTION
        try:
            wal = os.path.getsize(self.path + "-wal")
        except OSError:
            return
        if wal > (WAL_HARD_BYTES if critical else WAL_CHECKPOINT_BYTES):
            self.checkpoint()

    def checkpoint(self) -> None:
        """Copy the WAL into the database file and rewind it (SQLite
        wal_checkpoint(RESTART); journal_size_limit trims the file to 4 MiB,
        and a rewound WAL is rewritten in place, which syncs faster than a
        growing one). Done after non-critical writes once the WAL passes
        4 MiB, when locking, and whenever the firmware is idle."""
        if self._failed:
            return
        try:
            self._conn.execute("PRAGMA wal_checkpoint(RESTART)")
        except sqlite3.Error as exc:
            self._failed = True
            raise StoreIOError(f"checkpoint failed: {exc}") from exc

    # ---- keys, lock and unlock --------------------------------------------------
    @property
    def provisioned(self) -> bool:
        return self._data_public is not None

    @property
    def unlock_challenge(self) -> bytes:
        """What the CPS must sign (PKCS#1 v1.5) to make the card proof."""
        return crypto.unlock_challenge(self.unit_id)

    def provision(self, office_public: bytes, office_signer: bytes | None = None) -> None:
        """Create the unit's key bundle and seal it to the paired office (its
        X25519 key). ``office_signer`` (the office's Ed25519 identity key) becomes
        the first trusted office: its signed loads are readable. Leaves the store
        unlocked so the first card can be enrolled."""
        if self.provisioned:
            raise BadTransition("store already provisioned")
        bundle = crypto.KeyBundle.generate()
        office_wrap = crypto.seal_for_office(bundle, office_public, self.unit_id)
        with self._tx() as c:
            c.execute("INSERT INTO meta VALUES ('data_public', ?)", (bundle.public_raw(),))
            c.execute("INSERT INTO meta VALUES ('office_wrap', ?)", (office_wrap,))
        self._data_public = bundle.public_raw()
        self._set_bundle(bundle)
        log.info("store provisioned")
        if office_signer is not None:
            self.trust_office(office_signer)

    # ---- trusted offices (office_sig.py) ------------------------------------------
    def trusted_offices(self) -> frozenset[bytes]:
        """The office Ed25519 keys whose loads may be read (store unlocked).
        Raises :class:`~.office_sig.OfficeListTampered` if the list on the medium
        was altered."""
        bundle = self._keys()
        meta = dict(self._conn.execute(
            "SELECT key, value FROM meta WHERE key IN ('office_keys', 'office_keys_tag')"))
        return office_sig.TrustedOffices.open(bundle.record_key, self.unit_id,
                                              meta.get("office_keys"), meta.get("office_keys_tag"))

    def trust_office(self, signer: bytes) -> None:
        """Add an office's Ed25519 key to the trusted list. Needs the unlocked
        bundle (the list's tag is keyed from it), so only the unit itself, never
        a writer of the SD card, can extend it. Idempotent."""
        if not isinstance(signer, bytes) or len(signer) != office_sig.KEY_LEN:
            raise StoreUsageError("office key must be 32 bytes", code="store_bad_office_key")
        keys = self.trusted_offices()
        if signer in keys:
            return
        packed = office_sig.TrustedOffices.pack(keys | {signer})
        tag = office_sig.TrustedOffices.tag(self._keys().record_key, self.unit_id, packed)
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO meta VALUES ('office_keys', ?)", (packed,))
            c.execute("INSERT OR REPLACE INTO meta VALUES ('office_keys_tag', ?)", (tag,))
        log.info("store office trusted count=%d", len(keys) + 1)

    def enrol_card(self, card_proof: bytes, label: str = "cps") -> None:
        """Wrap the key bundle under this card's proof (store must be unlocked)."""
        bundle = self._keys()
        key = crypto.derive_unlock_key(card_proof, self._salt)
        for (wrapped,) in self._conn.execute("SELECT wrapped FROM card_wraps"):
            try:
                crypto.unwrap_for_card(wrapped, key, self.unit_id)
            except WrongCardProof:
                continue
            raise DuplicateRecord("card already enrolled")
        wrapped = crypto.wrap_for_card(bundle, key, self.unit_id)
        with self._tx() as c:
            c.execute("INSERT INTO card_wraps (label, wrapped, created_at) VALUES (?, ?, ?)",
                      (check_code(label, "label"), wrapped, self._wall()))
        log.info("store card enrolled label=%s", label)

    def unlock(self, card_proof: bytes) -> None:
        if not self.provisioned:
            raise NotProvisioned("no key bundle yet")
        key = crypto.derive_unlock_key(card_proof, self._salt)
        for (wrapped,) in self._conn.execute("SELECT wrapped FROM card_wraps"):
            try:
                bundle = crypto.unwrap_for_card(wrapped, key, self.unit_id)
            except WrongCardProof:
                continue
            self._set_bundle(bundle)
            log.info("store unlocked by card")
            return
        log.warning("store_wrong_card unlock refused")
        raise WrongCardProof("no enrolled card matches")

    def unlock_with_office_key(self, office_private: X25519PrivateKey) -> None:
        """Recovery path: the office opens the bundle it was sealed at pairing."""
        if not self.provisioned:
            raise NotProvisioned("no key bundle yet")
        wrap = self._conn.execute("SELECT value FROM meta WHERE key = 'office_wrap'").fetchone()[0]
        self._set_bundle(crypto.open_for_office(wrap, office_private, self.unit_id))
        log.info("store unlocked by office key")

    def office_wrap(self) -> bytes:
        """The key bundle sealed to the office (for unloading without the CPS)."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'office_wrap'").fetchone()
        if row is None:
            raise NotProvisioned("no key bundle yet")
        return row[0]

    def _set_bundle(self, bundle: crypto.KeyBundle) -> None:
        if bundle.public_raw() != self._data_public:
            raise WrongCardProof("key bundle belongs to another unit")
        self.lock("replace")
        self._bundle = bundle
        self._last_activity = self._clock()

    def lock(self, reason: str = "demand") -> None:
        """Forget the keys (power-off does the same: they only live in RAM)."""
        if self._bundle is not None:
            self._bundle.wipe()
            self._bundle = None
            log.info("store locked reason=%s", reason)
            if reason in ("demand", "idle"):
                self.checkpoint()

    @property
    def is_unlocked(self) -> bool:
        self._check_idle()
        return self._bundle is not None

    def touch(self) -> None:
        """User activity (a key press): restart the idle timer."""
        if self.is_unlocked:
            self._last_activity = self._clock()

    def _check_idle(self) -> None:
        if self._bundle is not None and self._clock() - self._last_activity >= self.idle_timeout_s:
            self.lock("idle")

    def _keys(self) -> crypto.KeyBundle:
        self._check_idle()
        if self._bundle is None:
            raise StoreLocked("store is locked")
        self._last_activity = self._clock()
        return self._bundle

    def usage(self) -> Usage:
        return measure(self._conn, self.budget_bytes, self.reserve_bytes)
