"""The documentation follows the code: mechanical checks that fail when they drift.

Each check reads a doc (docs/*.md, README.md) and compares it with what the code
defines or computes: annotated hex examples recomputed by the code (the CPS4 ATR and
its PPS, T=1 blocks, COSE headers), file paths and dotted names, console subcommands and
options against the real argparse parsers, store tables and states, `tla-unit sim`
commands, doc sections cited by the code. docs/protocol.md: test_protocol_doc.py.
"""

from __future__ import annotations

import argparse
import re
import tomllib
from importlib import import_module

import pytest

from firmware.iso7816 import t1_block
from firmware.iso7816.atr import parse_atr
from firmware.iso7816.pps import choose_parameters

from .helpers import DOCS, README, ROOT, doc_text, hex_bytes, table_rows, trace_operations

CPS4_ATR = "3B 9B 18 80 01 00 12 25 00 64 80 04 01 00 00 90 44"


def test_atr_example_decodes_as_annotated():
    text = doc_text("atr-pps.md")
    block = text.split("## Annotated ATR: CPS4", 1)[1].split("```")[1]
    raw = b"".join(hex_bytes(line[:33]) for line in block.splitlines() if line[:2].strip())
    assert raw == hex_bytes(CPS4_ATR)
    atr = parse_atr(raw)
    assert atr.ok and atr.protocols == [0, 1] and (atr.fi, atr.di) == (372, 12)
    assert (atr.ifsc, atr.bwi, atr.cwi, atr.checksum, atr.n, atr.wi) == (32, 4, 13, "LRC", 0, 10)
    assert len(atr.historical) == 11 and atr.tck_ok
    assert f"= {raw[-1]:02X}" in block


def test_pps_example_is_what_the_policy_sends():
    text = doc_text("atr-pps.md")
    block = text.split("## Annotated PPS exchange", 1)[1].split("```")[1]
    sent = bytes(int(line[17:19], 16) for line in block.splitlines()[1:5])
    choice = choose_parameters(parse_atr(hex_bytes(CPS4_ATR)), 4_800_000, 500_000, prefer_protocol=1)
    assert choice is not None and choice.request == sent
    assert f"{round(choice.baud):,}".replace(",", " ") in text  # "154 839 baud"


def test_t1_s_ifs_examples():
    text = doc_text("t1.md")
    ifs = t1_block.SType.IFS
    lrc = t1_block.encode(t1_block.Block.s(ifs, inf=b"\xfe"))
    crc = t1_block.encode(t1_block.Block.s(ifs, inf=b"\xfe"), t1_block.CRC)
    assert f"`{lrc[:-1].hex(' ').upper()}` → `{lrc[-1:].hex().upper()}`" in text
    assert f"`{crc.hex(' ').upper()}`" in text
    req = t1_block.encode(t1_block.Block.s(ifs, inf=b"\x08"))
    rsp = t1_block.encode(t1_block.Block.s(ifs, response=True, inf=b"\x08"))
    assert f"reader → card  {req.hex(' ').upper()} " in text
    assert f"card → reader  {rsp.hex(' ').upper()} " in text


def test_fse_header_examples():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from firmware.billing import cbor_det, cose

    text = doc_text("fse.md")
    body = cbor_det.encode({3: "application/vnd.opentla.fse.degraded+cbor"})
    assert f"58 {len(body):02x}                     bstr({len(body)}): body protected" in text
    unit = cose.signer_protected("unit", cose.DeviceSigner(
        "TLA-0001", Ed25519PrivateKey.generate(), bytes(range(32))))
    assert f"58 {len(unit):02x}                 bstr({len(unit)}): protected" in text
    assert unit.startswith(hex_bytes("a4 01 27 04 48 544c412d30303031 3a 00010000 64 756e6974 "
                                "3a 00010001 58 20"))
    assert "04 48 544c412d30303031" in text and "3a 00010000 64 756e6974" in text


# ------------------------------------------------------------------------------ paths
def test_every_code_path_named_in_the_docs_exists():
    pattern = re.compile(r"\b((?:firmware|board|host_tools|bench|tests)/[A-Za-z0-9_./-]*[A-Za-z0-9_])")
    missing = []
    for doc in [*DOCS, README]:
        for path in pattern.findall(doc.read_text(encoding="utf-8")):
            if not (ROOT / path).exists() and not (ROOT / f"{path}.py").exists():
                missing.append(f"{doc.name}: {path}")
    assert not missing


