"""Cross-check against an independent decoder: pyscard's ``smartcard.ATR.ATR``,
over every literal ATR of Ludovic Rousseau's list (package pcsc-tools).

Compared per ATR: Fi, Di, offered protocols and the TCK verdict. Every
difference must be explained by one of the named rules below, each tested on
its own on a hand-made ATR. The list must be there (CI installs pcsc-tools):
its absence fails the test, it does not skip it.
"""

import re
from functools import reduce
from operator import xor
from pathlib import Path

import pytest
from smartcard.ATR import ATR as PyscardAtr

from firmware.iso7816.atr import parse_atr

LIST = Path("/usr/share/pcsc/smartcard_list.txt")
LITERAL = re.compile(r"[0-9A-Fa-f]{2}( [0-9A-Fa-f]{2})*")


def literal_atrs() -> list[bytes]:
    if not LIST.exists():
        pytest.fail(f"{LIST} is missing: install pcsc-tools (apt-get install pcsc-tools)")
    out = []
    for line in LIST.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line or line[0] in "\t#":
            continue
        text = line.strip()
        if LITERAL.fullmatch(text):  # skips regex wildcards such as ".." or "[..]"
            out.append(bytes.fromhex(text))
    return out


def pyscard_view(data: bytes):
    """pyscard's verdict normalised to our vocabulary, or the exception it raised.

    Rule ``pyscard_rfu_string``: pyscard returns the string "RFU" for an RFU
    Fi/Di index where we return None; that is a spelling, not a difference."""
    try:
        p = PyscardAtr(list(data))
    except Exception as exc:  # noqa: BLE001 - the exception is the verdict
        return exc
    fi, di = p.getClockRateConversion(), p.getBitRateFactor()
    protocols = sorted(int(k[2:]) for k in p.getSupportedProtocols())
    return {
        "fi": None if fi == "RFU" else fi,
        "di": None if di == "RFU" else di,
        "protocols": protocols,
        "tck_ok": p.checksumOK,
    }


def ours(data: bytes) -> dict:
    a = parse_atr(data)
    return {"fi": a.fi, "di": a.di, "protocols": a.protocols, "tck_ok": a.tck_ok}


def codes(data: bytes) -> set[str]:
    return {e.split(":")[0] for e in parse_atr(data).errors}


# ---- the named rules ------------------------------------------------------------
def rule_t15_not_a_protocol(data, mine, theirs) -> dict:
    """pyscard lists T=15 among the protocols; ISO 7816-3 §8.2.3 makes T=15 the
    marker of global interface bytes, not a transmission protocol."""
    return {**theirs, "protocols": [t for t in theirs["protocols"] if t != 15]}


def rule_pyscard_no_length_check(data, mine, theirs) -> bool:
    """A truncated ATR: pyscard reads past the end (IndexError); we report
    atr_truncated."""
    return isinstance(theirs, IndexError) and "atr_truncated" in codes(data)


def rule_pyscard_tck_on_t0(data, mine, theirs) -> dict:
    """Only T=0 offered and exactly one byte after the historical bytes: pyscard
    checks that byte as a TCK; ISO §8.2.5 says TCK is then absent, so we report
    atr_extra_bytes and no TCK verdict. Explained when pyscard's verdict is the
    XOR rule applied to that byte."""
    a = parse_atr(data)
    if a.tck_required or not a.errors or not a.error.startswith("atr_extra_bytes: 1 "):
        return theirs
    if theirs["tck_ok"] == (reduce(xor, data[1:], 0) == 0):
        return {**theirs, "tck_ok": None}
    return theirs


def rule_pyscard_no_tck_with_extra_bytes(data, mine, theirs) -> dict:
    """Bytes after the TCK position: pyscard only takes the last byte as TCK when
    it is exactly one byte past the historical bytes, so it gives no verdict; we
    still check the TCK at its position (and report atr_extra_bytes)."""
    if "atr_extra_bytes" in codes(data) and theirs["tck_ok"] is None:
        return {**theirs, "tck_ok": mine["tck_ok"]}
    return theirs


def explain(data: bytes) -> str | None:
    """None when we agree with pyscard after the named rules; else a reason."""
    mine, theirs = ours(data), pyscard_view(data)
    if isinstance(theirs, Exception):
        if rule_pyscard_no_length_check(data, mine, theirs):
            return None
        if parse_atr(data).error and "atr_bad_ts" in codes(data):
            return None  # both reject a bad TS
        return f"pyscard raised {theirs!r}, we say {parse_atr(data).errors}"
    for rule in (
        rule_t15_not_a_protocol,
        rule_pyscard_tck_on_t0,
        rule_pyscard_no_tck_with_extra_bytes,
    ):
        if theirs == mine:
            break
        theirs = rule(data, mine, theirs)
    return None if theirs == mine else f"ours {mine} vs pyscard {theirs}"


def test_agree_with_pyscard_on_the_whole_list():
    atrs = literal_atrs()
    assert len(atrs) >= 3000, f"only {len(atrs)} literal ATRs found"
    unexplained = {d.hex(" ").upper(): r for d in atrs if (r := explain(d)) is not None}
    assert unexplained == {}, f"{len(unexplained)} unexplained differences"


# ---- each rule on a hand-made case --------------------------------------------
def test_rule_t15():
    # TD1=81 (T=1, TD2) TD2=1F (T=15, TA3) TA3=03; TCK = 80^81^1F^03 = 1D
    data = bytes.fromhex("3B 80 81 1F 03 1D")
    assert pyscard_view(data)["protocols"] == [1, 15]
    assert ours(data)["protocols"] == [1]
    assert explain(data) is None


def test_rule_truncated():
    data = bytes.fromhex("3B F0 11")  # TA1 TB1 TC1 TD1 announced, one present
    assert isinstance(pyscard_view(data), IndexError)
    assert codes(data) == {"atr_truncated"}
    assert explain(data) is None


def test_rule_tck_on_t0():
    # T=0 only, one trailing byte that happens to satisfy the XOR: 3B 01 55 54
    data = bytes.fromhex("3B 01 55 54")
    assert pyscard_view(data)["tck_ok"] is True and ours(data)["tck_ok"] is None
    assert "atr_extra_bytes" in codes(data)
    assert explain(data) is None
    wrong = bytes.fromhex("3B 01 55 00")
    assert pyscard_view(wrong)["tck_ok"] is False and explain(wrong) is None


def test_rule_extra_after_tck():
    # CPS4 plus two junk bytes: pyscard gives no TCK verdict, we still check it.
    data = bytes.fromhex("3B 9B 18 80 01 00 12 25 00 64 80 04 01 00 00 90 44 00 00")
    assert pyscard_view(data)["tck_ok"] is None and ours(data)["tck_ok"] is True
    assert explain(data) is None


def test_a_real_difference_is_caught(monkeypatch):
    # The checker itself: were our decoder to get Fi wrong, it would say so.
    import sys

    module = sys.modules[__name__]
    data = bytes.fromhex("3B 75 13 00 00 47 09 EA 90 00")
    assert explain(data) is None
    real = module.ours
    monkeypatch.setattr(module, "ours", lambda d: {**real(d), "fi": 512})
    assert "pyscard" in explain(data)
