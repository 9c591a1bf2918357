"""HTML building blocks for the tear sheet: escaping, number formats, tables, one document.

Everything is inline (CSS, SVG) so the file opens offline and can be mailed or archived as
one artifact. Numbers are formatted from the column name, because the frames come from
several stages and only the name says whether a float is dollars or a ratio.
"""

from __future__ import annotations

import html
import math
import os
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import polars as pl

MAX_TABLE_ROWS = 200
_TWO_DECIMALS = ("sharpe", "sortino", "calmar")

CSS = """
:root { --ink:#1b1f24; --muted:#5b6670; --line:#d8dde3; --bg:#ffffff; --band:#f5f7f9; --neg:#b42318; }
* { box-sizing:border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;
  color:var(--ink); background:var(--bg); }
.layout { display:grid; grid-template-columns:200px minmax(0,1fr); }
nav.toc { position:sticky; top:0; align-self:start; height:100vh; overflow-y:auto;
  padding:16px 12px; border-right:1px solid var(--line); background:var(--band); font-size:13px; }
nav.toc ol { list-style:none; margin:0; padding:0; }
nav.toc li { margin:2px 0; }
nav.toc a { color:var(--ink); text-decoration:none; display:block; padding:2px 6px; border-radius:4px; }
nav.toc a:hover { background:var(--line); }
main { padding:20px 28px 60px; max-width:1200px; }
header h1 { margin:0 0 4px; font-size:24px; }
.meta { color:var(--muted); font-size:13px; }
.meta span { margin-right:18px; }
section { margin-top:28px; padding-top:8px; border-top:1px solid var(--line); }
h2 { font-size:19px; margin:4px 0 10px; }
h3 { font-size:15px; margin:16px 0 6px; }
p.explain { color:var(--muted); max-width:80ch; }
p.na { color:var(--muted); font-style:italic; }
p.caption { color:var(--muted); font-size:12px; margin:2px 0 10px; }
.cards { display:flex; flex-wrap:wrap; gap:10px; margin:10px 0 16px; }
.card { border:1px solid var(--line); border-radius:6px; padding:8px 12px; min-width:120px; background:var(--band); }
.card .k { color:var(--muted); font-size:12px; }
.card .v { font-size:20px; font-weight:600; font-variant-numeric:tabular-nums; }
.table-wrap { overflow-x:auto; }
table { border-collapse:collapse; font-size:12.5px; margin:6px 0 4px; }
th, td { padding:3px 8px; border-bottom:1px solid var(--line); text-align:left; white-space:nowrap; }
th { background:var(--band); font-weight:600; }
td.num { text-align:right; font-variant-numeric:tabular-nums; }
td.neg { color:var(--neg); }
figure { margin:8px 0; }
figure svg { max-width:100%; height:auto; }
@media print {
  .layout { display:block; }
  nav.toc { display:none; }
  main { max-width:none; padding:0; }
  section, figure, table { break-inside:avoid; }
}
"""


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    body: str


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def format_value(column: str, value: object) -> str:
    """Dollars with thousands separators, risk ratios with 2 decimals, other floats with 3."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, int):
        return f"{value:,}" if "usd" in column.lower() else str(value)
    if isinstance(value, float):
        name = column.lower()
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        if "usd" in name or abs(value) >= 1e4:
            return f"{value:,.0f}"
        if any(key in name for key in _TWO_DECIMALS):
            return f"{value:.2f}"
        return f"{value:.3f}"
    return str(value)


def note(reason: str) -> str:
    return f'<p class="na">not available: {esc(reason)}</p>'


def explain(text: str) -> str:
    return f'<p class="explain">{esc(text)}</p>'


def caption(text: str) -> str:
    return f'<p class="caption">{esc(text)}</p>'


def figure(svg: str, text: str | None = None) -> str:
    return f"<figure>{svg}{caption(text) if text else ''}</figure>"


def cards(items: list[tuple[str, str]]) -> str:
    cells = "".join(
        f'<div class="card"><div class="k">{esc(k)}</div><div class="v">{esc(v)}</div></div>'
        for k, v in items
    )
    return f'<div class="cards">{cells}</div>'


def table(frame: pl.DataFrame, max_rows: int = MAX_TABLE_ROWS) -> str:
    """Column-wise formatting (the frame is capped), numeric cells right-aligned, losses in red."""
    shown = frame.head(max_rows)
    head = "".join(f"<th>{esc(c)}</th>" for c in shown.columns)
    columns = []
    for name, dtype in shown.schema.items():
        values = shown[name].to_list()
        numeric = dtype.is_numeric()
        texts = [esc(format_value(name, v)) for v in values]
        if numeric:
            classes = ["num neg" if v is not None and v < 0 else "num" for v in values]
        else:
            classes = [""] * len(values)
        columns.append([f'<td class="{c}">{t}</td>' if c else f"<td>{t}</td>" for c, t in zip(classes, texts)])
    rows = "".join(f"<tr>{''.join(cells)}</tr>" for cells in zip(*columns)) if columns else ""
    more = caption(f"first {max_rows} of {frame.height} rows") if frame.height > max_rows else ""
    return f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>{more}'


def document(title: str, header: str, sections: list[Section]) -> str:
    toc = "".join(f'<li><a href="#{esc(s.id)}">{esc(s.title)}</a></li>' for s in sections)
    body = "".join(
        f'<section id="{esc(s.id)}"><h2>{esc(s.title)}</h2>{s.body}</section>' for s in sections
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>"
        f'<body><div class="layout"><nav class="toc"><ol>{toc}</ol></nav>'
        f"<main>{header}{body}</main></div></body></html>\n"
    )


def write_html(text: str, target: Path) -> Path:
    """Temp file in the target folder, fsync, rename: a reader never sees half a report."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; a report is meant to be read by others
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
