"""What every ``tla`` subcommand shares: exit codes, help layout, the session
wrapper, the usage error and the progress bar. The entry point (host_tools/cli.py)
and the command modules (host_tools/cmd_*.py) both import it."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypedDict

from smpclient import SMPClient

from .unit_link import client as link
from .unit_link.keystore import HostKeys

EPILOG = """exit codes:
  0    done
  1    the unit refused or did not answer (port missing or silent, answer garbled),
       or an FSE was rejected (left on the unit)
  2    bad usage: options, input files, host key file, office database
  130  interrupted (Ctrl-C): what was imported is whole and kept; run the command again"""


class HelpLayout(TypedDict):
    """Keyword arguments shared by the ``tla`` parsers: the exit codes under each --help."""

    epilog: str
    formatter_class: type[argparse.HelpFormatter]


# keyword arguments for every subcommand parser: the exit codes under each --help
HELP_FORMAT = HelpLayout(epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)


class UsageError(Exception):
    """Bad options, port or paths (exit code 2); the message is one English line."""


def positive_seconds(text: str) -> float:
    """argparse type: a positive number of seconds below 1e6."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < 1e6:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


async def authenticated(
    args: argparse.Namespace, keys: HostKeys, body: Callable[[SMPClient], Awaitable[int]]
) -> int:
    """Connect to ``args.port``, open a session, run ``body`` and close the session."""
    async with link.connect(args.port, args.timeout) as client:
        await link.open_session(client, keys)
        try:
            result = await body(client)
        except BaseException:
            # Ctrl-C or an error mid-request: the link may still carry that request's
            # answer, so closing can fail; the first error is the one to report (the
            # unit ends an abandoned session by itself).
            with contextlib.suppress(Exception):
                await link.close_session(client)
            raise
        await link.close_session(client)
        return result


def progress(done: int, total: int) -> None:
    """The plain progress line on stderr of tla unload when not on a terminal (stable
    for scripts and tests: ``[###...] 3/4 FSE``)."""
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} FSE")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


OFFICE_EPILOG = """exit codes:
  0    done
  1    the operation failed: the card refused (PIN, habilitation, removed), a lot went
       on hold, or nothing could be done (the message says why)
  2    bad usage or input: options, input files (file, row and field named), office database
  130  interrupted (Ctrl-C): nothing half-done is stored; run the command again"""

# keyword arguments for the office-only subcommands (lots, seal, arl, duplicata)
OFFICE_HELP = HelpLayout(epilog=OFFICE_EPILOG,
                         formatter_class=argparse.RawDescriptionHelpFormatter)


DB_HELP = ("office database: a path or postgresql://USER@HOST/DB (default: $OPENTLA_DB, "
           "else ~/.local/share/opentla/office.db)")


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--db PATH|URL`` option of every command that uses the office database."""
    parser.add_argument("--db", metavar="PATH|URL", help=DB_HELP)


def open_db(location, *, create: bool = False, hint: str = "tla unload creates it"):
    """The office database at ``location`` (path or URL; else $OPENTLA_DB or the default
    path). A SQLite file must already exist unless ``create``; a PostgreSQL database is
    created by its administrator and gets its tables on first use."""
    from .office_db import OfficeDb, database_url

    url = database_url(location)
    if not create and url.get_backend_name() == "sqlite" and not (
            url.database and Path(url.database).is_file()):
        raise UsageError(f"no office database at {url.database} ({hint}; or give --db)")
    return OfficeDb(location)


Step = Callable[[int, int], None]  # (done, total): one more item done


def add_progress_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar (one is drawn only when stdout and stderr "
                             "are a terminal)")


def on_terminal() -> bool:
    return sys.stdout.isatty() and sys.stderr.isatty()


@contextlib.contextmanager
def progress_bar(args: argparse.Namespace, what: str, plain: Step | None = None
                 ) -> Iterator[Step]:
    """A ``(done, total)`` callback for the command's loop: a rich bar on stderr when
    stdout and stderr are terminals, else ``plain`` (scripted output stays as it was),
    nothing at all with ``--no-progress``. The bar is left on screen, complete or where
    it stopped, so an error line printed after it still reads on its own line."""
    if getattr(args, "no_progress", False):
        yield lambda done, total: None
        return
    if not on_terminal():
        yield plain or (lambda done, total: None)
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(what, total=None)

        def step(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield step
