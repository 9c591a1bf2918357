"""The DVOL features' leakage contract (prefix invariance), applied to the universe features.

Row (D, coin) is leak-free iff it equals the row built from the raw bars dated D or
earlier. Targets (`y_*`) look ahead by definition and are excluded; so are interpolated
days (`filled`), which read the bar after their hole and which the models never use.
The full build's GARCH memo is handed to the prefix builds: a fit is keyed by the exact
returns it used, so a prefix that fits other returns still refits (and would differ).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

import polars as pl

from dvol_pipeline.quant.learn.leakage import VIOLATION_SCHEMA, LeakageReport
from dvol_pipeline.quant.universe.features import build_universe_features, feature_columns

Builder = Callable[..., tuple[pl.DataFrame, pl.DataFrame]]


def check_universe_no_lookahead(raw: pl.DataFrame, symbols: pl.DataFrame, days: Sequence[date], *,
                                build: Builder = build_universe_features, rtol: float = 1e-9) -> LeakageReport:
    full, memo = build(raw, symbols)
    features = feature_columns(full)
    found, checked, n = [], [], 0
    for day in sorted(set(days)):
        want = full.filter((pl.col("date") == day) & ~pl.col("filled"))
        if want.is_empty():
            continue
        checked.append(day)
        got, _ = build(raw.filter(pl.col("date") <= day), symbols, memo)
        got = got.filter(pl.col("date") == day)
        long = lambda f: f.select("date", "symbol", *[pl.col(c).cast(pl.Float64) for c in features]).unpivot(  # noqa: E731
            index=["date", "symbol"], variable_name="feature", value_name="value")
        pair = long(want).join(long(got), on=["date", "symbol", "feature"], how="left", suffix="_trunc")
        a, b = pl.col("value"), pl.col("value_trunc")
        same = ((a.is_null() & b.is_null()) | ((a - b).abs() <= 1e-12 + rtol * pl.max_horizontal(a.abs(), b.abs()))
                ).fill_null(False)
        n += pair.height
        found.append(pair.filter(~same).select("feature", "date", pl.col("symbol").alias("asset"),
                                               full_value=a, truncated_value=b))
    violations = (pl.concat(found) if found else pl.DataFrame(schema=VIOLATION_SCHEMA)).sort("feature", "date", "asset")
    return LeakageReport(violations.is_empty(), violations, checked, n)
