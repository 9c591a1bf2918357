"""The model's own truths that no raw table carries: what the stylised-fact checks may compare with.

Only the metaorders: which market orders were children of one parent is what a trader never
sees in a tape, yet the square-root law is a statement about exactly those parents.
"""

from __future__ import annotations

import polars as pl

from .simulate import DayRun


def metaorder_table(run: DayRun) -> pl.DataFrame:
    """One row per metaorder of the day: start and last-child time (ns since midnight), sign,
    children executed within the day, and their total size in lots."""
    m = run.metaorders
    return pl.DataFrame({"start_ns": m.start_ns, "end_ns": m.end_ns, "sign": m.sign, "children": m.children,
                         "lots": m.lots})
