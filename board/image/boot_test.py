"""``make image-test``: boot the unit's image under QEMU and check it serves (docs/image.md).

    python board/image/boot_test.py [BUILD_DIR] [--limit S] [--smp N] [--json FILE]

``qemu-system-aarch64 -M virt -cpu cortex-a53 -m 512 -nic none`` (TCG: the Pi Zero 2 W's
CPU, emulated) boots the Debian kernel and initrd that ``make image`` took from the boot
partition (``-kernel``/``-initrd``: the virt machine has no Pi boot firmware) with the
image as a virtio disk (``snapshot=on``: the image itself is left as built). The kernel
command line is the image's ``cmdline.txt`` with the console on QEMU's serial port and
``systemd.setenv=TLA_CONFIG=/etc/opentla/qemu.toml``: the unit runs the simulated board,
its office link on the virtio serial port ``opentla.link`` whose host side is a pty,
its keypad on ``opentla.keys``; ``opentla.diag`` answers with the unit's memory.

Checked within ``--limit`` seconds of QEMU's start: systemd starts the unit's service,
``smpmgr --port PTY os echo hello`` and ``tla pair`` (Valider pressed on the keypad
port) then ``tla info`` answer over the pty. Printed beside their targets: the
boot-to-ready time (QEMU start to the first answer on the link), the unit's idle RSS,
the root file system's and the image's sizes (``make image``'s sizes.json). Printed to
find where the time goes: the QEMU settings and the host's load, the breakdown from the
console's timestamps, and from the guest ``systemd-analyze`` (time, the unit's critical
chain, blame) and the CPU time of PID 1, udevd, journald and the unit.

Exit codes: 0 every check passed and every target met, 1 a check failed or a target
was missed, 2 the image, QEMU, tla or smpmgr missing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
READY_TARGET_S = 60.0
RSS_TARGET_MB = 80.0
BIN = Path(sys.executable).parent
SERVICE_STARTED = re.compile(r"Started opentla-unit\.service")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
CPU = "cortex-a53"  # the Zero 2 W's core: no pointer authentication to emulate
# Milestones on the console (kernel and journal timestamps, seconds since the guest
# kernel started): the boot's breakdown.
MILESTONES = {
    "kernel_s": re.compile(r"\[\s*([\d.]+)\] Run /init as init process"),
    "systemd_s": re.compile(r"\[\s*([\d.]+)\] systemd\[1\]: systemd \d+"),
    "unit_starting_s": re.compile(r"\[\s*([\d.]+)\] systemd\[1\]: Starting opentla-unit\.service"),
    "unit_ready_s": re.compile(r"\[\s*([\d.]+)\] systemd\[1\]: Started opentla-unit\.service"),
}


class Boot:
    """QEMU running the image; the console in ``console.log``, the ports' host sides."""

    def __init__(self, build: Path, tmp: Path, smp: int) -> None:
        self.tmp = tmp
        self.console = tmp / "console.log"
        self.keys_sock = tmp / "keys.sock"
        self.diag_sock = tmp / "diag.sock"
        cmdline = (REPO / "board/os/cmdline.txt").read_text(encoding="utf-8").split()
        cmdline = [a for a in cmdline if not a.startswith(("console=", "quiet", "loglevel="))]
        cmdline += ["console=ttyAMA0", "systemd.show_status=1", "panic=-1",
                    "systemd.status_unit_format=name",
                    "systemd.setenv=TLA_CONFIG=/etc/opentla/qemu.toml",
                    # the service is Type=notify: systemd says "Started" only at READY=1,
                    # after the console's getty has stopped its status lines; the journal
                    # forwarded to the console still carries it (and the unit's own log)
                    "systemd.journald.forward_to_console=1"]
        self.argv = [
            "qemu-system-aarch64", "-M", "virt", "-cpu", CPU, "-smp", str(smp),
            "-accel", "tcg,thread=multi",
            "-m", "512", "-display", "none", "-monitor", "none", "-no-reboot",
            "-nic", "none",  # the unit has no network (else virt adds a virtio-net card)
            "-kernel", str(build / "vmlinuz"), "-initrd", str(build / "initrd.img"),
            "-append", " ".join(cmdline),
            "-drive", f"if=none,id=disk,format=raw,snapshot=on,file={build / 'opentla-arm64.img'}",
            "-device", "virtio-blk-device,drive=disk",
            "-device", "virtio-rng-device",
            "-serial", f"file:{self.console}",
            "-device", "virtio-serial-device",
            "-chardev", "pty,id=link",
            "-device", "virtserialport,chardev=link,name=opentla.link",
            "-chardev", f"socket,id=keys,path={self.keys_sock},server=on,wait=off",
            "-device", "virtserialport,chardev=keys,name=opentla.keys",
            "-chardev", f"socket,id=diag,path={self.diag_sock},server=on,wait=off",
            "-device", "virtserialport,chardev=diag,name=opentla.diag",
        ]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.qemu_out: list[str] = []
        self.pty = self._pty_path()
        threading.Thread(target=self._drain, daemon=True).start()
        self.keys = self._connect(self.keys_sock)
        self.diag = self._connect(self.diag_sock)

    def _pty_path(self) -> str:
        if self.proc.stdout is None:
            raise RuntimeError("QEMU's output is not piped")
        for line in self.proc.stdout:
            self.qemu_out.append(line)
            found = re.search(r"redirected to (/dev/pts/\d+) \(label link\)", line)
            if found:
                return found.group(1)
        raise RuntimeError("QEMU stopped before its pty was ready:\n" + "".join(self.qemu_out))

    def _drain(self) -> None:
        if self.proc.stdout is not None:
            for line in self.proc.stdout:
                self.qemu_out.append(line)

    def _connect(self, path: Path) -> socket.socket:
        deadline = time.monotonic() + 10
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(path))
                return sock
            except OSError:
                sock.close()
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.05)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def console_text(self) -> str:
        try:
            return ANSI.sub("", self.console.read_text(encoding="utf-8", errors="replace"))
        except FileNotFoundError:
            return ""

    def press(self, key: str) -> None:
        self.keys.sendall(key.encode() + b"\n")

    def diagnose(self, timeout: float = 20.0) -> dict[str, str]:
        """One status line from the guest's opentla-diag.sh, as a dict."""
        self.diag.settimeout(timeout)
        self.diag.sendall(b"status\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = self.diag.recv(4096)
            if not chunk:
                raise RuntimeError("the diagnostics port closed")
            data += chunk
        line = data.decode(errors="replace").strip().splitlines()[-1]
        return dict(item.split("=", 1) for item in line.split() if "=" in item)

    def analyze(self, timeout: float = 60.0) -> str:
        """systemd-analyze's time, critical chain and blame, from the guest."""
        self.diag.settimeout(timeout)
        self.diag.sendall(b"analyze\n")
        data = b""
        while b"end-of-analysis\n" not in data:
            chunk = self.diag.recv(4096)
            if not chunk:
                raise RuntimeError("the diagnostics port closed")
            data += chunk
        return data.decode(errors="replace").split("end-of-analysis")[0].strip()

    def stop(self) -> None:
        for sock in (self.keys, self.diag):
            sock.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def host_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200", "TERM": "dumb"}


def tool(name: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / name), *args], capture_output=True, text=True,
                          timeout=timeout, env=host_env(), check=False)


