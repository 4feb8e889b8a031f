"""The unit's OS files (board/os): the manifest the image installs them by, the device
tree overlay (compiled with dtc), the boot command line, fstab, the systemd units, the
USB gadget script against a fake configfs, and the office PC's udev rule with
`tla udev install`."""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from board.run import record_serial
from host_tools.cli import main as tla

ROOT = Path(__file__).parents[2]
OS = ROOT / "board" / "os"
GADGET = OS / "opentla-gadget.sh"


def manifest() -> dict[str, tuple[str, str, str]]:
    rows = {}
    for line in (OS / "MANIFEST").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            kind, source, dest, mode = line.split()
            rows[source] = (kind, dest, mode)
    return rows


def unit_file(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((OS / name).read_text())
    return parser


def test_the_manifest_places_every_file_of_board_os_once():
    rows = manifest()
    files = {p.name for p in OS.iterdir() if p.name != "MANIFEST"}
    listed = {s for s, (kind, _, _) in rows.items() if kind not in ("symlink", "mask")}
    assert listed == files
    for source, (kind, dest, mode) in rows.items():
        if kind in ("file", "dtc", "unit"):
            assert dest.startswith("/") and re.fullmatch(r"0[0-7]{3}", mode), source
    assert rows["opentla-gadget.sh"][2] == "0755" and os.access(GADGET, os.X_OK)
    assert rows["/var/lib/opentla/unit.toml"] == ("symlink", "/etc/opentla/unit.toml", "-")


def test_the_overlay_compiles_and_needs_no_symbols_from_the_base_tree(tmp_path):
    out = tmp_path / "opentla.dtbo"
    subprocess.run(["dtc", "-@", "-q", "-I", "dts", "-O", "dtb", "-o", str(out),
                    str(OS / "opentla-overlay.dts")], check=True)
    dts = subprocess.run(["dtc", "-q", "-I", "dtb", "-O", "dts", str(out)],
                         capture_output=True, text=True, check=True).stdout
    assert "__fixups__" not in dts  # applies to Debian's upstream DTB, built without -@
    targets = re.findall(r'target-path = "([^"]+)"', dts)
    assert targets == ["/soc/serial@7e201000/bluetooth", "/soc/serial@7e201000",
                       "/soc/serial@7e215040", "/soc/i2c@7e804000", "/soc/usb@7e980000"]
    assert "clock-frequency = <0x61a80>" in dts  # 400 kHz
    assert 'dr_mode = "peripheral"' in dts
    config = (OS / "config.txt").read_text()
    assert "dtoverlay=opentla" in config and manifest()["opentla-overlay.dts"][1].endswith(
        "/overlays/opentla.dtbo")
    assert "gpio=14,15=a0" in config and "gpio=4=a0" in config and "enable_uart=1" in config


def test_the_kernel_mounts_root_read_only_and_keeps_the_card_uart_free():
    [line] = (OS / "cmdline.txt").read_text().splitlines()
    words = line.split()
    assert "ro" in words and "rw" not in words and "root=LABEL=tla-root" in words
    consoles = [w for w in words if w.startswith("console=")]
    assert consoles and not [c for c in consoles if re.search(r"ttyAMA|ttyS|serial", c)]


def test_fstab_root_read_only_store_on_the_data_partition_scratch_in_ram():
    entries = {}
    for line in (OS / "fstab").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            source, mount, kind, options, *_ = line.split()
            entries[mount] = (source, kind, options.split(","))
    assert entries["/"][0] == "LABEL=tla-root" and "ro" in entries["/"][2]
    assert entries["/var/lib/opentla"][:2] == ("LABEL=tla-data", "ext4")
    assert "rw" in entries["/var/lib/opentla"][2]
    assert entries["/tmp"][1] == "tmpfs"


def test_the_unit_service_is_watched_restarted_and_runs_as_opentla():
    service = unit_file("opentla-unit.service")["Service"]
    assert service["Type"] == "notify"
    assert int(service["WatchdogSec"]) > 0
    assert service["Restart"] == "on-failure" and service["RestartPreventExitStatus"] == "2"
    assert service["ExecStart"] == "/usr/bin/tla-unit run"
    assert service["User"] == "opentla" and service["StateDirectory"] == "opentla"
    unit = unit_file("opentla-unit.service")["Unit"]
    assert int(unit["StartLimitBurst"]) > 1 and "/var/lib/opentla" in unit["RequiresMountsFor"]
    sysusers = (OS / "opentla.sysusers").read_text()
    for group in service["SupplementaryGroups"].split():
        assert re.search(rf"^m opentla {group}$", sysusers, re.M), group
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["tla-unit"] == "board.main:main"
    gpclk = unit_file("opentla-gpclk.service")["Service"]
    assert gpclk["ExecStart"] == "/usr/bin/tla-unit gpclk"
    gadget = unit_file("opentla-gadget.service")["Service"]
    assert gadget["ExecStart"] == manifest()["opentla-gadget.sh"][1] + " start"


# ---- the USB gadget ----------------------------------------------------------------------
@pytest.fixture
def configfs(tmp_path):
    root = tmp_path / "usb_gadget"
    root.mkdir()
    udc = tmp_path / "udc"
    udc.mkdir()
    (udc / "3f980000.usb").write_text("")
    env = {**os.environ, "GADGET_CONFIGFS": str(root), "GADGET_UDC_DIR": str(udc),
           "UNIT_CONFIG": str(tmp_path / "unit.toml"), "UNIT_STATE": str(tmp_path),
           "SOC_SERIAL_FILE": str(tmp_path / "soc-serial"), "UDC_WAIT_S": "0",
           "GADGET_TTY": str(udc / "3f980000.usb")}  # a path that exists
    return root / "opentla", env, tmp_path


def gadget(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", str(GADGET), *args], env=env, capture_output=True, text=True,
                          timeout=30)


def test_the_gadget_is_a_cdc_acm_port_named_after_the_unit(configfs):
    g, env, tmp = configfs
    (tmp / "unit.toml").write_text('board = "pi"\nserial = "TLA-0042"  # set by flash.sh\n'
                                   'office = "Cabinet Dupont"\n')
    done = gadget(env, "start")
    assert done.returncode == 0, done.stderr

    def value(name: str) -> str:
        return (g / name).read_text().strip()

    assert (value("idVendor"), value("idProduct")) == ("0x1d6b", "0x0104")
    assert value("strings/0x409/product") == "OpenTLA"
    assert value("strings/0x409/serialnumber") == "TLA-0042"
    assert value("configs/c.1/strings/0x409/configuration") == "OpenTLA Cabinet Dupont"
    link = g / "configs/c.1/acm.usb0"
    assert link.is_symlink() and link.resolve() == (g / "functions/acm.usb0").resolve()
    assert value("UDC") == "3f980000.usb"
    done = gadget(env, "stop")
    assert done.returncode == 0 and not link.exists() and value("UDC") == ""


def test_the_gadget_serial_falls_back_to_the_units_then_the_socs(configfs):
    g, env, tmp = configfs
    (tmp / "soc-serial").write_bytes(b"00000000a1b2c3d4\0")
    assert gadget(env, "start").returncode == 0
    assert (g / "strings/0x409/serialnumber").read_text().strip() == "TLA-0000A1B2C3D4"
    record_serial(tmp, "TLA-5E6F7A8B9C0D")  # what tla-unit run keeps
    assert gadget(env, "start").returncode == 0
    assert (g / "strings/0x409/serialnumber").read_text().strip() == "TLA-5E6F7A8B9C0D"


def test_no_usb_device_controller_is_exit_1_saying_so(configfs):
    _, env, tmp = configfs
    (tmp / "udc" / "3f980000.usb").unlink()
    done = gadget(env, "start")
    assert done.returncode == 1 and "no USB device controller" in done.stderr


def test_record_serial_rewrites_only_a_changed_serial(tmp_path):
    record_serial(tmp_path, "TLA-0042")
    assert (tmp_path / "serial").read_text() == "TLA-0042\n"
    before = (tmp_path / "serial").stat().st_mtime_ns
    record_serial(tmp_path, "TLA-0042")
    assert (tmp_path / "serial").stat().st_mtime_ns == before
    record_serial(tmp_path, "TLA-0043")
    assert (tmp_path / "serial").read_text() == "TLA-0043\n"


# ---- the office PC -----------------------------------------------------------------------
def test_the_udev_rule_matches_what_the_gadget_announces():
    rule = (OS / "99-opentla.rules").read_text()
    script = GADGET.read_text()
    vendor = re.search(r"^VENDOR=0x(\w+)", script, re.M)[1]  # type: ignore[index]
    product = re.search(r"^PRODUCT=0x(\w+)", script, re.M)[1]  # type: ignore[index]
    assert f'ATTRS{{idVendor}}=="{vendor}"' in rule
    assert f'ATTRS{{idProduct}}=="{product}"' in rule
    assert 'ATTRS{product}=="OpenTLA"' in rule and 'put "OpenTLA" "$G/strings/0x409/product"' \
        in script
    assert 'SYMLINK+="opentla-$attr{serial}"' in rule and 'GROUP="dialout"' in rule
    assert 'ENV{ID_MM_DEVICE_IGNORE}="1"' in rule


def test_tla_udev_install_writes_the_rule_once(tmp_path, capsys):
    keys = ["--keys", str(tmp_path / "host.json")]
    assert tla([*keys, "udev", "install", "--rules-dir", str(tmp_path)]) == 0
    assert (tmp_path / "99-opentla.rules").read_text() == (OS / "99-opentla.rules").read_text()
    assert "wrote" in capsys.readouterr().out
    assert tla([*keys, "udev", "install", "--rules-dir", str(tmp_path)]) == 0
    assert "already installed, unchanged" in capsys.readouterr().out
    # run under sudo, it must not leave a host key in root's home: it never creates one
    assert not (tmp_path / "host.json").exists()


def test_tla_udev_install_without_rights_prints_the_sudo_command(tmp_path, capsys):
    keys = ["--keys", str(tmp_path / "host.json")]
    missing = tmp_path / "not-writable"
    assert tla([*keys, "udev", "install", "--rules-dir", str(missing)]) == 1
    out = capsys.readouterr().out
    assert f"sudo install -m 0644 {OS / '99-opentla.rules'} {missing / '99-opentla.rules'}" in out
    assert "sudo udevadm control --reload-rules" in out
