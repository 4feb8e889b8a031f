"""The data groups of the office link, built together for the unit composition.

    groups = data_groups(store, DeviceIdentity("SIM-0001", device_public), TRANSFER_BUF_SIZE)
    server = SMPServer(identity, trust, services, groups=groups, buf_size=TRANSFER_BUF_SIZE)

Pass the same ``buf_size`` to both: unload responses are sized to it. 32 KiB buffers
keep the wire within 1.4x of the payload (base64 and line framing alone cost 1.37x)
and carry several FSEs per round trip (``bench/offload.py``).
"""

from __future__ import annotations

from typing import Any

from .dispatch import CommandGroup
from .group_fse import DeviceIdentity, FseGroup
from .group_load import LoadGroup
from .group_traces import TracesGroup
from .group_unload import vitale_read_group

TRANSFER_BUF_SIZE = 32768


def data_groups(store: Any, device: DeviceIdentity, buf_size: int) -> list[CommandGroup]:
    """Groups 82 (load), 83 (Vitale reads), 84 (FSE) and 85 (traces) over one store."""
    return [
        LoadGroup(store),
        vitale_read_group(store, buf_size),
        FseGroup(store, device, buf_size),
        TracesGroup(store, buf_size),
    ]
