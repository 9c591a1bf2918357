"""Merge a run's valid rows into what a lake partition already holds: a re-run never loses rows.

Pure: frames in, frames and counts out; the caller reads and writes the partitions. The rule,
row by row on the table's key:

- a key only the lake holds is **kept** (a landing folder that was cleared, or a newer download
  that no longer reaches back that far, takes nothing away);
- a key in both, with other values, is **replaced**: the new valid row wins;
- a key in both with the same values is **unchanged**;
- a key only the new batch has is **added**;
- a key whose new row was quarantined keeps the lake's valid row (counted in `kept_over_rejected`,
  a subset of `kept`): a re-download with one bad bar does not erase the good bar already stored.

An explicit rebuild (the caller not merging) is the only way to drop rows the lake holds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import polars as pl

from dvol_pipeline.contracts.tables import TableSpec


@dataclass(frozen=True)
class MergeCounts:
    kept: int = 0
    replaced: int = 0
    unchanged: int = 0
    added: int = 0
    kept_over_rejected: int = 0

    def __add__(self, other: MergeCounts) -> MergeCounts:
        return MergeCounts(*(a + b for a, b in zip(asdict(self).values(), asdict(other).values(), strict=True)))

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class MergeSchemaError(ValueError):
    """The lake's partition does not have the table's columns; only a rebuild can replace it."""


def _rejected_keys(spec: TableSpec, rejected: pl.DataFrame | None) -> pl.DataFrame | None:
    """(coin, time) of quarantined rows (quarantine holds text), typed like the table; unreadable ones drop out.
    Only coin and time: a source's rejects may name no more of the key (a CDD line that did not parse)."""
    key = ["asset", spec.time_col]
    if rejected is None or rejected.is_empty() or not set(key) <= set(rejected.columns):
        return None
    exprs = []
    for name in key:
        dtype = spec.schema[name]
        col = pl.col(name).cast(pl.Utf8)
        if isinstance(dtype, pl.Datetime):
            exprs.append(col.str.to_datetime(strict=False, time_zone="UTC", time_unit="us").alias(name))
        elif dtype == pl.Date:
            exprs.append(col.str.slice(0, 10).str.to_date(strict=False).alias(name))
        else:
            exprs.append(col.cast(dtype, strict=False).alias(name))
    return rejected.select(exprs).drop_nulls().unique()


def merge_rows(
    spec: TableSpec, existing: pl.DataFrame, new: pl.DataFrame, rejected: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, MergeCounts]:
    """`existing` (the lake's rows) merged with `new` (this run's valid rows) by the rule above.

    `rejected`: this run's quarantined rows (any columns, as text); only their coin and time are used,
    to count the lake rows that stay because their new version was rejected. Output: the table's columns,
    in the table's sort order.
    """
    key = list(spec.key)
    missing = [c for c in spec.names if c not in existing.columns]
    if missing:
        raise MergeSchemaError(
            f"{spec.name}: the lake's partition lacks column(s) {missing}; rebuild the range to replace it"
        )
    existing = existing.select(spec.names).cast(spec.schema)
    new = new.select(spec.names).cast(spec.schema)
    if existing.is_empty():
        return new.sort(spec.sort_by, maintain_order=True), MergeCounts(added=new.height)
    old_only = existing.join(new, on=key, how="anti", nulls_equal=True)
    both = existing.join(new.select(key), on=key, how="semi", nulls_equal=True)
    same = both.join(new, on=spec.names, how="semi", nulls_equal=True).height
    added = new.join(existing, on=key, how="anti", nulls_equal=True).height
    over = 0
    if (keys := _rejected_keys(spec, rejected)) is not None and old_only.height:
        over = old_only.join(keys, on=keys.columns, how="semi", nulls_equal=True).height
    merged = pl.concat([old_only, new], how="vertical").sort(spec.sort_by, maintain_order=True)
    return merged, MergeCounts(kept=old_only.height, replaced=both.height - same, unchanged=same, added=added,
                               kept_over_rejected=over)
