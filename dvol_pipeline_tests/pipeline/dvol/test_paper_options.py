"""The paper book's option sleeve on the simulated market's real chains: ten end-of-day runs
leave the same book as one ten-day run, cash and legs reconcile to the fills, orders fill a
day after their signal at the chain's bid/ask, and the kill switches act."""

from __future__ import annotations

import shutil
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.lake.catalog import table
from dvol_pipeline.lake.parquet import read_table, write_partitions
from dvol_pipeline.pipeline.dvol.paper import OPTION_TABLES, run_option_sleeve
from dvol_pipeline.quant.dvol.paper import PaperConfig
from dvol_pipeline.quant.execution.paper_options import reconcile_sleeve
from dvol_pipeline.sources.simulated import SimConfig, SimulatedMarket

pytestmark = pytest.mark.slow

FIRST, LAST = date(2024, 3, 1), date(2024, 4, 12)
EOD = [date(2024, 3, 22) + timedelta(days=i) for i in range(10)]  # crosses the 2024-03-29 expiry
COINS = ["BTC", "ETH"]


@pytest.fixture(scope="module")
def market_lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("sleeve") / "lake"
    market = SimulatedMarket(SimConfig())
    for name in ("raw_option_chain", "raw_ohlcv"):
        write_partitions(root, name, market.table(name, FIRST, LAST))
    return root


def _signals(seed: int = 3) -> pl.DataFrame:
    days = [FIRST + timedelta(days=i) for i in range((LAST - FIRST).days + 1)]
    rng = np.random.default_rng(seed)
    rows = [{"date": d, "asset": a, "direction": int(v)} for a in COINS
            for d, v in zip(days, np.repeat(rng.choice([-1, 0, 1], len(days)), 4)[: len(days)])]
    return pl.DataFrame(rows, schema={"date": pl.Date, "asset": pl.Utf8, "direction": pl.Int8})


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_ten_eod_runs_leave_the_book_one_run_leaves(market_lake, tmp_path):
    daily, once = _copy(market_lake, tmp_path / "daily"), _copy(market_lake, tmp_path / "once")
    signals = _signals()
    for day in EOD:
        run = run_option_sleeve(daily, day, day, COINS, signals, PaperConfig())
        assert run.check["ok"].all(), run.check.filter(~pl.col("ok"))
    one = run_option_sleeve(once, EOD[0], EOD[-1], COINS, signals, PaperConfig())
    assert one.check["ok"].all() and one.check.height == 20
    for name in OPTION_TABLES:
        order = ["asset", "date", "seq" if name == "paper_option_fills" else "instrument_name"]
        order = order[:2] if name == "paper_option_book" else order
        a, b = read_table(daily, name).sort(order), read_table(once, name).sort(order)
        assert a.equals(b.select(a.columns)), name
    fills, book = read_table(once, "paper_option_fills"), read_table(once, "paper_option_book")
    # a later range's check counts its fills from the day before: cash, hedge and legs
    held, cut = read_table(once, "paper_option_positions"), EOD[4]
    later = pl.col("date") > cut
    opening_book, opening_legs = book.filter(pl.col("date") == cut), held.filter(pl.col("date") == cut)
    assert opening_legs.filter(~pl.col("instrument_name").str.ends_with("PERPETUAL")).height > 0
    check = reconcile_sleeve(fills.filter(later), held.filter(later), book.filter(later), opening_book, opening_legs)
    assert check.height == 10 and check["ok"].all()
    no_legs = reconcile_sleeve(fills.filter(later), held.filter(later), book.filter(later), opening_book,
                               opening_legs.filter(pl.col("instrument_name").str.ends_with("PERPETUAL")))
    assert not no_legs["ok"].all()
    assert {"open", "hedge"} <= set(fills["reason"]) <= {"open", "close", "roll", "expiry", "hedge", "kill"}
    # equity is the running sum of daily P&L, and the cash column follows the fills
    for a in COINS:
        b = book.filter(pl.col("asset") == a).sort("date")
        assert b["pnl_usd"].sum() == pytest.approx(b["equity_usd"][-1])
        f = fills.filter(pl.col("asset") == a).sort("date", "seq")
        flows = -(f["qty"] * f["price_usd"]) - f["fee_usd"]
        assert float(flows.sum()) == pytest.approx(b["cash_usd"][-1], abs=0.01)


