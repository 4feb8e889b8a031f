"""The unit's composition: firmware seal, device key, UnitServices, clock,
loaded-record decoding."""

from __future__ import annotations

import os
import re
import shutil
import stat
from datetime import UTC, datetime

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from firmware.office_link.groups import OsErr, OsGroup, UnitGroup
from firmware.office_link.header import GroupError
from firmware.store import store as store_module
from firmware.unit import (
    ClockNotSet,
    DeviceKeyError,
    OffsetClock,
    Unit,
    UnitConfig,
    device_key,
    documents,
    firmware_seal,
)
from firmware.unit.seal import default_base

from .simboard import SIGN_TIME


def test_changing_any_firmware_file_changes_the_seal(tmp_path):
    root = tmp_path / "firmware"
    shutil.copytree(default_base() / "firmware", root,
                    ignore=shutil.ignore_patterns("__pycache__"))
    original = firmware_seal(base=tmp_path)
    assert original == firmware_seal()  # caches do not count
    target = root / "billing" / "pricing.py"
    data = target.read_bytes()
    target.write_bytes(data.replace(b"round", b"r0und", 1))
    assert firmware_seal(base=tmp_path) != original
    target.write_bytes(data)
    assert firmware_seal(base=tmp_path) == original
    os.rename(target, root / "billing" / "pricing2.py")
    assert firmware_seal(base=tmp_path) != original
    os.rename(root / "billing" / "pricing2.py", target)
    (root / "billing" / "__pycache__").mkdir(exist_ok=True)
    (root / "billing" / "__pycache__" / "pricing.cpython-311.pyc").write_bytes(b"\x00")
    assert firmware_seal(base=tmp_path) == original
    # a byte moved from the end of one file to the start of the next changes it
    a, b = root / "unit" / "clock.py", root / "unit" / "device_key.py"
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(da[:-1])
    b.write_bytes(da[-1:] + db)
    assert firmware_seal(base=tmp_path) != original


