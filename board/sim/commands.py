"""``tla-unit sim``: the unit on the simulated board, driven by a small command language.

The unit's link is served on a pseudo-terminal whose path is printed
(``link port: /dev/pts/N``) and, with ``--link PATH``, symlinked there; the
office tools open it like a USB port. What a person does at the unit is typed
on stdin or read from ``--script FILE``, one command per line (docs/demo.md):

    insert ps cps_infirmier      put an emulated card (board/sim/cards) in a slot
    remove vitale                pull the card out (pulling the CPS locks the unit)
    wait-pairing [SECONDS]       wait until a pairing code shows on the screen
    key NAME                     press a key: 0-9, valider, annuler, corriger, up, down, menu
    screen                       the current screen as text (status bar, title, lines)
    snapshot FILE.png            write the last frame the display showed as a PNG
    enrol PIN                    enrol the CPS in slot ps (right after pairing)
    unlock PIN | lock            open / close the professional's session
    battery PERCENT              set the simulated fuel gauge
    info                         what the unit says about itself
    sleep SECONDS                pause (scripts)
    quit                         stop (EOF, Ctrl-C and SIGTERM stop too)

Blank lines and ``#`` comments are ignored. Each command answers one line,
``ok ...`` or ``error: CODE (French screen text)``; ``screen`` follows its line with
the screen's text, each line indented by two spaces. ``key``, ``insert`` and
``remove`` return once the unit has handled them and the card work they started
on the screen is done. A failing script line stops
the run with exit code 1; an unreadable ``--script``, an unusable ``--state`` or
``--link`` is exit code 2, before or right after the unit starts.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from board.sim.interactive import DEFAULT_CPS, DEFAULT_VITALE, Messages, run_interactive
from board.sim.record import write_gif
from board.sim.unit import SimUnit, SimUnitError
from firmware.office_link.events import Action, LinkError, PairingRequested, Send

Print = Callable[[str], None]


EPILOG = """exit codes:
  0  stopped (quit, end of input, Ctrl-C or SIGTERM)
  1  a --script line failed (its error is printed), or the unit could not run
  2  bad usage: unreadable --script, --state not a directory, --link not creatable"""


class Quit(Exception):
    """The ``quit`` command."""


class UsageError(Exception):
    """A bad ``--script``, ``--state`` or ``--link`` (exit code 2)."""


def state_dir(text: str) -> Path:
    """argparse type for ``--state``: a directory, or a path where one can be made."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} exists and is not a directory")
    return path


def _usage(text: str) -> SimUnitError:
    return SimUnitError(f"usage: {text}")


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise SimUnitError(f"{what} must be a number, not {text!r}") from None


