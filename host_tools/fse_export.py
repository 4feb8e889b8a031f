"""What ``tla fse export`` hands the billing software (schema: docs/export.md): one
record per imported FSE with its database fields, the AMC part and the card's AMC, the
PJ it needs and their status, the warnings of the checks, its lot, the full verified
payload and the signed COSE bytes in base64 (the original the billing software keeps).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
from typing import IO

from sqlalchemy import select

from . import office_lots
from . import office_schema as s
from .office_db import OfficeDb

EXPORT_FORMAT = "opentla-export/1"
PJ_MISSING = "missing"  # needed and not attached (else "attached", or "purged": docs/pj.md)
CSV_FIELDS = (
    "format", "import_id", "unit_id", "fse_id", "billing_number", "fse_number", "mode",
    "signed_at", "date_of_care", "imported_at", "acked_at", "nir", "patient_name",
    "regime", "caisse", "centre", "tiers_payant", "payment_guarantee", "total_cents",
    "amo_cents", "amc_cents", "patient_cents", "due_now_cents", "amc_organism",
    "amc_contract_type", "amc_valid_at_care", "pj", "warnings", "lot", "lot_number",
    "lot_status", "lot_fse_status", "lot_reason_code", "lot_reason", "seal", "sha256",
    "lines", "cose_base64")


def _plain(value: object) -> object:
    """The payload as JSON values: bytes become lowercase hex."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _pj(code: str, doc: dict | None) -> dict:
    """One needed document and its status (docs/pj.md)."""
    if doc is None:
        return {"type": code, "status": PJ_MISSING, "media_type": None, "pages": None,
                "dpi": None, "sha256": None, "attached_at": None}
    return {"type": code, "status": doc["status"], "media_type": doc["media_type"],
            "pages": doc["pages"], "dpi": doc["dpi"], "sha256": doc["sha256"].hex(),
            "attached_at": doc["attached_at"]}


def records(db: OfficeDb) -> list[dict]:
    from .pj import documents

    lots = office_lots.fse_lot_status(db)
    docs = documents(db)
    f = s.fses.c
    with db.read() as c:
        extra = {imp: (seal, cose) for imp, seal, cose in c.execute(
            select(f.import_id, f.seal, f.cose))}
    out = []
    for fields in db.fses():
        seal, cose = extra[fields["import_id"]]
        payload = office_lots.payload_of(cose)
        amounts, ben = payload["amounts"], payload["beneficiary"]
        lot = lots.get(fields["import_id"])
        out.append({
            "format": EXPORT_FORMAT, **fields,
            "regime": payload["destination"]["regime"],
            "caisse": payload["destination"]["caisse"],
            "centre": payload["destination"]["centre"],
            "tiers_payant": payload["invoice"]["tiers_payant"],
            "payment_guarantee": payload["payment_guarantee"],
            "amc_cents": amounts["amc_cents"], "due_now_cents": amounts["due_now_cents"],
            "amc": _plain(ben.get("amc")),
            "pj": [_pj(code, docs.get(fields["import_id"], {}).get(code))
                   for code in payload["pj"]],
            "warnings": list(payload["warnings"]),
            "lot": None if lot is None else {
                "lot": lot["lot"], "lot_number": lot["lot_number"],
                "lot_status": lot["lot_status"], "fse_status": lot["fse_status"],
                "reason_code": lot["reason_code"], "reason": lot["reason"]},
            "seal": seal.hex(), "sha256": hashlib.sha256(cose).hexdigest(),
            "payload": _plain(payload),
            "cose_base64": base64.b64encode(cose).decode("ascii"),
        })
    return out


def csv_row(rec: dict) -> dict:
    """One CSV row: the record without ``payload``, nested values flattened."""
    amc, lot = rec["amc"] or {}, rec["lot"] or {}
    row = {k: rec[k] for k in CSV_FIELDS if k in rec and not isinstance(rec[k], (dict, list))}
    row.update({
        "amc_organism": amc.get("organism", ""), "amc_contract_type": amc.get("contract_type", ""),
        "amc_valid_at_care": amc.get("valid_at_care", ""),
        "pj": " ".join(f"{p['type']}:{p['status']}" for p in rec["pj"]),
        "warnings": " ".join(rec["warnings"]),
        "lot": lot.get("lot", ""), "lot_number": lot.get("lot_number", ""),
        "lot_status": lot.get("lot_status", ""), "lot_fse_status": lot.get("fse_status", ""),
        "lot_reason_code": lot.get("reason_code", ""), "lot_reason": lot.get("reason", ""),
        "lines": json.dumps(rec["payload"]["amounts"]["lines"], ensure_ascii=False,
                            sort_keys=True, separators=(",", ":")),
    })
    return row


def write(db: OfficeDb, fmt: str, out: IO[str]) -> int:
    recs = records(db)
    if fmt == "json":
        json.dump(recs, out, indent=1, sort_keys=True, ensure_ascii=False)
        out.write("\n")
    else:
        writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(csv_row(r) for r in recs)
    return len(recs)
