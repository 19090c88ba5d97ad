"""A ``Report`` written three ways from the same published tables: ``report.html`` (one self-contained page: inline
CSS and SVG, no script, font or image to fetch), ``report.json`` and one CSV per table (``<table>.csv``)."""

from __future__ import annotations

import csv
import json
from html import escape
from pathlib import Path

from streams.core.report_table import Published, cell_text
from streams.run.report import Report
from streams.run.report_charts import Chart, charts

__all__ = ["SECTIONS", "render_html", "write_report"]

# The page, in order: (heading, introduction, tables, chart of the section).
SECTIONS = (
    (
        "Reads and hits over time",
        "Every read of a plate by a camera, and the reads that matched a hot-list entry.",
        ("over_time",),
        "over_time",
    ),
    (
        "From read to outcome",
        "How many reads became hits, alerts to an officer, hits a person checked, hits the "
        "person confirmed, and confirmed hits with a recorded outcome.",
        ("funnel", "time_to_verify"),
        "funnel",
    ),
    (
        "False hits",
        "A false hit is a hit that the person checking it rejected (a misread plate, a wrong region, a "
        "stale entry, another vehicle, a duplicate, or another reason in a note).",
        ("by_match_kind", "by_list", "by_reason"),
        "by_match_kind",
    ),
    (
        "Cameras and agencies",
        "Each camera in the registry or seen in the period, and the agency that runs it.",
        ("agencies", "cameras"),
        None,
    ),
    ("Disparate impact", "Where the cameras are relative to who lives there.", ("areas",), None),
    (
        "Searches",
        "Searches of stored reads, by kind and by the legal process cited, and the requests refused.",
        ("searches", "refusals"),
        "searches",
    ),
    ("Sharing", "Every outside agency with access, and what each asked for.", ("partners", "external_requests"), None),
    ("Hot lists", "Changes to the lists reads are matched against.", ("hotlist",), None),
    (
        "Retention, deletions and holds",
        "How long each kind of data is kept, what was deleted when its time ran "
        "out, and the preservation holds that keep reads past it for a case.",
        ("retention", "deletions", "hold_changes", "holds_in_force"),
        None,
    ),
    ("Audit", "The signed checkpoints of the audit log of every search and deletion.", ("checkpoints",), None),
)

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:72rem;margin:0 auto;padding:1rem 2rem;
color:#1a1a1a;line-height:1.45}
table{border-collapse:collapse;margin:0.5rem 0 1.5rem;font-size:0.9rem}caption{text-align:left;font-weight:600;
padding:0.3rem 0}th,td{border:1px solid #bbb;padding:0.2rem 0.5rem}th{background:#eef2f6;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}tr.total td{font-weight:600;background:#f7f7f7}
figure{margin:0.5rem 0 1.5rem}figure svg{max-width:100%;height:auto}.note{color:#444;font-size:0.85rem}
.wide{overflow-x:auto}
"""


def _table_html(t: Published) -> str:
    head = "".join(f'<th scope="col">{escape(label)}</th>' for label in t.labels)
    body = []
    for row in t.rows:
        total = ' class="total"' if row and row[0] == "Total" else ""
        cells = []
        for n, (value, kind) in enumerate(zip(row, t.kinds, strict=True)):
            text = escape(cell_text(value))
            if n == 0:
                cells.append(f'<th scope="row">{text}</th>')
            else:
                cells.append(f'<td class="n">{text}</td>' if kind != "label" else f"<td>{text}</td>")
        body.append(f"<tr{total}>{''.join(cells)}</tr>")
    note = f'<p class="note">{escape(t.note)}</p>' if t.note else ""
    return (
        f'<div class="wide"><table id="table-{t.name}" data-table="{t.name}"><caption>{escape(t.caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>{note}"
        f'<p class="note">Download: <a href="{t.name}.csv">{t.name}.csv</a></p>'
    )


def _figure(chart: Chart) -> str:
    return f"<figure>{chart.svg}<figcaption>{escape(chart.title)}</figcaption></figure>"


def render_html(report: Report) -> str:
    """The page: every section's chart and tables, the disclosure rules, the settings in force."""
    drawn = charts(report.tables)
    p = report.period
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        'img-src data:">',
        f"<title>Licence-plate reader transparency report, {escape(p.name)}</title>",
        f"<style>{CSS}</style></head><body>",
        "<header>",
        f"<h1>Licence-plate reader transparency report: {escape(p.name)}</h1>",
        f"<p>Period: {p.start.isoformat()} to {p.last_day.isoformat()} (UTC, both days included). Generated "
        f"{escape(report.generated_at)}. Every figure comes from counts that hold no plate and no read; the same "
        'figures are in <a href="report.json">report.json</a> and in one CSV file per table.</p>',
        "</header><main>",
        '<section id="disclosure"><h2>How small numbers are protected</h2><ul>',
        *(f"<li>{escape(s)}</li>" for s in report.rules.statements()),
        "</ul></section>",
    ]
    for heading, intro, names, chart in SECTIONS:
        anchor = names[0].replace("_", "-")
        parts.append(f'<section id="{anchor}"><h2>{escape(heading)}</h2><p>{escape(intro)}</p>')
        if chart:
            parts.append(_figure(drawn[chart]))
        parts += [_table_html(report.tables[n]) for n in names]
        parts.append("</section>")
    settings = "".join(f"<li>{escape(k)}: {escape(str(v))}</li>" for k, v in report.settings.items())
    parts += [
        f'<section id="settings"><h2>Settings in force</h2><ul>{settings}</ul></section>',
        "</main></body></html>",
    ]
    return "\n".join(parts)


def write_report(report: Report, out: Path) -> Path:
    """Write ``report.html``, ``report.json`` and the CSV files into ``out``; the HTML's path."""
    out.mkdir(parents=True, exist_ok=True)
    for name, table in report.tables.items():
        with (out / f"{name}.csv").open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(table.keys)
            writer.writerows([cell_text(v) for v in row] for row in table.rows)
    (out / "report.json").write_text(
        json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    html = out / "report.html"
    html.write_text(render_html(report), encoding="utf-8")
    return html
