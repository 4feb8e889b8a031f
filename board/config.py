"""The unit's board configuration (docs/board.md): which board, where its parts are.

Read from, highest first: the command line (``--board``, ``--state``, ``--link``),
the environment (``TLA_BOARD``), the unit's config file (``/etc/opentla/unit.toml``,
or ``--config FILE`` / ``TLA_CONFIG``), then the defaults below (board ``sim``).

    config = load_config(board="pi", config_path=None, env=os.environ)
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = "/etc/opentla/unit.toml"
KINDS = ("sim", "pi", "pc")
# The unit's serial when provisioned (flash.sh --serial): the FSE's unit_id, the COSE
# kid and the USB gadget's serial number. flash.sh and board/os/opentla-gadget.sh
# check the same pattern (tests/board/test_flash.py compares them).
SERIAL_PATTERN = r"^[A-Z0-9][A-Z0-9-]{0,31}$"
OFFICE_MAX = 64


class ConfigError(ValueError):
    """The configuration is wrong: names the file (or option) and the key."""


@dataclass(frozen=True)
class BoardConfig:
    """Every key of ``unit.toml`` (docs/board.md §Configuration)."""

    board: str = "sim"  # sim | pi | pc
    state_dir: str = ""  # "": /var/lib/opentla on pi, ~/.local/state/opentla/<board> otherwise
    link: str = ""  # pi: serial device or pyserial URL (default /dev/ttyGS0);
    #                 sim, pc: a symlink to create to the link's pty ("": none)
    link_baudrate: int = 115200  # pi (the USB gadget ignores it; the UART header uses it)
    i2c_bus: int | str = 1  # pi: I2C bus number, or "sim" for the register-level twins
    card_uart: str = "/dev/ttyAMA0"  # pi: the card slots' UART (device or pyserial URL)
    vitale_reader: str = ""  # pc: PC/SC reader name (or its start) of the Vitale slot
    cps_reader: str = ""  # pc: PC/SC reader name (or its start) of the CPS slot
    battery_percent: float = 87.0  # sim: the fuel gauge twin's charge at start
    keys: str = ""  # sim: "stdin" reads key names (valider, annuler, 0-9...) from stdin,
    #                 a path from that file or device (the QEMU image's virtio port)
    serial: str = ""  # all: the unit's serial (SERIAL_PATTERN); "": TLA- + the store's id
    office: str = ""  # all: the office the unit was provisioned for (log, USB gadget name)
    update_keys: str = ""  # PEM keys trusted for updates ("": the built-in development key)
    allow_downgrade: bool = False  # the technician flag (docs/update.md §Slots)
    exec_slots: bool = False  # run an update slot's own code (exec), as the Pi does

    def state_path(self) -> Path:
        if self.state_dir:
            return Path(self.state_dir)
        if self.board == "pi":
            return Path("/var/lib/opentla")
        return Path.home() / ".local" / "state" / "opentla" / self.board


FIELDS = {f.name: f for f in dataclasses.fields(BoardConfig)}


def _check(values: dict[str, Any], where: str) -> dict[str, Any]:
    for key, value in values.items():
        if key not in FIELDS:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(FIELDS)})")
        default = FIELDS[key].default
        if key == "i2c_bus":
            ok = (isinstance(value, int) and not isinstance(value, bool)) or value == "sim"
        elif isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, str)
        if not ok:
            raise ConfigError(f"{where}: key {key!r} has the wrong type ({value!r})")
    serial = values.get("serial")
    if serial and not re.fullmatch(SERIAL_PATTERN, serial):
        raise ConfigError(f"{where}: serial {serial!r} must be 1-32 of A-Z, 0-9 and '-', "
                          "starting with a letter or digit")
    office = values.get("office")
    if office is not None and (len(office) > OFFICE_MAX or '"' in office or "\\" in office
                               or not office.isprintable()):
        raise ConfigError(f"{where}: office must be at most {OFFICE_MAX} printable "
                          "characters without quotes or backslashes")
    board = values.get("board")
    if board is not None and board not in KINDS:
        raise ConfigError(f"{where}: board must be one of {', '.join(KINDS)}, not {board!r}")
    return values


def read_file(path: Path) -> dict[str, Any]:
    """The keys of one ``unit.toml`` (all optional)."""
    try:
        with path.open("rb") as f:
            values = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return _check(values, str(path))


def load_config(*, board: str | None = None, config_path: str | None = None,
                env: Mapping[str, str] | None = None, **overrides: Any) -> BoardConfig:
    """The configuration by the precedence of the module docstring. A config file
    named by ``config_path`` or ``TLA_CONFIG`` must exist; the default one may
    not. ``overrides`` are other command-line values (``None``: not given)."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    named = config_path or env.get("TLA_CONFIG")
    path = Path(named or DEFAULT_CONFIG)
    if path.is_file():
        values.update(read_file(path))
    elif named:
        raise ConfigError(f"{path}: config file not found")
    if env.get("TLA_BOARD"):
        values.update(_check({"board": env["TLA_BOARD"]}, "TLA_BOARD"))
    cli = {k: v for k, v in overrides.items() if v is not None}
    if board is not None:
        cli["board"] = board
    values.update(_check(cli, "command line"))
    return BoardConfig(**values)
