"""smpmgr plugin used by the tests: `smpmgr --plugin-path=DIR --port P clock set TEXT`.

smpmgr itself has no date-time command; this adds one the way smpmgr documents
plugins (a ``*_group.py`` file exposing a Typer ``app``), using smpclient's own
``DateTimeWrite`` request.
"""

import asyncio
from typing import cast

import typer
from rich import print
from smpclient.requests.os_management import DateTimeWrite
from smpmgr.common import Options, connect_with_spinner, get_smpclient, smp_request

app = typer.Typer(name="clock", help="OS group date-time (test plugin).")


@app.command()
def set(ctx: typer.Context, text: str) -> None:  # noqa: A001 - the command is named "set"
    """Write the unit's date-time."""
    options = cast(Options, ctx.obj)
    smpclient = get_smpclient(options)

    async def f() -> None:
        await connect_with_spinner(smpclient)
        print(await smp_request(smpclient, DateTimeWrite(datetime=text)))

    asyncio.run(f())
