"""A simulated unit's state as the office leaves it before the day, without a link:
the store provisioned for a test office, the doctor's CPS enrolled, the clock set,
the tests' tariff, FSE numbers and prepared invoices loaded (signed by the office,
as `tla load` does). Then `tla-unit sim --state` starts on it, at the start screen."""

from __future__ import annotations

from pathlib import Path

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from visit.simboard import MEDECIN_BN, PINS, SIGN_TIME, TEST_TARIFF

from board.sim.pki import TestPki
from board.sim.unit import SimUnit
from firmware.store.crypto import public_raw
from firmware.store.office_sig import sign_load

CPS = "cps_medecin"


def prepare_state(state: Path, invoices: list[dict], pki: TestPki | None = None) -> None:
    office = X25519PrivateKey.generate()
    signer = Ed25519PrivateKey.generate()
    signer_raw = signer.public_key().public_bytes_raw()
    with SimUnit(state, pki=pki) as sim:
        store = sim.unit.store

        def load(kind: str, record_id: str, prof: str | None, body: bytes) -> tuple:
            return sign_load(signer, store.unit_id, kind, record_id, prof, body), signer_raw

        sim.call(lambda: sim.clock.set(SIGN_TIME))
        sim.call(lambda: store.provision(public_raw(office.public_key()), signer_raw))
        sim.insert("ps", CPS)
        sim.terminal_call(lambda t: t.enrol(PINS[CPS]))
        sim.terminal_call(lambda t: t.lock())
        tariff = cbor2.dumps(TEST_TARIFF)
        sim.call(lambda: store.put_tariff("current", tariff, *load("tariff", "current", None,
                                                                     tariff)))
        sim.call(lambda: store.load_fse_range(f"R-{MEDECIN_BN}", MEDECIN_BN, 1, 500))
        for inv in invoices:
            body = cbor2.dumps(inv)
            iid, prof = inv["invoice_id"], inv["billing_number"]

            def put(body: bytes = body, iid: str = iid, prof: str = prof) -> None:
                store.put_invoice(iid, prof, body, *load("invoice", iid, prof, body))
            sim.call(put)
        sim.remove("ps")