# ------------------------------------------------------------------- console commands
def _parsers(monkeypatch) -> dict[str, argparse.ArgumentParser]:
    """The real parser of each console script (pyproject [project.scripts])."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]

    class Captured(Exception):
        pass

    found = {}
    for prog, target in scripts.items():
        module, func = target.split(":")

        def capture(self, *args, **kwargs):
            raise Captured(self)

        monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
        with pytest.raises(Captured) as caught:
            getattr(import_module(module), func)([])
        monkeypatch.undo()
        found[prog] = caught.value.args[0]
    return found


def _words(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser | None]:
    """Subcommand names (and positional choices) of one parser level."""
    out: dict[str, argparse.ArgumentParser | None] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            out.update(action.choices)
        elif not action.option_strings and action.choices:
            out.update(dict.fromkeys(action.choices))
    return out


_COMMAND = re.compile(r"(?<![\w/.-])(tla(?:-card|-unit)?) ([a-z][a-z-]+)(?![\w/.])"
                      r"(?: ([a-z][a-z-]+)(?![\w/.]))?([^\n`#]*)")


def _mentions(text: str) -> list[tuple[str, str, str | None, list[str]]]:
    """(prog, subcommand, next word, --options) of each command line in code spans."""
    spans = re.findall(r"```.*?```|`[^`\n]+`|^ {4}tla[^\n]*", text, re.S | re.M)
    found = []
    for span in spans:
        for m in _COMMAND.finditer(span):
            rest = re.split(r"(?<![\w/.-])tla(?:-card|-unit)? ", m[4])[0]
            found.append((m[1], m[2], m[3], re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", rest)))
    return found


def _options(parser: argparse.ArgumentParser) -> set[str]:
    """Option strings of a parser and of every parser below it."""
    out = {o for a in parser._actions for o in a.option_strings}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                out |= _options(sub)
    return out


def test_console_subcommands_named_in_docs_exist(monkeypatch):
    parsers = _parsers(monkeypatch)
    assert set(parsers) == {"tla", "tla-card", "tla-unit"}
    texts = [README.read_text(encoding="utf-8")] + [d.read_text(encoding="utf-8") for d in DOCS]
    mentions = [m for text in texts for m in _mentions(text)]
    assert mentions
    for prog, word, second, options in mentions:
        level = _words(parsers[prog])
        assert word in level, f"`{prog} {word}` named in the docs is not a subcommand"
        sub = level[word]
        if second and sub is not None and _words(sub):
            assert second in _words(sub), f"`{prog} {word} {second}`: no such subcommand"
        known = _options(sub) if sub is not None else set()
        known |= {o for a in parsers[prog]._actions for o in a.option_strings}
        for option in options:
            assert option in known, f"`{prog} {word} ... {option}`: no such option"


def test_every_subcommand_is_documented_in_readme(monkeypatch):
    """README lists each console script's subcommands (users look there first)."""
    parsers = _parsers(monkeypatch)
    readme = README.read_text(encoding="utf-8")
    for prog, parser in parsers.items():
        for word in _words(parser):
            assert re.search(rf"`{prog} {word}\b", readme), \
                f"README does not name `{prog} {word}`"


# ------------------------------------------------------------------------------ store
def test_every_store_table_key_and_state_is_in_store_md():
    from firmware.store import schema

    doc = doc_text("store.md")
    sources = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "firmware/store").glob("*.py"))
    states = set(re.findall(r"'(\w+)'", " ".join(re.findall(r"IN \(([^)]*)\)", " ".join(schema.V1)))))
    states |= set(re.findall(r"SET status = '(\w+)'", sources))
    states |= {v.split(",")[3].strip(" '") for v in re.findall(r"INSERT INTO records VALUES \((.*?)\)", sources)}
    from firmware.store import lifecycle  # the statuses are enums there (h11-style tables)

    states = {s for s in states if s != "?"}
    states |= {m.value for e in (lifecycle.FseStatus, lifecycle.NumberStatus,
                                 lifecycle.RecordStatus) for m in e}
    meta = set(re.findall(r"INTO meta VALUES \('(\w+)'", sources))
    assert {"signed", "reserved", "used", "loaded", "new"} <= states and "office_wrap" in meta
    section = doc.split("### Tables and states", 1)[1].split("\n### ", 1)[0]
    for name in [*schema.TABLES, *sorted(states), *sorted(meta)]:
        assert f"`{name}`" in section, f"docs/store.md 'Tables and states' lacks `{name}`"
    assert f"{schema.SCHEMA_VERSION}" in section.splitlines()[0]


