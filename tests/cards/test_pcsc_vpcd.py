"""The same reader code through the real PC/SC stack: pcscd + vsmartcard's vpcd
driver + pyscard, with our vpcd client serving the emulated cards.

pcscd is started in the foreground with a private reader.conf directory (vpcd on a
free port pair) and stopped at the end. pcscd always uses /run/pcscd, so a file
lock serialises test runs on one machine.
"""

import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from board.pcsc import PcscConnection, list_readers
from board.sim.cardos.apdu_connection import ApduConnection
from board.sim.cards.loader import load_card
from board.sim.vpcd import VpcdCard
from firmware.cardapps.cps import CpsReader
from firmware.cardapps.errors import WrongPin
from firmware.cardapps.vitale import read_vitale
from firmware.iso7816.errors import CardError

PCSCD = shutil.which("pcscd") or "/usr/sbin/pcscd"
LOCK = "/tmp/opentla-pcscd-tests.lock"


def _free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port >= 65535:
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for vpcd")


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # pcscd not up yet
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what} (last error: {last})")


def _pcscd_running() -> bool:
    pid_file = Path("/run/pcscd/pcscd.pid")
    if not pid_file.exists():
        return False
    try:
        os.kill(int(pid_file.read_text().strip() or 0), 0)
    except (ValueError, ProcessLookupError, PermissionError):
        return False
    return True


@pytest.fixture(scope="module")
def pcscd(tmp_path_factory):
    lock = open(LOCK, "w")  # noqa: SIM115 - held for the whole module
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        _wait(lambda: not _pcscd_running(), 30, "another pcscd to stop")
        port = _free_port_pair()
        conf = tmp_path_factory.mktemp("pcscd-conf")
        (conf / "vpcd").write_text(
            'FRIENDLYNAME "Virtual PCD"\n'
            f"DEVICENAME   /dev/null:{port:#x}\n"
            "LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so\n"
            f"CHANNELID    {port:#x}\n"
        )
        # the log must not sit in the config dir: pcscd parses every file there
        log = open(tmp_path_factory.mktemp("pcscd-log") / "pcscd.log", "w")  # noqa: SIM115
        proc = subprocess.Popen(
            [PCSCD, "--foreground", "--config", str(conf), "--info"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            _wait(lambda: len([r for r in list_readers() if "Virtual PCD" in r]) == 2, 20,
                  "pcscd to list the vpcd readers")
            yield port
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            log.close()
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


def _open(reader: str) -> PcscConnection:
    return _wait(lambda: PcscConnection.open(reader), 10, f"a card in {reader}")


def test_vitale_through_pcscd_matches_in_memory(pcscd):
    card = load_card("vitale_famille_essai")
    with VpcdCard(card, port=pcscd) as plug:
        conn = _open("Virtual PCD 00 00")
        try:
            assert conn.atr == bytes.fromhex("3B751300004709EA9000")
            via_pcsc = read_vitale(conn)
        finally:
            conn.close()
    assert plug.error is None and plug.apdus >= 11
    direct = read_vitale(ApduConnection(load_card("vitale_famille_essai")))
    assert via_pcsc == direct
    assert [b.nir + b.nir_key for b in via_pcsc.beneficiaries][:2] == ["180079999901256", "283039999901583"]


def test_cps_pin_and_signature_through_pcscd(pcscd):
    card = load_card("cps_medecin")
    with VpcdCard(card, port=pcscd + 1):
        conn = _open("Virtual PCD 00 01")
        try:
            r = CpsReader(conn)
            info = r.read()
            with pytest.raises(WrongPin) as exc:
                r.verify_pin("0000")
            assert exc.value.tries_left == 2
            r.verify_pin("1234")
            sig = r.sign_digest(hashlib.sha256(b"lot 42").digest())
        finally:
            conn.close()
    key = x509.load_der_x509_certificate(info.certificate).public_key()
    key.verify(sig, b"lot 42", padding.PKCS1v15(), hashes.SHA256())
    assert b"0000" not in b"".join(c for c, _ in conn.trace.log)


def test_opensc_tool_shows_the_atr(pcscd):
    with VpcdCard(load_card("cps_infirmier"), port=pcscd):
        _open("Virtual PCD 00 00").close()
        out = subprocess.run(
            ["opensc-tool", "--reader", "Virtual PCD 00 00", "--atr"],
            capture_output=True, text=True, timeout=30,
        )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().lower() == "3b:ac:00:40:2a:00:12:25:00:64:80:00:03:10:00:90:00"


def test_card_pulled_during_session(pcscd):
    card = load_card("vitale_famille_essai")
    plug = VpcdCard(card, port=pcscd).start()
    conn = _open("Virtual PCD 00 00")
    try:
        card.remove()
        with pytest.raises(CardError):
            read_vitale(conn)
    finally:
        plug.stop()
        conn.close()


def test_the_pc_board_reads_cards_through_pcsc_readers(pcscd, tmp_path):
    """board.build for `pc`: two PC/SC readers as the card slots, the PC's clock,
    no battery; the unit app runs on it and reads the Vitale card."""
    from board import build
    from board.config import BoardConfig
    from firmware.app import UnitApp, UnitThread

    # the Vitale slot on vpcd's second reader: the first was the last one plugged and pulled
    board = build(BoardConfig(board="pc", state_dir=str(tmp_path), vitale_reader="Virtual PCD 00 01",
                              cps_reader="Virtual PCD 00 00"))
    assert board.gauge is None and board.clock.now().tzinfo is not None
    assert not board.vitale.card_present()
    thread = UnitThread(lambda: UnitApp(board, tmp_path))
    app = thread.start()
    try:
        with VpcdCard(load_card("vitale_famille_essai"), port=pcscd + 1) as plug:
            conn = _wait(lambda: app.call(app.unit.connect_vitale), 20, "a card in the pc board")
            try:
                card = read_vitale(conn)
                present = app.call(board.vitale.card_present)
            finally:
                conn.close()
        info = app.call(app.unit.unit_info)
    finally:
        thread.stop()
    assert plug.error is None
    assert present and card.beneficiaries[0].nir == "1800799999012"
    assert (info.board, info.battery_percent) == ("pc", None)
