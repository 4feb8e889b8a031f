"""``tla udev install [--rules-dir DIR]``: on a Linux office PC, the udev rule that lets
``tla`` open a unit's USB serial port without root and names it /dev/opentla-<serial>
(``board/os/99-opentla.rules``, docs/board.md §Office PC).

As root (or with a writable ``--rules-dir``) it writes the rule and reloads udev;
otherwise it prints the one sudo command that does, and exits 1 (not installed)."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
from importlib import resources
from pathlib import Path

from . import cli_common as cli
from .unit_link.keystore import HostKeys

RULE_NAME = "99-opentla.rules"
RULES_DIR = Path("/etc/udev/rules.d")
RELOAD = (["udevadm", "control", "--reload-rules"],
          ["udevadm", "trigger", "--subsystem-match=tty", "--action=add"])


def register(sub: argparse._SubParsersAction) -> None:
    udev = sub.add_parser("udev", help="Linux: let tla open the unit's USB port without root",
                          **cli.OFFICE_HELP)
    udev_sub = udev.add_subparsers(dest="udev_command", required=True)
    install = udev_sub.add_parser("install", help=f"write {RULES_DIR / RULE_NAME} (root), or "
                                  "print the sudo command that does", **cli.OFFICE_HELP)
    install.add_argument("--rules-dir", type=Path, default=RULES_DIR,
                         help=f"where udev reads rules (default {RULES_DIR})")
    udev.set_defaults(run=cmd_udev, host_key=False)


def rule_text() -> str:
    """The rule shipped with the package (board/os/99-opentla.rules)."""
    return (resources.files("board") / "os" / RULE_NAME).read_text(encoding="utf-8")


async def cmd_udev(args: argparse.Namespace, keys: HostKeys | None) -> int:
    target = args.rules_dir / RULE_NAME
    text = rule_text()
    if target.is_file() and target.read_text(encoding="utf-8") == text:
        print(f"{target}: already installed, unchanged")
        return 0
    if not os.access(args.rules_dir, os.W_OK):
        source = resources.files("board") / "os" / RULE_NAME
        steps = [["install", "-m", "0644", str(source), str(target)], *RELOAD]
        print(f"{target} needs root; run:\n  "
              + " && ".join("sudo " + shlex.join(step) for step in steps))
        return 1
    tmp = target.with_name(f".{RULE_NAME}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o644)
    os.replace(tmp, target)
    print(f"wrote {target}: an OpenTLA unit's port is /dev/opentla-<serial>, group dialout, "
          "and the logged-in user's")
    if args.rules_dir == RULES_DIR and shutil.which("udevadm"):
        for step in RELOAD:
            print("running: " + shlex.join(step))
            subprocess.run(step, check=False)
    else:
        print("reload udev to apply it: " + " && ".join(shlex.join(s) for s in RELOAD))
    print("unplug and plug the unit again; then: tla units")
    return 0
