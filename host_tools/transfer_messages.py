"""smpclient request/response models of the data groups 82-85 (``docs/protocol.md`` §8-11).

Group and command numbers come from the firmware modules, so both ends agree.
"""

from __future__ import annotations

from typing import Any

from smp import error as smperr
from smp import message as smpmsg

from firmware.office_link.chunks import DataErr
from firmware.office_link.group_fse import GROUP_FSE
from firmware.office_link.group_load import GROUP_LOAD, LoadCommand
from firmware.office_link.group_traces import GROUP_TRACES
from firmware.office_link.group_unload import GROUP_VITALE_READS, UnloadCommand


def _errors(group: int) -> tuple[type, type]:
    ns = {"_GROUP_ID": group, "__module__": __name__}
    v1 = type(f"Group{group}ErrorV1", (smperr.ErrorV1,), dict(ns))
    v2 = type(f"Group{group}ErrorV2", (smperr.ErrorV2[DataErr],), dict(ns))
    return v1, v2


def _pair(name: str, group: int, command: int, write: bool, request: dict, response: dict) -> type:
    """Request class ``name`` (with its response and error classes) for one command."""
    req_base = smpmsg.WriteRequest if write else smpmsg.ReadRequest
    rsp_base = smpmsg.WriteResponse if write else smpmsg.ReadResponse
    ids = {"_GROUP_ID": group, "_COMMAND_ID": command, "__module__": __name__}
    rsp = type(f"{name}Response", (rsp_base,), {**ids, "__annotations__": response})
    v1, v2 = _errors(group)
    req = type(name, (req_base,), {**ids, "__annotations__": request,
                                   **{k: None for k, t in request.items() if "None" in str(t)},
                                   "_Response": rsp, "_ErrorV1": v1, "_ErrorV2": v2})
    return req


_LIST_REQ = {"after": str | None}
_LIST_RSP = {"recs": list[list[Any]], "more": bool}
_PULL_REQ = {"id": str | None, "off": int}
_PULL_RSP = {"recs": list[list[Any]], "end": bool}
_ACK_REQ = {"acks": list[list[str]]}
_ACK_RSP = {"n": int}

LoadBatch = _pair("LoadBatch", GROUP_LOAD, LoadCommand.BATCH, True,
                  {"items": list[list[Any]]}, {"n": int})
LoadChunk = _pair("LoadChunk", GROUP_LOAD, LoadCommand.CHUNK, True,
                  {"kind": str, "id": str, "prof": str | None, "off": int, "size": int, "d": bytes,
                   "sig": bytes},
                  {"next": int})
LoadRange = _pair("LoadRange", GROUP_LOAD, LoadCommand.RANGE, True,
                  {"ranges": list[list[Any]]}, {"n": int})
LoadInfo = _pair("LoadInfo", GROUP_LOAD, LoadCommand.INFO, False, {}, {"unit": bytes})
LoadBegin = _pair("LoadBegin", GROUP_LOAD, LoadCommand.BEGIN, True, {}, {"max": int})
LoadCommit = _pair("LoadCommit", GROUP_LOAD, LoadCommand.COMMIT, True, {"n": int, "r": int},
                   {"n": int})
LoadAbort = _pair("LoadAbort", GROUP_LOAD, LoadCommand.ABORT, True, {}, {})
LoadList = _pair("LoadList", GROUP_LOAD, LoadCommand.LIST, False, {"after": list[str] | None},
                 {"recs": list[list[Any]], "more": bool})
LoadWithdraw = _pair("LoadWithdraw", GROUP_LOAD, LoadCommand.WITHDRAW, True,
                     {"recs": list[list[str]]}, {"n": int})
LoadRanges = _pair("LoadRanges", GROUP_LOAD, LoadCommand.RANGES, False, {},
                   {"ranges": list[list[Any]]})

VitaleList = _pair("VitaleList", GROUP_VITALE_READS, UnloadCommand.LIST, False, _LIST_REQ, _LIST_RSP)
VitalePull = _pair("VitalePull", GROUP_VITALE_READS, UnloadCommand.PULL, False, _PULL_REQ, _PULL_RSP)
VitaleAck = _pair("VitaleAck", GROUP_VITALE_READS, UnloadCommand.ACK, True, _ACK_REQ, _ACK_RSP)

FseDevice = _pair("FseDevice", GROUP_FSE, 0, False, {}, {"unit_id": str, "key": bytes})
FseList = _pair("FseList", GROUP_FSE, UnloadCommand.LIST, False, _LIST_REQ, _LIST_RSP)
FsePull = _pair("FsePull", GROUP_FSE, UnloadCommand.PULL, False, _PULL_REQ, _PULL_RSP)
FseAck = _pair("FseAck", GROUP_FSE, UnloadCommand.ACK, True, _ACK_REQ, _ACK_RSP)

TracesRead = _pair("TracesRead", GROUP_TRACES, 0, False, {"after": int},
                   {"traces": list[list[Any]], "more": bool})
