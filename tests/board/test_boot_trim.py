"""What the unit's image does not run at boot (board/image/boot-trim, docs/image.md
§Boot time): every line is a known kind, and nothing the unit's own services, the
mounts or the devices need is masked or removed."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
TRIM = ROOT / "board" / "image" / "boot-trim"
OS = ROOT / "board" / "os"

# what mounts the data partition by label, loads the modules and gives the devices
# their groups, what the gadget needs (configfs), the journal
NEEDED_UNITS = {
    "systemd-journald.service", "systemd-journald.socket", "systemd-udevd.service",
    "systemd-udev-trigger.service", "systemd-modules-load.service",
    "systemd-tmpfiles-setup-dev.service", "systemd-tmpfiles-setup.service",
    "systemd-sysctl.service", "sys-kernel-config.mount", "modprobe@configfs.service",
    "local-fs.target", "sysinit.target", "basic.target", "multi-user.target",
}
NEEDED_GENERATORS = {"systemd-fstab-generator", "systemd-debug-generator"}
NEEDED_RULES = {"50-udev-default.rules", "60-block.rules", "60-persistent-storage.rules",
                "80-drivers.rules", "99-systemd.rules", "60-serial.rules"}


def trim() -> dict[str, set[str]]:
    kinds: dict[str, set[str]] = {"unit": set(), "generator": set(), "tmpfiles": set(),
                                  "udev": set()}
    for line in TRIM.read_text(encoding="utf-8").splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        kind, name = words
        assert kind in kinds, line
        assert name not in kinds[kind], f"{name} listed twice"
        kinds[kind].add(name)
    return kinds


def our_units_refer_to() -> set[str]:
    names = set()
    for path in OS.glob("*.service"):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.read_string(path.read_text(encoding="utf-8"))
        for key in ("After", "Wants", "Requires", "Before"):
            names.update(parser["Unit"].get(key, "").split())
    return names


def test_every_line_is_a_known_kind_naming_a_well_formed_name():
    kinds = trim()
    assert all(re.fullmatch(r"[\w@.\\-]+\.(service|mount|automount|timer|socket)", n)
               for n in kinds["unit"])
    assert all(n.startswith("systemd-") and n.endswith("-generator")
               for n in kinds["generator"])
    assert all(n.endswith(".conf") for n in kinds["tmpfiles"])
    assert all(n.endswith(".rules") for n in kinds["udev"])


def test_nothing_the_unit_or_the_boot_needs_is_masked_or_removed():
    kinds = trim()
    referred = our_units_refer_to()
    assert "systemd-modules-load.service" in referred  # the gadget's own ordering
    assert not kinds["unit"] & (NEEDED_UNITS | referred)
    assert not {n for n in kinds["unit"] if n.startswith("opentla-")}
    assert not kinds["generator"] & NEEDED_GENERATORS
    ours = {p.name for p in OS.glob("*.rules")} | {
        p.name for p in (ROOT / "board" / "image").glob("*.rules")}
    assert not kinds["udev"] & (NEEDED_RULES | ours)
