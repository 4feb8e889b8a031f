"""``tla doctor [--port P]``: explains what stops a connection to a unit and what to do
(host_tools/doctor.py). Exit code 0 when every check passes, 1 otherwise."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from smp.exceptions import SMPException
from smpclient.exceptions import SMPClientException

from .unit_link import client as link
from .unit_link.keystore import HostKeys

if TYPE_CHECKING:  # host_tools/doctor.py needs fcntl, grp and pwd: imported when run
    from .doctor import Finding, Port

EPILOG = """exit codes:
  0    every check passed: the unit answers, is paired with this PC, its clock is set
  1    something stops the connection (each FAIL line says what to do)
  2    bad usage: options, host key file
  130  interrupted (Ctrl-C)"""


def register(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("doctor", help="explain what stops a connection to a unit",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    # not ``--port``: tla refuses a missing port before any command runs; here it is a finding
    d.add_argument("--port", dest="target", help="the unit's port (default: the USB ports "
                   "that look like a unit)")
    d.set_defaults(run=cmd_doctor)


def list_ports() -> list[Port]:
    from serial.tools import list_ports as pyserial_ports

    from .doctor import Port

    return [Port(p.device, p.vid, p.pid, p.product, p.serial_number)
            for p in pyserial_ports.comports()]


async def check_unit(port: str, keys: HostKeys, timeout_s: float) -> list[Finding]:
    """Over the link: echo, pairing (this PC's key file, then the unit), the clock."""
    from . import doctor

    found: list[Finding] = []
    try:
        async with link.connect(port, timeout_s) as client:
            await link.echo(client, "tla doctor")
            found.append(doctor.Finding(True, f"the unit on {port} answers echo"))
            if not keys.units:
                found.append(doctor.Finding(False, f"this PC ({keys.path}) is paired with no "
                                            "unit", f"run: tla pair --port {port}"))
                return found
            try:
                await link.open_session(client, keys)
            except link.LinkRefused as exc:
                found.append(doctor.Finding(False, f"the unit on {port} and this PC are not "
                                            f"paired: {exc} [{exc.code}]",
                                            f"run: tla pair --port {port} (press Valider on "
                                            "the unit)"))
                return found
            found.append(doctor.Finding(True, "paired: the unit and this PC opened a session"))
            try:
                found.append(doctor.clock_finding(await link.read_clock(client),
                                                  datetime.now(UTC)))
            except link.LinkRefused as exc:
                found.append(doctor.Finding(False, f"the unit's clock is not set [{exc.code}]",
                                            f"run: tla clock set --port {port}"))
            await link.close_session(client)
    except (TimeoutError, OSError, SMPClientException, SMPException) as exc:
        detail = "" if isinstance(exc, TimeoutError) else f" ({type(exc).__name__}: {exc})"
        found.append(doctor.Finding(
            False, f"no answer to echo on {port} within {timeout_s:g} s{detail}",
            "is it an OpenTLA unit, switched on and showing its home screen? unplug and "
            "replug it; a slow line: try tla --timeout 5 doctor"))
    return found


async def cmd_doctor(args: argparse.Namespace, keys: HostKeys) -> int:
    from . import doctor

    findings: list[Finding] = []
    if args.target:
        ports = [args.target]
    else:
        chosen, findings = doctor.candidates(list_ports())
        ports = [p.device for p in chosen]
    for port in ports:
        device = doctor.check_device(port)
        findings += device
        if all(f.ok for f in device):
            findings += await check_unit(port, keys, args.timeout)
    for finding in findings:
        print(finding.line())
    bad = [f for f in findings if not f.ok]
    print(f"{len(bad)} problem(s) found" if bad else "all well", file=sys.stderr)
    return 1 if bad else 0
