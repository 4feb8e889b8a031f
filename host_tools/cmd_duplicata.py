"""``tla duplicata FSE --reason R [-o FILE.pdf]``: the paper copy of an FSE that could
not be transmitted, as a PDF (docs/duplicata.md)."""

from __future__ import annotations

import argparse
import hashlib
from datetime import UTC, date, datetime
from pathlib import Path

from firmware.billing.duplicata import REASONS, make_duplicata
from firmware.billing.verify import VerifiedFse

from . import cli_common as cli
from .unit_link.keystore import HostKeys


def register(sub: argparse._SubParsersAction) -> None:
    dup = sub.add_parser("duplicata", help="print the duplicata (PDF) of an imported FSE",
                         **cli.OFFICE_HELP)
    dup.add_argument("fse", metavar="FSE", help="import id or FSE id (tla fse list)")
    dup.add_argument("--reason", required=True, choices=sorted(REASONS),
                     help="why the FSE is not transmitted")
    dup.add_argument("--output", "-o", type=Path, metavar="FILE.pdf",
                     help="where to write (default: duplicata-BILLING-NUMBER.pdf here)")
    cli.add_db_argument(dup)
    dup.set_defaults(run=cmd_duplicata)


async def cmd_duplicata(args: argparse.Namespace, keys: HostKeys) -> int:
    from . import office_lots
    from .duplicata_pdf import render

    with cli.open_db(args.db) as db:
        fields, cose = db.fse(args.fse)
        lot = office_lots.fse_lot_status(db).get(fields["import_id"])
    if args.reason == "lot_rejected" and (lot is None or lot["fse_status"] != "rejected"):
        where = "in no lot" if lot is None else f"{lot['fse_status']} in lot {lot['lot']}"
        raise cli.UsageError(f"--reason lot_rejected: FSE {args.fse} is {where}, not rejected "
                             "by an ARL")
    payload = office_lots.payload_of(cose)
    verified = VerifiedFse(payload, payload["mode"], payload["fse_number"],
                           payload["billing_number"], payload["unit_id"], b"",
                           datetime.fromtimestamp(payload["signed_at"], UTC))
    dup = make_duplicata(verified, args.reason, None if lot is None else lot["lot_number"])
    pdf = render(dup, payload, sha256_hex=hashlib.sha256(cose).hexdigest(), issued=date.today())
    output = args.output or Path(f"duplicata-{dup.billing_number}-{dup.fse_number}.pdf")
    try:
        output.write_bytes(pdf)
    except OSError as exc:
        raise cli.UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    print(f"{output}: duplicata of FSE {dup.fse_number} ({dup.billing_number}), "
          f"{'lot ' + str(dup.lot_number) if dup.lot_number else 'no lot'}, for the {dup.send_to}")
    return 0
