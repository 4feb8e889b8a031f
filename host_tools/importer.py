"""Office transfers over the SMP link: loading prepared data, unloading FSEs.

    async with connect(port) as client:
        unit = await open_session(client, keys)
        report = await unload(client, OfficeDb(path), trust)

Unload order, so that a pulled cable or a crash at any frame loses nothing and
imports nothing twice (``docs/protocol.md`` §7):

1. DEVICE: learn the unit's FSE key (kept per unit in the office database);
2. LIST the pending FSEs; those already in the database (an earlier run crashed
   before acknowledging) are only acknowledged again, never fetched or imported;
3. PULL from a cursor (record id + offset) until the unit says ``end``; each FSE,
   once whole, is verified (firmware.billing FseVerifier); verified FSEs are imported
   by batches of ``IMPORT_BATCH``, each batch in one durable transaction (and what is
   verified when the link breaks is imported before the error goes up);
4. ACK the imported ones with their import ids: only then may the unit purge;
   the office marks a row acknowledged (``acked_at``) once the unit answered the
   ACK, or, when that answer was lost, at the next run that finds the record gone
   from the unit's LIST (:func:`_settle_lost_acks`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from smpclient import SMPClient

from firmware.billing.errors import BillingError
from firmware.billing.trust import CardAuthorities
from firmware.billing.verify import FseVerifier
from firmware.loaded.schema import FseRange
from firmware.store.office_sig import sign_load

from .office_db import NewFse, OfficeDb, OfficeDbError, stored_part
from .seals import SealFlag, SealFlags
from .transfer_messages import (
    FseAck,
    FseDevice,
    FseList,
    FsePull,
    LoadAbort,
    LoadBatch,
    LoadBegin,
    LoadChunk,
    LoadCommit,
    LoadInfo,
    LoadList,
    LoadRange,
    LoadRanges,
    LoadWithdraw,
    VitaleAck,
    VitaleList,
    VitalePull,
)
from .unit_link.client import LinkRefused, check

ACK_BATCH = 128
IMPORT_BATCH = 1000  # verified FSEs stored per transaction (one fsync), all before any ACK
CHUNK_MARGIN = 160  # request header + map keys around a CHUNK's data


@dataclass
class UnloadReport:
    unit_id: str = ""
    imported: list[str] = field(default_factory=list)  # fse ids new in the database
    already: list[str] = field(default_factory=list)  # imported by an earlier run
    rejected: list[tuple[str, str, str]] = field(default_factory=list)  # (id, code, message)
    acked: int = 0
    vitale_imported: int = 0
    flagged: list[SealFlag] = field(default_factory=list)  # imported, seal matches no reference
    payload_bytes: int = 0


Progress = Callable[[int, int], None]


async def _list_all(client: SMPClient, request_type) -> list[list]:
    rows: list[list] = []
    after = None
    while True:
        answer = check(await client.request(request_type(after=after)))
        rows += answer.recs
        if not answer.more or not answer.recs:
            return rows
        after = answer.recs[-1][0]


async def _pull_all(client: SMPClient, request_type, first: str | None, on_record) -> int:
    """PULL from ``first`` until ``end``; ``on_record(id, bytes)`` for each whole record.

    The next PULL goes out before this answer is verified and imported (its cursor,
    record id + offset, is known from the answer), so the unit and the link work while
    the office does; SMP still sees one request at a time.
    """
    parts: dict[str, bytearray] = {}
    total_bytes = 0
    asking: asyncio.Future | None = asyncio.ensure_future(
        client.request(request_type(id=first, off=0)))
    try:
        while asking is not None:
            answer = check(await asking)
            asking = None
            if not answer.end:
                if not answer.recs:
                    raise LinkRefused("link.stalled", "the unit sent no data and no end")
                last = answer.recs[-1]
                asking = asyncio.ensure_future(
                    client.request(request_type(id=last[0], off=last[1] + len(last[3]))))
                for _ in range(3):
                    await asyncio.sleep(0)  # let the request go out
            for rid, off, total, data in answer.recs:
                buf = parts.setdefault(rid, bytearray())
                if off != len(buf):
                    raise LinkRefused("link.bad_offset", f"record {rid}: got offset {off}, "
                                      f"expected {len(buf)}")
                buf += data
                if len(buf) == total:
                    total_bytes += total
                    await on_record(rid, bytes(parts.pop(rid)))
    finally:
        if asking is not None and not asking.done():
            asking.cancel()
    return total_bytes


async def _ack(client: SMPClient, request_type, acks: list[list[str]]) -> None:
    for start in range(0, len(acks), ACK_BATCH):
        check(await client.request(request_type(acks=acks[start:start + ACK_BATCH])))


async def unload(client: SMPClient, db: OfficeDb, trust: CardAuthorities, *,
                 reference_seals: list[bytes] | None = None,
                 progress: Progress | None = None,
                 before_ack: Callable[[], None] | None = None) -> UnloadReport:
    """Fetch, verify, import and acknowledge every pending FSE and Vitale read."""
    report = UnloadReport()
    device = check(await client.request(FseDevice()))
    report.unit_id = unit_id = device.unit_id
    db.remember_unit(unit_id, device.key)
    verifier = FseVerifier(trust, {unit_id: device.key}, reference_seals=reference_seals)
    seal_flags = SealFlags(db)
    pending = await _list_all(client, FseList)
    _settle_lost_acks(db, "fses", unit_id, {rid for rid, *_ in pending})
    acks: list[list[str]] = []
    fetch: list[str] = []
    known = db.known_fses(unit_id)
    for rid, *_ in pending:
        if rid not in known:
            fetch.append(rid)
        else:
            report.already.append(rid)
            acks.append([rid, known[rid]])
    # what an earlier run imported is acknowledged first: the unit then skips it
    await _ack(client, FseAck, acks)
    db.mark_acked("fses", [imp for _, imp in acks])
    report.acked += len(acks)
    acks = []
    done = [0]
    batch: list[NewFse] = []

    def store() -> None:
        """Import the verified FSEs waiting in ``batch`` in one durable transaction."""
        results = db.import_fses(unit_id, batch)
        for item, result in zip(batch, results, strict=True):
            if isinstance(result, OfficeDbError):
                report.rejected.append((item.fse_id, result.code, str(result)))
            else:
                (report.already if result.duplicate else report.imported).append(item.fse_id)
                acks.append([item.fse_id, result.import_id])
                flag = None if result.duplicate else seal_flags.check(item.fse_id, item.cose,
                                                                       item.seal)
                if flag is not None:
                    report.flagged.append(flag)
        batch.clear()

    async def take(rid: str, cose: bytes) -> None:
        done[0] += 1
        report.payload_bytes += len(cose)
        try:
            verified = verifier.verify(cose)
            if verified.unit_id != unit_id:
                raise OfficeDbError("fse_unit_unknown", "FSE signed by another unit")
        except (BillingError, OfficeDbError) as exc:
            report.rejected.append((rid, exc.code, str(exc)))
        else:
            batch.append(NewFse(rid, cose, stored_part(verified.payload), verified.seal))
            if len(batch) >= IMPORT_BATCH:
                store()
        if progress is not None:
            progress(done[0], len(fetch))

    if fetch:
        try:
            await _pull_all(client, FsePull, fetch[0], take)
        finally:  # a cut link keeps what was verified: the next run only acknowledges it
            if batch:
                store()
    if before_ack is not None:
        before_ack()
    await _ack(client, FseAck, acks)
    report.acked += len(acks)
    db.mark_acked("fses", [imp for _, imp in acks])
    await _unload_vitale(client, db, unit_id, report)
    return report


def _settle_lost_acks(db: OfficeDb, table: str, unit_id: str, pending: set[str]) -> None:
    """Mark acknowledged what the office holds and the unit no longer lists.

    The unit lists every record it has not had acknowledged (FSE ``signed`` or
    ``offered``, Vitale reads not deleted) and a record leaves that list only through
    an ACK. A record this database imported that the unit does not list any more was
    therefore acknowledged: by an earlier run whose ACK answer was lost to a cut (the
    unit applied it, the office never heard back), or by another office database.
    """
    db.mark_acked(table, [imp for rid, imp in db.unacked(table, unit_id).items()
                          if rid not in pending])


async def _unload_vitale(client: SMPClient, db: OfficeDb, unit_id: str,
                         report: UnloadReport) -> None:
    rows = await _list_all(client, VitaleList)
    _settle_lost_acks(db, "vitale_reads", unit_id, {r[0] for r in rows})
    if not rows:
        return
    prof = {r[0]: r[2] for r in rows}
    acks: list[list[str]] = []

    async def take(rid: str, payload: bytes) -> None:
        result = db.import_vitale_read(unit_id, rid, prof.get(rid, ""), payload)
        report.vitale_imported += not result.duplicate
        acks.append([rid, result.import_id])

    await _pull_all(client, VitalePull, rows[0][0], take)
    await _ack(client, VitaleAck, acks)
    db.mark_acked("vitale_reads", [imp for _, imp in acks])


# ---- trust anchors ------------------------------------------------------------------------
class TrustFileError(ValueError):
    """A --trust file cannot be read as certificates (the message names it)."""


def load_trust(paths: list[str]) -> CardAuthorities:
    """PEM bundles or DER files; self-signed certificates are roots, others intermediates."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    roots: list[bytes] = []
    intermediates: list[bytes] = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise TrustFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
        try:
            certs = (x509.load_pem_x509_certificates(data) if b"-----BEGIN" in data
                     else [x509.load_der_x509_certificate(data)])
        except ValueError:
            kind = "PEM" if b"-----BEGIN" in data else "DER"
            raise TrustFileError(f"{path}: not a certificate file (no valid {kind} "
                                 "X.509 certificate in it)") from None
        for cert in certs:
            der = cert.public_bytes(Encoding.DER)
            (roots if cert.subject == cert.issuer else intermediates).append(der)
    if not roots:
        raise TrustFileError("no root (self-signed) certificate among the --trust files")
    return CardAuthorities(roots, intermediates)


