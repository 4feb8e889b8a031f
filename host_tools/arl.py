"""Returns (ARL, accusé de réception logique) of lots: the open format ``opentla-arl/1``,
one JSON file per ARL (docs/lots.md §Returns), read, checked against the office
database and applied.

Every file given is read and checked before anything is marked; one bad file
(``ArlFileError``: the file and the field named, exit code 2) marks nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, bindparam, select, update

from firmware.billing.errors import BillingError
from firmware.billing.lots import check_lot_number

from . import office_lots
from . import office_schema as s
from .cli_common import UsageError
from .office_db import OfficeDb

ARL_FORMAT = "opentla-arl/1"
STATUSES = ("accepted", "rejected")


class ArlFileError(UsageError):
    """An ARL file that cannot be applied: the message names the file and the field."""

    def __init__(self, path: str | Path, field: str, problem: str) -> None:
        super().__init__(f"{path}: {field}: {problem}" if field else f"{path}: {problem}")
        self.path = str(path)
        self.field = field


@dataclass(frozen=True)
class Arl:
    path: str
    sha256: bytes
    billing_number: str
    lot_number: int
    regime: str
    caisse: str
    received_at: float
    status: str
    reason: tuple[str, str] | None  # (code, text)
    fses: tuple[tuple[int, str, tuple[str, str] | None], ...]  # (number, status, reason)


def _text(path, obj: dict, key: str, pattern: str = r".+", where: str = "") -> str:
    value = obj.get(key)
    name = f"{where}{key}"
    if key not in obj:
        raise ArlFileError(path, name, "missing")
    if not isinstance(value, str) or not re.fullmatch(pattern, value):
        raise ArlFileError(path, name, f"{value!r} is not valid (expected {pattern})")
    return value


def _reason(path, value, name: str) -> tuple[str, str]:
    if not isinstance(value, dict):
        raise ArlFileError(path, name, "must be an object {\"code\", \"text\"}")
    return (_text(path, value, "code", r"\S.{0,63}", f"{name}."),
            _text(path, value, "text", r"(?s).{0,500}", f"{name}."))


def read_arl(path: str | Path) -> Arl:
    """Parse one ARL file and check its fields (not yet against the database)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ArlFileError(path, "", f"cannot read: {exc.strerror or exc}") from None
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f"line {exc.lineno} column {exc.colno}: " if isinstance(
            exc, json.JSONDecodeError) else ""
        raise ArlFileError(path, "", f"not JSON: {where}{getattr(exc, 'msg', exc)}") from None
    if not isinstance(doc, dict):
        raise ArlFileError(path, "", "must be one JSON object")
    if doc.get("format") != ARL_FORMAT:
        raise ArlFileError(path, "format", f"{doc.get('format')!r} is not {ARL_FORMAT!r}")
    billing = _text(path, doc, "billing_number", r"\d{9}")
    try:
        lot_number = check_lot_number(doc.get("lot_number"))
    except BillingError:
        raise ArlFileError(path, "lot_number", f"{doc.get('lot_number')!r} is not a lot "
                           "number (1..999999)") from None
    organism = doc.get("organism")
    if not isinstance(organism, dict):
        raise ArlFileError(path, "organism", "must be an object {\"regime\", \"caisse\"}")
    regime = _text(path, organism, "regime", r"\d{2}", "organism.")
    caisse = _text(path, organism, "caisse", r"\d{3}", "organism.")
    received = _text(path, doc, "received_at", r"\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)")
    try:
        received_at = datetime.fromisoformat(received).astimezone(UTC).timestamp()
    except ValueError:
        raise ArlFileError(path, "received_at", f"{received!r} is not a date and time") from None
    status = _text(path, doc, "status", "|".join(STATUSES))
    reason = None
    if status == "rejected" or doc.get("reason") is not None:
        reason = _reason(path, doc.get("reason"), "reason")
    items = doc.get("fses", [])
    if not isinstance(items, list):
        raise ArlFileError(path, "fses", "must be an array")
    fses = []
    seen: set[int] = set()
    for i, item in enumerate(items):
        name = f"fses[{i}]"
        if not isinstance(item, dict):
            raise ArlFileError(path, name, "must be an object")
        number = item.get("fse_number")
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise ArlFileError(path, f"{name}.fse_number", f"{number!r} is not an FSE number")
        if number in seen:
            raise ArlFileError(path, f"{name}.fse_number", f"FSE {number} listed twice")
        seen.add(number)
        fse_status = _text(path, item, "status", "|".join(STATUSES), f"{name}.")
        if status == "rejected" and fse_status != "rejected":
            raise ArlFileError(path, f"{name}.status", "an FSE of a rejected lot is rejected")
        fse_reason = None
        if fse_status == "rejected" or item.get("reason") is not None:
            fse_reason = _reason(path, item.get("reason"), f"{name}.reason")
        fses.append((number, fse_status, fse_reason))
    return Arl(str(path), hashlib.sha256(raw).digest(), billing, lot_number, regime, caisse,
               received_at, status, reason, tuple(fses))


