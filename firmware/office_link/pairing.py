"""Pairing and session authentication, unit side: one state object, no I/O.

Pairing is a state machine (model: h11's ``_state.py``): :data:`PAIRING_TRANSITIONS`
maps (:class:`PairingState`, :class:`PairingEvent`) to the next state and the handler
that does the move's side effect, and :meth:`LinkSecurity._move` applies it, the only
place the state changes. ``pair_begin`` creates a pairing in ``COMMITTED``; the
terminal states (``PAIRED``, ``REFUSED``, ``EXPIRED`` and the error state ``FAILED``)
end it, and the next ``pair_begin`` starts afresh::

    COMMITTED --proof_ok (hn opens the commitment, good sig)--> WAITING  show the code
    COMMITTED --proof_bad--> FAILED              COMMITTED --deadline--> EXPIRED
    WAITING   --proof_ok--> WAITING (host polls: PAIRING_PENDING)
    WAITING   --confirm (Valider)--> CONFIRMED   WAITING --reject (Annuler)--> REJECTED
    CONFIRMED --proof_ok--> PAIRED               host stored, unit signs
    REJECTED  --proof_ok--> REFUSED              PAIRING_REJECTED told to the host
    any live  --proof_bad (bad sig, other hn)--> FAILED   BAD_SIGNATURE
    any live  --deadline--> EXPIRED
    a move not in the table (our bug) --> FAILED, and PairingStateError is raised

    session:  closed --session_begin(paired host)--> challenged (one nonce, 30 s)
              challenged --session_auth(good sig + key confirmation)--> open
              challenged --session_auth(anything else)--> closed (nonce spent)
              open --idle timeout | session_end | link reset--> closed

The unit nonce of a challenge is used once, so a recorded ``session_auth`` can never be
played again; signatures cover both nonces and both identities (see ``security``).
Five failed authentications in a row lock new attempts out for a minute.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any

from . import security as sec
from .events import PairingEnded, PairingRequested, SessionClosed, SessionOpened
from .header import GroupError, MgmtErr, MgmtError

GROUP_SECURITY = 80

PAIRING_WINDOW_S = 120.0
CHALLENGE_WINDOW_S = 30.0
SESSION_IDLE_S = 300.0
MAX_FAILURES = 5
LOCKOUT_S = 60.0
NAME_MAX = 32


class SecurityCommand(IntEnum):
    PAIR_BEGIN = 0
    PAIR_FINISH = 1
    SESSION_BEGIN = 2
    SESSION_AUTH = 3
    SESSION_END = 4


class SecurityErr(IntEnum):
    """Group 80 error codes (``{"err": {"group": 80, "rc": n}}``)."""

    PAIRING_PENDING = 1
    PAIRING_REJECTED = 2
    NO_PAIRING = 3
    PAIRING_BUSY = 4
    NOT_PAIRED = 5
    BAD_SIGNATURE = 6
    NO_CHALLENGE = 7
    BAD_KEY = 8
    LOCKED_OUT = 9


_V1 = {  # translation for v1 clients, as Zephyr groups translate their own codes
    SecurityErr.PAIRING_PENDING: MgmtErr.EBUSY,
    SecurityErr.PAIRING_REJECTED: MgmtErr.EACCESSDENIED,
    SecurityErr.NO_PAIRING: MgmtErr.EBADSTATE,
    SecurityErr.PAIRING_BUSY: MgmtErr.EBUSY,
    SecurityErr.NOT_PAIRED: MgmtErr.EACCESSDENIED,
    SecurityErr.BAD_SIGNATURE: MgmtErr.EACCESSDENIED,
    SecurityErr.NO_CHALLENGE: MgmtErr.EBADSTATE,
    SecurityErr.BAD_KEY: MgmtErr.EINVAL,
    SecurityErr.LOCKED_OUT: MgmtErr.EBUSY,
}


def refuse(rc: SecurityErr, reason: str) -> GroupError:
    return GroupError(GROUP_SECURITY, int(rc), _V1[rc], reason)


def field_bytes(body: dict[str, Any], name: str, size: int) -> bytes:
    value = body.get(name)
    if not isinstance(value, bytes) or len(value) != size:
        raise MgmtError(MgmtErr.EINVAL, f"'{name}' must be a {size}-byte byte string")
    return value


class PairingState(Enum):
    COMMITTED = "committed"  # PAIR_BEGIN answered; the host's nonce not revealed yet
    WAITING = "waiting"  # code on the screen, waiting for Valider or Annuler
    CONFIRMED = "confirmed"  # Valider pressed; the host's next PAIR_FINISH completes
    REJECTED = "rejected"  # Annuler pressed; the host's next PAIR_FINISH is told
    PAIRED = "paired"  # terminal: host stored
    REFUSED = "refused"  # terminal: the host was told of the rejection
    EXPIRED = "expired"  # terminal: the deadline passed
    FAILED = "failed"  # terminal error state: bad proof, or a move not in the table


class PairingEvent(Enum):
    PROOF_OK = "proof_ok"  # PAIR_FINISH whose nonce and signature verify
    PROOF_BAD = "proof_bad"  # PAIR_FINISH that does not
    CONFIRM = "confirm"  # Valider
    REJECT = "reject"  # Annuler
    DEADLINE = "deadline"  # the pairing window closed


TERMINAL = frozenset({PairingState.PAIRED, PairingState.REFUSED, PairingState.EXPIRED,
                      PairingState.FAILED})


class PairingStateError(RuntimeError):
    """A pairing move that the table does not allow: a bug on our side."""


@dataclass
class _Pairing:
    host: sec.PairedHost
    shared: bytes  # X25519 secret, kept until the host reveals its nonce
    un: bytes
    commitment: bytes
    deadline: float
    hn: bytes = b""
    transcript: bytes = b""
    code: str = ""
    state: PairingState = PairingState.COMMITTED


Handler = Callable[["LinkSecurity", _Pairing], None]


def _show_code(security: LinkSecurity, pairing: _Pairing) -> None:
    """Only now, with both nonces fixed, can both screens show the code."""
    pairing.code = sec.pairing_code(pairing.shared, pairing.transcript)
    pairing.shared = b""
    security.events.append(PairingRequested(pairing.code, pairing.host.name))


def _store_host(security: LinkSecurity, pairing: _Pairing) -> None:
    security.trust.add(pairing.host)
    security.events.append(PairingEnded("paired", pairing.host.name))


def _ended(reason: str) -> Handler:
    def report(security: LinkSecurity, pairing: _Pairing) -> None:
        security.events.append(PairingEnded(reason, pairing.host.name))

    report.__name__ = f"report_{reason}"
    return report


_S, _E = PairingState, PairingEvent
PAIRING_TRANSITIONS: dict[tuple[PairingState, PairingEvent], tuple[PairingState, Handler | None]] = {
    (_S.COMMITTED, _E.PROOF_OK): (_S.WAITING, _show_code),
    (_S.COMMITTED, _E.PROOF_BAD): (_S.FAILED, None),  # nothing was shown yet
    (_S.COMMITTED, _E.DEADLINE): (_S.EXPIRED, None),
    (_S.WAITING, _E.PROOF_OK): (_S.WAITING, None),  # the host polls
    (_S.WAITING, _E.PROOF_BAD): (_S.FAILED, _ended("failed")),
    (_S.WAITING, _E.CONFIRM): (_S.CONFIRMED, None),
    (_S.WAITING, _E.REJECT): (_S.REJECTED, _ended("rejected")),
    (_S.WAITING, _E.DEADLINE): (_S.EXPIRED, _ended("expired")),
    (_S.CONFIRMED, _E.PROOF_OK): (_S.PAIRED, _store_host),
    (_S.CONFIRMED, _E.PROOF_BAD): (_S.FAILED, _ended("failed")),
    (_S.CONFIRMED, _E.DEADLINE): (_S.EXPIRED, _ended("expired")),
    (_S.REJECTED, _E.PROOF_OK): (_S.REFUSED, None),
    (_S.REJECTED, _E.PROOF_BAD): (_S.FAILED, _ended("failed")),
    (_S.REJECTED, _E.DEADLINE): (_S.EXPIRED, None),  # "rejected" was already shown
}


@dataclass
class _Challenge:
    host: sec.PairedHost
    transcript: bytes
    deadline: float


@dataclass
class Session:
    """An authenticated host on this link; ``key`` protects data-group payloads."""

    host: sec.PairedHost
    key: bytes
    last_use: float  # the last authenticated request (only those keep a session alive)
    counter: int = 0  # the last request counter accepted (docs/protocol.md, request MACs)


@dataclass
class LinkSecurity:
    identity: sec.Identity
    trust: sec.PairedHosts
    random_bytes: sec.RandomSource = os.urandom
    events: list = field(default_factory=list)  # drained by the server after each call
    _pairing: _Pairing | None = None
    _challenge: _Challenge | None = None
    _session: Session | None = None
    _failures: int = 0
    _locked_until: float = 0.0

    # ---- screen side ------------------------------------------------------------
    @property
    def pairing_code(self) -> str | None:
        pairing = self._pairing
        return pairing.code if pairing is not None and pairing.state is PairingState.WAITING else None

    @property
    def pairing_state(self) -> PairingState | None:
        """The pairing in progress, if any (terminal states are never kept)."""
        return None if self._pairing is None else self._pairing.state

    def confirm_pairing(self, now: float) -> bool:
        """The person at the unit pressed Valider. False if nothing is waiting."""
        return self._key_press(PairingEvent.CONFIRM, now)

    def reject_pairing(self, now: float) -> bool:
        """The person at the unit pressed Annuler."""
        return self._key_press(PairingEvent.REJECT, now)

    def _key_press(self, event: PairingEvent, now: float) -> bool:
        self.tick(now)
        pairing = self._pairing
        if pairing is None or (pairing.state, event) not in PAIRING_TRANSITIONS:
            return False  # a key pressed with no code on the screen means nothing
        self._move(pairing, event)
        return True

    def _move(self, pairing: _Pairing, event: PairingEvent) -> PairingState:
        """Apply one move of :data:`PAIRING_TRANSITIONS`: the only place a pairing's
        state changes. A terminal state ends the pairing."""
        move = PAIRING_TRANSITIONS.get((pairing.state, event))
        if move is None:
            was, pairing.state = pairing.state, PairingState.FAILED
            self._pairing = None
            raise PairingStateError(f"pairing move {event.value} not allowed in {was.value}")
        pairing.state, handler = move
        if handler is not None:
            handler(self, pairing)
        if pairing.state in TERMINAL and self._pairing is pairing:
            self._pairing = None
        return pairing.state

    def tick(self, now: float) -> None:
        """Let deadlines pass: expire a pairing request and an idle session."""
        if self._pairing is not None and now >= self._pairing.deadline:
            self._move(self._pairing, PairingEvent.DEADLINE)
        if self._challenge is not None and now >= self._challenge.deadline:
            self._challenge = None
        if self._session is not None and now - self._session.last_use >= SESSION_IDLE_S:
            self.close_session("idle")

    # ---- access control ----------------------------------------------------------
    def session(self, now: float) -> Session | None:
        """The open session, if any (the server marks authenticated use in ``last_use``)."""
        self.tick(now)
        return self._session

    def close_session(self, reason: str) -> None:
        self._challenge = None
        if self._session is not None:
            self._session = None
            self.events.append(SessionClosed(reason))

    # ---- group 80 commands -------------------------------------------------------
    def pair_begin(self, body: dict[str, Any], now: float) -> dict[str, Any]:
        self.tick(now)
        self._check_lockout(now)
        hid = field_bytes(body, "hid", sec.KEY_SIZE)
        hkx = field_bytes(body, "hkx", sec.KEY_SIZE)
        commitment = field_bytes(body, "hc", 32)
        name = body.get("name", "")
        if not isinstance(name, str) or len(name) > NAME_MAX:
            raise MgmtError(MgmtErr.EINVAL, f"'name' must be a text of at most {NAME_MAX} characters")
        if self._pairing is not None and self._pairing.host.host_id != hid:
            raise refuse(SecurityErr.PAIRING_BUSY, "another pairing is in progress")
        try:
            shared = self.identity.shared_secret(hkx)
        except ValueError as exc:
            raise refuse(SecurityErr.BAD_KEY, str(exc)) from None
        un = self.random_bytes(sec.NONCE_SIZE)
        host = sec.PairedHost(hid, hkx, name)
        self._pairing = _Pairing(host, shared, un, commitment, now + PAIRING_WINDOW_S)
        uid, ukx = self.identity.id, self.identity.kx_public
        return {"uid": uid, "ukx": ukx, "un": un, "ttl": int(PAIRING_WINDOW_S)}

    def pair_finish(self, body: dict[str, Any], now: float) -> dict[str, Any]:
        self.tick(now)
        signature = field_bytes(body, "sig", sec.SIGNATURE_SIZE)
        hn = field_bytes(body, "hn", sec.NONCE_SIZE)
        pairing = self._pairing
        if pairing is None:
            raise refuse(SecurityErr.NO_PAIRING, "no pairing in progress (expired?)")
        host = pairing.host
        if pairing.state is PairingState.COMMITTED:
            opened = sec.pairing_commitment(host.host_id, host.kx_public, hn)
            if hmac.compare_digest(opened, pairing.commitment):
                pairing.hn = hn
                pairing.transcript = sec.pairing_transcript(
                    self.identity.id, self.identity.kx_public, host.host_id, host.kx_public,
                    pairing.un, hn)
        same_nonce = bool(pairing.hn) and hmac.compare_digest(hn, pairing.hn)
        good = same_nonce and sec.verify(host.host_id, sec.LABEL_PAIR_HOST, pairing.transcript,
                                         signature)
        state = self._move(pairing, PairingEvent.PROOF_OK if good else PairingEvent.PROOF_BAD)
        if state is PairingState.FAILED:
            raise refuse(SecurityErr.BAD_SIGNATURE, "host nonce or signature does not verify")
        if state is PairingState.REFUSED:
            raise refuse(SecurityErr.PAIRING_REJECTED, "refused at the unit")
        if state is PairingState.WAITING:
            raise refuse(SecurityErr.PAIRING_PENDING, "waiting for the key press at the unit")
        return {"sig": self.identity.sign(sec.LABEL_PAIR_UNIT, pairing.transcript)}  # PAIRED

    def session_begin(self, body: dict[str, Any], now: float) -> dict[str, Any]:
        self.tick(now)
        self._check_lockout(now)
        hid = field_bytes(body, "hid", sec.KEY_SIZE)
        hn = field_bytes(body, "hn", sec.NONCE_SIZE)
        host = self.trust.get(hid)
        if host is None:
            raise refuse(SecurityErr.NOT_PAIRED, "this host is not paired with the unit")
        self.close_session("ended")
        un = self.random_bytes(sec.NONCE_SIZE)
        transcript = sec.session_transcript(self.identity.id, hid, un, hn)
        self._challenge = _Challenge(host, transcript, now + CHALLENGE_WINDOW_S)
        signature = self.identity.sign(sec.LABEL_SESSION_UNIT, transcript)
        return {"uid": self.identity.id, "un": un, "sig": signature}

    def session_auth(self, body: dict[str, Any], now: float) -> dict[str, Any]:
        self.tick(now)
        signature = field_bytes(body, "sig", sec.SIGNATURE_SIZE)
        confirmation = field_bytes(body, "kc", 32)
        challenge, self._challenge = self._challenge, None  # one attempt per nonce
        if challenge is None:
            self._fail(now)
            raise refuse(SecurityErr.NO_CHALLENGE, "no open challenge (expired or used)")
        host = challenge.host
        key = sec.session_key(self.identity.shared_secret(host.kx_public), challenge.transcript)
        good_sig = sec.verify(host.host_id, sec.LABEL_SESSION_HOST, challenge.transcript, signature)
        good_kc = hmac.compare_digest(confirmation, sec.key_confirmation(key))
        if not (good_sig and good_kc):
            self._fail(now)
            raise refuse(SecurityErr.BAD_SIGNATURE, "session proof does not verify")
        self._failures = 0
        self._session = Session(host, key, now)
        self.events.append(SessionOpened(host.name))
        return {"ttl": int(SESSION_IDLE_S)}

    def session_end(self, body: dict[str, Any], now: float) -> dict[str, Any]:
        self.close_session("ended")
        return {}

    def _fail(self, now: float) -> None:
        self._failures += 1
        if self._failures >= MAX_FAILURES:
            self._failures = 0
            self._locked_until = now + LOCKOUT_S

    def _check_lockout(self, now: float) -> None:
        if now < self._locked_until:
            raise refuse(SecurityErr.LOCKED_OUT, "too many failed attempts, wait a minute")
