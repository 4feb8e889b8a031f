"""docs/protocol.md follows firmware/office_link: every SMP group, command, error rc, log code,
security label and trace operation the code defines is documented, and the annotated
frames, error bodies and `tla load` CSV example are what the code produces."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from firmware.office_link import chunks, framing, groups, header, pairing, server
from firmware.office_link.data_groups import data_groups
from firmware.office_link.group_fse import DeviceIdentity
from firmware.office_link.header import GroupError, MgmtErr, MgmtError, Op
from firmware.office_link.security import Identity, MemoryPairedHosts

from .helpers import PROTOCOL, ROOT, hex_bytes, table_rows, trace_operations


# ---------------------------------------------------------------- SMP groups and errors
def _all_routes() -> list[tuple[int, int, Op]]:
    srv = server.SMPServer(Identity.generate(), MemoryPairedHosts(), None)
    every = [groups.OsGroup(None, 2048), groups.SecurityGroup(srv.security),  # type: ignore[arg-type]
             groups.UnitGroup(None)]  # type: ignore[arg-type]
    every += data_groups(None, DeviceIdentity("SIM-0001", bytes(32)), 2048)
    return [(g.group_id, int(r.command), Op(r.op)) for g in every for r in g.routes()]


def _covers(cell: str, command: int) -> bool:
    """A command cell of the §3 table: "6 params", "0–3", "1–3"."""
    span = re.match(r"(\d+)\s*[–-]\s*(\d+)", cell)
    if span:
        return int(span[1]) <= command <= int(span[2])
    first = re.match(r"(\d+)", cell)
    return bool(first) and int(first[1]) == command


def test_every_route_is_in_the_groups_table():
    rows = [r for r in table_rows(PROTOCOL) if len(r) == 5 and re.match(r"\d+ ", r[0])]
    routes = _all_routes()
    assert len(routes) > 15
    for group, command, op in routes:
        letter = "R" if op == Op.READ else "W"
        assert any(r[0].split()[0] == str(group) and _covers(r[1], command) and letter in r[2]
                   for r in rows), f"docs/protocol.md §3 lacks group {group} command {command} {op.name}"


@pytest.mark.parametrize("enum, v1", [
    (pairing.SecurityErr, pairing._V1),
    (chunks.DataErr, chunks.V1_CODES),
])
def test_every_group_error_is_in_a_table_with_its_v1_code(enum, v1):
    rows = table_rows(PROTOCOL)
    for member in enum:
        v1_code = v1[member]
        want = [str(int(member)), member.name]
        assert any(r[:2] == want and r[-1] == f"{int(v1_code)} {v1_code.name}" for r in rows), \
            f"docs/protocol.md lacks | {int(member)} | {member.name} | ... | {int(v1_code)} {v1_code.name} |"


def test_os_group_errors_are_documented_with_their_v1_code():
    rows = table_rows(PROTOCOL)
    source = (ROOT / "firmware/office_link/groups.py").read_text(encoding="utf-8")
    raised = dict(re.findall(r"GroupError\(GROUP_OS, OsErr\.(\w+), MgmtErr\.(\w+)", source))
    assert set(raised) == {m.name for m in groups.OsErr}
    for member in groups.OsErr:
        v1 = MgmtErr[raised[member.name]]
        assert any(r[:2] == [str(int(member)), member.name] and r[-1] == f"{int(v1)} {v1.name}"
                   for r in rows), f"docs/protocol.md lacks OS error {member.name} (v1 {v1.name})"


def test_every_general_error_the_unit_raises_is_named():
    used = set()
    for path in (ROOT / "firmware" / "office_link").glob("*.py"):
        used |= set(re.findall(r"MgmtErr\.([A-Z_]+)", path.read_text(encoding="utf-8")))
    assert used
    rows = [r[:2] for r in table_rows(PROTOCOL)]
    for name in sorted(used):
        code = MgmtErr[name]
        assert [str(int(code)), name] in rows, f"| {int(code)} | {name} | not in docs/protocol.md"


def test_every_link_log_code_is_documented():
    codes = set()
    for path in (ROOT / "firmware" / "office_link").glob("*.py"):
        codes |= set(re.findall(r'"((?:frame|line|smp)\.[a-z_]+)"', path.read_text(encoding="utf-8")))
    assert {"frame.bad_crc", "smp.unexpected_response"} <= codes
    for code in sorted(codes):
        assert f"`{code}`" in PROTOCOL, f"log code {code} not in docs/protocol.md"
    # refusals are logged as smp.<general name> and smp.group<g>.rc<n>
    assert "smp.group80.rc6" in PROTOCOL
    assert server._log_code(MgmtError(MgmtErr.EINVAL, "x")) == "smp.einval"
    assert "`smp.einval`" in PROTOCOL


def test_every_trace_operation_is_in_the_operations_table():
    ops = trace_operations()
    assert {"visit.sign", "card.vitale.sign", "link.pairing", "link.load.batch",
            "link.fse.device_info"} <= ops
    section = PROTOCOL.split("## 10. Traces", 1)[1].split("\n## ", 1)[0]
    for op in sorted(ops):
        assert f"`{op}`" in section, f"trace operation {op} not in docs/protocol.md §10"


# ------------------------------------------------------------------ annotated examples
def test_crc_check_value_and_echo_example_frames():
    assert f"`0x{framing.crc16_xmodem(b'123456789'):04X}`" in PROTOCOL
    block = PROTOCOL.split("### Annotated example: echo", 1)[1].split("```")[1]
    packet = hex_bytes(block.splitlines()[1].split("|")[0] + block.splitlines()[1].split("|")[1])
    line = re.search(r'^line\s+06 09 "([^"]+)" 0a', block, re.M)[1]
    reply = re.search(r'^reply\s+06 09 "([^"]+)" 0a', block, re.M)[1]
    assert framing.encode_packet(packet) == b"\x06\x09" + line.encode() + b"\n"
    srv = server.SMPServer(Identity.generate(), MemoryPairedHosts(), None)
    sent = [a for a in srv.receive_data(framing.encode_packet(packet), 0.0) if hasattr(a, "data")]
    assert sent and sent[0].data == b"\x06\x09" + reply.encode() + b"\n"
    wrapped = base64.b64decode(line)
    assert re.search(rf"CRC16 0x{wrapped[-2:].hex()}", block)


def test_error_body_examples():
    general = re.search(r"Example: `a2 62 72 63 0b 63 72 73 6e 78 1d \"([^\"]+)\"`", PROTOCOL)
    assert general, "general error example missing"
    body = header.encode_body({"rc": 11, "rsn": general[1]})
    assert body[:9] == hex_bytes("a2 62 72 63 0b 63 72 73 6e 78 1d")[:9] and body[10] == len(general[1])
    assert f'"{general[1]}"' in (ROOT / "firmware/office_link/server.py").read_text(encoding="utf-8")
    v2 = header.Header(op=Op.WRITE, version=1, flags=0, length=0, group=80, seq=0, command=0)
    group_hex = re.search(r"\(e\.g\. `([0-9a-f ]+)` = group 80, rc 5", PROTOCOL)[1]
    assert header.encode_body(header.error_body(v2, GroupError(80, 5, MgmtErr.EACCESSDENIED))) == hex_bytes(group_hex)


def test_pull_example_wire_line():
    block = PROTOCOL.split("Annotated example: PULL", 1)[1].split("```")[1]
    lines = block.splitlines()
    request = hex_bytes(lines[1].split("request", 1)[1])
    response = hex_bytes(lines[3].split("response", 1)[1]) + hex_bytes(lines[5])
    wire = re.search(r'wire\s+06 09 "([^"]+)" 0a', block)[1]
    assert framing.encode_packet(response) == b"\x06\x09" + wire.encode() + b"\n"
    req, rsp = header.Header.parse(request[:8]), header.Header.parse(response[:8])
    assert (req.op, req.version, req.group, req.seq, req.command) == (Op.READ, 1, 84, 5, 2)
    assert (rsp.op, rsp.length, req.length) == (Op.READ_RSP, len(response) - 8, len(request) - 8)


# ------------------------------------------------------------------ tla load formats
def test_load_csv_example_parses_and_error_example_is_exact(tmp_path, monkeypatch):
    from firmware.billing.tariffs import TariffTable
    from host_tools.load_files import LoadFilesError, read_files

    monkeypatch.chdir(tmp_path)  # problems name the file as given: invoices.csv
    block = PROTOCOL.split("### Files `tla load` reads", 1)[1].split("```")[1]
    rows = [line.split("<-")[0].rstrip() for line in block.strip().splitlines()]
    Path("invoices.csv").write_text("\n".join(rows) + "\n")
    out = read_files([Path("invoices.csv")], TariffTable.load_sample())
    [item] = out.items()
    assert (item.kind, item.record_id, item.professional_id) == ("invoice", "INV-1", "123456789")

    bad = rows[:2] + [rows[2].replace("IFD,,", "IFD,abc,")]
    Path("invoices.csv").write_text("\n".join(bad) + "\n")
    with pytest.raises(LoadFilesError) as info:
        read_files([Path("invoices.csv")], TariffTable.load_sample())
    shown = [str(p) for p in info.value.problems]
    assert shown and f"`{shown[0]}`" in PROTOCOL, shown


def test_every_security_label_is_in_protocol_md():
    source = (ROOT / "firmware/office_link/security.py").read_text(encoding="utf-8")
    labels = set(re.findall(r'b"(OpenTLA [^"]*)"', source))
    assert len(labels) >= 8
    for label in sorted(labels):
        assert f'"{label}"' in PROTOCOL, f"security label {label!r} not in docs/protocol.md §4"
