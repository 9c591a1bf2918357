"""CryptoDataDownload files of every era land in the raw tables and pass the contracts."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from dvol_pipeline.contracts.tables import spec
from dvol_pipeline.contracts.validate import validate
from dvol_pipeline.pipeline.ingest import ingest_table
from dvol_pipeline.sources.cdd.layouts import CddLayoutError
from dvol_pipeline.sources.cdd.reader import read_cdd_file
from dvol_pipeline.sources.cdd.source import CddSource
from dvol_pipeline_tests.cdd_files import (
    T0, URL, URL_UTC, price_rows, write_dvol_file, write_funding_file, write_price_file,
)

DAY, HOUR = timedelta(days=1), timedelta(hours=1)


@pytest.mark.parametrize("header", ["modern", "lower", "unix_timestamp", "no_unix"])
@pytest.mark.parametrize("url", [URL, URL_UTC, None])
@pytest.mark.parametrize("symbol", ["{coin}USDT", "{coin}/USDT"])
def test_daily_price_layouts_of_every_era(tmp_path, header, url, symbol):
    rows = price_rows("ETH", T0, 10, DAY)
    path = write_price_file(tmp_path / "Binance_ETHUSDT_d.csv", rows, header=header, url=url, symbol=symbol,
                            date_style="date")
    parsed = read_cdd_file(path)
    assert parsed.rejected.is_empty()
    assert parsed.partial_excluded == 1  # the newest bar is treated as still open
    frame = parsed.rows.drop("__line")
    assert validate(spec("raw_ohlcv"), frame).passed
    assert frame["ts"].to_list() == [T0 + i * DAY for i in range(9)]
    assert frame["asset"].unique().to_list() == ["ETH"] and frame["instrument"][0] == "ETHUSDT"
    assert frame["interval"][0] == "1d" and frame["kind"][0] == "spot" and frame["venue"][0] == "binance"
    assert frame["volume"].to_list() == [r["v"] for r in rows[:9]]
    expected_counts = [r["n"] for r in rows[:9]] if header in ("modern", "lower") else [None] * 9
    assert frame["trade_count"].to_list() == expected_counts


@pytest.mark.parametrize("date_style", ["datetime", "ampm"])
@pytest.mark.parametrize("crlf", [False, True])
def test_hourly_files_with_am_pm_hours_and_crlf(tmp_path, date_style, crlf):
    rows = price_rows("BTC", T0, 30, HOUR, base=40_000)
    path = write_price_file(tmp_path / "Binance_BTCUSDT_1h.csv", rows, date_style=date_style, crlf=crlf)
    frame = read_cdd_file(path).rows
    assert frame["interval"][0] == "1h"
    assert frame["ts"].dt.hour().to_list()[:14] == list(range(14))  # 12-AM is 0, 12-PM is 12


def test_milliseconds_and_seconds_mixed_in_one_file(tmp_path):
    rows = price_rows("BTC", T0, 6, DAY)
    ms = write_price_file(tmp_path / "a.csv", rows, unix="ms").read_text().splitlines()
    s = write_price_file(tmp_path / "b.csv", rows, unix="s").read_text().splitlines()
    mixed = [ms[0], ms[1], ms[2], s[3], ms[4], s[5], ms[6], s[7]]
    path = tmp_path / "Binance_BTCUSDT_d.csv"
    path.write_text("\n".join(mixed) + "\n")
    (tmp_path / "a.csv").unlink()
    (tmp_path / "b.csv").unlink()
    parsed = read_cdd_file(path)
    assert parsed.rejected.is_empty() and parsed.rows["ts"].to_list() == [T0 + i * DAY for i in range(5)]


def test_perpetual_futures_files_are_told_apart_from_spot(tmp_path):
    rows = price_rows("BTC", T0, 5, HOUR, base=40_000)
    frame = read_cdd_file(write_price_file(tmp_path / "BTCUSDT_Binance_futures_UM_hour.csv", rows)).rows
    assert frame["kind"][0] == "perpetual" and frame["instrument"][0] == "BTCUSDT-PERP"


def test_dvol_files(tmp_path):
    parsed = read_cdd_file(write_dvol_file(tmp_path / "BTC_DVOL_d.csv", "BTC", T0, 20))
    assert parsed.table == "raw_dvol" and parsed.rows.height == 19
    assert validate(spec("raw_dvol"), parsed.rows.drop("__line")).passed
    assert 55.0 <= parsed.rows["open"].min() < 70


@pytest.mark.parametrize(
    "header,step,units,expected_rate,expected_hours",
    [
        ("Unix,Date,Symbol,Funding Rate", 8 * HOUR, "auto", 1e-4, 8),
        ("Unix,Date,Symbol,Funding Rate (%)", 8 * HOUR, "auto", 1e-4, 8),
        ("Unix,Date,Symbol,Funding Rate", DAY, "auto", 1e-4, 24),
        ("Unix,Date,Symbol,Funding Rate", 8 * HOUR, "percent", 1e-6, 8),
    ],
)
def test_funding_units_follow_the_documented_rule(tmp_path, header, step, units, expected_rate, expected_hours):
    path = write_funding_file(tmp_path / "Binance_BTCUSDT_funding.csv", "BTC", T0, 12, step, header=header)
    parsed = read_cdd_file(path, units)
    assert parsed.rows["rate"][0] == pytest.approx(expected_rate)
    assert parsed.rows["interval_hours"][0] == expected_hours
    percent = "%" in header or units == "percent"
    assert parsed.notes["funding_units"].startswith("percent" if percent else "fraction")


def test_percent_values_without_a_percent_header_are_caught_by_magnitude(tmp_path):
    path = tmp_path / "Binance_BTCUSDT_funding.csv"
    write_funding_file(path, "BTC", T0, 12, 8 * HOUR, rate=1e-2)  # 0.01 written meaning 0.01 %
    parsed = read_cdd_file(path)
    assert parsed.rows["rate"][0] == pytest.approx(1e-4)
    assert "median |rate| 0.0" in parsed.notes["funding_units"] and "> 0.003" in parsed.notes["funding_units"]


def test_overlapping_downloads_merge_deterministically(tmp_path):
    full = price_rows("BTC", T0, 15, DAY)
    old, new = full[:10], full[5:]
    new[0] = {**new[0], "c": new[0]["c"] * 1.001}  # a revised bar: the newer download wins
    write_price_file(tmp_path / "Binance_BTCUSDT_d_2024-01-10.csv", old, date_style="date")
    write_price_file(tmp_path / "Binance_BTCUSDT_d_2024-01-15.csv", new, date_style="date")
    batch = CddSource(tmp_path).fetch("raw_ohlcv", date(2024, 1, 1), date(2024, 1, 31), ["BTC"])
    assert batch.frame["ts"].to_list() == [T0 + i * DAY for i in range(14)]
    assert batch.notes["duplicates_resolved"] == 3  # days 6..8 are byte-identical bars (day 9 was partial)
    assert batch.notes["conflicts_resolved_by_newer_file"] == 1
    assert batch.frame.filter(pl.col("ts") == T0 + 5 * DAY)["close"][0] == new[0]["c"]
    assert batch.notes["partial_rows_excluded"] == 2
    again = CddSource(tmp_path).fetch("raw_ohlcv", date(2024, 1, 1), date(2024, 1, 31), ["BTC"])
    assert again.frame.equals(batch.frame)


def test_date_text_that_contradicts_unix_is_quarantined(tmp_path):
    rows = price_rows("BTC", T0, 6, DAY)
    path = write_price_file(tmp_path / "Binance_BTCUSDT_d.csv", rows, date_style="date")
    lines = path.read_text().splitlines()
    lines[4] = lines[4].replace("2024-01-04", "2024-01-03")  # unix says the 4th
    path.write_text("\n".join(lines) + "\n")
    parsed = read_cdd_file(path)
    assert parsed.rejected.height == 1
    assert "date text '2024-01-03' disagrees with unix" in parsed.rejected["reason"][0]
    assert parsed.rejected["line"][0] == "5"


def test_an_unknown_layout_is_refused_naming_the_file_and_the_known_layouts(tmp_path):
    path = tmp_path / "mystery.csv"
    path.write_text("time,price,qty\n1,2,3\n")
    with pytest.raises(CddLayoutError, match=r"mystery.csv: unknown header \['time', 'price', 'qty'\]") as err:
        read_cdd_file(path)
    assert "known CryptoDataDownload layouts" in str(err.value)


def test_tables_cdd_does_not_carry_are_not_provided(tmp_path):
    from dvol_pipeline.sources.base import TableNotProvided

    with pytest.raises(TableNotProvided, match="raw_onchain"):
        CddSource(tmp_path).fetch("raw_onchain", date(2024, 1, 1), date(2024, 1, 2), ["BTC"])


def _digest(folder):
    return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in folder.iterdir()}


def _corrupt(tmp_path, name: str, edit) -> tuple:
    """A landing folder holding one good daily file edited by `edit`, ingested into a lake."""
    landing = tmp_path / "landing"
    landing.mkdir()
    path = write_price_file(landing / "Binance_BTCUSDT_d.csv", price_rows("BTC", T0, 12, DAY), date_style="date")
    edit(path)
    before = _digest(landing)
    report = ingest_table(spec("raw_ohlcv"), CddSource(landing), tmp_path / "lake", date(2024, 1, 1),
                          date(2024, 1, 31), ["BTC"])
    assert _digest(landing) == before, "landing/ must never be modified"
    return report, tmp_path / "lake"


def _replace_line(index: int, new: str | bytes):
    def edit(path):
        lines = path.read_bytes().split(b"\n")
        lines[index] = new if isinstance(new, bytes) else new.encode()
        path.write_bytes(b"\n".join(lines))
    return edit


def _line_of(day: int) -> int:
    """Index of the line for 2024-01-<day> in a 12-day newest-first file with a URL line."""
    return 2 + (12 - day)


BAD_INPUT = {
    "truncated last line": (lambda p: p.write_bytes(p.read_bytes().rstrip(b"\n")[:-12]), "(truncated?)"),
    "too many fields": (_replace_line(_line_of(5), "1704412800000,2024-01-05,BTCUSDT,1,2,0.5,1,3,4,5,EXTRA"),
                        "has 11 fields; the header has 10"),
    "non-UTF-8 bytes": (_replace_line(_line_of(6), b"1704499200000,2024-01-06,BTC\xff\xfeUSDT,1,2,0.5,1,3,4,5"),
                        "is not valid UTF-8"),
    "negative price": (_replace_line(_line_of(4), "1704326400000,2024-01-04,BTCUSDT,-1,2,-2,1,3,4,5"),
                       "open: price must be > 0"),
    "high below low": (_replace_line(_line_of(4), "1704326400000,2024-01-04,BTCUSDT,100,90,95,100,3,4,5"),
                       "OHLC: high must be >= open and close"),
    "NULL in a required field": (_replace_line(_line_of(4), "1704326400000,2024-01-04,BTCUSDT,NULL,110,90,100,3,4,5"),
                                 "open: not_nullable"),
    "NaN in a required field": (_replace_line(_line_of(4), "1704326400000,2024-01-04,BTCUSDT,100,110,90,NaN,3,4,5"),
                                "close: not_nullable"),
    "non-UTC timestamp text": (_replace_line(_line_of(4), "1704326400000,2024-01-04T02:00:00+02:00,BTCUSDT,100,110,90,100,3,4,5"),
                               "is not a CDD date"),
    "duplicate key with other values": (
        lambda p: p.write_text(p.read_text() + "1704326400000,2024-01-04,BTCUSDT,100,110,90,101,3,4,5\n"),
        "duplicate key"),
    "absurd outlier": (_replace_line(_line_of(4), "1704326400000,2024-01-04,BTCUSDT,100000,110000,90000,100000,3,4,5"),
                       "absurd outlier"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_quarantined_with_a_reason_and_the_rest_lands(tmp_path, case):
    edit, reason = BAD_INPUT[case]
    report, lake = _corrupt(tmp_path, case, edit)
    assert not report.contract.passed
    assert report.contract.rejected["reason"].str.contains(reason, literal=True).any(), report.contract.message()
    assert 8 <= report.rows_written <= 10  # everything else landed
    quarantined = pl.concat([pl.read_parquet(p) for p in (lake / "quarantine").rglob("*.parquet")], how="diagonal")
    assert quarantined["reason"].str.contains(reason, literal=True).any()


@pytest.mark.parametrize(
    "content,message",
    [(b"", "the file is empty"), (URL.encode() + b"\n", "no header line"),
     (b"Unix,Date,Symbol,Open\n1,2,3,4\n", "unknown header")],
)
def test_unreadable_files_are_refused_and_fail_the_check_without_a_traceback(tmp_path, content, message):
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "broken.csv").write_bytes(content)
    write_dvol_file(landing / "BTC_DVOL.csv", "BTC", T0, 5)
    report = ingest_table(spec("raw_dvol"), CddSource(landing), tmp_path / "lake", date(2024, 1, 1),
                          date(2024, 1, 10), ["BTC"])
    assert report.rows_written == 4  # the good file still lands
    assert not report.contract.passed and message in report.contract.message()
    assert report.notes["files_refused"] == ["broken.csv"]


def test_header_only_file_gives_no_rows_and_no_error(tmp_path):
    path = tmp_path / "BTC_DVOL.csv"
    path.write_text("date,symbol,open,high,low,close\n")
    parsed = read_cdd_file(path)
    assert parsed.rows.is_empty() and parsed.rejected.is_empty()


def test_a_gap_of_several_days_is_reported_by_the_gap_check(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    rows = [r for r in price_rows("BTC", T0, 20, DAY) if not (5 <= r["t"].day <= 8)]
    write_price_file(landing / "Binance_BTCUSDT_d.csv", rows, date_style="date")
    report = ingest_table(spec("raw_ohlcv"), CddSource(landing), tmp_path / "lake", date(2024, 1, 1),
                          date(2024, 1, 19), ["BTC"])
    assert report.contract.passed
    # daily bars have a 1-day expected step; the hole of 4 days is one gap of 120 h
    assert report.gaps["gap_hours"].to_list() == [120.0]
    assert [d for _, d in report.missing] == [date(2024, 1, d) for d in range(5, 9)]
    assert datetime(2024, 1, 4, tzinfo=UTC) == report.gaps["gap_after"][0]


def _fetch_ohlcv(landing, coins):
    return CddSource(landing, now=datetime(2024, 6, 1, tzinfo=UTC)).fetch("raw_ohlcv", date(2024, 1, 1),
                                                                         date(2024, 5, 31), coins)


def _hourly(coin: str, volume: float, trades: int, price: float, n: int = 12) -> list[str]:
    """One CDD hourly file's lines (URL, header, bars newest first): volume per trade volume / trades."""
    lines = [URL, f"Unix,Date,Symbol,Open,High,Low,Close,Volume {coin},Volume USDT,tradecount"]
    for i in reversed(range(n)):
        t, v, k = T0 + i * HOUR, volume * (1 + 0.02 * i), trades + 150 * i
        o, c = price * (1 + 0.001 * i), price * (1 + 0.001 * (i + 1))
        lines.append(f"{int(t.timestamp() * 1000)},{t:%Y-%m-%d %H:%M:%S},{coin}USDT,{o:.2f},{c * 1.002:.2f},"
                     f"{o * 0.998:.2f},{c:.2f},{v:.4f},{v * (o + c) / 2:.2f},{k}")
    return lines


