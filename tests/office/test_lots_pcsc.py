"""``tla lots make`` through the real PC/SC stack: pcscd + vpcd serving an emulated
CPS, the reader found by the command itself (the only one holding a card). The pcscd
fixture and its file lock are tests/cards/test_pcsc_vpcd.py's."""

from __future__ import annotations

import io
import sys

from billing.conftest import SEAL
from cards.test_pcsc_vpcd import _open, pcscd  # noqa: F401 - the shared pcscd fixture

from board.sim.cards.loader import build_card
from board.sim.vpcd import VpcdCard
from firmware.billing.lots import read_lot
from host_tools import cli, office_lots
from host_tools.office_db import OfficeDb

from .helpers import NURSE, NURSE_PIN, cps_spec, import_all, nurse_fse


def test_lots_signed_by_the_cps_in_a_pcsc_reader(pcscd, tmp_path, pki, tariffs,  # noqa: F811
                                                 monkeypatch, capsys):
    path = tmp_path / "office.db"
    with OfficeDb(path) as db:
        import_all(db, pki, [nurse_fse(pki, tariffs, 1), nurse_fse(pki, tariffs, 2)])
        office_lots.add_seal(db, "0.1.0", SEAL)
    card = build_card(cps_spec())
    monkeypatch.setattr(sys, "stdin", io.StringIO(NURSE_PIN + "\n"))
    with VpcdCard(card, port=pcscd + 1) as plug:
        _open("Virtual PCD 00 01").close()  # pcscd has seen the card
        code = cli.main(["--keys", str(tmp_path / "keys.json"), "lots", "--db", str(path),
                         "make"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert plug.error is None
    assert out.splitlines() == [f"{NURSE}/1      01/341     2 FSE      14.96 EUR  ready"]
    with OfficeDb(path) as db:
        payload = read_lot(office_lots.lot_file(db, office_lots.lots(db)[0]["row_id"]))
    assert payload["end"]["fse_numbers"] == [1, 2] and payload["signer"]["serial"] == "8100000002"