def execute(sim: SimUnit, line: str) -> str | None:
    """Run one command line; returns the ``ok`` answer (None for blank/comment).
    Raises :class:`Quit`, or any error of the unit (code + message_fr)."""
    try:
        words = shlex.split(line, comments=True)
    except ValueError as exc:  # an unclosed quote
        raise SimUnitError(f"bad quoting: {exc}") from None
    if not words:
        return None
    name, args = words[0].lower(), words[1:]
    if name == "insert":
        if len(args) != 2:
            raise _usage("insert vitale|ps CARD")
        sim.insert(args[0], args[1])
        return f"ok {args[1]} in slot {args[0]}"
    if name == "remove":
        if len(args) != 1:
            raise _usage("remove vitale|ps")
        sim.remove(args[0])
        return f"ok slot {args[0]} empty"
    if name == "key":
        if len(args) != 1:
            raise _usage("key NAME (0-9, valider, annuler, corriger, up, down, menu)")
        sim.press(args[0].lower())
        return f"ok {args[0].lower()} pressed"
    if name == "screen":
        if args:
            raise _usage("screen")
        name_, text = sim.screen()
        return f"ok screen {name_}\n" + "\n".join("  " + line for line in text.splitlines())
    if name == "snapshot":
        if len(args) != 1:
            raise _usage("snapshot FILE.png")
        image = sim.snapshot(Path(args[0]))
        return f"ok snapshot {args[0]} ({image.size[0]}x{image.size[1]})"
    if name == "wait-pairing":
        code = sim.wait_pairing(_number(args[0], "timeout") if args else 60.0)
        return f"ok pairing code {code} on screen"
    if name in ("enrol", "unlock"):
        if len(args) != 1:
            raise _usage(f"{name} PIN")
        pin = args[0]
        pro = sim.terminal_call(lambda t: t.enrol(pin) if name == "enrol" else t.unlock(pin))
        return f"ok {pro.card_type} {pro.name} {pro.first_name} " + (
            "enrolled, unlocked" if name == "enrol" else "unlocked")
    if name == "lock":
        sim.terminal_call(lambda t: t.lock())
        return "ok locked"
    if name == "battery":
        if len(args) != 1:
            raise _usage("battery PERCENT")
        percent = _number(args[0], "battery")
        if not 0 <= percent <= 100:
            raise SimUnitError(f"battery must be 0..100 percent, not {args[0]}")
        try:
            sim.gauge.set(percent)
        except ValueError as exc:
            raise SimUnitError(str(exc)) from None
        return f"ok battery {sim.gauge.percent()} %"
    if name == "info":
        info = sim.call(lambda: sim.unit.unit_info())
        return (f"ok serial {info.serial} firmware {info.firmware} battery "
                f"{info.battery_percent} % storage {info.storage_used}/{info.storage_total} "
                f"{'locked' if info.locked else 'unlocked'} cards "
                + (" ".join(f"{k}={v}" for k, v in sorted(sim.cards.items())) or "none"))
    if name == "sleep":
        if len(args) != 1:
            raise _usage("sleep SECONDS")
        time.sleep(_number(args[0], "sleep"))
        return "ok"
    if name == "quit":
        raise Quit()
    raise SimUnitError(f"unknown command {name!r} (insert, remove, wait-pairing, key, screen, "
                       "snapshot, enrol, unlock, lock, battery, info, sleep, quit)")


