"""The end-of-day paper replay: each strategy on the new day, its orders through the shared fill model.

Why: the backtest fills a passive order when a bar's low trades through its price and an aggressive one at
the next bar's mid plus an assumed half spread. The paper book sends the same decisions to the rebuilt book
and the day's trades instead (queue position, latency: `quant.execution.queue_fills`) and compares what it
got with what the backtest assumed (`realised_vs_assumed`). A widening gap says the backtest flatters.

Rules:
* The decisions are the strategy's own (`run_strategy` on the day's features, `strategy_frame`): every row
  of its trades, missed passive orders included, is one entry order sent at `signal_ts` (the close the
  decision was taken at). qty = notional_usd / the mid at sending, rounded to the lot.
* passive: a post-only order at the touch as of sending (best bid for a buy, best ask for a sell), resting
  `fill_bars` bars (the backtest's fill window), queue-aware (`simulate_passive_fills`). The position is the
  quantity filled by the order's end (partial fills count), opened at its first fill.
  aggressive: fills whole at the opposite touch as of arrival (send + latency); no depth walk.
* Exits are aggressive, at the touch as of arrival, sent when the backtest decided to exit (one bar before
  its exit_ts; at exit_ts for an "end" exit). A paper fill of an order the backtest missed has no exit of
  the strategy's: it is closed at the end of the order's rest window (close_reason "paper_only").
* Kill switch (`monitor.kill_switch`): an open position is closed at `flatten_ts` (close_reason "kill"),
  a resting order is cancelled then, and no order is sent at or after it (status "killed").
* Fees: maker on a passive entry, taker otherwise (`CostConfig().fees_bps()` by default), times the trade's
  legs. Only the traded leg is replayed (a basis trade's hedge leg is not); funding is not replayed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from dvol_pipeline.quant.execution.costs_dynamic import CostConfig
from dvol_pipeline.quant.execution.queue_fills import realised_vs_assumed, simulate_passive_fills
from dvol_pipeline.quant.micro.strategies.common import CostFn, StrategyRun, strategy_frame

TS = pl.Datetime("ns", "UTC")
RunFn = Callable[[pl.DataFrame, object, CostFn | None], StrategyRun]
RUN_KEYS = ["strategy", "execution", "venue", "symbol"]
FILL_COLUMNS = ("order_id", "strategy", "execution", "venue", "symbol", "leg", "style", "side", "send_ts",
                "arrival_ts", "price", "qty", "ref_price", "queue_ahead", "filled_qty", "first_fill_ts", "fill_ts",
                "fill_price", "status", "reason")
POSITION_COLUMNS = ("order_id", "strategy", "execution", "venue", "symbol", "side", "qty", "open_ts", "entry_px",
                    "close_ts", "exit_px", "close_reason", "gross_bps", "fee_bps", "net_bps", "pnl_usd")
PNL_COLUMNS = ("strategy", "execution", "venue", "symbol", "orders", "paper_positions", "paper_net_bps",
               "paper_pnl_usd", "backtest_trades", "backtest_net_bps", "killed")


@dataclass(frozen=True)
class PaperDay:
    """The day's paper book.

    * `fills` (FILL_COLUMNS): one row per order, leg "entry" or "exit"; style passive / aggressive; send_ts
      (decision), arrival_ts (+ latency); price (the limit price of a passive order, null for aggressive);
      ref_price (mid at sending); queue_ahead (passive, on arrival); filled_qty, first_fill_ts, fill_ts
      (complete), fill_price; status filled / partial / unfilled / rejected (post-only crossed on arrival) /
      killed (not sent: at or after the kill switch's flatten_ts); reason as `simulate_passive_fills`
      (queue, trade_through, cross), "touch" for an aggressive fill, "no_book" when no book state is known.
    * `positions` (POSITION_COLUMNS): one row per entry that filled: side, qty, open/close time and price,
      close_reason (the backtest's exit reason, "kill" or "paper_only"), gross_bps = side (exit / entry - 1)
      1e4, fee_bps, net_bps = gross - fees, pnl_usd = net_bps / 1e4 x qty x entry_px.
    * `pnl` (PNL_COLUMNS): per strategy, execution, venue, symbol: entry orders, paper positions, the sum of
      their net bps and USD P&L, the backtest's filled trades and their net bps (its cost model) that day,
      killed (the kill switch fired on the series).
    * `vs_assumed`: `realised_vs_assumed` per strategy, execution, venue, symbol and leg over the orders
      sent: assumed fill_prob is 1 where the backtest filled the entry (0 where it missed); assumed slippage
      is half the backtest's spread (paid by an aggressive leg, earned by a passive entry); exits of
      "paper_only" positions have no backtest counterpart and are left out.
    * `backtest`: the strategies' own trades for the day (`micro_trades` columns).
    """

    fills: pl.DataFrame
    positions: pl.DataFrame
    pnl: pl.DataFrame
    vs_assumed: pl.DataFrame
    backtest: pl.DataFrame


def _touch(orders: pl.DataFrame, book: pl.DataFrame, at: str) -> pl.DataFrame:
    """bid/ask as of each order's `at` instant (the last book row at or before it), per series."""
    top = book.select(pl.col("ts_local").cast(TS).alias(at), "venue", "symbol", "bid_price", "ask_price").sort(at)
    return orders.with_row_index("__row").sort(at).join_asof(top, on=at, by=["venue", "symbol"], check_sortedness=False,
                                                             strategy="backward").sort("__row").drop("__row")


def _entries(bt: pl.DataFrame, config, bar_ns: pl.DataFrame) -> pl.DataFrame:
    passive = pl.col("execution") == "passive"
    horizon = int(getattr(config, "fill_bars", 5)) * pl.col("bar_ns")
    exit_send = (pl.when(pl.col("exit_reason") == "missed").then(pl.col("signal_ts") + pl.duration(nanoseconds=horizon))
                 .when(pl.col("exit_reason") == "end").then(pl.col("exit_ts"))
                 .otherwise(pl.col("exit_ts") - pl.duration(nanoseconds=pl.col("bar_ns"))))
    return bt.join(bar_ns, on=["venue", "symbol"], how="left").select(
        *RUN_KEYS, "side", "legs", pl.col("signal_ts").cast(TS).alias("send_ts"),
        style=pl.when(passive).then(pl.lit("passive")).otherwise(pl.lit("aggressive")),
        horizon_ns=pl.when(passive).then(horizon).otherwise(0).cast(pl.Int64),
        notional=pl.lit(float(getattr(config, "notional_usd", 100_000.0))),
        bt_filled=pl.col("exit_reason") != "missed", bt_reason=pl.col("exit_reason"),
        exit_send=exit_send.cast(TS),
        assumed_entry_bps=pl.when(passive).then(-1.0).otherwise(1.0) * pl.col("entry_spread_bps").fill_null(0.0) / 2,
        assumed_exit_bps=pl.col("exit_spread_bps").fill_null(0.0) / 2)


def paper_replay(features_day: pl.DataFrame, bars_day: pl.DataFrame | None, book_top_day: pl.DataFrame,
                 trades_day: pl.DataFrame, strategies: Sequence[tuple[RunFn, object]], latency_ns: int,
                 kill: pl.DataFrame | None = None, *, cost_fn: CostFn | None = None,
                 fees_bps: tuple[float, float] | None = None, queue_model: str = "prob", lot: float = 0.001,
                 tick: float = 0.01, power: float = 3.0) -> PaperDay:
    """Replay `strategies` ((run_strategy, config) pairs) on one day (see the module's rules).

    `features_day`: `micro_features` of the day (one bar kind); `bars_day`: its `micro_bars` (joined by
    `strategy_frame`; None when the features already hold the prices); `book_top_day`: `book_top` (ts_local,
    venue, symbol, bid/ask price and size); `trades_day`: `raw_trades` (ts_local, venue, symbol, price, size,
    side); `kill`: `monitor.kill_switch` output (venue, symbol, flatten_ts). `cost_fn` is the backtest's
    (its net bps in `pnl`); `fees_bps` (maker, taker) the paper's fees. Deterministic.
    """
    maker, taker = fees_bps or CostConfig().fees_bps()
    frame = strategy_frame(features_day, bars_day) if bars_day is not None else features_day
    bar_ns = frame.sort("ts").group_by("venue", "symbol", maintain_order=True).agg(
        bar_ns=pl.col("ts").cast(TS).dt.epoch("ns").diff().median().fill_null(60 * 10**9).cast(pl.Int64))
    runs = [(run_fn(frame, config, cost_fn), config) for run_fn, config in strategies]
    backtest = pl.concat([r.trades for r, _ in runs], how="diagonal_relaxed") if runs else pl.DataFrame()
    parts = [_entries(r.trades, c, bar_ns) for r, c in runs if r.trades.height]
    if not parts:
        return _empty(backtest)
    orders = pl.concat(parts, how="vertical_relaxed").with_row_index("order_id").with_columns(
        pl.col("order_id").cast(pl.Int64))
    kill = kill if kill is not None else pl.DataFrame(schema={"venue": pl.Utf8, "symbol": pl.Utf8, "flatten_ts": TS})
    orders = orders.join(kill.select("venue", "symbol", pl.col("flatten_ts").cast(TS)), on=["venue", "symbol"],
                         how="left")
    killed = pl.col("flatten_ts").is_not_null() & (pl.col("send_ts") >= pl.col("flatten_ts"))
    # a resting order is cancelled at the flatten instant
    rest = pl.when(pl.col("flatten_ts").is_not_null()).then(pl.min_horizontal(
        pl.col("horizon_ns"), (pl.col("flatten_ts") - pl.col("send_ts")).dt.total_nanoseconds())).otherwise(
        pl.col("horizon_ns"))
    orders = _touch(orders.with_columns(killed=killed, horizon_ns=rest), book_top_day, "send_ts").with_columns(
        ref_price=(pl.col("bid_price") + pl.col("ask_price")) / 2).with_columns(
        qty=(pl.col("notional") / pl.col("ref_price") / lot).round(0) * lot,
        price=pl.when(pl.col("style") == "passive").then(
            pl.when(pl.col("side") > 0).then(pl.col("bid_price")).otherwise(pl.col("ask_price")))).drop(
        "bid_price", "ask_price")
    entries = _fill_entries(orders, book_top_day, trades_day, latency_ns, queue_model, lot, tick, power)
    exits, positions = _exits(entries, book_top_day, latency_ns, maker, taker)
    fills = pl.concat([entries.select(FILL_COLUMNS), exits.select(FILL_COLUMNS)], how="vertical_relaxed").sort(
        "order_id", "leg")
    sent = pl.concat([entries.filter(pl.col("status") != "killed").select(
        *RUN_KEYS, "order_id", "side", "qty", "filled_qty", "fill_price", "ref_price", pl.lit("entry").alias("leg"),
        fill_prob=pl.col("bt_filled").cast(pl.Float64), slippage_bps=pl.col("assumed_entry_bps")),
        exits.filter(pl.col("bt_filled")).select(
        *RUN_KEYS, "order_id", "side", "qty", "filled_qty", "fill_price", "ref_price", pl.lit("exit").alias("leg"),
        fill_prob=pl.lit(1.0), slippage_bps=pl.col("assumed_exit_bps"))], how="vertical_relaxed").with_columns(
        key=pl.format("{}-{}", "order_id", "leg"))
    vs = realised_vs_assumed(sent.drop("fill_prob", "slippage_bps"), sent.select("key", "fill_prob", "slippage_bps"),
                             on="key", by=(*RUN_KEYS, "leg")) if sent.height else pl.DataFrame()
    return PaperDay(fills, positions, _pnl(orders, positions, backtest), vs, backtest)


def _fill_entries(orders, book_top, trades, latency_ns, queue_model, lot, tick, power) -> pl.DataFrame:
    """Entry legs: passive through the queue model, aggressive at the touch on arrival, killed ones unsent."""
    live = orders.filter(~pl.col("killed") & pl.col("ref_price").is_not_null())
    out = []
    for (venue, symbol), part in live.partition_by("venue", "symbol", as_dict=True, maintain_order=True).items():
        passive = part.filter(pl.col("style") == "passive")
        if passive.height:
            book = book_top.filter((pl.col("venue") == venue) & (pl.col("symbol") == symbol)).sort("ts_local")
            tr = _series_trades(trades, venue, symbol)
            sim = simulate_passive_fills(
                passive.select("order_id", pl.col("send_ts").alias("ts"), "side", "price", "qty", "horizon_ns"),
                book, tr, latency_ns, queue_model, power=power, lot=lot, tick=tick)
            out.append(passive.join(sim.select("order_id", "arrival_ts", "queue_ahead", "filled_qty", "first_fill_ts",
                                               "fill_ts", "fill_price", "status", "reason"), on="order_id"))
    aggressive = live.filter(pl.col("style") == "aggressive").with_columns(
        arrival_ts=pl.col("send_ts") + pl.duration(nanoseconds=int(latency_ns)))
    if aggressive.height:
        a = _touch(aggressive, book_top, "arrival_ts")
        px = pl.when(pl.col("side") > 0).then(pl.col("ask_price")).otherwise(pl.col("bid_price"))
        ok = px.is_not_null()
        out.append(a.with_columns(
            queue_ahead=pl.lit(None, pl.Float64), filled_qty=pl.when(ok).then(pl.col("qty")).otherwise(0.0),
            first_fill_ts=pl.when(ok).then(pl.col("arrival_ts")), fill_ts=pl.when(ok).then(pl.col("arrival_ts")),
            fill_price=px, status=pl.when(ok).then(pl.lit("filled")).otherwise(pl.lit("unfilled")),
            reason=pl.when(ok).then(pl.lit("touch")).otherwise(pl.lit("no_book"))).drop("bid_price", "ask_price"))
    unsent = orders.filter(pl.col("killed") | pl.col("ref_price").is_null()).with_columns(
        arrival_ts=pl.lit(None, TS), queue_ahead=pl.lit(None, pl.Float64), filled_qty=pl.lit(0.0),
        first_fill_ts=pl.lit(None, TS), fill_ts=pl.lit(None, TS), fill_price=pl.lit(None, pl.Float64),
        status=pl.when(pl.col("killed")).then(pl.lit("killed")).otherwise(pl.lit("unfilled")),
        reason=pl.when(pl.col("killed")).then(pl.lit(None, pl.Utf8)).otherwise(pl.lit("no_book")))
    out.append(unsent)
    return pl.concat([o.with_columns(pl.col("first_fill_ts", "fill_ts", "arrival_ts").cast(TS)) for o in out],
                     how="diagonal_relaxed").with_columns(leg=pl.lit("entry")).sort("order_id")


def _series_trades(trades: pl.DataFrame, venue: str, symbol: str) -> pl.DataFrame:
    """One series' trades in time order."""
    return trades.filter((pl.col("venue") == venue) & (pl.col("symbol") == symbol)).sort("ts_local")


def _exits(entries: pl.DataFrame, book_top, latency_ns, maker, taker) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Exit legs (aggressive at the touch) of every filled entry and the positions they close."""
    held = entries.filter(pl.col("filled_qty") > 0)
    send = pl.max_horizontal("exit_send", "first_fill_ts")  # never before the position exists
    kill_first = pl.col("flatten_ts").is_not_null() & (pl.col("flatten_ts") <= send)
    held = held.with_columns(
        send_ts=pl.when(kill_first).then(pl.col("flatten_ts")).otherwise(send),
        close_reason=pl.when(kill_first).then(pl.lit("kill")).when(~pl.col("bt_filled")).then(pl.lit("paper_only"))
        .otherwise(pl.col("bt_reason")),
        side=-pl.col("side"), entry_side=pl.col("side"), entry_px=pl.col("fill_price"), open_ts=pl.col("first_fill_ts"),
        entry_style=pl.col("style"), qty=pl.col("filled_qty")).with_columns(
        arrival_ts=pl.col("send_ts") + pl.duration(nanoseconds=int(latency_ns)))
    x = _touch(held, book_top, "arrival_ts") if held.height else held.with_columns(
        bid_price=pl.lit(None, pl.Float64), ask_price=pl.lit(None, pl.Float64))
    px = pl.when(pl.col("side") > 0).then(pl.col("ask_price")).otherwise(pl.col("bid_price"))
    exits = x.with_columns(
        leg=pl.lit("exit"), style=pl.lit("aggressive"), price=pl.lit(None, pl.Float64),
        ref_price=(pl.col("bid_price") + pl.col("ask_price")) / 2, queue_ahead=pl.lit(None, pl.Float64),
        filled_qty=pl.col("qty"), first_fill_ts=pl.col("arrival_ts"), fill_ts=pl.col("arrival_ts"), fill_price=px,
        status=pl.lit("filled"), reason=pl.lit("touch"))
    fee = (pl.when(pl.col("entry_style") == "passive").then(maker).otherwise(taker) + taker) * pl.col("legs")
    positions = exits.with_columns(
        side=pl.col("entry_side"), close_ts=pl.col("fill_ts"), exit_px=pl.col("fill_price"),
        gross_bps=pl.col("entry_side") * (pl.col("fill_price") / pl.col("entry_px") - 1.0) * 1e4,
        fee_bps=fee.cast(pl.Float64)).with_columns(
        net_bps=pl.col("gross_bps") - pl.col("fee_bps")).with_columns(
        pnl_usd=pl.col("net_bps") / 1e4 * pl.col("qty") * pl.col("entry_px")).select(POSITION_COLUMNS)
    return exits, positions


def _pnl(orders: pl.DataFrame, positions: pl.DataFrame, backtest: pl.DataFrame) -> pl.DataFrame:
    o = orders.group_by(RUN_KEYS, maintain_order=True).agg(orders=pl.len(),
                                                          killed=pl.col("flatten_ts").is_not_null().any())
    p = positions.group_by(RUN_KEYS).agg(paper_positions=pl.len(), paper_net_bps=pl.col("net_bps").sum(),
                                         paper_pnl_usd=pl.col("pnl_usd").sum())
    b = backtest.filter(pl.col("exit_reason") != "missed").group_by(RUN_KEYS).agg(
        backtest_trades=pl.len(), backtest_net_bps=pl.col("net_bps").sum())
    out = o.join(p, on=RUN_KEYS, how="left").join(b, on=RUN_KEYS, how="left")
    return out.with_columns(pl.col("paper_positions", "backtest_trades").fill_null(0).cast(pl.Int64),
                            pl.col("paper_net_bps", "paper_pnl_usd", "backtest_net_bps").fill_null(0.0)).select(
        PNL_COLUMNS)


def _empty(backtest: pl.DataFrame) -> PaperDay:
    def frame(cols, text=(), ts=(), ints=()):
        return pl.DataFrame(schema={c: pl.Utf8 if c in text else TS if c in ts else pl.Int64 if c in ints
                                    else pl.Float64 for c in cols})
    keys = (*RUN_KEYS, "leg", "style", "status", "reason", "close_reason")
    fills = frame(FILL_COLUMNS, keys, ("send_ts", "arrival_ts", "first_fill_ts", "fill_ts"), ("order_id", "side"))
    positions = frame(POSITION_COLUMNS, keys, ("open_ts", "close_ts"), ("order_id", "side"))
    pnl = frame(PNL_COLUMNS, keys, (), ("orders", "paper_positions", "backtest_trades")).with_columns(
        pl.col("killed").cast(pl.Boolean))
    return PaperDay(fills, positions, pnl, pl.DataFrame(), backtest)


__all__ = ["FILL_COLUMNS", "PNL_COLUMNS", "POSITION_COLUMNS", "PaperDay", "paper_replay"]
