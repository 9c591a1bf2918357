"""Leakage as a checked contract: prefix invariance of the feature table.

For a day D, cut-off(D) = D+1 00:00 UTC. A row (D, asset) is leak-free iff it equals the
row built from the raw tables truncated to observations stamped before cut-off(D):
`ts < cut-off(D)` for timestamped tables (bars are stamped with their open time), and for
daily tables `date + publication lag <= D` (raw_onchain is published the day after its
date, so its rows count as stamped at date + 1; raw_options_summary aggregates D's
end-of-day chain, lag 0). Any feature of the full build that differs from the truncated
build (beyond `rtol`, or null in one and not the other) read something after the cut-off.
Labels are excluded: they look ahead by definition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta, timezone

import polars as pl

from dvol_pipeline.contracts.tables import RAW_TABLES
from dvol_pipeline.quant.learn.leakage import VIOLATION_SCHEMA, LeakageReport

from .build import KEY, build_features
from .registry import LABELS

PUBLICATION_LAG_DAYS: dict[str, int] = {"raw_onchain": 1}
def cutoff(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=timezone.utc)


def truncate_tables(tables: Mapping[str, pl.DataFrame | None], day: date) -> dict[str, pl.DataFrame | None]:
    """Each table cut to the observations stamped before cut-off(day)."""
    out: dict[str, pl.DataFrame | None] = {}
    for name, frame in tables.items():
        if frame is None:
            out[name] = None
            continue
        time_col = RAW_TABLES[name].time_col if name in RAW_TABLES else ("ts" if "ts" in frame.columns else "date")
        if time_col == "ts":
            out[name] = frame.filter(pl.col("ts") < cutoff(day))
        else:
            last = day - timedelta(days=PUBLICATION_LAG_DAYS.get(name, 0))
            out[name] = frame.filter(pl.col("date") <= last)
    return out


def default_check_days(days: Sequence[date], n: int = 6) -> list[date]:
    """Days worth checking: the last, the first, a month's first and last day, evenly spread others."""
    ds = sorted(set(days))
    if not ds:
        return []
    picks = {ds[-1], ds[0]}
    firsts = [d for d in ds if d.day == 1]
    if firsts:
        mid = firsts[len(firsts) // 2]
        picks |= {mid, mid - timedelta(days=1)} & set(ds)
    k = max(n - len(picks), 0)
    picks |= {ds[round(i * (len(ds) - 1) / (k + 1))] for i in range(1, k + 1)}
    return sorted(picks)


def _long(frame: pl.DataFrame, features: list[str]) -> pl.DataFrame:
    return frame.select(
        *KEY, *[pl.col(c).cast(pl.Float64, strict=False) for c in features]
    ).unpivot(index=KEY, variable_name="feature", value_name="value")


def check_no_lookahead(
    tables: Mapping[str, pl.DataFrame | None],
    days: Sequence[date],
    *,
    rtol: float = 1e-9,
    atol: float = 1e-12,
    full: pl.DataFrame | None = None,
    **build_kwargs,
) -> LeakageReport:
    """Rebuild on each day's prefix and compare row (D, asset) with the full build (`full`: the
    caller's own `build_features(tables, **build_kwargs).frame`, when it has it: not rebuilt)."""
    if full is None:
        full = build_features(tables, **build_kwargs).frame
    features = [c for c in full.columns if c not in KEY and c not in LABELS.values()]
    checked, found, n = [], [], 0
    for day in sorted(set(days)):
        want = full.filter(pl.col("date") == day)
        if want.is_empty():
            continue
        checked.append(day)
        got = build_features(truncate_tables(tables, day), **build_kwargs).frame.filter(pl.col("date") == day)
        for c in features:  # a group missing in the prefix build reads as nulls
            if c not in got.columns:
                got = got.with_columns(pl.lit(None, pl.Float64).alias(c))
        pair = _long(want, features).join(
            _long(got.select(*KEY, *features), features), on=[*KEY, "feature"], how="left", suffix="_trunc"
        )
        a, b = pl.col("value"), pl.col("value_trunc")
        same = (
            (a.is_null() & b.is_null())
            | (a.is_nan() & b.is_nan())
            | ((a - b).abs() <= atol + rtol * pl.max_horizontal(a.abs(), b.abs()))
        ).fill_null(False)
        bad = pair.filter(~same)
        n += pair.height
        found.append(bad.select("feature", "date", "asset", full_value=a, truncated_value=b))
    violations = (pl.concat(found) if found else pl.DataFrame(schema=VIOLATION_SCHEMA)).sort("feature", "date", "asset")
    return LeakageReport(violations.is_empty(), violations, checked, n)