def test_t1_annotated_exchange_blocks_decode_as_described():
    block = doc_text("t1.md").split("## Annotated exchange", 1)[1].split("```")[1]
    checked = 0
    for line in block.splitlines():
        m = re.match(r"(reader → card|card → reader)  ((?:[0-9A-F]{2} )+)\s+([IRS])\(", line)
        if not m or ".." in line[:46]:
            continue
        collector = t1_block.BlockCollector()
        results = [r for b in hex_bytes(m[2]) if (r := collector.feed(b)) is not None]
        assert len(results) == 1, line
        got = results[0]
        if "EDC wrong" in line:
            assert got.error == "edc", line
        else:
            assert got.error is None and got.block.kind.name == m[3], line
        checked += 1
    assert checked >= 8


# ----------------------------------------------------------------------- tla-unit sim
def test_every_sim_command_and_card_named_in_demo_md_exists():
    source = (ROOT / "board/sim/commands.py").read_text(encoding="utf-8")
    commands = set(re.findall(r'name == "([a-z-]+)"', source))
    for group in re.findall(r"name in \(([^)]*)\)", source):
        commands |= set(re.findall(r'"([a-z-]+)"', group))
    assert {"insert", "wait-pairing", "unlock", "quit"} <= commands
    doc = doc_text("demo.md")
    table = [r[0] for r in table_rows(doc) if r and r[0].startswith("`")]
    documented = {re.match(r"`([a-z-]+)", cell)[1] for cell in table}
    documented |= {m for cell in table for m in re.findall(r"/ `([a-z-]+)", cell)}
    assert commands <= documented, f"demo.md lacks sim commands {commands - documented}"
    cards = {p.stem for p in (ROOT / "board/sim/cards").glob("*.yaml")}
    named = set(re.findall(r"`((?:cps|cpe|cde|vitale)[a-z0-9_]*)`", doc))
    named |= set(re.findall(r"insert (?:ps|vitale) ([a-z0-9_]+)", doc))
    assert named and named <= cards, f"demo.md names unknown cards {named - cards}"


def test_every_dotted_code_name_in_the_docs_resolves():
    """`firmware.office_link.dispatch.Route`, `board.sim.unit.SimUnit` ...: a module, or an
    attribute of the longest importable module prefix."""
    names = set()
    for doc in [*DOCS, README]:
        names |= set(re.findall(r"`((?:firmware|board|host_tools)\.[A-Za-z0-9_.]*[A-Za-z0-9_])",
                                doc.read_text(encoding="utf-8")))
    assert len(names) >= 5
    for name in sorted(names):
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                obj = import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            for attr in parts[cut:]:
                assert hasattr(obj, attr), f"{name}: no {attr}"
                obj = getattr(obj, attr)
            break
        else:
            pytest.fail(f"{name}: not importable")


def test_demo_md_trace_report_names_real_operations():
    block = doc_text("demo.md").split("Step 9 prints", 1)[1].split("```")[1]
    rows = re.findall(r"^\s+([a-z][a-z0-9_]*\.[a-z0-9_.]+)\s+(\d+)\s", block, re.M)
    assert len(rows) >= 10
    total = int(re.search(r"(\d+) traces received", block)[1])
    assert {op for op, _ in rows} <= trace_operations()
    assert sum(int(n) for _, n in rows) == total


def test_doc_sections_cited_by_the_code_exist():
    """Docstrings cite "docs/visit.md §Seal", "docs/protocol.md §10": the heading must exist."""
    cited = set()
    for folder in ("firmware", "board", "host_tools", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            cited |= {(doc, name, path.name) for doc, name in re.findall(
                r"docs/([\w-]+\.md),? §\s?(\d+|[A-Z][a-z]+(?: [a-z]+)*)", text)}
    assert len(cited) >= 5
    for doc, name, source in sorted(cited):
        assert (ROOT / "docs" / doc).exists(), f"{source}: docs/{doc} missing"
        headings = [h.lower() for h in re.findall(r"^#+ (.*)$", doc_text(doc), re.M)]
        wanted = f"{name}." if name.isdigit() else name.lower()
        assert any(h.startswith(wanted) if name.isdigit() else
                   re.search(rf"\b{re.escape(wanted)}\b", h) for h in headings), \
            f"{source} cites docs/{doc} §{name}: no such heading"