def check_arl(db: OfficeDb, conn: Connection, arl: Arl) -> tuple[dict, list[dict], bool]:
    """The lot it answers, its FSEs, and whether this very ARL was imported before (read
    in the importing transaction ``conn``, the lot's row locked on PostgreSQL)."""
    lot = office_lots.lot_by_number(db, arl.billing_number, arl.lot_number, conn)
    if lot is None:
        raise ArlFileError(arl.path, "lot_number", f"no lot {arl.billing_number}/"
                           f"{arl.lot_number} in the office database (unknown lot)")
    if (lot["regime"], lot["caisse"]) != (arl.regime, arl.caisse):
        raise ArlFileError(arl.path, "organism", f"lot {arl.billing_number}/{arl.lot_number} "
                           f"went to {lot['regime']}/{lot['caisse']}, not "
                           f"{arl.regime}/{arl.caisse}")
    lt = s.lots.c
    previous = conn.execute(select(lt.arl_sha256, lt.arl_file).where(
        lt.row_id == lot["row_id"]).with_for_update()).one()
    if previous[0] is not None and previous[0] != arl.sha256:
        raise ArlFileError(arl.path, "lot_number", f"lot {arl.billing_number}/"
                           f"{arl.lot_number} was already answered by {previous[1]}")
    fses = office_lots.lot_fses(db, lot["row_id"], conn)
    numbers = {f["fse_number"] for f in fses}
    for i, (number, _, _) in enumerate(arl.fses):
        if number not in numbers:
            raise ArlFileError(arl.path, f"fses[{i}].fse_number", f"FSE {number} is not in lot "
                               f"{arl.billing_number}/{arl.lot_number}")
    return lot, fses, previous[0] is not None


def import_arls(db: OfficeDb, paths: list[str | Path],
                progress: Callable[[int, int], None] | None = None) -> list[tuple[Arl, bool]]:
    """Read and check every file, then apply them all in one transaction. Returns
    (arl, already) per file; ``progress(done, total)`` after each file applied."""
    arls = [read_arl(p) for p in paths]
    seen: dict[tuple[str, int], str] = {}
    for arl in arls:
        key = (arl.billing_number, arl.lot_number)
        if key in seen and seen[key] != arl.path:
            raise ArlFileError(arl.path, "lot_number", f"lot {key[0]}/{key[1]} is answered "
                               f"by {seen[key]} too")
        seen[key] = arl.path
    with office_lots.transaction(db) as conn:
        done = []
        for arl in arls:
            lot, fses, already = check_arl(db, conn, arl)
            if not already:
                _apply(conn, arl, lot, fses)
            done.append((arl, already))
            if progress is not None:
                progress(len(done), len(arls))
    return done


def _apply(conn: Connection, arl: Arl, lot: dict, fses: list[dict]) -> None:
    code, text = arl.reason or ("", "")
    lt, lf = s.lots.c, s.lot_fses.c
    conn.execute(update(s.lots).where(lt.row_id == lot["row_id"]).values(
        status=arl.status, arl_file=arl.path, arl_sha256=arl.sha256, arl_at=arl.received_at,
        reason_code=code, reason=text))
    listed = {n: (s, r) for n, s, r in arl.fses}
    rows = []
    for fse in fses:
        status, reason = listed.get(fse["fse_number"], (arl.status, arl.reason))
        if status == "rejected" and reason is None:
            reason = arl.reason
        rcode, rtext = reason or ("", "")
        rows.append({"row": fse["fse_row"], "st": status, "rc": rcode, "rs": rtext})
    conn.execute(update(s.lot_fses).where(lf.fse_row == bindparam("row")).values(
        status=bindparam("st"), reason_code=bindparam("rc"), reason=bindparam("rs")), rows)
