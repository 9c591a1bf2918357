"""The universe's file sources: CoinMarketCap exports and CDD daily files of any coin, written by the test."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from dvol_pipeline.sources.cmc.reader import CmcLayoutError, read_cmc_file
from dvol_pipeline.sources.universe import cdd_universe, cmc_universe, fetch_universe
from dvol_pipeline_tests.cdd_files import price_rows, write_price_file

HEADER = "SNo,Name,Symbol,Date,High,Low,Open,Close,Volume,Marketcap"


def _cmc(path: Path, symbol: str, n: int, bad_line: bool = False) -> Path:
    lines = [HEADER]
    for i in range(n):
        d = date(2021, 1, 1) + timedelta(days=i)
        o, c = 10 + i, 10.5 + i
        lines.append(f"{i + 1},Coin {symbol},{symbol},{d} 23:59:59,{c + 1},{o - 1},{o},{c},{1000 + i},{(c) * 1e6}")
    if bad_line:
        lines.append(f"{n + 1},Coin {symbol},{symbol},2021-13-40 23:59:59,1,1,1,abc,1,1")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cmc_file_rows_and_rejected_lines(tmp_path):
    rows, rejected = read_cmc_file(_cmc(tmp_path / "coin_Solana.csv", "SOL", 5, bad_line=True))
    assert rows.height == 5 and rows["symbol"].unique().to_list() == ["SOL"]
    assert rows["date"].to_list()[0] == date(2021, 1, 1) and rows["close"][0] == 10.5
    assert rows["volume_quote"][0] == 1000 and rows["market_cap"][0] == 10.5e6 and rows["name"][0] == "Coin SOL"
    assert rejected.height == 1 and rejected["line"][0] == "7"
    assert "not a day" in rejected["reason"][0] and "Close 'abc' is not a number" in rejected["reason"][0]


def test_cmc_refuses_another_layout_by_name(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("date,open,close\n2021-01-01,1,2\n")
    with pytest.raises(CmcLayoutError, match="other.csv"):
        read_cmc_file(path)
    batch = cmc_universe(tmp_path)
    assert batch.frame.is_empty() and "other.csv" in batch.notes["files_ignored"][0]


def test_cmc_landing_folder_many_coins_and_range(tmp_path):
    _cmc(tmp_path / "coin_Solana.csv", "SOL", 10)
    _cmc(tmp_path / "coin_Cardano.csv", "ADA", 6)
    batch, events = fetch_universe("cmc", date(2021, 1, 3), date(2021, 1, 8), landing=tmp_path)
    assert events == [] and batch.frame.group_by("symbol").len().sort("symbol").rows() == [("ADA", 4), ("SOL", 6)]
    assert len(batch.files) == 2


def test_cdd_daily_files_of_any_coin_and_hourly_files_left_to_the_dvol_lane(tmp_path):
    start = datetime(2021, 1, 1, tzinfo=UTC)
    write_price_file(tmp_path / "Binance_SOLUSDT_d.csv", price_rows("SOL", start, 30, timedelta(days=1)), date_style="date")
    write_price_file(tmp_path / "Binance_ADAUSDT_d.csv", price_rows("ADA", start, 20, timedelta(days=1), base=0.3),
                     date_style="date")
    write_price_file(tmp_path / "Binance_BTCUSDT_1h.csv", price_rows("BTC", start, 48, timedelta(hours=1)))
    batch = cdd_universe(tmp_path)
    counts = dict(batch.frame.group_by("symbol").len().iter_rows())
    assert set(counts) == {"ADA", "SOL"} and counts["SOL"] >= 29  # the newest bar may be left out as still open
    assert batch.frame["source"].unique().to_list() == ["cdd"] and batch.frame["market_cap"].is_null().all()
    assert any("Binance_BTCUSDT_1h.csv" in s for s in batch.notes["files_ignored"])


def test_unknown_universe_source_is_named():
    with pytest.raises(ValueError, match="cannot read source 'deribit'"):
        fetch_universe("deribit", date(2021, 1, 1), date(2021, 2, 1))