def describe_error(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    text = getattr(exc, "message_fr", None)
    if code and text:
        return f"error: {code} ({text})"
    return f"error: {exc}"


def _line_printer(stream) -> Print:
    """Print whole lines from several threads (the command loop and the unit's
    link events) without interleaving them: one locked write per line."""
    lock = threading.Lock()

    def write(text: str) -> None:
        with lock:
            stream.write(text + "\n")
            stream.flush()

    return write


def run_lines(sim: SimUnit, lines: Iterable[str], print_: Print, *, stop_on_error: bool) -> bool:
    """Run commands; False if one failed and ``stop_on_error``. Raises Quit."""
    for line in lines:
        try:
            answer = execute(sim, line)
        except Quit:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is reported, the unit goes on
            print_(describe_error(exc))
            if stop_on_error:
                return False
            continue
        if answer is not None:
            print_(answer)
    return True


def _show(print_: Print) -> Callable[[Action], None]:
    def show(action: Action) -> None:
        if isinstance(action, Send):
            return
        text = getattr(action, "message_fr", None)
        if isinstance(action, LinkError):
            text = f"link: {action.code} ({action.detail})"
        elif isinstance(action, PairingRequested):
            text = f"pairing code {action.code} for {action.host_name!r}: key valider?"
        print_(f"[unit] {text.replace(chr(10), ' / ') if text else type(action).__name__}")
    return show


def run_sim(*, link: Path | None = None, state: Path | None = None, script: Path | None = None,
            stdin: Iterable[str] | None = None, print_: Print | None = None,
            interactive: bool = False, vitale: str = DEFAULT_VITALE, cps: str = DEFAULT_CPS,
            record: Path | None = None) -> int:
    """The ``tla-unit sim`` loop; returns the exit code."""
    messages = Messages(sys.stdout) if interactive and print_ is None else None
    out: Print = print_ or (messages.add if messages is not None
                            else _line_printer(sys.stdout))
    try:
        if interactive and not sys.stdin.isatty():
            raise UsageError("--interactive needs a terminal on stdin")
        script_lines = (script.read_text(encoding="utf-8").splitlines()
                        if script is not None else None)
        if state is not None and state.exists() and not state.is_dir():
            raise UsageError(f"state {state} exists and is not a directory")
        if link is not None and link.exists() and not link.is_symlink():
            raise UsageError(f"link {link} exists and is not a symlink: not replaced")
    except (OSError, UnicodeDecodeError) as exc:
        out(f"error: cannot read script {script}: {getattr(exc, 'strerror', None) or exc}")
        return 2
    except UsageError as exc:
        out(f"error: {exc}")
        return 2
    tmp = tempfile.TemporaryDirectory(prefix="tla-sim-") if state is None else None
    state_dir = Path(tmp.name) if tmp is not None else Path(state)  # type: ignore[arg-type]
    restore = None
    if threading.current_thread() is threading.main_thread():
        def on_term(signum, frame):  # SIGTERM stops like Ctrl-C
            raise KeyboardInterrupt
        restore = signal.signal(signal.SIGTERM, on_term)
    sim = SimUnit(state_dir, on_event=_show(out))
    status = 0
    try:
        try:
            sim.start()
        except OSError as exc:
            raise UsageError(f"cannot use state directory {state_dir}: "
                             f"{exc.strerror or exc}") from None
        if link is not None:
            try:
                if link.is_symlink():
                    link.unlink()
                link.symlink_to(sim.path)
            except OSError as exc:
                link = None  # nothing of ours to remove on exit
                raise UsageError(f"cannot create link {exc.filename2 or exc.filename}: "
                                 f"{exc.strerror or exc}") from None
        out(f"link port: {sim.path}")
        out(f"state: {state_dir}" + (" (temporary)" if tmp is not None else ""))
        if script_lines is not None and not run_lines(sim, script_lines, out,
                                                      stop_on_error=True):
            status = 1
        elif interactive:
            run_interactive(sim, messages or Messages(sys.stdout), vitale=vitale, cps=cps,
                            describe=describe_error)
        else:
            run_lines(sim, stdin if stdin is not None else sys.stdin, out, stop_on_error=False)
    except Quit:
        pass
    except KeyboardInterrupt:
        pass
    except SimUnitError as exc:
        out(describe_error(exc))
        status = 1
    except UsageError as exc:
        out(f"error: {exc}")
        status = 2
    finally:
        sim.stop()
        if record is not None and sim.board is not None:
            try:
                count = write_gif(getattr(sim.board.display, "frames", []), record)
                out(f"recorded {record} ({count} frames)")
            except SimUnitError as exc:
                out(describe_error(exc))
                status = status or 1
        if link is not None and link.is_symlink() and os.readlink(link).startswith("/dev/"):
            link.unlink()
        if tmp is not None:
            tmp.cleanup()
        if restore is not None:
            signal.signal(signal.SIGTERM, restore)
    out("stopped")
    return status


def add_parser(sub: argparse._SubParsersAction) -> None:
    sim = sub.add_parser("sim", help="the unit on the simulated board, link on a pty",
                         epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                         description="The unit on the simulated board; its link is served on "
                         "a pseudo-terminal. Commands (one per line, --script then stdin): "
                         "insert, remove, wait-pairing, key, screen, snapshot, enrol, unlock, "
                         "lock, battery, info, sleep, quit (docs/demo.md).")
    sim.add_argument("--link", type=Path, help="also make this symlink to the pty")
    sim.add_argument("--state", type=state_dir, help="state directory (default: temporary)")
    sim.add_argument("--script", type=Path, help="commands to run first (docs/demo.md)")
    sim.add_argument("--interactive", action="store_true",
                     help="the OLED drawn in the terminal, the keyboard on the keypad "
                     "(after --script; docs/demo.md)")
    sim.add_argument("--vitale", default=DEFAULT_VITALE,
                     help=f"--interactive: the card the v key inserts (default {DEFAULT_VITALE})")
    sim.add_argument("--cps", default=DEFAULT_CPS,
                     help=f"--interactive: the card the c key inserts (default {DEFAULT_CPS})")
    sim.add_argument("--record", type=Path, metavar="FILE.gif",
                     help="write every frame of the session as an animated GIF on exit")
    sim.set_defaults(func=lambda a: run_sim(link=a.link, state=a.state, script=a.script,
                                            interactive=a.interactive, vitale=a.vitale,
                                            cps=a.cps, record=a.record))