def wait_for(what: str, deadline: float, check: Any, boot: Boot, pause: float = 1.0) -> Any:
    """``check()`` until it returns something true, or fail at the deadline."""
    while True:
        result = check()
        if result:
            return result
        if boot.proc.poll() is not None:
            raise RuntimeError(f"QEMU exited ({boot.proc.returncode}) waiting for {what}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within the limit")
        time.sleep(pause)


def pair(boot: Boot, keys_file: Path, deadline: float) -> None:
    """``tla pair``, pressing Valider on the unit's keypad port once the code shows."""
    proc = subprocess.Popen([str(BIN / "tla"), "--keys", str(keys_file), "pair", "--port",
                             boot.pty, "--name", "boot-test"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=host_env())
    out: list[str] = []
    try:
        if proc.stdout is None:
            raise RuntimeError("tla's output is not piped")
        for line in proc.stdout:
            out.append(line)
            if line.startswith("Pairing code:"):
                time.sleep(0.5)  # the unit shows the code screen as it answers
                boot.press("valider")
        code = proc.wait(max(deadline - time.monotonic(), 1.0))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if code != 0:
        raise RuntimeError(f"tla pair failed ({code}):\n{''.join(out)}")


def run(build: Path, limit: float, smp: int) -> dict[str, Any]:
    results: dict[str, Any] = {"limit_s": limit, "cpu": CPU, "smp": smp,
                               "memory_mib": 512, "accelerator": "tcg,thread=multi"}
    with tempfile.TemporaryDirectory(prefix="opentla-boot-") as tmp:
        boot = Boot(build, Path(tmp), smp)
        deadline = boot.started + limit
        try:
            print(f"boot-test: QEMU started (TCG, -cpu {CPU} -smp {smp}, {os.cpu_count()} "
                  f"host cores, load average {os.getloadavg()[0]:.1f}; limit {limit:.0f} s, "
                  f"ready target {READY_TARGET_S:.0f} s), link pty {boot.pty}", flush=True)
            wait_for("start of opentla-unit.service on the console", deadline,
                     lambda: SERVICE_STARTED.search(boot.console_text()), boot, 0.5)
            results["service_started_s"] = round(boot.elapsed(), 1)
            print(f"boot-test: systemd started the unit's service at "
                  f"{results['service_started_s']} s", flush=True)

            def echo() -> bool:
                done = tool("smpmgr", "--port", boot.pty, "--timeout", "2", "os", "echo",
                            "hello")
                return done.returncode == 0 and "hello" in done.stdout
            wait_for("answer to smpmgr os echo", deadline, echo, boot, 0.5)
            results["ready_s"] = round(boot.elapsed(), 1)
            print(f"boot-test: smpmgr os echo hello answered at {results['ready_s']} s",
                  flush=True)
            keys_file = Path(tmp) / "host-keys.json"
            pair(boot, keys_file, deadline)
            info = tool("tla", "--keys", str(keys_file), "info", "--json", "--port", boot.pty)
            if info.returncode != 0:
                raise RuntimeError(f"tla info failed:\n{info.stdout}{info.stderr}")
            results["info"] = json.loads(info.stdout)
            results["info_s"] = round(boot.elapsed(), 1)
            print(f"boot-test: tla info answered at {results['info_s']} s: "
                  f"board={results['info'].get('board')} serial={results['info'].get('serial')}",
                  flush=True)
            time.sleep(5)  # idle: the unit waits on its link
            diag = boot.diagnose()
            results["diag"] = diag
            results["rss_mb"] = round(int(diag.get("rss_kb", "0")) / 1000, 1)
            results["hwm_mb"] = round(int(diag.get("hwm_kb", "0")) / 1000, 1)
            results["ok"] = diag.get("unit") == "active" and results["info"].get("board") == "sim"
            try:  # a diagnosis: its failure fails no check
                results["analysis"] = boot.analyze()
                print("boot-test: systemd-analyze in the guest:\n" + results["analysis"],
                      flush=True)
            except (RuntimeError, OSError) as exc:
                print(f"boot-test: no systemd-analyze from the guest: {exc}", flush=True)
        except (RuntimeError, TimeoutError, OSError, subprocess.TimeoutExpired) as exc:
            results["ok"] = False
            results["error"] = str(exc)
            tail = boot.console_text().splitlines()[-40:]
            print("boot-test: FAILED: " + str(exc), file=sys.stderr)
            print("--- console (last 40 lines)\n" + "\n".join(tail), file=sys.stderr)
        finally:
            boot.stop()
            results["breakdown"] = breakdown(boot.console_text())
            if boot.console.exists():  # kept for a look after
                shutil.copyfile(boot.console, build / "boot-test-console.log")
    return results


def breakdown(console: str) -> dict[str, float]:
    """The milestones' guest times (s) found on the console."""
    found = {}
    for name, pattern in MILESTONES.items():
        match = pattern.search(console)
        if match:
            found[name] = float(match.group(1))
    return found


def print_breakdown(results: dict[str, Any]) -> None:
    """Where the boot-to-ready time went, from the console's timestamps."""
    marks = results.get("breakdown", {})
    steps = [("kernel (to /init)", None, "kernel_s"),
             ("initramfs (to systemd)", "kernel_s", "systemd_s"),
             ("systemd (to starting the unit)", "systemd_s", "unit_starting_s"),
             ("the unit's start (to READY=1)", "unit_starting_s", "unit_ready_s")]
    print("boot-test: breakdown (guest clock):")
    for name, start, end in steps:
        if end in marks and (start is None or start in marks):
            took = marks[end] - (marks[start] if start else 0.0)
            print(f"  {name:34} {took:6.1f} s  (at {marks[end]:.1f} s)")
    if "unit_ready_s" in marks and results.get("ready_s") is not None:
        print(f"  {'READY=1 to the answer, QEMU start':34} "
              f"{results['ready_s'] - marks['unit_ready_s']:6.1f} s  (host clock "
              f"{results['ready_s']:.1f} s)")


def report(results: dict[str, Any], sizes: dict[str, Any] | None) -> bool:
    rows: list[tuple[str, float | None, float, str]] = [
        ("boot to ready (s)", results.get("ready_s"), READY_TARGET_S, "QEMU start to the "
         "first answer on the link, TCG"),
        ("unit idle RSS (MB)", results.get("rss_mb"), RSS_TARGET_MB, "VmRSS of tla-unit run"),
    ]
    if sizes:
        rows += [("root file system (MiB)", sizes["root_files_mib"], sizes["root_target_mib"],
                  "files in the root partition"),
                 ("image (MiB)", sizes["image_mib"], sizes["image_target_mib"], "whole disk")]
    ok = bool(results.get("ok"))
    print(f"{'figure':26} {'measured':>9} {'target':>9}")
    for name, value, target, what in rows:
        met = value is not None and value < target
        ok = ok and met
        shown = "-" if value is None else f"{value:.1f}"
        print(f"{name:26} {shown:>9} {'< ' + format(target, 'g'):>9}  "
              f"{'ok' if met else 'MISSED'}  ({what})")
    print(f"boot-test: {'passed' if ok else 'FAILED'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build", nargs="?", type=Path, default=REPO / "build/image",
                        help="make image's output directory (default build/image)")
    parser.add_argument("--limit", type=float, default=120.0,
                        help="seconds from QEMU's start for every check (default 120)")
    parser.add_argument("--smp", type=int, default=min(4, os.cpu_count() or 1),
                        help="emulated CPUs (the Pi has 4; default: 4 or this PC's cores if "
                             "fewer, each vCPU is a host thread under TCG)")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    build: Path = args.build
    missing = [str(build / f) for f in ("opentla-arm64.img", "vmlinuz", "initrd.img")
               if not (build / f).is_file()]
    if missing:
        print(f"boot-test: {', '.join(missing)} missing: run make image first", file=sys.stderr)
        return 2
    for name in ("tla", "smpmgr"):
        if not (BIN / name).is_file():
            print(f"boot-test: {BIN / name} missing (the host and dev extras: make test's venv)",
                  file=sys.stderr)
            return 2
    if not shutil.which("qemu-system-aarch64"):
        print("boot-test: qemu-system-aarch64 missing: apt-get install qemu-system-arm",
              file=sys.stderr)
        return 2
    results = run(build, args.limit, args.smp)
    sizes_file = build / "sizes.json"
    sizes = json.loads(sizes_file.read_text()) if sizes_file.is_file() else None
    print_breakdown(results)
    ok = report(results, sizes)
    if args.json:
        args.json.write_text(json.dumps({**results, "sizes": sizes, "passed": ok}) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
