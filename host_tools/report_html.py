"""The pilot review report as one self-contained HTML file: plain HTML and CSS, the
charts embedded as PNG ``data:`` URIs, French headings (the office staff and the
insurer read it), UTF-8. Layout and table ids: docs/report.md."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime

from . import report_plots as plots
from .report_data import (
    MODES,
    PJ_STATUSES,
    OperationStats,
    ReportData,
    Shares,
    mode_shares,
    operation_stats,
    pj_by_type,
    pj_shares,
    stats_by,
)

CSS = """
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Segoe UI", Arial, sans-serif; color: #1f2a37;
       margin: 0; background: #eef1f5; font-size: 13px; line-height: 1.45; }
main { max-width: 1080px; margin: 0 auto; background: #fff; padding: 28px 40px 40px; }
header { border-bottom: 3px solid #1f4e79; padding-bottom: 12px; margin-bottom: 18px; }
header h1 { font-size: 24px; margin: 0 0 4px; color: #1f4e79; }
header p { margin: 2px 0; color: #4b5563; }
h2 { font-size: 17px; color: #1f4e79; border-bottom: 1px solid #d5dbe3;
     padding-bottom: 4px; margin: 30px 0 10px; }
h3 { font-size: 14px; margin: 18px 0 6px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-size: 12px; }
th, td { border-bottom: 1px solid #e3e7ed; padding: 4px 8px; text-align: right; }
th { background: #f3f5f8; font-weight: 600; border-bottom: 2px solid #c9d1dc; }
th:first-child, td:first-child { text-align: left; }
td.text, th.text { text-align: left; }
tbody tr:nth-child(even) { background: #fafbfc; }
td.bad { color: #b91c1c; font-weight: 600; }
.tiles { display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; margin: 8px 0; }
.tile { border: 1px solid #d5dbe3; border-radius: 6px; padding: 10px 12px; background: #f8fafc; }
.tile .value { font-size: 22px; font-weight: 700; color: #1f4e79; }
.tile .label { color: #4b5563; font-size: 11px; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 24px; align-items: start; }
.charts { display: grid; grid-template-columns: repeat(2, 1fr); gap: 10px; }
figure { margin: 0; border: 1px solid #e3e7ed; border-radius: 4px; padding: 6px; }
figure img { width: 100%; height: auto; display: block; }
img.wide { max-width: 100%; height: auto; display: block; margin: 6px 0; }
.note { color: #4b5563; font-size: 12px; }
footer { margin-top: 30px; border-top: 1px solid #d5dbe3; padding-top: 8px;
         color: #6b7280; font-size: 11px; }
@media print { body { background: #fff; } main { padding: 0; } figure { break-inside: avoid; } }
"""
MODE_LABELS = {"secured": "sécurisées", "degraded": "dégradées"}
PJ_LABELS = {"scanned": "numérisées", "paper": "papier", "missing": "manquantes"}
PJ_TYPES = {"ORDN": "ORDN (ordonnance)", "FSP": "FSP (feuille de soins papier signée)"}


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def fr_date(d: date) -> str:
    return d.strftime("%d/%m/%Y")


def ms(seconds: float) -> str:
    """Milliseconds with one decimal, French decimal comma: 0.0123 s -> '12,3'."""
    return f"{seconds * 1e3:.1f}".replace(".", ",")


def pct(share: float) -> str:
    """A share as a French percentage with one decimal: 0.125 -> '12,5 %'."""
    return f"{100 * share:.1f}".replace(".", ",") + "\u00a0%"


def num(n: int) -> str:
    """An integer with French digit grouping (narrow no-break space): 20000 -> '20 000'."""
    return f"{n:,}".replace(",", "\u202f")


def table(table_id: str, head: Sequence[str], rows: Iterable[Sequence[object]],
          bad_columns: frozenset[int] = frozenset(), text_columns: int = 1) -> str:
    """A table of the given cells (ints grouped by thousands); the first ``text_columns``
    are left-aligned labels, ``bad_columns`` turn red when not zero."""
    def cls(i: int) -> str:
        return ' class="text"' if i < text_columns else ""

    out = [f'<table id="{esc(table_id)}"><thead><tr>'
           + "".join(f"<th{cls(i)}>{esc(h)}</th>" for i, h in enumerate(head))
           + "</tr></thead><tbody>"]
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            text = num(cell) if isinstance(cell, int) else str(cell)
            bad = i in bad_columns and text not in ("0", pct(0.0))
            cells.append(f'<td class="bad">{esc(text)}</td>' if bad
                         else f"<td{cls(i)}>{esc(text)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _op_row(s: OperationStats) -> list[object]:
    return [s.operation, s.count, s.errors, pct(s.error_rate), ms(s.p50_s), ms(s.p95_s),
            ms(s.p99_s), ms(s.max_s)]


OP_HEAD = ("Opération", "Nombre", "Erreurs", "Taux d'erreur", "p50 (ms)", "p95 (ms)",
           "p99 (ms)", "max (ms)")


def _tile(value: str, label: str) -> str:
    return f'<div class="tile"><div class="value">{esc(value)}</div>' \
           f'<div class="label">{esc(label)}</div></div>'


def _summary(data: ReportData, stats: list[OperationStats]) -> str:
    modes = mode_shares(data.fses)[0]
    pj = pj_shares(data.pj)[0]
    runs = sum(s.count for s in stats)
    errors = sum(s.errors for s in stats)
    tiles = [
        _tile(num(modes.total), "FSE signées sur la période"),
        _tile(pct(modes.share("secured")), "FSE en mode sécurisé (carte Vitale)"),
        _tile(pct(modes.share("degraded")), "FSE en mode dégradé"),
        _tile(num(len({f.billing_number for f in data.fses})), "professionnels"),
        _tile(num(runs), "opérations mesurées (traces)"),
        _tile(pct(errors / runs if runs else 0.0), "taux d'erreur, toutes opérations"),
        _tile(num(pj.total), "pièces justificatives requises"),
        _tile(pct(pj.share("scanned")), "pièces justificatives numérisées"),
    ]
    fse_rows = [("FSE signées", modes.total),
                *((f"FSE {MODE_LABELS.get(m, m)}", modes.counts[m]) for m in modes.counts),
                ("Unités", len({t.unit_id for t in data.traces} | {f.unit_id for f in data.fses})),
                ("Professionnels", len({f.billing_number for f in data.fses}))]
    other_rows = [("Opérations mesurées", runs), ("Opérations en erreur", errors),
                  ("Pièces justificatives requises", pj.total),
                  *((f"Pièces {PJ_LABELS[s]}", pj.counts[s]) for s in PJ_STATUSES)]
    head = ("Indicateur", "Valeur")
    return ('<section id="synthese"><h2>Synthèse</h2><div class="tiles">' + "".join(tiles)
            + '</div><div class="pair">' + table("summary-fse", head, fse_rows)
            + table("summary-traces", head, other_rows) + "</div></section>")


def _operations(data: ReportData, stats: list[OperationStats]) -> str:
    out = ['<section id="temps"><h2>Temps de réponse par opération</h2>']
    if not stats:
        return out[0] + '<p class="note">Aucune trace sur la période.</p></section>'
    out.append('<p class="note">Durées mesurées par l\'unité (horloge monotone), de la '
               "demande au résultat. Percentiles au rang le plus proche (voir « Méthode »).</p>")
    out.append(table("operations", OP_HEAD, (_op_row(s) for s in stats), frozenset({2, 3})))
    durations: dict[str, list[float]] = {}
    for t in data.traces:
        durations.setdefault(t.operation, []).append(t.duration_s)
    out.append('<h3>Distribution des durées</h3><div class="charts">')
    for s in stats:
        uri = plots.data_uri(plots.histogram(s, durations[s.operation]))
        out.append(f'<figure><img alt="Distribution des durées de {esc(s.operation)}" '
                   f'src="{uri}"></figure>')
    out.append("</div></section>")
    return "".join(out)


def _errors(stats: list[OperationStats]) -> str:
    out = ['<section id="erreurs"><h2>Taux d\'erreur par opération</h2>']
    if not stats:
        return out[0] + '<p class="note">Aucune trace sur la période.</p></section>'
    out.append(f'<img class="wide" alt="Taux d\'erreur par opération" '
               f'src="{plots.data_uri(plots.error_rates(stats))}">')
    rows = [(s.operation, outcome, n, pct(n / s.count)) for s in stats
            for outcome, n in s.outcomes.items() if outcome != "ok"]
    if rows:
        out.append("<h3>Erreurs par code</h3>")
        out.append(table("outcomes", ("Opération", "Code d'erreur", "Nombre",
                                      "Part de l'opération"), rows, text_columns=2))
    else:
        out.append('<p class="note">Aucune erreur sur la période.</p>')
    out.append("</section>")
    return "".join(out)


def _by_unit(data: ReportData) -> str:
    out = ['<section id="unites"><h2>Temps de réponse par unité</h2>']
    per_unit = stats_by(data.traces, "unit_id")
    if not per_unit:
        return out[0] + '<p class="note">Aucune trace sur la période.</p></section>'
    out.append('<p class="note">Les traces ne portent que des codes et des durées, ni '
               "patient ni professionnel : les temps de réponse se lisent par unité.</p>")
    rows = [[unit, *_op_row(s)] for unit, stats in per_unit.items() for s in stats]
    out.append(table("by-unit", ("Unité", *OP_HEAD), rows, frozenset({3, 4}), text_columns=2))
    out.append("</section>")
    return "".join(out)


def _share_rows(rows: list[Shares], categories: Sequence[str], names: dict[str, str]
                ) -> list[list[object]]:
    out: list[list[object]] = []
    for r in rows:
        cats = [*categories, *(c for c in r.counts if c not in categories)]
        out.append([names.get(r.label, r.label), r.total, *(r.counts.get(c, 0) for c in cats),
                    *(pct(r.share(c)) for c in cats)])
    return out


def _share_head(first: str, total: str, categories: Sequence[str], labels: dict[str, str]
                ) -> list[str]:
    return [first, total, *(labels.get(c, c).capitalize() for c in categories),
            *(f"Part {labels.get(c, c)}" for c in categories)]


def _shares_section(section: str, title: str, prefix: str, intro: str, rows_all: list[Shares],
                    by_unit: list[Shares], by_pro: list[Shares], categories: tuple[str, ...],
                    labels: dict[str, str], total: str) -> str:
    every = [*categories, *sorted({c for r in rows_all for c in r.counts} - set(categories))]
    out = [f'<section id="{section}"><h2>{esc(title)}</h2><p class="note">{esc(intro)}</p>']
    if rows_all[0].total == 0:
        return "".join(out) + '<p class="note">Rien sur la période.</p></section>'
    chart = [Shares("Ensemble", rows_all[0].counts),
             *(Shares(f"unité {r.label}", r.counts) for r in by_unit),
             *(Shares(f"prof. {r.label}", r.counts) for r in by_pro)]
    out.append(f'<img class="wide" alt="{esc(title)}" '
               f'src="{plots.data_uri(plots.shares(chart))}">')
    for sub, first, rows in (("all", "Périmètre", rows_all), ("unit", "Unité", by_unit),
                             ("professional", "Professionnel (n° de facturation)", by_pro)):
        if sub != "all":
            out.append(f"<h3>Par {first.split()[0].lower()}</h3>")
        out.append(table(f"{prefix}-{sub}", _share_head(first, total, every, labels),
                         _share_rows(rows, every, {"all": "Ensemble"})))
    out.append("</section>")
    return "".join(out)


def _modes(data: ReportData) -> str:
    return _shares_section(
        "modes", "FSE sécurisées et dégradées", "modes",
        "Mode sécurisé : signée avec la carte Vitale du patient. Mode dégradé : sans carte "
        "Vitale, une feuille de soins papier signée par le patient doit suivre.",
        mode_shares(data.fses), mode_shares(data.fses, "unit_id"),
        mode_shares(data.fses, "billing_number"), MODES, MODE_LABELS, "FSE")


def _pj(data: ReportData) -> str:
    section = _shares_section(
        "pj", "Pièces justificatives : numérisées ou papier", "pj",
        "Pièces que les FSE de la période demandent : l'ordonnance des soins prescrits "
        "(ORDN), la feuille de soins papier signée en mode dégradé (FSP). Numérisée : "
        "jointe au dossier (SCOR) ; papier : envoyée par courrier ; manquante : ni l'une "
        "ni l'autre à ce jour.",
        pj_shares(data.pj), pj_shares(data.pj, "unit_id"),
        pj_shares(data.pj, "billing_number"), PJ_STATUSES, PJ_LABELS, "Pièces")
    by_type = pj_by_type(data.pj)
    if not by_type:
        return section
    every = [*PJ_STATUSES, *sorted({c for r in by_type for c in r.counts} - set(PJ_STATUSES))]
    extra = "<h3>Par type de pièce</h3>" + table(
        "pj-type", _share_head("Type", "Pièces", every, PJ_LABELS),
        _share_rows(by_type, every, PJ_TYPES))
    return section.removesuffix("</section>") + extra + "</section>"


def _method(data: ReportData, source: str) -> str:
    p = data.period
    return ('<section id="methode"><h2>Méthode</h2><ul class="note">'
            f"<li>Période : du {fr_date(p.first)} 00:00 UTC au {fr_date(p.last)} 24:00 UTC ; "
            "une trace compte à la fin de l'opération, une FSE à sa signature.</li>"
            "<li>Percentiles au rang le plus proche (Hyndman et Fan, définition 1) : p95 est "
            "la ⌈0,95 × n⌉-ième plus petite durée, donc une durée réellement mesurée.</li>"
            "<li>Erreur : toute opération dont le résultat n'est pas « ok » (code stable de "
            "l'unité, docs/protocol.md §10).</li>"
            f"<li>Source : base du bureau {esc(source)}.</li></ul></section>")


def render(data: ReportData, *, generated_at: datetime, source: str) -> str:
    """The whole report for ``data`` as one HTML document (a str, to write as UTF-8)."""
    stats = operation_stats(data.traces)
    units = sorted({t.unit_id for t in data.traces} | {f.unit_id for f in data.fses})
    p = data.period
    when = generated_at.astimezone(UTC).strftime("%d/%m/%Y %H:%M UTC")
    return "".join([
        '<!DOCTYPE html>\n<html lang="fr"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Rapport de pilote OpenTLA — {fr_date(p.first)} au {fr_date(p.last)}</title>",
        f"<style>{CSS}</style></head><body><main>",
        "<header><h1>Rapport de pilote OpenTLA</h1>",
        f'<p id="period">Période du {fr_date(p.first)} au {fr_date(p.last)} (UTC)</p>',
        f"<p>Unités : {esc(', '.join(units) or 'aucune')}</p>",
        f"<p>Édité le {when}</p></header>",
        _summary(data, stats), _operations(data, stats), _errors(stats), _by_unit(data),
        _modes(data), _pj(data), _method(data, source),
        "<footer>OpenTLA — terminal lecteur applicatif portable ouvert. "
        "Rapport généré par tla report.</footer></main></body></html>\n"])
