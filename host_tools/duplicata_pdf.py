"""The duplicata as a one-page A4 PDF (fpdf2), for ``tla duplicata`` (docs/duplicata.md).

What it states comes from ``firmware.billing.duplicata.make_duplicata`` (seed 001: the
reason, the FSE and lot numbers, the professional, the patient, the acts and amounts,
who it goes to and who signs it); the page adds the FSE's own references (unit,
signature time, SHA-256 of the signed FSE) so the caisse can match it.

Font: DejaVu Sans, shipped in host_tools/fonts/ with its licence (Bitstream Vera
licence; DejaVu changes are public domain): French accents and the euro sign.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from firmware.billing.duplicata import Duplicata

FONTS = Path(__file__).resolve().parent / "fonts"
MODES_FR = {"secured": "FSE sécurisée (carte Vitale et CPS)",
            "degraded": "SESAM dégradé (sans carte Vitale)",
            "sans_vitale": "SESAM sans Vitale"}
TIERS_FR = {"none": "non (le patient a payé)", "amo": "oui, part obligatoire (AMO)",
            "amo_amc": "oui, parts obligatoire et complémentaire (AMO + AMC)"}


def euros(cents: int) -> str:
    """1234 -> '12,34 €' (French: comma, non-breaking space before the sign)."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100},{abs(cents) % 100:02d}\u00a0€"


def recipient_fr(dup: Duplicata) -> str:
    if dup.send_to == "caisse":
        return (f"à adresser à la caisse d'assurance maladie ({dup.destination}) : "
                "tiers payant, le patient n'a pas fait l'avance des frais")
    return "à remettre au patient, qui l'adresse à sa caisse pour être remboursé"


def render(dup: Duplicata, payload: dict, *, sha256_hex: str, issued: date) -> bytes:
    """The PDF bytes. ``payload`` is the FSE's verified payload (birth date, AMC, unit)."""
    pdf = FPDF(format="A4")
    pdf.set_title(f"Duplicata FSE {dup.fse_number}")
    pdf.set_creator("OpenTLA tla duplicata")
    pdf.add_font("dejavu", "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font("dejavu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(False)
    pdf.add_page()

    def line(label: str, value: str, size: int = 10) -> None:
        pdf.set_font("dejavu", "B", size)
        pdf.cell(48, 6, label)
        pdf.set_font("dejavu", "", size)
        pdf.multi_cell(0, 6, value, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    pdf.set_font("dejavu", "B", 28)
    pdf.cell(0, 14, "DUPLICATA", align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("dejavu", "", 12)
    pdf.cell(0, 7, "de feuille de soins électronique (FSE) non transmise", align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    line("Motif :", dup.reason_fr, 11)
    lot = "non constitué" if dup.lot_number is None else f"n° {dup.lot_number}"
    line("Références :", f"FSE n° {dup.fse_number}   —   lot {lot}")
    pdf.ln(2)
    ps = payload["ps"]
    line("Professionnel :", f"{dup.professional}  ({ps['card_type']} {ps['serial']})")
    line("N° de facturation :", f"{dup.billing_number}   profession "
         f"{ps['situation']['profession']}, spécialité {ps['situation']['specialty']}")
    ben = payload["beneficiary"]
    line("Patient :", f"{dup.beneficiary}   né(e) le {ben['birth_date']}   rang "
         f"{ben['birth_rank']}")
    line("NIR :", dup.nir)
    line("Organisme (AMO) :", f"régime {ben['regime']}, caisse {ben['caisse']}, "
         f"centre {ben['centre']}")
    amc = ben.get("amc")
    if amc:
        line("Complémentaire :", f"AMC {amc['organism']}, contrat {amc['contract_type'] or '-'}")
    line("Date des soins :", datetime.fromisoformat(dup.date_of_care).strftime("%d/%m/%Y"))
    line("Mode :", MODES_FR.get(dup.mode, dup.mode))
    line("Tiers payant :", TIERS_FR.get(dup.tiers_payant, dup.tiers_payant))
    pdf.ln(3)
    _acts(pdf, dup, payload)
    pdf.ln(4)
    line("Destinataire :", recipient_fr(dup))
    signers = " et ".join({"professionnel": "le professionnel de santé",
                           "assure": "l'assuré (ou le patient)"}[s] for s in dup.signatures)
    line("Signé par :", signers)
    pdf.ln(3)
    _signature_boxes(pdf, dup)
    pdf.set_y(-34)
    pdf.set_font("dejavu", "", 7.5)
    signed = datetime.fromtimestamp(payload["signed_at"], UTC).strftime("%d/%m/%Y %H:%M UTC")
    pdf.multi_cell(0, 4, f"Duplicata établi le {issued.strftime('%d/%m/%Y')} d'après la FSE "
                   f"signée le {signed} par l'unité {payload['unit_id']}, conservée dans la "
                   f"base du cabinet. SHA-256 de la FSE signée : {sha256_hex}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())


def _acts(pdf: FPDF, dup: Duplicata, payload: dict) -> None:
    widths = (22, 86, 26, 26, 26)
    heads = ("Acte", "Libellé", "Montant", "Part AMO", "Part AMC")
    aligns = ("L", "L", "R", "R", "R")
    pdf.set_font("dejavu", "B", 9)
    pdf.set_fill_color(230, 230, 230)
    for w, h, a in zip(widths, heads, aligns, strict=True):
        pdf.cell(w, 7, h, border=1, fill=True, align=a)
    pdf.ln()
    pdf.set_font("dejavu", "", 9)
    for item in payload["amounts"]["lines"]:
        values = (item["code"], item["label"][:52], euros(item["amount_cents"]),
                  euros(item["amo_cents"]), euros(item["amc_cents"]))
        for w, v, a in zip(widths, values, aligns, strict=True):
            pdf.cell(w, 6, v, border=1, align=a)
        pdf.ln()
    pdf.set_font("dejavu", "B", 9)
    pdf.cell(widths[0] + widths[1], 7, "Total", border=1, align="R")
    for cents in (dup.total_cents, dup.amo_cents, dup.amc_cents):
        pdf.cell(26, 7, euros(cents), border=1, align="R")
    pdf.ln()
    pdf.cell(widths[0] + widths[1], 7, "Part restant à la charge du patient", border=1,
             align="R")
    pdf.cell(26, 7, euros(dup.patient_cents), border=1, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _signature_boxes(pdf: FPDF, dup: Duplicata) -> None:
    labels = {"professionnel": "Signature du professionnel de santé",
              "assure": "Signature de l'assuré"}
    y = pdf.get_y()
    x = pdf.l_margin
    for who in dup.signatures:
        pdf.set_xy(x, y)
        pdf.set_font("dejavu", "", 9)
        pdf.cell(88, 6, labels[who])
        pdf.rect(x, y + 7, 88, 26)
        x += 98
