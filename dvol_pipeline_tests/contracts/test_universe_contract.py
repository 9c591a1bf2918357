"""raw_universe_daily's contract: row rules, unique keys, and the > 500 % daily-move rule."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from dvol_pipeline.contracts.tables import RAW_UNIVERSE_DAILY
from dvol_pipeline.contracts.universe import validate_universe


def _bars(symbol: str, closes: list[float], start: date = date(2024, 1, 1)) -> pl.DataFrame:
    return pl.DataFrame({
        "date": [start + timedelta(days=i) for i in range(len(closes))], "symbol": symbol, "name": None,
        "open": closes, "high": [c * 1.01 for c in closes], "low": [c * 0.99 for c in closes], "close": closes,
        "volume": 1.0, "volume_quote": 1.0, "market_cap": None, "source": "cmc",
    }).select([pl.col(c).cast(t) for c, t in RAW_UNIVERSE_DAILY.schema.items()])


def test_row_rules_and_duplicates_are_quarantined_with_a_reason():
    good = _bars("SOL", [10.0, 11.0, 10.5])
    bad_price = _bars("ADA", [-1.0], date(2024, 2, 1))
    bad_ohlc = _bars("XRP", [2.0], date(2024, 2, 1)).with_columns(pl.lit(1.0).alias("high"))
    report = validate_universe(pl.concat([good, bad_price, bad_ohlc, good.head(1).with_columns(pl.lit(99.0).alias("close"),
                                                                                                pl.lit(99.0).alias("high"))]))
    reasons = dict(zip(report.rejected["symbol"], report.rejected["reason"]))
    assert "price must be > 0" in reasons["ADA"] and "high must be >= open and close" in reasons["XRP"]
    assert report.rejected.filter(pl.col("symbol") == "SOL")["reason"].str.contains("duplicate key").all()
    assert report.valid.filter(pl.col("symbol") == "SOL").height == 2  # both SOL 2024-01-01 rows conflict: both go


def test_a_move_over_500_percent_is_quarantined_unless_a_known_event():
    bars = _bars("PUMP", [1.0, 1.1, 8.0, 8.2, 8.1])  # 1.1 -> 8.0 is +627 %
    report = validate_universe(bars)
    assert report.rejected["date"].to_list() == ["2024-01-03"]
    assert "moved 7.27x" in report.rejected["reason"][0]
    assert validate_universe(bars, [("PUMP", date(2024, 1, 3))]).passed
    assert validate_universe(_bars("OK", [1.0, 5.9, 1.0])).passed  # +490 % then back: under the limit


def test_a_one_day_spike_flags_the_spike_not_the_day_it_returns():
    report = validate_universe(_bars("BAD", [2.0, 2.1, 90.0, 2.2, 2.3]))
    assert report.rejected["date"].to_list() == ["2024-01-03"]
    assert report.valid.height == 4
