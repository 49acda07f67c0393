"""The HTML report: one self-contained file (inline CSS and script, figures as inline SVG; it
fetches nothing when opened) with the totals, a sortable per-layer table per model, the
figures and the conventions behind the numbers."""

from __future__ import annotations

import html
import math
from typing import Any, Sequence

import pandas as pd

from . import tables
from .captions import caption

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { padding: 0.2em 0.6em; border-bottom: 1px solid #ddd; }
th { border-bottom: 2px solid #444; cursor: pointer; user-select: none; white-space: nowrap; }
th.sorted-up::after { content: " \\25B2"; } th.sorted-down::after { content: " \\25BC"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
p.caption { max-width: 60em; color: #444; white-space: pre-line; }
figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; }
"""

# Click a header: sort the body rows by that column (numbers by their data-value, text
# alphabetically); click again to reverse.
SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0];
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var up = !th.classList.contains("sorted-up");
    table.querySelectorAll("th").forEach(function (h) {
      h.classList.remove("sorted-up", "sorted-down"); });
    th.classList.add(up ? "sorted-up" : "sorted-down");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[index], y = b.cells[index];
      var p = parseFloat(x.dataset.value), q = parseFloat(y.dataset.value);
      var order = (isNaN(p) || isNaN(q)) ? x.textContent.localeCompare(y.textContent)
                                         : p - q;
      if (isNaN(p) !== isNaN(q)) { order = isNaN(p) ? 1 : -1; }
      return up ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""


def _value(cell: str) -> str:
    """The number a displayed cell stands for, as data-value ("1,234.5" -> 1234.5;
    "12.5 – 20" -> 12.5); empty when the cell is not a number."""
    text = str(cell).replace(",", "").split(" – ")[0].rstrip("x").strip()
    try:
        number = float(text)
    except ValueError:
        return ""
    return repr(number) if math.isfinite(number) else ""


def table_html(frame: pd.DataFrame, table_id: str, sortable: bool = True) -> str:
    """``frame`` as an HTML table; numeric cells right-aligned with a data-value to sort by."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for values in frame.itertuples(index=False):
        cells = []
        for column, cell in zip(frame.columns, values):
            value = "" if column in tables.TEXT_COLUMNS else _value(cell)
            attributes = f' class="num" data-value="{value}"' if value else ""
            cells.append(f"<td{attributes}>{html.escape(str(cell))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    kind = ' class="sortable"' if sortable else ""
    return (f'<table id="{table_id}"{kind}><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def _svg(figure: bytes) -> str:
    """Inline SVG markup of a matplotlib SVG file (its XML prolog and doctype dropped)."""
    text = figure.decode()
    return text[text.index("<svg"):]


def html_report(records: Sequence[dict[str, Any]], figures: Sequence[tuple[str, bytes]],
                columns: Sequence[str] = (), title: str = "syops report") -> str:
    """The report page: totals, ``figures`` (name, SVG bytes), then each model's layers."""
    records = list(records)
    parts = [f"<h1>{html.escape(title)}</h1>", "<h2>Totals per sample</h2>",
             table_html(tables.choose_columns(tables.summary_frame(records), columns),
                        "totals"),
             f'<p class="caption">{html.escape(caption(records))}</p>']
    for name, figure in figures:
        parts.append(f"<figure><figcaption>{html.escape(name)}</figcaption>"
                     f"{_svg(figure)}</figure>")
    for index, record in enumerate(records):
        frame = tables.choose_columns(tables.layer_frame(record), columns)
        parts += [f"<h2>{html.escape(str(record['model']))}: per layer, per sample "
                  f"({len(frame)} layers; click a header to sort)</h2>",
                  table_html(frame, f"layers-{index}")]
    return page(title, parts)


def frame_page(frame: pd.DataFrame, title: str, note: str) -> str:
    """A page of one sortable table (a listing such as ``syops models``)."""
    return page(title, [f"<h1>{html.escape(title)}</h1>", table_html(frame, "listing"),
                        f'<p class="caption">{html.escape(note)}</p>'])


def page(title: str, parts: Sequence[str]) -> str:
    """A whole HTML document: ``parts`` with the style and the sorting script inline."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
            + "\n".join(parts) + f"<script>{SCRIPT}</script></body></html>\n")
