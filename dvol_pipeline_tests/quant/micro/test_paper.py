"""The paper replay on hand-built books: queue-aware passive entries, aggressive ones at the touch, the kill switch.

The strategy is a stub returning fixed decisions (the replay must not depend on which strategy decided), so
every expected value below is worked by hand from the book and trades written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import polars as pl

from dvol_pipeline.quant.micro.paper import FILL_COLUMNS, PNL_COLUMNS, POSITION_COLUMNS, paper_replay
from dvol_pipeline.quant.micro.strategies.common import TRADE_COLUMNS, StrategyRun, empty_bar_pnl

TS = pl.Datetime("ns", "UTC")
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
V, S = "binance_usdm", "BTCUSDT"


def at(minutes: float) -> datetime:
    return T0 + timedelta(seconds=minutes * 60)


@dataclass(frozen=True)
class StubConfig:
    trades: tuple = ()
    passive: bool = True
    fill_bars: int = 5
    notional_usd: float = 100.01  # 1.0 BTC at the 100.01 mid
    name: str = "stub"


def stub_run(features, config, cost_fn=None) -> StrategyRun:
    """One row of micro_trades per (signal min, exit min, side, reason)."""
    rows = []
    for sig, ex, side, reason in config.trades:
        rows.append({"strategy": config.name, "execution": "passive" if config.passive else "aggressive",
                     "venue": V, "symbol": S, "entry_ts": at(sig + 1), "exit_ts": at(ex), "side": side, "qty": 1.0,
                     "entry_px": 100.0, "exit_px": 100.05, "gross_bps": 5.0, "funding_bps": 0.0, "cost_bps": 5.0,
                     "net_bps": 0.0, "holding_minutes": float(ex - sig - 1), "exit_reason": reason,
                     "signal_ts": at(sig), "entry_spread_bps": 2.0, "exit_spread_bps": 2.0, "legs": 1,
                     "regime": None})
    trades = pl.DataFrame(rows, schema_overrides={"entry_ts": TS, "exit_ts": TS, "signal_ts": TS, "side": pl.Int8,
                                                  "regime": pl.Utf8}).select(TRADE_COLUMNS)
    return StrategyRun(trades, empty_bar_pnl())


def features():
    return pl.DataFrame({"ts": [at(i) for i in range(11)], "venue": V, "symbol": S, "bar": "1m",
                         "mid_close": 100.01}).with_columns(pl.col("ts").cast(TS))


def book():
    # touch 100.00 x 2.0 / 100.02 x 1.0 (mid 100.01); at minute 4 the book lifts to 100.05 / 100.07
    rows = [(0.5, 100.00, 2.0, 100.02, 1.0), (4.0, 100.05, 1.0, 100.07, 1.0)]
    return pl.DataFrame([{"ts_local": at(m), "venue": V, "symbol": S, "bid_price": b, "bid_size": bs,
                          "ask_price": a, "ask_size": as_} for m, b, bs, a, as_ in rows]).with_columns(
        pl.col("ts_local").cast(TS))


def trades():
    # sell aggressors at 100.00: 2.0 BTC at 1m10s (exactly the queue ahead), then 1.0 BTC at 2m30s
    rows = [(1 + 10 / 60, 100.00, 2.0), (2.5, 100.00, 1.0)]
    return pl.DataFrame([{"ts_local": at(m), "venue": V, "symbol": S, "price": p, "size": q, "side": "sell"}
                         for m, p, q in rows]).with_columns(pl.col("ts_local").cast(TS))


def replay(config, kill=None):
    return paper_replay(features(), None, book(), trades(), [(stub_run, config)], latency_ns=1_000_000, kill=kill,
                        queue_model="risk_averse", fees_bps=(2.0, 5.0))


def test_passive_entry_fills_only_after_the_queue_ahead_is_traded_through():
    # buy 1.0 at the bid 100.00 sent at 1m, 2.0 ahead. The 2.0 sold at 1m10s brings the queue ahead to 0 (no
    # fill: nothing traded past us); the 1.0 at 2m30s overshoots it by 1.0 -> filled 1.0 at 2m30s.
    day = replay(StubConfig(trades=((1, 5, 1, "mean"),)))
    entry = day.fills.filter(pl.col("leg") == "entry").row(0, named=True)
    assert entry["queue_ahead"] == 2.0 and entry["price"] == 100.00 and entry["qty"] == 1.0
    assert entry["filled_qty"] == 1.0 and entry["status"] == "filled" and entry["reason"] == "queue"
    assert entry["first_fill_ts"] == at(2.5) and entry["fill_ts"] == at(2.5)
    # exit decided one bar before the backtest's exit (minute 4), sold at the bid then: 100.05
    pos = day.positions.row(0, named=True)
    assert pos["close_ts"] == at(4) + timedelta(milliseconds=1) and pos["exit_px"] == 100.05
    assert pos["close_reason"] == "mean"
    # gross = (100.05 / 100 - 1) 1e4 = 5 bps; fees = maker 2 + taker 5 = 7; net = -2 bps on 100 USD = -0.02 USD
    assert abs(pos["gross_bps"] - 5.0) < 1e-9 and pos["fee_bps"] == 7.0
    assert abs(pos["net_bps"] + 2.0) < 1e-9 and abs(pos["pnl_usd"] + 0.02) < 1e-9
    # entry slippage: (100.00 - 100.01) / 100.01 1e4 = -0.99990 bps vs the backtest's -2 / 2 = -1 bps
    vs = day.vs_assumed.filter(pl.col("leg") == "entry").row(0, named=True)
    assert vs["realised_fill_rate"] == 1.0 and vs["assumed_fill_rate"] == 1.0
    assert abs(vs["realised_slippage_bps"] - (-0.01 / 100.01 * 1e4)) < 1e-9 and vs["assumed_slippage_bps"] == -1.0
    assert tuple(day.fills.columns) == FILL_COLUMNS and tuple(day.positions.columns) == POSITION_COLUMNS
    assert tuple(day.pnl.columns) == PNL_COLUMNS


def test_passive_order_whose_window_closes_before_the_queue_clears_is_unfilled():
    # resting one bar (1m .. 2m): only the 2.0 at 1m10s trades, the queue ahead reaches 0, no fill
    day = replay(StubConfig(trades=((1, 5, 1, "mean"),), fill_bars=1))
    entry = day.fills.row(0, named=True)
    assert entry["status"] == "unfilled" and entry["filled_qty"] == 0.0 and day.positions.height == 0
    assert day.vs_assumed.filter(pl.col("leg") == "entry")["realised_fill_rate"][0] == 0.0


def test_aggressive_entry_at_the_touch():
    day = replay(StubConfig(trades=((1, 5, 1, "mean"),), passive=False))
    entry = day.fills.filter(pl.col("leg") == "entry").row(0, named=True)
    assert entry["fill_price"] == 100.02 and entry["fill_ts"] == at(1) + timedelta(milliseconds=1)
    # slippage paid: (100.02 - 100.01) / 100.01 1e4 = 0.9999 bps vs the assumed half spread 1 bps
    vs = day.vs_assumed.filter(pl.col("leg") == "entry").row(0, named=True)
    assert abs(vs["realised_slippage_bps"] - 0.01 / 100.01 * 1e4) < 1e-9 and vs["assumed_slippage_bps"] == 1.0


def test_kill_switch_flattens_at_the_gap_start_and_blocks_later_entries():
    kill = pl.DataFrame({"venue": [V], "symbol": [S], "flatten_ts": [at(3)]}).with_columns(
        pl.col("flatten_ts").cast(TS))
    # first trade: filled at 2m30s, open at 3m -> flattened at 3m at the bid 100.00; second: sent at 6m -> killed
    day = replay(StubConfig(trades=((1, 5, 1, "mean"), (6, 8, 1, "mean"))), kill=kill)
    pos = day.positions.row(0, named=True)
    assert day.positions.height == 1 and pos["close_reason"] == "kill"
    assert pos["close_ts"] == at(3) + timedelta(milliseconds=1) and pos["exit_px"] == 100.00
    statuses = day.fills.filter(pl.col("leg") == "entry")["status"].to_list()
    assert statuses == ["filled", "killed"]
    assert day.pnl["killed"][0] and day.pnl["orders"][0] == 2 and day.pnl["paper_positions"][0] == 1


def test_kill_cancels_a_resting_order():
    # flatten at 2m: the order resting since 1m is cancelled before the 2m30s trade would have filled it
    kill = pl.DataFrame({"venue": [V], "symbol": [S], "flatten_ts": [at(2)]}).with_columns(
        pl.col("flatten_ts").cast(TS))
    day = replay(StubConfig(trades=((1, 5, 1, "mean"),)), kill=kill)
    assert day.fills["status"].to_list() == ["unfilled"] and day.positions.height == 0
