"""The data contracts: what is accepted, what is rejected, and what the user is told."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from dvol_pipeline.contracts.tables import RAW_TABLES, spec
from dvol_pipeline.contracts.validate import find_gaps, validate
from dvol_pipeline_tests.toy_market import toy_table

DAY = date(2024, 3, 1)


def _one_row_changed(frame: pl.DataFrame, row: int, **values) -> pl.DataFrame:
    idx = pl.int_range(pl.len()) == row
    return frame.with_columns(
        **{c: pl.when(idx).then(pl.lit(v, frame.schema[c])).otherwise(pl.col(c)) for c, v in values.items()}
    )


@pytest.mark.parametrize("table", sorted(RAW_TABLES))
def test_valid_rows_pass_and_come_back_sorted(table):
    frame = toy_table(table, DAY, date(2024, 3, 3), ["ETH", "BTC"]).reverse()
    report = validate(spec(table), frame)
    assert report.passed, report.message()
    assert report.valid.height == frame.height
    assert report.valid.equals(report.valid.sort(spec(table).sort_by))
    assert report.valid.schema == spec(table).schema


@pytest.mark.parametrize(
    "table,change,reason",
    [
        ("raw_option_chain", dict(bid=0.5, ask=0.1), "bid must be <= ask"),
        ("raw_option_chain", dict(bid=-0.0001), "bid: bid must be >= 0"),
        ("raw_option_chain", dict(ask=0.0), "ask: ask must be > 0"),
        ("raw_option_chain", dict(mark_iv=900.0), "mark_iv: IV must be within"),
        ("raw_option_chain", dict(option_type="X"), "option_type must be C or P"),
        ("raw_dvol", dict(high=10.0), "high must be >= open and close"),
        ("raw_dvol", dict(low=99.0), "low must be <= open and close"),
        ("raw_ohlcv", dict(close=-5.0), "close: price must be > 0"),
        ("raw_ohlcv", dict(open=None), "open: not_nullable"),
        ("raw_funding", dict(rate=1.5), "a fraction, not percent"),
        ("raw_onchain", dict(tx_count=-1), "tx_count: must be >= 0"),
        ("raw_options_summary", dict(avg_iv=0.0), "avg_iv: IV must be within"),
    ],
)
def test_a_bad_row_is_rejected_alone_with_its_reason(table, change, reason):
    frame = toy_table(table, DAY, date(2024, 3, 2), ["BTC"])
    bad = _one_row_changed(frame, 1, **change)
    report = validate(spec(table), bad)
    assert not report.passed
    assert report.rejected.height == 1
    assert reason in report.rejected["reason"][0]
    assert report.valid.height == frame.height - 1
    # the rejected row keeps its original values
    for col, value in change.items():
        got = report.rejected[col][0]
        assert (got is None) if value is None else (got == str(value))
    assert reason in report.message()


@pytest.mark.parametrize("bid", [None, 0.0])
def test_a_missing_or_zero_bid_is_a_legitimate_quote(bid):
    """Far out-of-the-money options often have nobody bidding: Deribit shows no bid or a zero
    bid. The row is kept (the smile filter, not the contract, leaves it out of fits)."""
    frame = toy_table("raw_option_chain", DAY, date(2024, 3, 2), ["BTC"])
    report = validate(spec("raw_option_chain"), _one_row_changed(frame, 1, bid=bid))
    assert report.passed, report.message()
    assert report.valid.height == frame.height


def test_rare_crossed_quotes_are_quarantined_but_tolerated_and_many_fail():
    """A crossed quote is a venue glitch: quarantined always, fatal only when frequent."""
    frame = toy_table("raw_option_chain", DAY, date(2024, 3, 2), ["BTC"])
    big = pl.concat([  # 12,000 distinct instruments
        frame.with_columns(pl.col("strike") + 1_000 * i, pl.col("instrument_name") + f"-{i}") for i in range(1_000)
    ])
    crossed = pl.int_range(pl.len()) < 3
    rare = big.with_columns(bid=pl.when(crossed).then(pl.col("ask") + 0.001).otherwise(pl.col("bid")))
    report = validate(spec("raw_option_chain"), rare)
    assert report.passed and report.tolerated and report.rejected.height == 3
    assert report.valid.height == big.height - 3 and "tolerated venue glitches" in report.message()
    many = big.with_columns(bid=pl.when(pl.int_range(pl.len()) < 30).then(pl.col("ask") + 0.001).otherwise(pl.col("bid")))
    report = validate(spec("raw_option_chain"), many)
    assert not report.passed and report.rejected.height == 30
    # an untolerated fault next to a rare crossed quote still fails
    mixed = rare.with_columns(mark_iv=pl.when(pl.int_range(pl.len()) == 5).then(900.0).otherwise(pl.col("mark_iv")))
    assert not validate(spec("raw_option_chain"), mixed).passed


def test_exact_duplicates_keep_the_first_and_quarantine_the_copy():
    frame = toy_table("raw_dvol", DAY, date(2024, 3, 4), ["BTC"])
    report = validate(spec("raw_dvol"), pl.concat([frame, frame.slice(2, 1)]))
    assert report.valid.height == frame.height
    assert report.rejected.height == 1
    assert "exact duplicate" in report.rejected["reason"][0]


def test_conflicting_duplicates_are_all_quarantined():
    frame = toy_table("raw_dvol", DAY, date(2024, 3, 4), ["BTC"])
    twin = frame.slice(2, 1).with_columns(pl.col("close") + 1)
    report = validate(spec("raw_dvol"), pl.concat([frame, twin]))
    assert report.valid.height == frame.height - 1
    assert report.rejected.height == 2
    assert report.rejected["reason"].str.contains("conflicting values").all()


def test_naive_timestamps_reject_the_whole_batch():
    frame = toy_table("raw_funding", DAY, DAY, ["BTC"])
    naive = frame.with_columns(pl.col("ts").dt.replace_time_zone(None))
    report = validate(spec("raw_funding"), naive)
    assert report.valid.is_empty() and report.rejected.height == frame.height
    assert "timezone-naive" in report.message()


def test_non_utc_timestamps_are_refused_not_guessed():
    frame = toy_table("raw_dvol", DAY, DAY, ["BTC"])
    report = validate(spec("raw_dvol"), frame.with_columns(pl.col("ts").dt.convert_time_zone("Asia/Tokyo")))
    assert not report.passed and "Asia/Tokyo" in report.message()


def test_text_timestamps_need_an_explicit_offset_row_by_row():
    frame = toy_table("raw_dvol", DAY, date(2024, 3, 3), ["BTC"])
    text = frame.with_columns(pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S%z"))
    text = _one_row_changed(text, 1, ts="2024-03-02T00:00:00")  # naive: no offset
    text = _one_row_changed(text, 2, ts="2024-03-03T09:00:00+0900")  # Tokyo midnight UTC
    report = validate(spec("raw_dvol"), text)
    assert report.rejected.height == 1
    assert "naive timestamps are rejected" in report.rejected["reason"][0]
    assert report.valid["ts"].dt.hour().to_list() == [0, 0]


def test_missing_and_extra_columns_are_named():
    frame = toy_table("raw_onchain", DAY, DAY, ["BTC"])
    report = validate(spec("raw_onchain"), frame.drop("fees").with_columns(pl.lit(1).alias("junk")))
    assert not report.passed and report.valid.is_empty()
    assert "['fees']" in report.message() and "['junk']" in report.message()


def test_unreadable_numbers_are_reported_once():
    frame = toy_table("raw_dvol", DAY, date(2024, 3, 2), ["BTC"]).with_columns(pl.col("close").cast(pl.Utf8))
    frame = _one_row_changed(frame, 0, close="n/a")
    report = validate(spec("raw_dvol"), frame)
    assert report.rejected.height == 1
    assert report.rejected["reason"][0] == "close: cannot be read as Float64"


def test_gaps_longer_than_the_threshold_are_found():
    frame = toy_table("raw_dvol", DAY, date(2024, 3, 10), ["BTC", "ETH"])
    holed = frame.filter(~((pl.col("asset") == "ETH") & pl.col("ts").dt.day().is_between(4, 6)))
    gaps = find_gaps(spec("raw_dvol"), validate(spec("raw_dvol"), holed).valid)
    assert gaps.height == 1
    assert gaps["asset"][0] == "ETH" and gaps["gap_hours"][0] == 96.0


def test_an_absurd_outlier_is_rejected_but_a_real_move_is_not():
    frame = toy_table("raw_ohlcv", DAY, DAY, ["BTC"])
    row = frame.row(10, named=True)
    spiked = _one_row_changed(frame, 10, high=row["high"] * 1000, close=row["close"] * 1000)
    report = validate(spec("raw_ohlcv"), spiked)
    assert report.rejected.height == 1
    assert "absurd outlier" in report.rejected["reason"][0]
    # a 40 % crash within the hour is a market move, not a bad print
    moved = _one_row_changed(frame, 10, low=row["low"] * 0.6, close=row["close"] * 0.6)
    assert validate(spec("raw_ohlcv"), moved).passed