def test_orders_fill_a_day_after_their_signal_at_bid_and_ask(market_lake, tmp_path):
    root = _copy(market_lake, tmp_path / "lake")
    signals = _signals()
    run = run_option_sleeve(root, EOD[0], EOD[-1], COINS, signals, PaperConfig())
    book = run.book.sort("asset", "date")
    for a in COINS:
        b = book.filter(pl.col("asset") == a)
        # the order queued at D's close is D's signal, and D+1's structure is that order
        assert b["target_next"].to_list() == b["signal"].to_list()
        held = b["structure"].to_list()[1:]
        ordered = b["target_next"].to_list()[:-1]
        assert all(h == o for h, o in zip(held, ordered))
    chain = read_table(root, "raw_option_chain", EOD[0], EOD[-1]).with_columns(date=pl.col("ts").dt.date())
    last = chain.filter(pl.col("ts") == pl.col("ts").max().over("asset", "date"))
    opens = run.fills.filter(pl.col("reason") == "open").join(
        last.select("date", "asset", "instrument_name", "bid", "ask", "underlying_price"),
        on=["date", "asset", "instrument_name"])
    assert opens.height > 0
    quoted = opens.filter(pl.col("bid").is_not_null() & pl.col("ask").is_not_null())
    coin = quoted["price_usd"] / quoted["underlying_price"]
    side_price = np.where(quoted["qty"] > 0, quoted["ask"], quoted["bid"])
    np.testing.assert_allclose(coin.to_numpy(), side_price, rtol=1e-9)


def test_drawdown_kill_switch_flattens_and_stops_the_sleeve(market_lake, tmp_path):
    root = _copy(market_lake, tmp_path / "lake")
    always_long = _signals().with_columns(pl.lit(1, pl.Int8).alias("direction"))
    tiny = PaperConfig(kill_drawdown_frac=0.0001)  # USD 10 of the sleeve's capital: trips on the first loss
    run = run_option_sleeve(root, EOD[0], EOD[-1], COINS, always_long, tiny)
    assert run.events and all("drawdown" in e for e in run.events)
    assert run.check["ok"].all()
    for a in COINS:
        b = run.book.filter(pl.col("asset") == a).sort("date")
        halted_at = b["halted"].arg_max()
        assert b["halted"][halted_at] and b["halted"][halted_at:].all()
        after = b[halted_at + 1:]
        assert (after["structure"] == 0).all() and (after["target_next"] == 0).all()
        killed = run.fills.filter((pl.col("asset") == a) & (pl.col("reason") == "kill"))
        assert killed.height >= 2 and killed["date"].unique().to_list() == [b["date"][halted_at + 1]]


def test_a_chain_gap_orders_the_sleeve_flat(market_lake, tmp_path):
    root = _copy(market_lake, tmp_path / "lake")
    gap = [EOD[3], EOD[4]]
    for day in gap:
        for a in COINS:
            table("raw_option_chain").partition_file(root, a, day).unlink()
    always_long = _signals().with_columns(pl.lit(1, pl.Int8).alias("direction"))
    run = run_option_sleeve(root, EOD[0], EOD[-1], COINS, always_long, PaperConfig())
    assert run.check["ok"].all()
    assert any("no option chain for 2 days" in e for e in run.events), run.events
    b = run.book.filter(pl.col("asset") == "BTC").sort("date")
    row = {d: r for d, r in zip(b["date"], b.iter_rows(named=True))}
    assert row[EOD[4]]["flat_reason"] == "data_gap" and row[EOD[4]]["target_next"] == 0
    assert row[EOD[5]]["structure"] == 0  # closed when the chain came back, then re-entered a day later
    assert row[EOD[6]]["structure"] == 1
