"""The merge rule: a re-run keeps what the lake holds, new valid rows win, quarantined ones never erase."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dvol_pipeline.contracts.merge import MergeCounts, MergeSchemaError, merge_rows
from dvol_pipeline.contracts.tables import spec

SPEC = spec("raw_dvol")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def bars(hours: list[int], level: float = 50.0, asset: str = "BTC") -> pl.DataFrame:
    return pl.DataFrame(
        {"ts": [T0 + timedelta(hours=h) for h in hours], "asset": [asset] * len(hours),
         "open": [level + h for h in hours], "high": [level + h + 2 for h in hours],
         "low": [level + h - 1 for h in hours], "close": [level + h + 1 for h in hours]},
        schema=SPEC.schema,
    )


def test_rows_only_the_lake_holds_are_kept_and_new_rows_are_added():
    merged, counts = merge_rows(SPEC, bars([0, 1, 2]), bars([2, 3]))
    assert merged["ts"].to_list() == [T0 + timedelta(hours=h) for h in range(4)]
    assert counts == MergeCounts(kept=2, replaced=0, unchanged=1, added=1)


def test_a_new_valid_row_replaces_the_old_one():
    merged, counts = merge_rows(SPEC, bars([0, 1]), bars([1], level=60.0))
    assert merged.filter(pl.col("ts") == T0 + timedelta(hours=1))["open"][0] == 61.0
    assert counts.replaced == 1 and counts.kept == 1 and counts.added == 0


def test_the_old_valid_row_stays_where_the_new_one_was_quarantined():
    old = bars([0, 1, 2])
    rejected = pl.DataFrame({"file": ["f.csv"], "line": ["4"], "ts": [str(T0 + timedelta(hours=1))],
                             "asset": ["BTC"], "reason": ["open: not_nullable"]})
    merged, counts = merge_rows(SPEC, old, bars([0, 2]), rejected)
    assert merged.equals(old)
    assert counts == MergeCounts(kept=1, unchanged=2, kept_over_rejected=1)


def test_an_empty_lake_partition_takes_the_new_rows_sorted():
    merged, counts = merge_rows(SPEC, SPEC.empty(), bars([3, 1, 2]))
    assert merged["ts"].is_sorted() and counts == MergeCounts(added=3)


def test_a_partition_without_the_tables_columns_asks_for_a_rebuild():
    with pytest.raises(MergeSchemaError, match="rebuild"):
        merge_rows(SPEC, bars([0]).drop("close"), bars([1]))


def test_counts_add_up():
    assert (MergeCounts(1, 2, 3, 4, 0) + MergeCounts(1, 1, 1, 1, 1)).as_dict() == dict(
        kept=2, replaced=3, unchanged=4, added=5, kept_over_rejected=1)


@settings(max_examples=60, deadline=None)
@given(old=st.sets(st.integers(0, 30)), new=st.sets(st.integers(0, 30)), changed=st.sets(st.integers(0, 30)))
def test_no_key_the_lake_held_is_ever_lost_and_new_rows_always_win(old, new, changed):
    old_f = bars(sorted(old))
    new_f = pl.concat([bars([h], level=70.0 if h in changed else 50.0) for h in sorted(new)]) if new else SPEC.empty()
    merged, counts = merge_rows(SPEC, old_f, new_f)
    assert set(merged["ts"].to_list()) == {T0 + timedelta(hours=h) for h in old | new}
    assert merged["ts"].is_unique().all()
    for h in new:  # where both hold the key, the new row is what is stored
        row = merged.filter(pl.col("ts") == T0 + timedelta(hours=h))
        assert row["open"][0] == (70.0 if h in changed else 50.0) + h
    assert counts.kept == len(old - new) and counts.added == len(new - old)
    assert counts.replaced == len(old & new & changed) and counts.unchanged == len((old & new) - changed)
    assert merged.height == counts.kept + counts.replaced + counts.unchanged + counts.added
