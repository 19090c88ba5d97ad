"""The report's charts as inline SVG (matplotlib, text drawn as paths: no fonts or scripts to fetch), drawn from
the published tables, so a hidden count is a gap in a chart as it is a mark in a table."""

from __future__ import annotations

import io
import re
from html import escape

import matplotlib

matplotlib.use("Agg")  # no display: the figures are written as SVG text
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend

from streams.core.report_table import Published, numbers  # noqa: E402

__all__ = ["Chart", "charts"]

plt.rcParams.update({"svg.fonttype": "path", "svg.hashsalt": "platestream-report", "font.size": 9})
_XML_HEAD = re.compile(r"^.*?(<svg\b)", re.DOTALL)


class Chart:
    """One chart: its id, title, a sentence describing it (the SVG's <title> and <desc>) and the SVG markup."""

    def __init__(self, chart_id: str, title: str, description: str, figure: plt.Figure) -> None:
        self.chart_id, self.title, self.description = chart_id, title, description
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
        plt.close(figure)
        svg = _XML_HEAD.sub(r"\1", buffer.getvalue(), count=1)
        label = f'<svg role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" id="{chart_id}"'
        accessible = (
            f'<title id="{chart_id}-title">{escape(title)}</title>'
            f'<desc id="{chart_id}-desc">{escape(description)}</desc>'
        )
        svg = svg.replace("<svg", label, 1)
        self.svg = re.sub(r"(<svg\b[^>]*>)", lambda m: m.group(1) + accessible, svg, count=1)


def _row(table: Published, label_key: str, label: str, value_key: str) -> float | None:
    for lab, v in zip(table.column(label_key), numbers(table.column(value_key)), strict=True):
        if lab == label:
            return v
    return None


def _body(table: Published) -> Published:
    """The table without its total row."""
    rows = tuple(r for r in table.rows if r[0] != "Total")
    return Published(table.name, table.caption, table.keys, table.labels, table.kinds, rows)


def over_time(table: Published) -> Chart:
    t = _body(table)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 4.2), sharex=True)
    x = list(range(len(t.rows)))
    reads = [v if v is not None else float("nan") for v in numbers(t.column("reads"))]
    top.plot(x, reads, color="#1f4e79", marker=".")
    top.set_ylabel("reads")
    for key, colour in (("hits", "#c55a11"), ("alerts", "#7f6000")):
        values = [v if v is not None else float("nan") for v in numbers(t.column(key))]
        bottom.plot(x, values, color=colour, marker=".", label=key)
    bottom.set_ylabel("hits, alerts")
    bottom.legend(loc="upper right")
    days = t.column("day")
    step = max(1, len(days) // 8)
    bottom.set_xticks(x[::step], [str(d) for d in days[::step]], rotation=30, ha="right")
    return Chart(
        "chart-over-time",
        "Reads, hits and alerts over time",
        "Line charts of reads (top) and of hits and alerts (bottom) per slot of the period; a hidden count is a gap.",
        fig,
    )


FUNNEL = ("Reads", "Hits", "Alerts", "Hits verified by a person", "Confirmed", "Outcome recorded")


def funnel(table: Published) -> Chart:
    values = [_row(table, "stage", s, "count") for s in FUNNEL]
    fig, ax = plt.subplots(figsize=(8, 2.8))
    shown = [v if v else 0 for v in values]
    ax.barh(range(len(FUNNEL)), shown, color="#1f4e79", log=any(v > 0 for v in shown))
    ax.set_yticks(range(len(FUNNEL)), FUNNEL)
    ax.invert_yaxis()
    for n, v in enumerate(values):
        ax.text(shown[n] or 1, n, f" {int(v):,}" if v is not None else " hidden", va="center")
    ax.set_xlabel("count (log scale)")
    return Chart(
        "chart-funnel",
        "From read to outcome",
        "Horizontal bars, on a log scale, of reads, hits, alerts, "
        "verified hits, confirmed hits and hits with an outcome recorded.",
        fig,
    )


def false_hit_rates(by_kind: Published, by_list: Published) -> Chart:
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.8))
    for ax, table, key, title in (
        (axes[0], by_kind, "match_kind", "by match kind"),
        (axes[1], by_list, "list_source", "by list"),
    ):
        t = _body(table)
        labels = [str(v) for v in t.column(key)]
        rates = numbers(t.column("false_hit_rate"))
        ax.bar(range(len(labels)), [r or 0 for r in rates], color="#c55a11")
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        ax.set_ylabel("% of verified hits rejected")
        ax.set_title(title)
        for n, r in enumerate(rates):
            if r is None:
                ax.text(n, 0, "n/a", ha="center", va="bottom")
    return Chart(
        "chart-false-hits",
        "False-hit rate by match kind and by list",
        "Bars of the share of verified "
        "hits that a person rejected, by match kind (left) and by hot list (right); n/a where not shown.",
        fig,
    )


def searches(table: Published) -> Chart:
    t = _body(table)
    labels = [f"{k} / {j}" for k, j in zip(t.column("kind"), t.column("justification"), strict=True)]
    fig, ax = plt.subplots(figsize=(8, max(1.8, 0.4 * len(labels) + 1)))
    left = [0.0] * len(labels)
    for key, colour in (("allowed", "#1f4e79"), ("refused", "#c55a11"), ("failed", "#7f7f7f")):
        values = [v or 0 for v in numbers(t.column(key))]
        ax.barh(range(len(labels)), values, left=left, color=colour, label=key)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.legend(loc="lower right")
    ax.set_xlabel("requests")
    return Chart(
        "chart-searches",
        "Searches by kind and legal process, with refusals",
        "Stacked bars of searches allowed, refused and failed, per search kind and legal process cited.",
        fig,
    )


def charts(tables: dict[str, Published]) -> dict[str, Chart]:
    """Every chart of the page, by the table it illustrates."""
    return {
        "over_time": over_time(tables["over_time"]),
        "funnel": funnel(tables["funnel"]),
        "by_match_kind": false_hit_rates(tables["by_match_kind"], tables["by_list"]),
        "searches": searches(tables["searches"]),
    }