def test_a_cat_of_two_coins_files_compares_each_bar_with_its_own_coin(tmp_path):
    # about 0.025 BTC per trade and 0.6 ETH per trade: 24x apart, beyond the 20x of a cut count,
    # so a median over both coins' bars would call one coin's counts corrupt
    btc, eth = _hourly("BTC", 1000.0, 40_000, 60_000.0), _hourly("ETH", 18_000.0, 30_000, 3_000.0)
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "Binance_BTCUSDT_1h.csv").write_text("\n".join(btc) + "\n")
    alone = _fetch_ohlcv(landing, ["BTC"]).frame
    (landing / "Binance_BTCUSDT_1h.csv").unlink()
    (landing / "Binance_majors_1h.csv").write_text("\n".join(btc + eth) + "\n")  # cat BTC ETH > majors
    batch = _fetch_ohlcv(landing, ["BTC", "ETH"])
    assert alone.height == 11  # 12 bars, the newest still open
    assert batch.frame.equals(alone)  # every closed BTC bar lands, as from the BTC file alone
    per_trade = batch.rejected.filter(pl.col("reason").str.contains("volume per trade"))
    assert per_trade.is_empty(), per_trade
    # the 12 ETH bars under the BTC header stay quarantined, for that reason only (the embedded
    # second URL and header lines are rejected as bad lines)
    eth_rows = batch.rejected.filter(pl.col("asset") == "ETH")
    assert eth_rows.height == 12 and eth_rows["reason"].str.starts_with("symbol 'ETHUSDT' is not BTC").all()