# ---- loading ----------------------------------------------------------------------------
@dataclass(frozen=True)
class LoadItem:
    kind: str  # invoice | patient | tariff | opposition
    record_id: str
    professional_id: str | None
    payload: bytes  # deterministic CBOR


class LoadTooLarge(Exception):
    """The files hold more than one load transaction of the unit takes."""


async def unit_ranges(client: SMPClient) -> list[FseRange]:
    """The FSE ranges the unit holds (the range rule applies to new ones)."""
    answer = check(await client.request(LoadRanges()))
    return [FseRange(*r) for r in answer.ranges]


async def send_load(client: SMPClient, items: Iterable[LoadItem], ranges: list[FseRange],
                    signer: Ed25519PrivateKey) -> int:
    """Send one load transaction (docs/protocol.md §8): BEGIN, the records in batches
    sized to the unit's buffer (large ones in chunks), each signed with the office's
    paired identity key ``signer`` over the unit's id (firmware/store/office_sig.py),
    the ranges, then COMMIT: the unit stores all of it or none. Records beyond what one
    transaction holds (BEGIN's ``max``) stop the load (:class:`LoadTooLarge`) before they
    are sent. Any failure before the COMMIT's answer sends ABORT (best effort; the unit
    also drops a load its session leaves behind). Returns records + ranges stored."""
    unit_id = check(await client.request(LoadInfo())).unit
    room = check(await client.request(LoadBegin())).max
    try:
        sent = await _send_records(client, items, unit_id, signer, room)
        for start in range(0, len(ranges), 64):
            chunk = [r.as_list() for r in ranges[start:start + 64]]
            check(await client.request(LoadRange(ranges=chunk)))
        return check(await client.request(LoadCommit(n=sent, r=len(ranges)))).n
    except BaseException:
        with contextlib.suppress(Exception):
            await client.request(LoadAbort())
        raise


