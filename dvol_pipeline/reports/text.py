"""Plain-text tables for a terminal: what a person reads at the end of a run.

A header, a rule and the rows, numbers right-aligned and text left-aligned, nothing else (no
dtype row, no box drawing), indented and kept within a width: the longest text column is cut
with "…" until the table fits.
"""

from __future__ import annotations

from datetime import date, datetime

import polars as pl

GAP = "  "


def cell(value: object, decimals: int | None = None) -> str:
    """One value as a person reads it: thousands separated, a float to `decimals` places (default:
    as the frame rounded it), "-" for none."""
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{places(value) if decimals is None else decimals}f}"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def places(value: float) -> int:
    """The decimals a float shows when printed shortest (at most 4): 0.25 -> 2, 3.0 -> 0."""
    text = repr(value)
    return 0 if "e" in text or "." not in text or text.endswith(".0") else min(len(text.split(".")[1]), 4)


def text_table(frame: pl.DataFrame, width: int = 100, indent: int = 2, headers: dict[str, str] | None = None) -> str:
    """`frame` as aligned text within `width` columns (a path or a name longer than a text column may
    keep is cut); `headers` renames columns for the header."""
    names = [(headers or {}).get(c, c) for c in frame.columns]
    numeric = [frame.schema[c].is_numeric() for c in frame.columns]
    decimals = [max((places(v) for v in frame[c] if isinstance(v, float) and v == v), default=0)
                if frame.schema[c].is_float() else None for c in frame.columns]
    rows = [[cell(v, d) for v, d in zip(row, decimals, strict=True)] for row in frame.rows()]
    widths = [max([len(n), *(len(r[i]) for r in rows)]) for i, n in enumerate(names)]
    over = indent + sum(widths) + len(GAP) * (len(widths) - 1) - width
    while over > 0:
        text_cols = [i for i, num in enumerate(numeric) if not num and widths[i] > max(len(names[i]), 4)]
        if not text_cols:
            break
        i = max(text_cols, key=lambda k: widths[k])
        cut = max(widths[i] - over, len(names[i]), 4)
        over -= widths[i] - cut
        widths[i] = cut
        rows = [[v if k != i or len(v) <= cut else v[: cut - 1] + "…" for k, v in enumerate(r)] for r in rows]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return (" " * indent + GAP.join(parts)).rstrip()

    return "\n".join([line(names), line(["-" * w for w in widths]), *(line(r) for r in rows)])
