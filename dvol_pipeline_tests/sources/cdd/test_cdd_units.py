"""Funding and DVOL units decided from evidence that holds in any month.

Small hand-made files in the CryptoDataDownload layout; every expected value is the number as
written, scaled by hand (percent / 100, DVOL fraction x 100).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from dvol_pipeline.contracts.tables import spec
from dvol_pipeline.lake.parquet import read_table
from dvol_pipeline.pipeline.ingest import ingest_table
from dvol_pipeline.sources.cdd.reader import read_cdd_file
from dvol_pipeline.sources.cdd.source import CddSource

URL = "https://www.CryptoDataDownload.com"
NOW = datetime(2024, 12, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _funding(path: Path, start: datetime, rates: list[str], header: str = "Unix,Date,Symbol,Funding Rate") -> Path:
    """A funding file as CDD writes it: URL line, header, events every 8 h newest first, rates as written."""
    lines = [URL, header]
    for i in reversed(range(len(rates))):
        t = start + i * 8 * HOUR
        lines.append(f"{int(t.timestamp() * 1000)},{t:%Y-%m-%d %H:%M:%S},BTCUSDT,{rates[i]}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _fetch(landing: Path, table: str, coins=("BTC",)):
    return CddSource(landing, now=NOW).fetch(table, date(2024, 1, 1), date(2024, 11, 30), list(coins))


# A calm month quoted in percent: every rate is below 0.003 (0.003 %), so its median alone reads
# as a plausible fraction; stored as fractions these would be 100x too large.
CALM_PERCENT = ["0.0012", "0.0021", "0.0009", "0.0017", "0.0025", "0.0014", "0.0008", "0.0019", "0.0023",
                "0.0011", "0.0016", "0.0020"]
# the same venue's file for a busy month: median 0.0300 per 8 h cannot be a fraction (30 % per
# 8 h), so this one is percent on its own
BUSY_PERCENT = ["0.0100", "0.0300", "0.0450", "0.0250", "0.0520", "0.0380", "0.0100", "0.0610", "0.0290",
                "0.0330", "0.0150", "0.0470"]


def test_a_calm_percent_month_is_read_as_percent_from_the_coins_other_file(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    calm = _funding(landing / "Binance_BTCUSDT_funding_2024-06.csv", datetime(2024, 6, 1, tzinfo=UTC), CALM_PERCENT)
    _funding(landing / "Binance_BTCUSDT_funding_2024-03.csv", datetime(2024, 3, 1, tzinfo=UTC), BUSY_PERCENT)
    batch = _fetch(landing, "raw_funding")
    june = batch.frame.filter(pl.col("ts").dt.month() == 6).sort("ts")
    # 11 events (the newest is the open one): 0.0012 % = 0.000012, 0.0021 % = 0.000021, ...
    assert june["rate"].to_list() == pytest.approx([float(r) / 100 for r in CALM_PERCENT[:11]], rel=1e-12)
    march = batch.frame.filter(pl.col("ts").dt.month() == 3).sort("ts")
    assert march["rate"].to_list() == pytest.approx([float(r) / 100 for r in BUSY_PERCENT[:11]], rel=1e-12)
    # the run summary says which evidence decided each file
    units = batch.notes["units"]
    assert units["Binance_BTCUSDT_funding_2024-03.csv"].startswith("percent (median |rate| 0.0300")
    assert units[calm.name].startswith("percent (") and "Binance_BTCUSDT_funding_2024-03.csv" in units[calm.name]


def test_overlapping_files_of_the_coin_decide_by_their_ratio_on_shared_events(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    # the later download starts on the calm file's 9th event and runs into a busy week; they share
    # the 9th to 11th events (the calm file's 12th is its open one), with the same numbers, so the
    # calm file is in the later file's units: percent by its median (0.0250)
    later = CALM_PERCENT[8:] + BUSY_PERCENT
    _funding(landing / "Binance_BTCUSDT_funding_a.csv", datetime(2024, 6, 1, tzinfo=UTC), CALM_PERCENT)
    _funding(landing / "Binance_BTCUSDT_funding_b.csv", datetime(2024, 6, 1, tzinfo=UTC) + 8 * 8 * HOUR, later,
             header="Unix,Date,Symbol,funding_rate")  # another writer's header: no sibling by layout
    batch = _fetch(landing, "raw_funding")
    first = batch.frame.sort("ts")[:8]
    assert first["rate"].to_list() == pytest.approx([float(r) / 100 for r in CALM_PERCENT[:8]], rel=1e-12)
    why = batch.notes["units"]["Binance_BTCUSDT_funding_a.csv"]
    assert why.startswith("percent (its numbers on 3 shared events are 1x those of Binance_BTCUSDT_funding_b.csv")


def test_the_venues_interest_rate_baseline_says_percent(tmp_path):
    # Binance-style funding sits at the 0.01 % per 8 h interest rate whenever the premium is
    # small; written in percent that is 0.0100. 5 of 12 events here, the others below 0.003.
    rates = ["0.0100", "0.0021", "0.0100", "0.0009", "0.0017", "0.0100", "0.0008", "0.0019", "0.0100",
             "0.0011", "0.0100", "0.0020"]
    parsed = read_cdd_file(_funding(tmp_path / "Binance_BTCUSDT_funding.csv", datetime(2024, 6, 1, tzinfo=UTC),
                                    rates), now=NOW)
    assert parsed.rows.sort("ts")["rate"].to_list() == pytest.approx([float(r) / 100 for r in rates[:11]])
    assert parsed.notes["funding_units"].startswith("percent (") and "0.01 % per 8 h" in parsed.notes["funding_units"]


def test_a_lone_calm_file_says_its_units_were_a_guess(tmp_path):
    path = _funding(tmp_path / "Binance_BTCUSDT_funding.csv", datetime(2024, 6, 1, tzinfo=UTC), CALM_PERCENT)
    note = read_cdd_file(path, now=NOW).notes["funding_units"]
    assert note.startswith("fraction (median |rate| 0.0016") and "--funding-units" in note


def _dvol(path: Path, rows: list[tuple[str, str, str, str, str]]) -> Path:
    """date, open, high, low, close newest first, as CDD writes DVOL files."""
    lines = ["date,symbol,open,high,low,close"] + [f"{d},BTC,{o},{h},{lo},{c}" for d, o, h, lo, c in reversed(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


# DVOL written as fractions (0.55 for 55 %), with two spike days above 1.0 (100 %)
DVOL_FRACTIONS = [
    ("2024-03-01", "0.55", "0.58", "0.54", "0.57"),
    ("2024-03-02", "0.57", "0.74", "0.56", "0.72"),
    ("2024-03-03", "0.72", "1.18", "0.70", "1.12"),
    ("2024-03-04", "1.12", "1.25", "1.02", "1.05"),
    ("2024-03-05", "1.05", "1.06", "0.80", "0.82"),
    ("2024-03-06", "0.82", "0.83", "0.61", "0.63"),
    ("2024-03-07", "0.63", "0.66", "0.58", "0.60"),
    ("2024-03-08", "0.60", "0.61", "0.55", "0.56"),
]


def test_a_dvol_file_in_fractions_with_spikes_above_one_is_stored_in_vol_points(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    _dvol(landing / "BTC_DVOL_d.csv", DVOL_FRACTIONS)
    report = ingest_table(spec("raw_dvol"), CddSource(landing, now=NOW), tmp_path / "lake", date(2024, 3, 1),
                          date(2024, 3, 31), ["BTC"])
    assert report.contract.passed  # nothing quarantined: 0.55 is not read as 0.55 vol points
    stored = read_table(tmp_path / "lake", "raw_dvol").sort("ts")
    # 7 closed days (the 8th is the open bar): 0.57 -> 57, ..., 1.12 -> 112, 1.05 -> 105
    assert stored["close"].to_list() == pytest.approx([57.0, 72.0, 112.0, 105.0, 82.0, 63.0, 60.0])
    assert stored["high"].to_list() == pytest.approx([58.0, 74.0, 118.0, 125.0, 106.0, 83.0, 66.0])
    # the median of the 28 OHLC values of the 7 closed days: the 14th and 15th of them sorted,
    # 0.72 and 0.72 (open and close of 2024-03-02, 03-03): 0.72 < 5, fractions
    why = report.notes["units"]["BTC_DVOL_d.csv"]
    assert why.startswith("fraction x100 (median 0.72 < 5") and "vol points" in why


def test_a_dvol_file_in_vol_points_stays_as_written(tmp_path):
    rows = [(d, *(f"{100 * float(x):.2f}" for x in v)) for d, *v in DVOL_FRACTIONS]
    parsed = read_cdd_file(_dvol(tmp_path / "BTC_DVOL_d.csv", rows), now=NOW)
    assert parsed.rows.sort("ts")["close"].to_list() == pytest.approx([57.0, 72.0, 112.0, 105.0, 82.0, 63.0, 60.0])
    assert parsed.notes["dvol_units"].startswith("vol points (median 72 >= 5")