async def _send_records(client: SMPClient, items: Iterable[LoadItem], unit_id: bytes,
                        signer: Ed25519PrivateKey, room: int) -> int:
    limit = client._transport.max_unencoded_size - CHUNK_MARGIN
    sent = staged = 0
    batch: list[list] = []
    size = 0
    for item in items:
        staged += len(item.payload)
        if staged > room:
            raise LoadTooLarge(f"the files hold more than the {room} bytes of records the unit "
                               "takes in one load: split them over several tla load runs")
        sig = sign_load(signer, unit_id, item.kind, item.record_id, item.professional_id,
                        item.payload)
        entry = [item.kind, item.record_id, item.professional_id, item.payload, sig]
        cost = len(item.payload) + len(item.record_id) + 24 + 66
        if cost > limit:
            await _send_chunked(client, item, limit, sig)
            sent += 1
            continue
        if size + cost > limit:
            sent += check(await client.request(LoadBatch(items=batch))).n
            batch, size = [], 0
        batch.append(entry)
        size += cost
    if batch:
        sent += check(await client.request(LoadBatch(items=batch))).n
    return sent


async def _send_chunked(client: SMPClient, item: LoadItem, limit: int, sig: bytes) -> None:
    offset = 0
    total = len(item.payload)
    while True:
        piece = item.payload[offset:offset + limit]
        answer = check(await client.request(LoadChunk(
            kind=item.kind, id=item.record_id, prof=item.professional_id, off=offset,
            size=total, d=piece, sig=sig)))
        offset = answer.next
        if offset >= total:
            return


async def list_loaded(client: SMPClient) -> list[list]:
    """Every record the unit holds from loads: [kind, id, prof, status, size]."""
    rows: list[list] = []
    after = None
    while True:
        answer = check(await client.request(LoadList(after=after)))
        rows += answer.recs
        if not answer.more or not answer.recs:
            return rows
        after = answer.recs[-1][:2]


async def withdraw(client: SMPClient, records: list[list[str]]) -> int:
    """Remove loaded records ([kind, id]) from the unit: all of them or none."""
    return check(await client.request(LoadWithdraw(recs=records))).n
