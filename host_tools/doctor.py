"""``tla doctor``: what stops the office PC from talking to a unit, one finding per line
with what to do (docs/protocol.md §7, Troubleshooting).

In order, stopping at the first thing that fails (what follows needs it): a port that
looks like a unit, the device file, permission to open it (the ``dialout`` group or
the udev rule), another program holding it, then over the link: the unit answers
echo, this PC and the unit are paired (both sides), the unit's clock is set and close
to this PC's.

Ports are described by plain :class:`Port` values (the command fills them from
pyserial's ``list_ports``), so the choice of candidates is testable without USB.
"""

from __future__ import annotations

import errno
import fcntl
import grp
import os
import pwd
import re
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from firmware.errors import InternalError

# The unit's USB identity: board/os/opentla-gadget.sh and board/os/99-opentla.rules
# (1d6b:0104 is the Linux Foundation's composite gadget id; "OpenTLA" tells it apart).


def _rule_identity() -> tuple[tuple[int, int], str]:
    """The unit's USB vendor/product ids and product string, read from the udev rule the
    package ships (board/os/99-opentla.rules, written by ``tla udev install``): one place."""
    from .cmd_udev import rule_text
    text = rule_text()
    field = {key: re.search(rf'ATTRS{{{key}}}=="([^"]+)"', text) for key in
             ("idVendor", "idProduct", "product")}
    missing = [key for key, m in field.items() if m is None]
    if missing:
        raise InternalError(f"board/os/99-opentla.rules lacks ATTRS{{{missing[0]}}}")
    vid, pid, product = (m.group(1) for m in field.values() if m is not None)
    return (int(vid, 16), int(pid, 16)), product


UNIT_USB_ID, UNIT_PRODUCT = _rule_identity()
UDEV_RULE = Path("/etc/udev/rules.d/99-opentla.rules")
RULE_SOURCE = "board/os/99-opentla.rules"
CLOCK_SKEW_S = 120  # more than this between the unit and this PC is reported


@dataclass(frozen=True)
class Finding:
    ok: bool
    what: str
    todo: str = ""

    def line(self) -> str:
        return f"{'ok' if self.ok else 'FAIL':4}  {self.what}" + (f" -> {self.todo}"
                                                                  if self.todo else "")


@dataclass(frozen=True)
class Port:
    device: str
    vid: int | None = None
    pid: int | None = None
    product: str | None = None
    serial_number: str | None = None

    def usb(self) -> str:
        return f"USB {self.vid:04x}:{self.pid:04x}" if self.vid is not None else "not USB"


def looks_like_unit(port: Port) -> bool:
    """Our USB id and product name; a CDC-ACM device (ttyACM*) of another id is only
    a candidate when nothing better is there (see :func:`candidates`)."""
    return (port.vid, port.pid) == UNIT_USB_ID and (port.product or UNIT_PRODUCT) == UNIT_PRODUCT


def candidates(ports: list[Port]) -> tuple[list[Port], list[Finding]]:
    """The ports to check, and what was found choosing them."""
    units = [p for p in ports if looks_like_unit(p)]
    if units:
        return units, [Finding(True, f"port {p.device}: an OpenTLA unit ({p.usb()}, serial "
                                     f"{p.serial_number or '?'})") for p in units]
    acm = [p for p in ports if Path(p.device).name.startswith("ttyACM")]
    listed = ", ".join(f"{p.device} ({p.usb()})" for p in ports) or "none"
    if acm:
        return acm, [Finding(True, f"port {p.device}: a USB CDC-ACM device ({p.usb()}), not "
                                   "named OpenTLA; checking it") for p in acm]
    return [], [Finding(False, f"no serial port looks like a unit (serial ports: {listed})",
                        "plug the unit into a USB port and switch it on (wait for its home "
                        "screen); a unit on the UART header: give --port /dev/ttyUSB0 or its "
                        "path")]


def holders(path: str) -> list[tuple[int, str]]:
    """Other processes that have ``path`` open (pid, command name), from /proc."""
    target = os.path.realpath(path)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            fds = list((entry / "fd").iterdir())
            if any(os.readlink(fd) == target for fd in fds):
                found.append((int(entry.name), (entry / "comm").read_text().strip()))
        except OSError:  # gone, or another user's process we may not look into
            continue
    return sorted(found)


def _named(procs: list[tuple[int, str]]) -> str:
    return ", ".join(f"{name} (pid {pid})" for pid, name in procs) or "a program /proc does not show"


def _permission(path: str) -> Finding:
    st = os.stat(path)
    user = pwd.getpwuid(os.geteuid()).pw_name  # who opens the port, whatever $USER says
    try:
        group = grp.getgrgid(st.st_gid)
        gname, members = group.gr_name, group.gr_mem
    except KeyError:
        gname, members = str(st.st_gid), []
    rule = (f"run `tla udev install` (the udev rule {UDEV_RULE}, from {RULE_SOURCE}: it gives "
            "the unit's port to group dialout and to the logged-in user), then unplug and "
            "replug the unit")
    if not UDEV_RULE.exists():
        rule += f" [{UDEV_RULE} is not installed]"
    mode = stat.S_IMODE(st.st_mode)
    what = f"permission denied on {path} (mode {mode:03o}, group {gname}, user {user})"
    if st.st_gid in os.getgroups() and not mode & stat.S_IRWXG:
        return Finding(False, what + ": the group may not read it", rule)
    if user in members and st.st_gid not in os.getgroups():
        return Finding(False, what + f": {user} was added to {gname} after logging in",
                       "log out and back in (or reboot) so the group applies")
    if st.st_gid == 0:  # a root-owned node: only the rule helps, never joining root
        return Finding(False, what + ": only root may open it", rule)
    return Finding(False, what + f": {user} is not in group {gname}",
                   f"run: sudo usermod -aG {gname} {user}, then log out and back in; or {rule}")


def check_device(path: str) -> list[Finding]:
    """The device file exists, opens read-write, and no other program holds it."""
    if not os.path.exists(path):
        return [Finding(False, f"port {path} does not exist",
                        "plug the unit in and switch it on; list ports with: tla units --all")]
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except PermissionError:
        return [_permission(path)]
    except OSError as exc:
        if exc.errno == errno.EBUSY:
            return [Finding(False, f"port {path} is busy (opened exclusively by "
                                   f"{_named(holders(path))})", "close that program")]
        return [Finding(False, f"port {path} cannot be opened: {exc.strerror}",
                        "is it a serial port? unplug and replug the unit")]
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return [Finding(False, f"port {path} is locked by {_named(holders(path))}",
                            "close that program (another tla, smpmgr, a terminal emulator)")]
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    others = holders(path)
    if others:
        return [Finding(False, f"port {path} is open in {_named(others)}: two programs on one "
                               "port garble each other's answers", "close that program")]
    return [Finding(True, f"port {path} opens read-write, no other program holds it")]


def clock_finding(unit_text: str, now: datetime) -> Finding:
    """The unit's clock against this PC's (both UTC)."""
    unit_time = datetime.fromisoformat(unit_text).replace(tzinfo=UTC)
    skew = (unit_time - now).total_seconds()
    if abs(skew) > CLOCK_SKEW_S:
        return Finding(False, f"the unit's clock reads {unit_text} UTC, {abs(skew) / 60:.0f} min "
                              f"{'ahead of' if skew > 0 else 'behind'} this PC",
                       "check this PC's clock, then run: tla clock set --port PORT")
    return Finding(True, f"the unit's clock is set ({unit_text} UTC)")
