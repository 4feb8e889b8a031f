"""Any interleaving of operations and crashes ends in a state equal to
applying a prefix of the operations that includes every acknowledged one.

A pure model (below, written from the lifecycle table in docs/store.md, not
from the store's code) runs beside the real store. Crashes come in two kinds:
a restart between calls, and a batch of operations run in a forked child that
kills itself after a hypothesis-chosen number of SQLite VM steps. After a
crash the store must equal the model after some prefix of the batch (plus
start-up recovery), and that prefix must cover what the child acknowledged.
"""

from __future__ import annotations

import copy
import multiprocessing
import os
import signal
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from firmware.store import Store, StoreError

from .helpers import FakeClock, open_provisioned, put_invoice

PS = "10101010101"
FIRST = 100


@dataclass
class Model:
    invoices: dict = field(default_factory=dict)  # id -> (status, payload)
    fses: dict = field(default_factory=dict)  # id -> (number, status, payload, invoice)
    numbers: dict = field(default_factory=dict)  # number -> (state, reason, fse_id)
    cursor: int = FIRST

    def recover(self) -> Model:
        m = copy.deepcopy(self)
        for n, (state, _, _) in m.numbers.items():
            if state == "reserved":
                m.numbers[n] = ("skipped", "interrupted_before_signature", None)
        return m

    def apply(self, op: tuple) -> Model:
        """The model's answer to one operation (a new model)."""
        m = copy.deepcopy(self)
        kind = op[0]
        if kind == "invoice":
            m.invoices[op[1]] = ("loaded", op[2])
        elif kind == "reserve":
            m.numbers[m.cursor] = ("reserved", None, None)
            m.cursor += 1
        elif kind == "sign":
            _, fse_id, number, invoice, payload = op
            m.numbers[number] = ("used", None, fse_id)
            m.fses[fse_id] = (number, "signed", payload, invoice)
            if invoice is not None:
                m.invoices[invoice] = ("used", m.invoices[invoice][1])
        elif kind == "abandon":
            m.numbers[op[1]] = ("skipped", "card_removed", None)
        elif kind in ("offer", "confirm"):
            number, _, payload, invoice = m.fses[op[1]]
            m.fses[op[1]] = (number, "offered" if kind == "offer" else "imported", payload, invoice)
        elif kind == "purge":
            for fse_id, (_, status, _, invoice) in list(m.fses.items()):
                if status == "imported":
                    del m.fses[fse_id]
                    if invoice is not None:
                        del m.invoices[invoice]
        return m


def run_op(store: Store, op: tuple) -> None:
    kind = op[0]
    if kind == "invoice":
        put_invoice(store, op[1], PS, op[2])
    elif kind == "reserve":
        store.next_fse_number(PS)
    elif kind == "sign":
        store.signed_fse(op[1], PS, op[2], op[4], invoice_id=op[3])
    elif kind == "abandon":
        store.abandon_fse_number(PS, op[1], "card_removed")
    elif kind == "offer":
        store.offer(op[1])
    elif kind == "confirm":
        store.confirm_import(op[1], f"ACK-{op[1]}")
    elif kind == "purge":
        store.purge(1e12)


def observe(store: Store) -> Model:
    invoices = store.list_records("invoice")
    office_id = {store.record_key("invoice", r.record_id): r.record_id for r in invoices}
    return Model(
        invoices={r.record_id: (r.status, store.get_invoice(r.record_id)) for r in invoices},
        fses={f.fse_id: (f.fse_number, f.status, store.get_fse(f.fse_id),
                         None if f.invoice_key is None else office_id[f.invoice_key])
              for f in store.list_fses()},
        numbers={s.number: (s.state, s.reason, s.fse_id) for s in store.numbering(PS)},
        cursor=FIRST + len(store.numbering(PS)),
    )


def _child(path, proof, ops, steps, fd):
    try:
        store = Store.open(path)
        store.unlock(proof)
        count = [0]

        def handler():
            count[0] += 1
            if count[0] >= steps:
                os.kill(os.getpid(), signal.SIGKILL)
            return 0

        store._conn.set_progress_handler(handler, 1)
        for op in ops:
            run_op(store, op)
            os.write(fd, b"A")
    finally:
        os._exit(0)


class StoreMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self):
        import tempfile

        self.dir = tempfile.mkdtemp(prefix="opentla-stateful-")
        self.path = os.path.join(self.dir, "unit.db")
        store, self.proof = open_provisioned(self.path, X25519PrivateKey.generate())
        store.load_fse_range("R1", PS, FIRST, FIRST + 10_000)
        store.set_retention_days(0)
        store.close()
        self.model = Model()
        self.serial = 0
        self._open()

    def _open(self):
        self.store = Store.open(self.path, clock=FakeClock())
        self.store.unlock(self.proof)

    def teardown(self):
        if hasattr(self, "store"):
            self.store.close()
            import shutil

            shutil.rmtree(self.dir, ignore_errors=True)

    def _next_id(self, prefix):
        self.serial += 1
        return f"{prefix}-{self.serial}"

    def _do(self, op):
        run_op(self.store, op)
        self.model = self.model.apply(op)

    # ---- plain operations ---------------------------------------------------------
    @rule(payload=st.binary(max_size=64))
    def load_invoice(self, payload):
        self._do(("invoice", self._next_id("INV"), payload))

    @rule()
    def reserve(self):
        self._do(("reserve",))

    def _reserved(self):
        return [n for n, (s, _, _) in self.model.numbers.items() if s == "reserved"]

    def _loaded(self):
        return [i for i, (s, _) in self.model.invoices.items() if s == "loaded"]

    @precondition(lambda self: self._reserved())
    @rule(data=st.data(), payload=st.binary(min_size=1, max_size=64), with_invoice=st.booleans())
    def sign(self, data, payload, with_invoice):
        number = data.draw(st.sampled_from(self._reserved()))
        invoice = data.draw(st.sampled_from(self._loaded())) if with_invoice and self._loaded() else None
        self._do(("sign", self._next_id("F"), number, invoice, payload))

    @precondition(lambda self: self._reserved())
    @rule(data=st.data())
    def abandon(self, data):
        self._do(("abandon", data.draw(st.sampled_from(self._reserved()))))

    @precondition(lambda self: self.model.fses)
    @rule(data=st.data(), confirm=st.booleans())
    def advance(self, data, confirm):
        fse_id = data.draw(st.sampled_from(sorted(self.model.fses)))
        status = self.model.fses[fse_id][1]
        op = ("confirm" if confirm else "offer", fse_id)
        if status == "imported" or (status == "signed" and confirm):
            try:
                run_op(self.store, op)
            except StoreError:
                return  # refused transition: nothing changes
            assert op[0] == "confirm" and status == "imported"  # idempotent repeat only
            return
        self._do(op)

    @rule()
    def purge(self):
        self._do(("purge",))

    # ---- crashes ------------------------------------------------------------------
    @rule()
    def restart_between_calls(self):
        self.store._conn.close()  # no clean shutdown
        self.model = self.model.recover()
        self._open()

    @rule(data=st.data(), steps=st.integers(min_value=1, max_value=3000))
    def crash_during_batch(self, data, steps):
        """Run a batch in a child that dies after `steps` VM steps."""
        batch = []
        planned = self.model.recover()  # the child's start-up recovers first
        for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
            choice = data.draw(st.sampled_from(["invoice", "sign", "sign_invoice", "offer", "purge"]))
            if choice == "invoice":
                op = ("invoice", self._next_id("INV"), data.draw(st.binary(max_size=32)))
            elif choice.startswith("sign"):
                batch.append(("reserve",))
                planned = planned.apply(("reserve",))
                loaded = [i for i, (s, _) in planned.invoices.items() if s == "loaded"]
                invoice = loaded[0] if choice == "sign_invoice" and loaded else None
                op = ("sign", self._next_id("F"), planned.cursor - 1, invoice, b"cose")
            elif choice == "offer" and any(s == "signed" for _, s, _, _ in planned.fses.values()):
                op = ("offer", next(f for f, v in sorted(planned.fses.items()) if v[1] == "signed"))
            else:
                op = ("purge",)
            batch.append(op)
            planned = planned.apply(op)
        self.store.close()
        read_fd, write_fd = os.pipe()
        proc = multiprocessing.get_context("fork").Process(
            target=_child, args=(self.path, self.proof, batch, steps, write_fd))
        proc.start()
        os.close(write_fd)
        acked = 0
        while chunk := os.read(read_fd, 64):
            acked += len(chunk)
        os.close(read_fd)
        proc.join()
        self._open()
        seen = observe(self.store)
        candidates = [self.model.recover()]
        for op in batch:
            candidates.append(candidates[-1].apply(op))
        matches = [j for j, m in enumerate(candidates) if m.recover() == seen]
        assert matches, "state matches no prefix of the batch"
        assert max(matches) >= acked, f"acknowledged {acked} ops but state is prefix {matches}"
        self.model = candidates[max(matches)].recover()

    @invariant()
    def store_equals_model(self):
        if hasattr(self, "store"):
            assert observe(self.store) == self.model


StoreMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("STORE_STATEFUL_EXAMPLES", "25")), stateful_step_count=12, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestStoreMachine = StoreMachine.TestCase
