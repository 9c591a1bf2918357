"""Deribit ticker / book-summary dumps -> raw_option_chain, and the exchange's greeks reproduced.

The fixtures (fixtures/deribit/dumps/, written by make_dump_fixtures.py) are synthesized in
Deribit's reply shapes, their greeks from vollib's Black-76 rather than the pricing core under
test; one BTC snapshot is an hour before the 28DEC23 08:00 UTC expiry.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.contracts.tables import RAW_OPTION_CHAIN, RAW_TABLES
from dvol_pipeline.contracts.validate import validate
from dvol_pipeline.lake.catalog import table
from dvol_pipeline.lake.parquet import read_table
from dvol_pipeline.pipeline.ingest import ingest_table
from dvol_pipeline.quant.pricing.options import SECONDS_PER_YEAR, exchange_theta, greeks
from dvol_pipeline.sources import TableNotProvided, open_source
from dvol_pipeline.sources.deribit.dumps import DumpFormatError, parse_instrument, read_dump

DUMPS = Path(__file__).resolve().parents[2] / "fixtures" / "deribit" / "dumps"
BTC_TICKERS = DUMPS / "ticker_btc_20231228T0700.json"


def test_instrument_names():
    assert parse_instrument("BTC-28DEC23-42000-C") == ("BTC", datetime(2023, 12, 28, 8, tzinfo=UTC), 42000.0, "C")
    assert parse_instrument("ETH-5JAN24-2250-P")[1:] == (datetime(2024, 1, 5, 8, tzinfo=UTC), 2250.0, "P")
    assert parse_instrument("XRP_USDC-30AUG24-0d625-C")[::2] == ("XRP", 0.625)
    assert parse_instrument("BTC-PERPETUAL") is None and parse_instrument("BTC-31FOO23-1-C") is None


def test_a_ticker_file_is_one_contract_clean_snapshot():
    dump = read_dump(BTC_TICKERS)
    replies = json.loads(BTC_TICKERS.read_text())
    assert dump.kind == "ticker" and dump.chain.height == len(replies) == 34
    newest = max(r["result"]["timestamp"] for r in replies)
    assert dump.chain["ts"].unique().to_list() == [datetime.fromtimestamp(newest / 1000, UTC)]
    assert dump.chain.schema == RAW_OPTION_CHAIN.schema
    report = validate(RAW_OPTION_CHAIN, dump.chain)
    assert report.rejected.height == 0 and report.valid.height == 34
    first = {r["result"]["instrument_name"]: r["result"] for r in replies}
    row = dump.chain.filter(pl.col("instrument_name") == "BTC-26JAN24-43000-C").row(0, named=True)
    src = first["BTC-26JAN24-43000-C"]
    assert row["bid"] == src["best_bid_price"] and row["ask"] == src["best_ask_price"]
    assert row["volume"] == src["stats"]["volume"] and row["mark_iv"] == src["mark_iv"]
    assert row["expiry"] == datetime(2024, 1, 26, 8, tzinfo=UTC) and row["strike"] == 43000.0
    # a zero bid is no bid
    assert dump.chain.filter(pl.col("instrument_name") == "BTC-28DEC23-41000-P")["bid"].item() is None


def test_json_lines_and_csv_of_the_same_tickers_agree():
    jl, csv = read_dump(DUMPS / "ticker_eth_20231228T0700.jsonl"), read_dump(DUMPS / "ticker_eth_20231228T0700.csv")
    assert jl.chain.height == 12 and jl.chain.equals(csv.chain)
    assert jl.greeks.equals(csv.greeks) and csv.greeks["theta"].null_count() == 0


def test_a_book_summary_rejects_what_is_not_an_option():
    dump = read_dump(DUMPS / "book_summary_btc_20231227T0800.json")
    assert dump.kind == "book_summary" and dump.greeks.is_empty()
    assert dump.rejected["instrument_name"].to_list() == ["BTC-PERPETUAL"]
    assert "not an option" in dump.rejected["reason"].item()
    assert dump.chain.height == 34 and dump.chain["ts"].n_unique() == 1
    assert dump.chain["ts"][0] == datetime(2023, 12, 27, 8, 0, 5, tzinfo=UTC)


def test_bad_files_name_themselves(tmp_path):
    bad = tmp_path / "oops.json"
    bad.write_text('{"jsonrpc": "2.0", "error": {"code": 10028, "message": "too_many_requests"}}')
    with pytest.raises(DumpFormatError, match="oops.json.*error reply"):
        read_dump(bad)
    bad.write_text('[{"foo": 1}]')
    with pytest.raises(DumpFormatError, match="oops.json.*instrument_name"):
        read_dump(bad)
    cells = tmp_path / "cells.csv"
    cells.write_text("instrument_name,timestamp,greeks\nBTC-28DEC23-42000-C,1703746800000,not a dict\n")
    with pytest.raises(DumpFormatError, match="cells.csv: column 'greeks'"):
        read_dump(cells)


def _ours(dump) -> pl.DataFrame:
    c = dump.chain.join(dump.greeks.drop("ts", "asset"), on="instrument_name")
    t = ((c["expiry"] - c["ts"]).dt.total_microseconds() / 1e6 / SECONDS_PER_YEAR).to_numpy()
    args = (c["underlying_price"].to_numpy(), c["strike"].to_numpy(), t, c["mark_iv"].to_numpy() / 100,
            (c["option_type"] == "C").to_numpy())
    g = greeks(*args)
    return c.with_columns(t=t, our_delta=g.delta, our_gamma=g.gamma, our_vega=g.vega, our_rho=g.rho,
                          our_theta=exchange_theta(*args), analytic_theta=g.theta)


@pytest.mark.parametrize("path", [BTC_TICKERS, DUMPS / "ticker_eth_20231228T0700.csv"])
def test_the_tickers_greeks_are_reproduced_theta_included(path):
    c = _ours(read_dump(path))
    # the exchange rounds greeks to 5 decimals (and mark IV to 2): agreement to that rounding
    tol = {"delta": 2e-4, "gamma": 5.1e-6, "vega": 0.02, "rho": 0.02}
    for name, atol in tol.items():
        np.testing.assert_allclose(c[f"our_{name}"], c[name], rtol=2e-3, atol=atol, err_msg=name)
    np.testing.assert_allclose(c["our_theta"], c["theta"], rtol=2e-3, atol=0.05)


def test_the_snapshot_holds_each_regime_of_the_exchanges_theta():
    """The fixture's thetas come from vollib by the exchange's rule (make_dump_fixtures.py), so the
    reproduction above checks `exchange_theta` in each regime: the analytic rate more than a day
    out, the rate x the part of the day left within it, and -V where that would exceed the value."""
    c = _ours(read_dump(BTC_TICKERS)).with_columns(
        value=pl.col("mark_price") * pl.col("underlying_price"), days=pl.col("t") * 365)
    scaled = pl.col("analytic_theta") * pl.min_horizontal(pl.lit(1.0), pl.col("days"))
    floored = c.filter(scaled < -pl.col("value") - 0.01)
    assert floored.filter(pl.col("days") < 1).height >= 2 and floored.filter(pl.col("days") > 1).height >= 1
    np.testing.assert_allclose(floored["theta"], -floored["value"], rtol=2e-3, atol=1e-4)
    # one hour before expiry, at the money: the rate x 1/24 is about half the value left, where the
    # next day's value change would have been all of it
    atm = c.filter((pl.col("days") < 1) & (pl.col("strike") == 42_500.0))
    assert atm.height == 2
    np.testing.assert_allclose(atm["theta"], atm["analytic_theta"] * atm["days"], rtol=2e-3)
    assert ((-atm["theta"] / atm["value"]).is_between(0.4, 0.6)).all()
    far = c.filter(pl.col("days") > 25)
    np.testing.assert_allclose(far["theta"], far["analytic_theta"], rtol=2e-3)


def test_the_dump_source_ingests_into_the_lake(tmp_path):
    landing = tmp_path / "landing" / "deribit"
    landing.mkdir(parents=True)
    for p in DUMPS.iterdir():
        shutil.copy(p, landing / p.name)
    source = open_source("deribit_dumps", landing=str(tmp_path / "landing"), seed=1)
    with pytest.raises(TableNotProvided, match="raw_dvol"):
        source.fetch("raw_dvol", date(2023, 12, 27), date(2023, 12, 28), ["BTC"])
    lake = tmp_path / "lake"
    day0, day1 = date(2023, 12, 27), date(2023, 12, 28)
    rep = ingest_table(RAW_TABLES["raw_option_chain"], source, lake, day0, day1, ["BTC", "ETH"])
    chain = read_table(lake, "raw_option_chain").sort("asset", "ts", "instrument_name")
    # BTC on both days; ETH once (its JSON-lines and CSV copies are one snapshot)
    assert chain.group_by("asset", "ts").len().sort("asset", "ts")["len"].to_list() == [34, 34, 12]
    assert len(rep.files) == 4 and rep.contract.rejected["instrument_name"].to_list() == ["BTC-PERPETUAL"]
    quarantined = read_table(lake, table("raw_option_chain").quarantine())
    assert quarantined["instrument_name"].to_list() == ["BTC-PERPETUAL"]
    summary = ingest_table(RAW_TABLES["raw_options_summary"], source, lake, day0, day1, ["BTC", "ETH"])
    s = read_table(lake, "raw_options_summary").sort("asset", "date")
    assert summary.contract.rejected.height == 0
    assert s.select("asset", "date").rows() == [("BTC", day0), ("BTC", day1), ("ETH", day1)]
    assert (s["net_vega"] > 0).all() and s["avg_iv"].is_between(30, 120).all()
