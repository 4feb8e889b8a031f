"""The report's charts as PNG bytes (matplotlib's Agg canvas: no display, no pyplot
state), and as ``data:`` URIs for a self-contained HTML file (docs/report.md)."""

from __future__ import annotations

import base64
import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .report_data import OperationStats, Shares

DPI = 110
INK, GRID, ACCENT = "#1f2a37", "#d5dbe3", "#1f4e79"
MARKERS = (("p50", "#2e7d32", "-"), ("p95", "#ef6c00", "--"), ("p99", "#c62828", ":"))
COLOURS = {"secured": "#2e7d32", "degraded": "#ef6c00", "scanned": "#1f4e79",
           "paper": "#8d99a6", "missing": "#c62828"}
LABELS = {"secured": "sécurisé", "degraded": "dégradé", "scanned": "numérisées",
          "paper": "papier", "missing": "manquantes"}
FALLBACK = ("#6a4c93", "#1982c4", "#8ac926", "#ffca3a")


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _style(ax) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(GRID)
    ax.tick_params(colors=INK, labelsize=8)
    ax.grid(axis="y", color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)


def histogram(stats: OperationStats, durations_s: list[float]) -> bytes:
    """The distribution of one operation's durations (ms), its p50/p95/p99 marked."""
    fig = _figure(4.2, 2.5)
    ax = fig.add_subplot()
    _style(ax)
    ms = [d * 1e3 for d in durations_s]
    # one filled outline, not a rectangle per bin: the same picture, drawn much faster
    ax.hist(ms, bins=min(30, max(5, len(set(ms)))), color=ACCENT, alpha=0.85,
            histtype="stepfilled")
    for (name, colour, style), value in zip(MARKERS, (stats.p50_s, stats.p95_s, stats.p99_s),
                                            strict=True):
        ax.axvline(value * 1e3, color=colour, linestyle=style, linewidth=1.4, label=name)
    fig.text(0.02, 0.95, stats.operation, fontsize=9, color=INK, weight="bold", va="top")
    fig.legend(fontsize=7, frameon=False, ncol=3, loc="upper right",
               bbox_to_anchor=(0.99, 0.99), handlelength=1.8, columnspacing=1.0)
    ax.set_xlabel("durée (ms)", fontsize=8, color=INK)
    ax.set_ylabel("nombre", fontsize=8, color=INK)
    fig.subplots_adjust(left=0.14, right=0.97, top=0.84, bottom=0.2)  # no tight_layout: slow
    return _png(fig)


def error_rates(stats: list[OperationStats]) -> bytes:
    """Horizontal bars: the share of each operation's runs that did not end ``ok``."""
    fig = _figure(7.5, max(1.6, 0.26 * len(stats) + 0.9))
    ax = fig.add_subplot()
    _style(ax)
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", color=GRID, linewidth=0.6)
    names = [s.operation for s in stats][::-1]
    rates = [100 * s.error_rate for s in stats][::-1]
    bars = ax.barh(names, rates, color=["#c62828" if r else GRID for r in rates], height=0.6)
    for bar, rate in zip(bars, rates, strict=True):
        ax.text(bar.get_width() + 0.5, bar.get_y() + bar.get_height() / 2, f"{rate:.1f} %".replace(".", ","),
                va="center", fontsize=7, color=INK)
    ax.set_xlim(0, max([*rates, 1.0]) * 1.15)
    ax.set_xlabel("taux d'erreur (%)", fontsize=8, color=INK)
    fig.tight_layout()
    return _png(fig)


def shares(rows: list[Shares]) -> bytes:
    """One 100 % stacked bar per row (all, a unit, a professional), counts written in."""
    fig = _figure(7.5, max(1.5, 0.42 * len(rows) + 1.0))
    ax = fig.add_subplot()
    _style(ax)
    ax.grid(axis="y", visible=False)
    categories = list(dict.fromkeys(c for r in rows for c in r.counts))
    labels = [r.label for r in rows][::-1]
    left = [0.0] * len(rows)
    for i, category in enumerate(categories):
        widths = [100 * r.share(category) for r in rows][::-1]
        counts = [r.counts.get(category, 0) for r in rows][::-1]
        colour = COLOURS.get(category, FALLBACK[i % len(FALLBACK)])
        ax.barh(labels, widths, left=left, color=colour, height=0.6,
                label=LABELS.get(category, category))
        for y, (x, w, n) in enumerate(zip(left, widths, counts, strict=True)):
            if w >= 7:
                ax.text(x + w / 2, y, str(n), ha="center", va="center", fontsize=7,
                        color="white")
        left = [x + w for x, w in zip(left, widths, strict=True)]
    ax.set_xlim(0, 100)
    ax.set_xlabel("part (%)", fontsize=8, color=INK)
    ax.legend(fontsize=7, frameon=False, ncol=len(categories), loc="lower right",
              bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return _png(fig)
