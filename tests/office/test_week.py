"""A scripted week at a practice: two units, three professionals (the physiotherapist
with two situations, the second without the lot habilitation), 200 FSEs unloaded;
lots made and signed with each professional's CPS, two firmware versions (one seal
unknown at first), a negative and a partly negative ARL, duplicatas printed, supporting
documents attached and missing, the export for the billing software. Every count is checked against the plan below, counted here
from the plan itself."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import date

from billing.conftest import SEAL, SIGNED_AT, beneficiary, card_signer, context, situation
from billing.fse_helpers import PATIENT, PRESC
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image
from pypdf import PdfReader

from firmware.billing.cose import DeviceSigner
from firmware.billing.fse import build_fse
from firmware.billing.invoice import Invoice
from firmware.billing.verify import FseVerifier
from host_tools import cli, fse_export, office_lots, pj
from host_tools.arl import import_arls
from host_tools.lot_maker import make_lots

from .helpers import DOCTOR, MUTUELLE, NURSE, cps_connection, cps_spec

KINE, KINE_REPL = "139999031", "339999047"  # cps_kine's two situations (the second: no lots)
PROS = [(NURSE, "60", [{"code": "AMI", "coefficient": "1.5"}, {"code": "IFD"}]),
        (DOCTOR, "10", [{"code": "G"}]),
        (KINE, "70", [{"code": "AMK", "coefficient": "7.5"}, {"code": "IFD"}]),
        (KINE_REPL, "70", [{"code": "AMK", "coefficient": "7.5"}, {"code": "IFD"}])]
TOTAL = {NURSE: 748, DOCTOR: 3000, KINE: 1863, KINE_REPL: 1863}  # hand-computed, cents
DESTS = [("01", "341"), ("01", "751"), ("02", "751")]
SEAL2 = bytes(range(100, 132))
CARDS = {"cps_infirmier": "4321", "cps_medecin": "1234", "cps_kine": "2468"}


def plan():
    """200 FSEs: professional i % 4, unit (i // 4) % 2, destination (i // 8) % 3;
    every 5th with tiers payant AMO+AMC, every 7th (from the 4th) degraded."""
    numbers: Counter = Counter()
    out = []
    for i in range(200):
        billing, profession, lines = PROS[i % 4]
        numbers[billing] += 1
        degraded = i % 7 == 3
        out.append({"billing": billing, "profession": profession, "lines": lines,
                    "number": numbers[billing], "unit": (i // 4) % 2,
                    "dest": DESTS[(i // 8) % 3], "degraded": degraded,
                    "tiers": "amo_amc" if i % 5 == 0 and not degraded else "none"})
    return out


def build(pki, tariffs, item, devices):
    raw = {"invoice_id": f"W-{item['billing']}-{item['number']}", "billing_number": item["billing"],
           "profession": item["profession"], "date_of_care": "2026-03-10",
           "tiers_payant": item["tiers"], "lines": item["lines"]}
    if item["profession"] != "10":
        raw["prescription"] = PRESC
    regime, caisse = item["dest"]
    mode = "degraded" if item["degraded"] else "secured"
    if mode == "degraded":
        raw["patient"] = {**PATIENT, "regime": regime, "caisse": caisse}
    ben = None if mode == "degraded" else replace(beneficiary(), regime=regime, caisse=caisse,
                                                  amc=MUTUELLE)
    ctx = context(Invoice.from_dict(raw), tariffs, mode=mode, ben=ben,
                  sit=situation(profession=item["profession"], billing=item["billing"]))
    vit = card_signer(pki.vitale_cert, pki.vitale_key) if mode == "secured" else None
    return build_fse(ctx, number=item["number"], unit_id=devices[item["unit"]].unit_id,
                     signed_at=SIGNED_AT, cps=card_signer(pki.cps_cert, pki.cps_key),
                     vitale=vit, device=devices[item["unit"]])


def test_a_week(tmp_path, db, pki, tariffs, capsys):
    key2 = Ed25519PrivateKey.generate()
    devices = [DeviceSigner("TLA-0001", pki.device_key, SEAL), DeviceSigner("TLA-0002", key2, SEAL2)]
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    keys = {d.unit_id: d._key.public_key().public_bytes(*raw) for d in devices}
    verifier = FseVerifier(pki.trust(), keys)
    items = plan()
    for item in items:  # what tla unload does for each FSE
        fse = build(pki, tariffs, item, devices)
        v = verifier.verify(fse.encoded)
        db.remember_unit(v.unit_id, keys[v.unit_id])
        db.import_fse(v.unit_id, f"{v.billing_number}-{v.number}", fse.encoded, v.payload, v.seal)
    assert len(db.fses()) == 200
    assert Counter(r["unit_id"] for r in db.fses()) == {"TLA-0001": 100, "TLA-0002": 100}

    office_lots.add_seal(db, "0.1.0", SEAL)  # firmware 0.2.0's seal not known yet
    made, refused = [], {}
    for name, pin in CARDS.items():
        report = make_lots(db, cps_connection(cps_spec(name)), lambda p=pin: p,
                           today=date(2026, 3, 12), now=1773300000.0)
        made += report.made
        refused.update(report.refused)
    lotted = [i for i in items if i["billing"] != KINE_REPL]
    groups = Counter((i["billing"], i["dest"], i["unit"]) for i in lotted)
    assert len(made) == len(groups) == 18  # 3 professionals x 3 organisms x 2 seals
    assert sorted((x.billing_number, (x.regime, x.caisse), x.seal == SEAL2, len(x.fse_rows))
                  for x in made) == sorted((b, d, u == 1, n) for (b, d, u), n in groups.items())
    assert refused == {KINE_REPL: f"situation 1 ({KINE_REPL}) of this CPS has no lot habilitation"}
    assert len(office_lots.unlotted(db)) == 50
    per_pro = Counter(x.billing_number for x in made)
    assert per_pro == {NURSE: 6, DOCTOR: 6, KINE: 6}
    for billing in per_pro:  # numbered 1..6 per professional
        assert sorted(x.lot_number for x in made if x.billing_number == billing) == list(range(1, 7))
    assert sum(x.total_cents for x in made) == sum(TOTAL[i["billing"]] for i in lotted)
    statuses = Counter(r["status"] for r in office_lots.lots(db))
    assert statuses == {"ready": 9, "on_hold": 9}
    assert len(office_lots.add_seal(db, "0.2.0", SEAL2)) == 9
    assert Counter(r["status"] for r in office_lots.lots(db)) == {"ready": 18}

    # returns: the nurse's lot 1 refused whole, the doctor's lot 2 accepted but one FSE
    nurse1 = office_lots.find_lot(db, f"{NURSE}/1")
    doctor2 = office_lots.find_lot(db, f"{DOCTOR}/2")
    doctor2_fses = office_lots.lot_fses(db, doctor2["row_id"])
    arls = []
    for lot, status, reason, fses in [
            (nurse1, "rejected", {"code": "L07", "text": "Lot illisible"}, []),
            (doctor2, "accepted", None, [{"fse_number": doctor2_fses[0]["fse_number"],
                                          "status": "rejected",
                                          "reason": {"code": "R102", "text": "Droits fermés"}}])]:
        path = tmp_path / f"arl-{lot['billing_number']}-{lot['lot_number']}.json"
        path.write_text(json.dumps({
            "format": "opentla-arl/1", "billing_number": lot["billing_number"],
            "lot_number": lot["lot_number"], "organism": {"regime": lot["regime"],
                                                          "caisse": lot["caisse"]},
            "received_at": "2026-03-14T08:00:00Z", "status": status, "reason": reason,
            "fses": fses}))
        arls.append(path)
    import_arls(db, arls)
    rejected = [f for r in office_lots.lots(db) for f in office_lots.lot_fses(db, r["row_id"])
                if f["status"] == "rejected"]
    assert len(rejected) == nurse1["fse_count"] + 1
    assert Counter(r["status"] for r in office_lots.lots(db)) == {
        "ready": 16, "rejected": 1, "accepted": 1}

    # duplicatas for every rejected FSE
    db_path = db.location
    for f in rejected:
        out = tmp_path / f"dup-{f['fse_id']}.pdf"
        reason = "transmission_failed" if f["fse_row"] in {
            x["fse_row"] for x in doctor2_fses} else "lot_rejected"
        assert cli.main(["--keys", str(tmp_path / "k.json"), "duplicata", "--db", db_path,
                         f["fse_id"], "--reason", reason, "-o", str(out)]) == 0
        assert f"FSE n° {f['fse_number']}" in PdfReader(out).pages[0].extract_text()
    assert len(list(tmp_path.glob("dup-*.pdf"))) == len(rejected)

    # supporting documents: the nurse's prescriptions scanned, the rest still on paper
    scan = tmp_path / "ordonnance.png"
    Image.new("L", (200, 280), 255).save(scan, "PNG", dpi=(300, 300))
    checked = pj.check_file(scan)
    nurse_rows = [r for r in db.fses() if r["billing_number"] == NURSE]
    pj.attach(db, [pj.Attach(r["import_id"], "ORDN", checked) for r in nurse_rows])
    needing = [i for i in items if i["profession"] != "10" or i["degraded"]]
    complete = [i for i in items if i["billing"] == NURSE and not i["degraded"]]
    assert len(pj.missing(db)) == len(needing) - len(complete)
    # the degraded visits' signed paper sheets went to the caisse by post (tla pj paper)
    degraded_rows = {r["import_id"] for r in db.fses() if r["mode"] == "degraded"}
    for import_id in degraded_rows:
        pj.mark_on_paper(db, import_id, "FSP")
    assert len(degraded_rows) == sum(i["degraded"] for i in items)
    still = [i for i in items if i["profession"] != "10" and i["billing"] != NURSE]
    assert len(pj.missing(db)) == len(still)

    # the billing software's export
    recs = fse_export.records(db)
    assert len(recs) == 200
    assert Counter(r["lot"]["fse_status"] if r["lot"] else None for r in recs) == {
        "in_lot": 150 - len(rejected) - (doctor2["fse_count"] - 1), "accepted": doctor2["fse_count"] - 1,
        "rejected": len(rejected), None: 50}
    assert sum(r["amc_cents"] > 0 for r in recs) == sum(i["tiers"] == "amo_amc" for i in items)
    assert sum(len(r["pj"]) for r in recs) == sum(
        (i["profession"] != "10") + i["degraded"] for i in items)
    assert Counter(p["status"] for r in recs for p in r["pj"])["attached"] == len(nurse_rows)
    capsys.readouterr()

    check_week_report(tmp_path, db, items, devices, capsys)


def week_traces(items, devices):
    """What the units timed that week: one visit.sign per FSE (1.00 .. 1.95 s), and
    before every 25th a first attempt refused on the PIN (0.5 s, pin_wrong)."""
    rows: dict[str, list] = {d.unit_id: [] for d in devices}
    for i, item in enumerate(items):
        unit = rows[devices[item["unit"]].unit_id]
        at = SIGNED_AT.timestamp() + i
        if i % 25 == 0:
            unit.append((len(unit) + 1, at - 0.5, "visit.sign", 0.5, "pin_wrong"))
        unit.append((len(unit) + 1, at, "visit.sign", 1.0 + (i % 20) * 0.05, "ok"))
    return rows


def check_week_report(tmp_path, db, items, devices, capsys):
    """tla report over the week: its tables hold the plan's counts."""
    import numpy as np
    from traces.report_page import Page

    traces = week_traces(items, devices)
    for unit_id, rows in traces.items():
        db.import_traces(unit_id, rows)
    html, table = tmp_path / "week.html", tmp_path / "week.csv"
    assert cli.main(["--keys", str(tmp_path / "k.json"), "report", "--db", db.location,
                     "--from", "2026-03-09", "--to", "2026-03-15", "--html", str(html),
                     "--csv", str(table)]) == 0
    capsys.readouterr()
    page = Page(html.read_text(encoding="utf-8"))

    def rows(table_id):
        return {r[0]: r[1:] for r in page.tables[table_id][1:]}

    def pct(n, total):
        return f"{100 * n / total:.1f}".replace(".", ",") + "\u00a0%"

    degraded = Counter(i["billing"] for i in items if i["degraded"])
    per_pro = Counter(i["billing"] for i in items)
    n_degraded = sum(degraded.values())
    assert rows("modes-all") == {"Ensemble": [
        "200", str(200 - n_degraded), str(n_degraded), pct(200 - n_degraded, 200),
        pct(n_degraded, 200)]}
    assert {k: v[:3] for k, v in rows("modes-professional").items()} == {
        b: [str(per_pro[b]), str(per_pro[b] - degraded[b]), str(degraded[b])] for b in per_pro}
    per_unit = Counter(devices[i["unit"]].unit_id for i in items)
    unit_degraded = Counter(devices[i["unit"]].unit_id for i in items if i["degraded"])
    assert {k: v[:3] for k, v in rows("modes-unit").items()} == {
        u: [str(n), str(n - unit_degraded[u]), str(unit_degraded[u])] for u, n in per_unit.items()}
    needed = Counter()
    for i in items:
        needed[i["billing"]] += (i["profession"] != "10") + i["degraded"]
    total_pj = sum(needed.values())
    scanned = sum(i["billing"] == NURSE for i in items)  # every nurse FSE's prescription
    paper = n_degraded
    assert rows("pj-all")["Ensemble"][:4] == [str(total_pj), str(scanned), str(paper),
                                              str(total_pj - scanned - paper)]
    assert {k: v[0] for k, v in rows("pj-professional").items()} == {
        b: str(n) for b, n in needed.items() if n}
    # visit.sign: 200 signed + 8 refused first attempts (i = 0, 25, ..., 175)
    durations = [r[3] for rs in traces.values() for r in rs]
    p50, p95, p99 = np.percentile(durations, [50, 95, 99], method="inverted_cdf")
    ms = [f"{v * 1e3:.1f}".replace(".", ",") for v in (p50, p95, p99)]
    assert rows("operations") == {"visit.sign": ["208", "8", pct(8, 208), *ms, "1950,0"]}
    assert rows("outcomes") == {"visit.sign": ["pin_wrong", "8", pct(8, 208)]}
    assert table.read_text(encoding="utf-8").count("\n") == 1 + 208
