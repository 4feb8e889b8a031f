"""docs/lots.md follows the code: the lot file's keys are the ones read_lot returns, and
the ARL example is a valid return for the lot it names."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

from billing.conftest import SEAL

from firmware.billing.lots import read_lot
from host_tools import office_lots
from host_tools.arl import import_arls, read_arl
from host_tools.lot_maker import make_lots

from .helpers import NURSE_PIN, cps_connection, import_all, nurse_fse

DOC = (Path(__file__).resolve().parents[2] / "docs" / "lots.md").read_text(encoding="utf-8")


def _block(after: str, fence: str = "```") -> str:
    return DOC.split(after, 1)[1].split(fence, 1)[1].split("```", 1)[0]


def test_the_lot_file_example_names_every_key(db, pki, tariffs):
    import_all(db, pki, [nurse_fse(pki, tariffs, 1)])
    office_lots.add_seal(db, "0.1.0", SEAL)
    [lot] = make_lots(db, cps_connection(), lambda: NURSE_PIN, today=date(2026, 3, 12),
                      now=1773300000.0).made
    payload = read_lot(lot.lot_file)
    block = _block("## The lot file")
    keys = set(re.findall(r'"([a-z0-9_]+)":', block))
    expected = set(payload) | {k for part in ("header", "signer", "end") for k in payload[part]}
    assert keys == expected


def test_the_arl_example_is_a_valid_return(tmp_path, db, pki, tariffs):
    doc = json.loads(_block("## Returns", "```json"))
    # make lot 12 of that professional for that organism, holding FSE 3
    import_all(db, pki, [nurse_fse(pki, tariffs, 3)])
    office_lots.add_seal(db, "0.1.0", SEAL)
    make_lots(db, cps_connection(), lambda: NURSE_PIN, today=date(2026, 3, 12), now=1.7e9,
              first_number=doc["lot_number"])
    path = tmp_path / "arl.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    arl = read_arl(path)
    assert (arl.billing_number, arl.lot_number, arl.status) == ("699999025", 12, "accepted")
    [(applied, already)] = import_arls(db, [path])
    assert not already
    [lot] = office_lots.lots(db)
    assert [(f["fse_number"], f["status"], f["reason_code"])
            for f in office_lots.lot_fses(db, lot["row_id"])] == [(3, "rejected", "R102")]
