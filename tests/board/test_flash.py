"""flash.sh against a plain file standing in for the SD card, lsblk fixtures
(FLASH_LSBLK: `lsblk -J` output) standing in for the PC's disks, and a real loop
device (these tests run as root, as CI does)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from board.config import SERIAL_PATTERN, read_file

ROOT = Path(__file__).parents[2]
FLASH = ROOT / "flash.sh"
MIB = 1024 * 1024
DATA_START = 34816  # sectors: partition 3 of the test image
TAIL = b"old card content past the image"


def run(*args: str, env: dict[str, str] | None = None,
        stdin: int | None = subprocess.DEVNULL) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(FLASH), *args], capture_output=True, text=True,
                          timeout=120, stdin=stdin, env={**os.environ, **(env or {})})


def make_image(path: Path, *, data_label: str = "tla-data", partitions: int = 3) -> Path:
    """A 24 MiB card image: boot (FAT type), root, data (ext4 labelled tla-data)."""
    with path.open("wb") as f:
        f.truncate(24 * MIB)
    table = ["label: dos", "start=2048, size=16384, type=c", "start=18432, size=16384, type=83"]
    if partitions == 3:
        table.append(f"start={DATA_START}, type=83")
    subprocess.run(["sfdisk", "-q", str(path)], input="\n".join(table) + "\n", text=True,
                   check=True, capture_output=True)
    if partitions == 3:
        sectors = 24 * MIB // 512 - DATA_START
        subprocess.run(["mkfs.ext4", "-q", "-F", "-L", data_label, "-E",
                        f"offset={DATA_START * 512}", str(path), f"{sectors // 2}k"],
                       check=True, capture_output=True)
    with path.open("r+b") as f:  # something recognisable in the boot partition
        f.seek(2048 * 512)
        f.write(b"OPENTLA BOOT PARTITION")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    Path(f"{path}.sha256").write_text(f"{digest}  {path.name}\n")
    return path


@pytest.fixture
def image(tmp_path):
    return make_image(tmp_path / "opentla.img")


@pytest.fixture
def card(tmp_path):
    """A 32 MiB 'card' holding old content after where the image ends."""
    path = tmp_path / "card.bin"
    with path.open("wb") as f:
        f.truncate(32 * MIB)
        f.seek(28 * MIB)
        f.write(TAIL)
    return path


def untouched(card: Path) -> bool:
    data = card.read_bytes()
    return data[:28 * MIB] == bytes(28 * MIB) and data[28 * MIB:].startswith(TAIL)


def read_data_file(dev: Path | str, name: str) -> str:
    out = subprocess.run(["debugfs", "-R", f"cat {name}", f"{dev}?offset={DATA_START * 512}"],
                         capture_output=True, text=True, check=True)
    return out.stdout


def lsblk(tmp_path: Path, devices: list[dict]) -> dict[str, str]:
    fixture = tmp_path / "lsblk.json"
    fixture.write_text(json.dumps({"blockdevices": devices}))
    return {"FLASH_LSBLK": str(fixture)}


def disk(name: str, path: str, *, rm, tran, size=32 * MIB, model="Card Reader",
         children=(), mountpoint=None, kind="disk") -> dict:
    return {"name": name, "path": path, "type": kind, "rm": rm, "tran": tran, "size": size,
            "model": model, "mountpoint": mountpoint, "children": list(children)}


def part(name: str, mountpoint=None, children=()) -> dict:
    return {"name": name, "path": f"/dev/{name}", "type": "part", "rm": False, "tran": None,
            "size": MIB, "model": None, "mountpoint": mountpoint, "children": list(children)}


# ---- the plain-file card ---------------------------------------------------------------
def test_help_shows_usage_and_every_exit_code():
    done = run("--help")
    assert done.returncode == 0
    for code in range(7):
        assert re.search(rf"^  {code}  \S", done.stdout, re.M), code
    assert "flash.sh update PORT BUNDLE" in done.stdout


def test_writes_the_image_and_reads_it_back(image, card):
    done = run("--yes", str(image), str(card))
    assert done.returncode == 0, done.stderr
    data = card.read_bytes()
    size = image.stat().st_size
    assert data[:size] == image.read_bytes()
    assert data[28 * MIB:].startswith(TAIL)  # past the image: left as it was
    assert "match the image" in done.stdout


def test_provisions_serial_office_and_config_on_the_data_partition(image, card, tmp_path):
    config = tmp_path / "base.toml"
    config.write_text('board = "pi"\ni2c_bus = 1\nserial = "TLA-OLD"\n')
    done = run("--yes", "--config", str(config), "--serial", "TLA-0042",
               "--office", "Cabinet Dupont", str(image), str(card))
    assert done.returncode == 0, done.stderr
    text = read_data_file(card, "unit.toml")
    provisioned = tmp_path / "back.toml"
    provisioned.write_text(text)
    values = read_file(provisioned)  # what the unit will read, by the unit's own rule
    assert values == {"board": "pi", "i2c_bus": 1, "serial": "TLA-0042",
                      "office": "Cabinet Dupont"}


def test_a_bad_serial_is_refused_before_anything_is_written(image, card):
    done = run("--yes", "--serial", "tla 42; rm -rf /", str(image), str(card))
    assert done.returncode == 2
    assert "serial" in done.stderr
    assert untouched(card)


def test_an_image_that_does_not_match_its_hash_is_refused(image, card):
    with image.open("r+b") as f:
        f.seek(5 * MIB)
        f.write(b"flipped")
    done = run("--yes", str(image), str(card))
    assert done.returncode == 4
    assert "does not match" in done.stderr
    assert untouched(card)


def test_an_image_without_its_hash_file_is_refused(image, card):
    Path(f"{image}.sha256").unlink()
    done = run("--yes", str(image), str(card))
    assert done.returncode == 4 and ".sha256 missing" in done.stderr
    assert untouched(card)


def test_without_yes_and_without_a_terminal_nothing_is_written(image, card):
    done = run(str(image), str(card))
    assert done.returncode == 3
    assert "not confirmed" in done.stderr
    assert untouched(card)


def test_an_image_without_a_data_partition_cannot_be_provisioned(tmp_path, card):
    image = make_image(tmp_path / "two.img", partitions=2)
    done = run("--yes", "--serial", "TLA-0042", str(image), str(card))
    assert done.returncode == 5 and "no partition 3" in done.stderr


def test_a_third_partition_that_is_not_the_data_partition_is_not_written(tmp_path, card):
    image = make_image(tmp_path / "other.img", data_label="home")
    done = run("--yes", "--serial", "TLA-0042", str(image), str(card))
    assert done.returncode == 5 and "found 'home'" in done.stderr


# ---- the PC's disks, as lsblk describes them ---------------------------------------------
def test_the_disk_holding_the_running_system_is_refused(tmp_path, image, card):
    env = lsblk(tmp_path, [
        disk("nvme0n1", str(card), rm=False, tran="nvme", model="Samsung SSD",
             children=[part("nvme0n1p1", "/boot/efi"),
                       part("nvme0n1p2", children=[
                           {"name": "root", "path": "/dev/mapper/root", "type": "crypt",
                            "mountpoint": "/"}])]),
    ])
    done = run("--yes", str(image), str(card), env=env)
    assert done.returncode == 3
    assert "holds the running system" in done.stderr
    assert untouched(card)


def test_a_removable_disk_holding_the_system_is_refused_too(tmp_path, image, card):
    env = lsblk(tmp_path, [disk("sda", str(card), rm=True, tran="usb",
                                children=[part("sda1", "[SWAP]")])])
    done = run("--yes", str(image), str(card), env=env)
    assert done.returncode == 3 and "running system" in done.stderr
    assert untouched(card)


def test_a_non_removable_disk_is_refused(tmp_path, image, card):
    env = lsblk(tmp_path, [disk("sdb", str(card), rm=False, tran="sata", model="WD Blue")])
    done = run("--yes", str(image), str(card), env=env)
    assert done.returncode == 3
    assert "WD Blue" in done.stderr and "not a removable disk" in done.stderr
    assert untouched(card)


@pytest.mark.parametrize("rm, tran", [(True, None), (False, "usb"), ("1", "usb")])
def test_a_card_reader_is_written(tmp_path, image, card, rm, tran):
    env = lsblk(tmp_path, [disk("sdc", str(card), rm=rm, tran=tran, model="Multi-Card")])
    done = run("--yes", "--serial", "TLA-0007", str(image), str(card), env=env)
    assert done.returncode == 0, done.stderr
    assert "Multi-Card, 32.0 MiB" in done.stdout
    assert 'serial = "TLA-0007"' in read_data_file(card, "unit.toml")


def test_a_partition_a_mounted_card_and_a_small_card_are_refused(tmp_path, image, card):
    cases = {
        "partition": ([disk("sdc", "/dev/sdc", rm=True, tran="usb",
                            children=[{**part("sdc1"), "path": str(card)}])],
                      "is a partition"),
        "mounted": ([disk("sdc", str(card), rm=True, tran="usb",
                          children=[part("sdc1", "/media/me/boot")])],
                    "is mounted (/media/me/boot)"),
        "small": ([disk("sdc", str(card), rm=True, tran="usb", size=8 * MIB)],
                  "smaller than the image"),
        "unknown": ([disk("sdc", "/dev/sdc", rm=True, tran="usb")], "does not list it"),
    }
    for name, (devices, message) in cases.items():
        done = run("--yes", str(image), str(card), env=lsblk(tmp_path, devices))
        assert (done.returncode, message in done.stderr) == (3, True), (name, done.stderr)
    assert untouched(card)


def test_the_serial_rule_is_the_units_own():
    gadget = (ROOT / "board/os/opentla-gadget.sh").read_text()
    [pattern] = re.findall(r"^SERIAL_RE='([^']+)'", gadget, re.M)
    assert pattern == SERIAL_PATTERN


# ---- a real block device --------------------------------------------------------------
def test_a_loop_device_is_written_read_back_and_provisioned(image, card):
    dev = subprocess.run(["losetup", "--find", "--show", str(card)], capture_output=True,
                         text=True, check=True).stdout.strip()
    try:
        done = run("--yes", "--serial", "TLA-LOOP1", str(image), dev)
        assert done.returncode == 0, done.stderr
        assert "loop" in done.stdout or dev in done.stdout
        assert 'serial = "TLA-LOOP1"' in read_data_file(dev, "unit.toml")
    finally:
        subprocess.run(["losetup", "--detach", dev], check=True)
    assert card.read_bytes()[:2048 * 512] == image.read_bytes()[:2048 * 512]


# ---- update mode -------------------------------------------------------------------------
def test_update_without_an_updater_says_so(tmp_path):
    bundle = tmp_path / "u.bin"
    bundle.write_bytes(b"x")
    done = run("update", "/dev/ttyACM0", str(bundle), env={"TLA": str(tmp_path / "no-tla")})
    assert done.returncode == 6 and "not found" in done.stderr
    old = tmp_path / "old-tla"  # a tla from before the updater
    old.write_text("#!/bin/sh\necho \"tla: invalid choice: 'update'\" >&2\nexit 2\n")
    old.chmod(0o755)
    done = run("update", "/dev/ttyACM0", str(bundle), env={"TLA": str(old)})
    assert done.returncode == 6 and "no 'update' command" in done.stderr


def test_update_calls_tla_update_and_passes_its_exit_code(tmp_path):
    bundle = tmp_path / "u.bin"
    bundle.write_bytes(b"x")
    log = tmp_path / "calls"
    tla = tmp_path / "tla"
    tla.write_text(f'#!/bin/sh\necho "$*" >> {log}\n'
                   '[ "$2" = "--help" ] && exit 0\nexit 7\n')
    tla.chmod(0o755)
    done = run("update", "/dev/opentla-TLA-0042", str(bundle), env={"TLA": str(tla)})
    assert done.returncode == 7
    assert log.read_text().splitlines() == [
        "update --help", f"update --port /dev/opentla-TLA-0042 {bundle}"]