def test_device_key_created_0600_and_reloaded(tmp_path):
    path = str(tmp_path / "unit.key")
    key = device_key.load_or_create(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = device_key.load_or_create(path)
    assert device_key.public_raw(again) == device_key.public_raw(key)
    sig = again.sign(b"payload")
    Ed25519PublicKey.from_public_bytes(device_key.public_raw(key)).verify(sig, b"payload")
    assert [p for p in os.listdir(tmp_path)] == ["unit.key"]  # no temporary left


def test_device_key_readable_by_others_is_refused(tmp_path):
    path = str(tmp_path / "unit.key")
    device_key.load_or_create(path)
    os.chmod(path, 0o644)
    with pytest.raises(DeviceKeyError) as exc:
        device_key.load_or_create(path)
    assert exc.value.code == "device_key_perms"


def test_device_key_file_of_another_kind_is_refused(tmp_path):
    path = tmp_path / "unit.key"
    path.write_bytes(b"not a key")
    os.chmod(path, 0o600)
    with pytest.raises(DeviceKeyError) as exc:
        device_key.load_or_create(str(path))
    assert exc.value.code == "device_key_invalid"


# docs/visit.md §Unit (serial) and §Seal: the examples, by hand
DOC_UNIT_ID = bytes.fromhex("0A1B2C3D4E5F") + bytes(range(10))
DOC_SERIAL = "TLA-0A1B2C3D4E5F"
# SHA-256("app/B.py" 00 0000000000000000 "app/a.py" 00 0000000000000001 "x"
#         "app/sub/c.json" 00 0000000000000002 "yz" "drv/__init__.py" 00 0000000000000001 "b"
#         "drv/pi/rtc.py" 00 0000000000000003 "rtc"), by printf | sha256sum
DOC_SEAL = "f4634d329db073660966591752168bcc360d5bbbb850986222c2790af8a250e7"


def test_serial_and_seal_of_the_documented_examples(tmp_path, monkeypatch):
    """A store whose random unit id is the doc's, on the doc's small tree."""
    tree = tmp_path / "release"
    (tree / "app" / "sub").mkdir(parents=True)
    (tree / "app" / "B.py").write_bytes(b"")
    (tree / "app" / "a.py").write_bytes(b"x")
    (tree / "app" / "sub" / "c.json").write_bytes(b"yz")
    (tree / "drv" / "pi").mkdir(parents=True)
    (tree / "drv" / "sim").mkdir()
    (tree / "drv" / "__init__.py").write_bytes(b"b")
    (tree / "drv" / "pi" / "rtc.py").write_bytes(b"rtc")
    (tree / "drv" / "sim" / "twin.py").write_bytes(b"not under a root")
    real, ids = os.urandom, [DOC_UNIT_ID]
    # the store draws its unit id first (then its salt) from os.urandom
    monkeypatch.setattr(store_module.os, "urandom",
                        lambda n: ids.pop() if ids and n == 16 else real(n))
    roots = ("app", "drv/__init__.py", "drv/pi")
    unit = Unit(UnitConfig(store_path=str(tmp_path / "unit.db"), seal_roots=roots,
                           seal_base=str(tree)),
                vitale_slot=None, cps_slot=None, clock=OffsetClock(base=lambda: 0.0))
    try:
        assert unit.store.unit_id == DOC_UNIT_ID
        info = unit.unit_info()
        assert (info.serial, info.seal) == (DOC_SERIAL, DOC_SEAL)
    finally:
        unit.close()


def test_unit_services_info_and_clock(board):
    unit = board.unit
    info = unit.unit_info()
    assert re.fullmatch(r"TLA-[0-9A-F]{12}", info.serial) and info.serial == unit.serial
    assert re.fullmatch(r"[0-9a-f]{64}", info.seal) and bytes.fromhex(info.seal) == unit.seal
    assert info.firmware == "0.1.0"  # pyproject's version of the installed package
    assert info.battery_percent == 87 and info.locked
    assert 0 < info.storage_used <= info.storage_total == unit.store.budget_bytes
    body = UnitGroup(unit).info(None, None)  # the link's group 81 served by the unit
    assert (body["serial"], body["seal"], body["battery"], body["locked"]) == (
        info.serial, info.seal, 87, True)
    assert body["clock"].startswith("2026-03-10T09:30:00")
    board.gauge.value = None
    assert unit.unit_info().battery_percent is None
    assert unit.clock_now() == SIGN_TIME
    later = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
    unit.set_clock(later)
    assert unit.clock_now() == later


def test_link_serves_a_unit_whose_clock_was_never_set(board):
    # A new unit out of the box: the office must still pair, read its info and
    # be told (not crash) that the clock needs setting.
    unit = board.unit
    unit.clock = OffsetClock(base=lambda: 0.0)  # never set
    assert UnitGroup(unit).info(None, None)["clock"] == ""
    with pytest.raises(GroupError) as exc:
        OsGroup(unit, 2048).datetime_read(None, None)
    assert exc.value.rc == OsErr.RTC_NOT_SET


def test_serial_and_device_key_survive_a_restart(board):
    serial, public = board.unit.serial, board.unit.device_public_key()
    unit = board.reopen()
    assert (unit.serial, unit.device_public_key()) == (serial, public)


def test_offset_clock():
    t = [100.0]
    clock = OffsetClock(base=lambda: t[0])
    with pytest.raises(ClockNotSet):
        clock.now()
    clock.set(datetime(2026, 1, 1, tzinfo=UTC))
    t[0] += 90.0
    assert clock.now() == datetime(2026, 1, 1, 0, 1, 30, tzinfo=UTC)
    with pytest.raises(ValueError):
        clock.set(datetime(2026, 1, 1))


def test_opposition_list_formats():
    assert documents.opposition(b'["1", "22"]') == {"1", "22"}
    assert documents.opposition(cbor2.dumps({"serials": ["333"]})) == {"333"}
    for bad in (b'{"serials": [1]}', b'["12a"]', b"\xff\xff", cbor2.dumps({"x": 1})):
        with pytest.raises(documents.DocumentError) as exc:
            documents.opposition(bad)
        assert exc.value.code in ("opposition_invalid", "document_invalid")


def test_bad_invoice_payload_names_the_problem():
    with pytest.raises(documents.DocumentError) as exc:
        documents.invoice(cbor2.dumps({"invoice_id": "X"}), "X")
    assert (exc.value.code, exc.value.message_fr) == ("invoice_invalid", "Facture illisible")
