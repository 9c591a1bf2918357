"""Delta-hedged straddle / iron-condor backtest: fees, fills, P&L by hand, attribution, rules."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.quant.pricing.options import delta, price
from dvol_pipeline.quant.execution.options import (
    OptionBacktestConfig,
    execution,
    option_fee_coin,
    perp_closes,
    perp_fee_usd,
    run_option_backtest,
    theta_per_day,
)
from dvol_pipeline.sources.simulated import SimConfig, SimulatedMarket
from dvol_pipeline.sources.simulated.calendar import parse_instrument_names

UTC = timezone.utc
START = date(2024, 1, 1)  # a Monday; weekly expiries are Fridays
PARTS = ["delta_usd", "gamma_usd", "vega_usd", "theta_usd", "residual_usd"]


# ---- synthetic market: Black-76 marks on one forward, weekly Friday expiries -------------
def synthetic_chain(fwd, iv, strikes=np.arange(20_000.0, 80_001.0, 500.0), half_spread=0.0005, asset="BTC"):
    """Chain rows for len(fwd) days from START; every listed expiry shares the forward."""
    n = len(fwd)
    fridays = [START + timedelta(days=4 + 7 * w) for w in range((n + 40) // 7 + 1)]
    days = pl.DataFrame({"i": np.arange(n), "F": np.asarray(fwd, float), "sig": np.asarray(iv, float)}).with_columns(
        (pl.lit(datetime(START.year, START.month, START.day, 23, 59, 59, tzinfo=UTC)) + pl.duration(days=pl.col("i")))
        .dt.cast_time_unit("us").alias("ts")
    )
    expiry_times = [datetime(f.year, f.month, f.day, 8, tzinfo=UTC) for f in fridays]
    expiries = pl.DataFrame({"expiry": expiry_times}).with_columns(pl.col("expiry").dt.cast_time_unit("us"))
    g = (
        days.join(expiries, how="cross")
        .filter((pl.col("expiry") > pl.col("ts")) & (pl.col("expiry") - pl.col("ts") < pl.duration(days=36)))
        .join(pl.DataFrame({"strike": strikes}), how="cross")
        .join(pl.DataFrame({"option_type": ["C", "P"]}), how="cross")
    )
    T = (g["expiry"] - g["ts"]).dt.total_microseconds().to_numpy() / (1e6 * 365 * 86400)
    F, K = g["F"].to_numpy(), g["strike"].to_numpy()
    mark = price(F, K, T, g["sig"].to_numpy(), g["option_type"].to_numpy() == "C") / F
    return g.with_columns(
        pl.lit(asset).alias("asset"),
        pl.concat_str([pl.lit(asset), pl.col("expiry").dt.strftime("%-d%b%y").str.to_uppercase(),
                       pl.col("strike").cast(pl.Int64).cast(pl.Utf8), pl.col("option_type")], separator="-")
        .alias("instrument_name"),
        pl.Series("bid", np.where(mark - half_spread > 0, mark - half_spread, np.nan)).fill_nan(None),
        pl.Series("ask", mark + half_spread),
        pl.Series("mark_price", mark),
        (pl.col("sig") * 100.0).alias("mark_iv"),
        pl.col("F").alias("underlying_price"),
    ).drop("i", "F", "sig")


def synthetic_perp(fwd, asset="BTC"):
    return pl.DataFrame({"date": [START + timedelta(days=i) for i in range(len(fwd))], "asset": asset,
                         "perp_price": np.asarray(fwd, float)})


def signals_of(values, asset="BTC"):
    return pl.DataFrame({"date": [START + timedelta(days=i) for i in range(len(values))], "asset": asset,
                         "signal": np.asarray(values, np.int64)})


def smooth_path(n, seed=3):
    rng = np.random.default_rng(seed)
    fwd = 40_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, n)))
    iv = 0.55 + np.cumsum(rng.normal(0.0, 0.005, n))
    return fwd, iv


def run_synthetic(fwd, iv, signal, **cfg):
    return run_option_backtest(synthetic_chain(fwd, iv), synthetic_perp(fwd), signals_of(signal),
                               OptionBacktestConfig(**cfg))


# ---- costs ---------------------------------------------------------------------------
def test_option_fee_per_contract_and_cap():
    # 0.03 % of the underlying per contract = 0.0003 coin, unless 12.5 % of the premium is less
    not_binding = option_fee_coin(np.array([2.0]), np.array([0.05]), 0.0003, 0.125)
    binding = option_fee_coin(np.array([-2.0]), np.array([0.001]), 0.0003, 0.125)
    assert not_binding[0] == pytest.approx(0.0006, abs=1e-15)
    assert binding[0] == pytest.approx(2 * 0.000125, abs=1e-15)
    assert perp_fee_usd(np.array([-0.3]), np.array([40_000.0]), 0.0005)[0] == pytest.approx(6.0)


def test_buy_at_ask_sell_at_bid_and_documented_fallbacks():
    side = np.array([1.0, -1.0, -1.0, 1.0])
    bid = np.array([0.010, 0.010, np.nan, np.nan])
    ask = np.array([0.012, 0.012, 0.0125, np.nan])
    mark = np.array([0.011, 0.011, 0.0120, 0.0200])
    price, quoted, fallback = execution(side, bid, ask, mark, frac=0.10, tick=0.0001, mult=1.0)
    # buy at ask, sell at bid; no bid: the ask's distance mirrored; nothing: 10 % of mark
    np.testing.assert_allclose(price, [0.012, 0.010, 0.0115, 0.022], rtol=0, atol=1e-15)
    np.testing.assert_allclose(quoted, price, rtol=0, atol=1e-15)
    assert fallback.tolist() == [False, False, True, True]
    doubled, quoted2, _ = execution(side, bid, ask, mark, frac=0.10, tick=0.0001, mult=2.0)
    np.testing.assert_allclose(doubled, [0.013, 0.009, 0.011, 0.024], rtol=0, atol=1e-15)
    np.testing.assert_allclose(quoted2, quoted, rtol=0, atol=0)  # fees are charged at the real quotes


# ---- P&L by hand -------------------------------------------------------------------------
def _hand_chain() -> pl.DataFrame:
    """Two days, one expiry (15JAN24, 13.3 days out), strikes 40000 and 42000."""
    expiry = datetime(2024, 1, 15, 8, tzinfo=UTC)
    quotes = {  # (day, strike, type): (bid, ask, mark)
        (0, 40_000, "C"): (0.030, 0.032, 0.031), (0, 40_000, "P"): (0.028, 0.030, 0.029),
        (0, 42_000, "C"): (0.010, 0.012, 0.011), (0, 42_000, "P"): (0.060, 0.062, 0.061),
        (1, 40_000, "C"): (0.033, 0.035, 0.034), (1, 40_000, "P"): (0.026, 0.028, 0.027),
        (1, 42_000, "C"): (0.012, 0.014, 0.013), (1, 42_000, "P"): (0.055, 0.057, 0.056),
    }
    fwd = {0: 40_100.0, 1: 40_500.0}
    rows = [
        {"ts": datetime(2024, 1, 1 + d, 23, 59, 59, tzinfo=UTC), "asset": "BTC",
         "instrument_name": f"BTC-15JAN24-{k}-{t}", "expiry": expiry, "strike": float(k), "option_type": t,
         "bid": b, "ask": a, "mark_price": m, "mark_iv": 50.0, "underlying_price": fwd[d]}
        for (d, k, t), (b, a, m) in quotes.items()
    ]
    return pl.DataFrame(rows).with_columns(pl.col("ts", "expiry").dt.cast_time_unit("us"))


def test_one_day_straddle_pnl_by_hand():
    days = [date(2024, 1, 1), date(2024, 1, 2)]
    perp = pl.DataFrame({"date": days, "asset": "BTC", "perp_price": [40_100.0, 40_500.0]})
    sig = pl.DataFrame({"date": days, "asset": "BTC", "signal": [1, 0]})
    res = run_option_backtest(_hand_chain(), perp, sig, OptionBacktestConfig(hedge=False))
    d = res.daily.sort("date")
    # row of day 1 (shared convention: costs at its close, P&L over the next day):
    # buy the 40000 straddle (nearest the 40100 forward) at the asks ...
    assert d["spread_cost_usd"][0] == pytest.approx((0.001 + 0.001) * 40_100)  # 80.2
    assert d["option_fees_usd"][0] == pytest.approx(2 * 0.0003 * 40_100)  # 24.06
    # ... and earn the marks' move: (0.034 + 0.027) x 40500 - (0.031 + 0.029) x 40100 = 64.5
    assert d["gross_usd"][0] == pytest.approx(64.5)
    assert d["net_usd"][0] == pytest.approx(64.5 - 104.26)
    # row of day 2: sell both at the bids, flat afterwards
    assert d["gross_usd"][1] == 0.0
    assert d["cost_usd"][1] == pytest.approx(2 * 0.001 * 40_500 + 2 * 0.0003 * 40_500)  # 81 + 24.3
    assert d["equity_usd"][1] == pytest.approx(-104.26 + 64.5 - 105.3)
    assert d["position"].to_list() == [1, 0] and d["n_legs"].to_list() == [2, 0]
    t = res.trades.sort("date", "instrument_name")
    assert t["instrument_name"].to_list() == ["BTC-15JAN24-40000-C", "BTC-15JAN24-40000-P"] * 2
    assert t["side"].to_list() == ["buy", "buy", "sell", "sell"]
    assert t["price_coin"].to_list() == pytest.approx([0.032, 0.030, 0.033, 0.026])
    assert t["reason"].to_list() == ["open", "open", "close", "close"]


# ---- attribution -------------------------------------------------------------------------
def test_theta_is_the_one_day_time_decay():
    F, K, T, s = 40_000.0, 42_000.0, 14 / 365, 0.6
    one_day = price(F, K, T - 1 / 365, s, True) - price(F, K, T, s, True)
    assert theta_per_day(F, K, T, s, True) == pytest.approx(one_day, rel=0.03)


def test_parts_sum_to_net_and_residual_is_small_on_a_smooth_path():
    n = 60
    fwd, iv = smooth_path(n)
    res = run_synthetic(fwd, iv, [1] * 30 + [-1] * 30)
    d = res.daily
    explained = sum(d[c] for c in PARTS) - d["cost_usd"]
    np.testing.assert_allclose(explained.to_numpy(), d["net_usd"].to_numpy(), rtol=0, atol=1e-8)
    # Omitted terms (vanna dF dsigma, volga, third order in dF, theta's drift within the day)
    # are ~dF/F = 2 % of the gamma term here; 10 % leaves room yet catches any wrong greek.
    held = d.filter(pl.col("gross_usd") != 0)
    assert held.height > 50
    ratio = held["residual_usd"].abs().median() / held["gross_usd"].abs().median()
    assert ratio < 0.10
    assert (d["position"] == 1).sum() > 0 and (d["position"] == -1).sum() > 0


def test_zero_moves_leave_only_theta_and_costs():
    n = 6
    res = run_synthetic(np.full(n, 40_000.0), np.full(n, 0.6), [1] * n)
    held = res.daily.sort("date")[:-1]  # the last day closes the position
    for col in ["delta_usd", "gamma_usd", "vega_usd", "hedge_usd"]:
        assert held[col].abs().max() == 0.0
    assert (held["theta_usd"] < 0).all()
    assert (held["residual_usd"].abs() < 0.03 * held["theta_usd"].abs()).all()
    holding = held[1:]  # opened on the first day
    assert holding["option_fees_usd"].abs().max() == 0.0 and holding["spread_cost_usd"].abs().max() == 0.0


# ---- hedging, rolling, flattening -------------------------------------------------------
def _positions_from_trades(trades: pl.DataFrame, day: date) -> pl.DataFrame:
    signed = pl.when(pl.col("side") == "buy").then(pl.col("qty")).otherwise(-pl.col("qty"))
    return (
        trades.filter(pl.col("date") <= day).group_by("instrument_name").agg(signed.sum().alias("pos"))
        .filter(pl.col("pos").abs() > 1e-12)
    )


def test_hedge_neutralises_the_options_delta_at_the_close():
    n = 20
    fwd, iv = smooth_path(n, seed=5)
    chain = synthetic_chain(fwd, iv)
    res = run_option_backtest(chain, synthetic_perp(fwd), signals_of([1] * 10 + [-1] * 10), OptionBacktestConfig())
    assert res.daily["net_delta_coin"].abs().max() < 1e-12
    day = START + timedelta(days=14)  # a condor day
    pos = _positions_from_trades(res.trades, day)
    options = pos.filter(~pl.col("instrument_name").str.ends_with("PERPETUAL")).join(
        chain.filter(pl.col("ts").dt.date() == day), on="instrument_name"
    )
    assert options.height == 4
    T = (options["expiry"] - options["ts"]).dt.total_microseconds().to_numpy() / (1e6 * 365 * 86400)
    option_delta = np.sum(options["pos"].to_numpy() * delta(
        options["underlying_price"].to_numpy(), options["strike"].to_numpy(), T,
        options["mark_iv"].to_numpy() / 100, options["option_type"].to_numpy() == "C"))
    hedge = pos.filter(pl.col("instrument_name") == "BTC-PERPETUAL")["pos"].item()
    assert hedge == pytest.approx(-option_delta, rel=1e-9)
    unhedged = run_option_backtest(chain, synthetic_perp(fwd), signals_of([1] * n), OptionBacktestConfig(hedge=False))
    assert unhedged.daily["hedge_usd"].abs().max() == 0.0 and unhedged.daily["net_delta_coin"].abs().max() > 0.01


def test_roll_when_the_held_expiry_drops_below_min_dte():
    n = 40
    fwd, iv = smooth_path(n, seed=11)
    res = run_synthetic(fwd, iv, [1] * n)
    trades = res.trades.filter(pl.col("reason") != "hedge")
    parsed = pl.concat([trades, parse_instrument_names(trades["instrument_name"]).select("expiry")], how="horizontal")
    snap = pl.col("date").cast(pl.Datetime("us", "UTC")) + pl.duration(hours=23, minutes=59, seconds=59)
    parsed = parsed.with_columns(((pl.col("expiry") - snap).dt.total_seconds() / 86400).alias("dte"))
    rolls = parsed.filter(pl.col("reason") == "roll")
    assert rolls["date"].n_unique() >= 4
    closed, opened = rolls.filter(pl.col("side") == "sell"), rolls.filter(pl.col("side") == "buy")
    assert (closed["dte"] < 7).all() and (closed["dte"] > 6).all()  # rolled the first day below 7
    assert opened["dte"].is_between(7, 21).all()
    first = parsed.filter(pl.col("reason") == "open")
    assert first["date"].to_list() == [START, START]  # opened once, then only rolled
    assert res.daily.filter(pl.col("date") < START + timedelta(days=n - 1))["n_legs"].min() == 2


def test_signal_zero_flattens_options_and_hedge():
    n = 10
    fwd, iv = smooth_path(n, seed=2)
    res = run_synthetic(fwd, iv, [1, 1, 1, 0, 0, 0, -1, -1, 0, 0])
    d = res.daily.sort("date")
    assert d["position"].to_list() == [1, 1, 1, 0, 0, 0, -1, -1, 0, 0]
    assert d["n_legs"].to_list() == [2, 2, 2, 0, 0, 0, 4, 4, 0, 0]
    flat_day = START + timedelta(days=3)
    closes = res.trades.filter((pl.col("date") == flat_day) & (pl.col("reason") == "close"))
    assert closes.height == 2 and (closes["side"] == "sell").all()
    assert _positions_from_trades(res.trades, flat_day).height == 0  # options and perpetual
    assert d.filter(pl.col("date").is_in([START + timedelta(days=i) for i in (4, 5)]))["net_usd"].abs().max() == 0.0


def test_expired_legs_settle_at_intrinsic_against_the_last_forward():
    n = 12
    fwd = 40_000.0 * np.linspace(1.0, 1.08, n)
    # dte_min 0: hold to expiry; the first expiry in [0, 6] days is Friday 5 JAN
    res = run_synthetic(fwd, np.full(n, 0.6), [1] * n, dte_min=0.0, dte_target=3.0, dte_max=6.0)
    expiries = res.trades.filter(pl.col("reason") == "expiry")
    assert expiries["date"].unique().sort().to_list() == [date(2024, 1, 5), date(2024, 1, 12)]
    settled = expiries.filter(pl.col("date") == date(2024, 1, 5)).sort("instrument_name")
    assert settled["instrument_name"].to_list() == ["BTC-5JAN24-40000-C", "BTC-5JAN24-40000-P"]
    last_fwd = fwd[3]  # snapshot of 4 JAN, the last before the 08:00 expiry
    assert settled["price_usd"].to_list() == pytest.approx([last_fwd - 40_000.0, 0.0])
    assert settled["fee_usd"].to_list() == pytest.approx([0.00015 * last_fwd, 0.0])


def test_a_held_strike_missing_from_the_chain_is_marked_from_the_smile():
    n = 4
    fwd, iv = 40_000.0 * np.array([1.0, 1.01, 0.99, 1.02]), np.full(n, 0.6)
    chain = synthetic_chain(fwd, iv)
    full = run_option_backtest(chain, synthetic_perp(fwd), signals_of([1] * n))
    held = full.trades.filter(pl.col("reason") == "open")["instrument_name"]
    gap_day = START + timedelta(days=2)
    gappy = chain.filter(~(pl.col("instrument_name").is_in(held.implode()) & (pl.col("ts").dt.date() == gap_day)))
    assert gappy.height == chain.height - 2
    modelled = run_option_backtest(gappy, synthetic_perp(fwd), signals_of([1] * n))
    # flat IV: the interpolated smile and Black-76 reproduce the missing marks exactly
    for col in ["gross_usd", "net_usd", "vega_usd", "residual_usd"]:
        np.testing.assert_allclose(modelled.daily[col].to_numpy(), full.daily[col].to_numpy(), rtol=1e-9, atol=1e-6)
    assert modelled.daily["fallback_quotes"].to_list() == [0, 0, 2, 0]


def test_notional_sizing_and_condor_sized_to_the_straddles_risk():
    fwd, iv = np.full(2, 40_000.0), np.full(2, 0.6)
    chain = synthetic_chain(fwd, iv)
    cfg = OptionBacktestConfig(straddle_notional_usd=100_000.0)
    straddle = run_option_backtest(chain, synthetic_perp(fwd), signals_of([1, 1]), cfg).trades
    opened = straddle.filter(pl.col("reason") == "open")
    assert opened["qty"].to_list() == [2.5, 2.5]  # 100,000 USD / 40,000 USD per coin
    condor = run_option_backtest(chain, synthetic_perp(fwd), signals_of([-1, -1]), cfg).trades
    legs = condor.filter(pl.col("reason") == "open")
    legs = pl.concat([legs, parse_instrument_names(legs["instrument_name"]).select("strike")], how="horizontal")
    legs = legs.sort("strike")
    k = legs["strike"].to_numpy()
    credit = float(np.sum(np.where(legs["side"] == "sell", 1.0, -1.0) * legs["price_usd"].to_numpy()))
    max_loss = max(k[1] - k[0], k[3] - k[2]) - credit
    at_risk = 2.5 * float(opened["price_usd"].sum())  # the same day's straddle, bought at the asks
    assert legs["qty"].n_unique() == 1
    assert legs["qty"][0] == pytest.approx(round(at_risk / max_loss, 1), abs=1e-9)


# ---- the simulated market ----------------------------------------------------------------
@pytest.fixture(scope="module")
def simulated():
    market = SimulatedMarket(SimConfig(), end=date(2021, 8, 31))
    lo, hi = date(2021, 6, 1), date(2021, 8, 31)
    chain = market.table("raw_option_chain", lo, hi)
    perp = perp_closes(market.table("raw_ohlcv", lo, hi))
    days = pl.date_range(lo, hi, eager=True)
    alternating = np.where((np.arange(days.len()) // 15) % 2 == 0, 1, -1)
    sig = pl.concat([pl.DataFrame({"date": days, "asset": a, "signal": alternating}) for a in ("BTC", "ETH")])
    cfg = OptionBacktestConfig(family="har", horizon=7)
    return chain, perp, sig, cfg, run_option_backtest(chain, perp, sig, cfg)


def test_simulated_range_runs_with_finite_numbers(simulated):
    *_, res = simulated
    d = res.daily
    assert set(d["asset"].unique()) == {"BTC", "ETH"} and d.height == 2 * 92
    numeric = [c for c, t in d.schema.items() if t.is_numeric()]
    assert all(np.isfinite(d[c].to_numpy()).all() for c in numeric)
    assert np.isfinite(res.trades["fee_usd"].to_numpy()).all()
    assert d["strategy"].unique().to_list() == ["option_straddle_condor"] and d["family"].unique().to_list() == ["har"]
    np.testing.assert_allclose((sum(d[c] for c in PARTS) - d["cost_usd"]).to_numpy(), d["net_usd"].to_numpy(),
                               rtol=0, atol=1e-6)
    assert d["net_delta_coin"].abs().max() < 1e-9
    # the daily frame shared with the futures backtest: equity = running net, drawdown >= 0
    equity = d.sort("date").select(pl.col("net_usd").cum_sum().over("asset") - pl.col("equity_usd"))
    assert equity.to_series().abs().max() < 1e-6 and d["drawdown_usd"].min() >= 0.0
    assert d.schema["position"] == pl.Float64 and d.schema["horizon"] == pl.Int32
    assert d.filter(pl.col("date") == date(2021, 8, 31))["n_legs"].max() == 0  # closed at the end


def test_condor_is_defined_risk_with_wings_outside(simulated):
    *_, res = simulated
    opens = res.trades.filter(pl.col("reason").is_in(["open", "roll"]))
    opens = pl.concat([opens, parse_instrument_names(opens["instrument_name"]).select("strike", "option_type",
                                                                                      pl.col("expiry").alias("exp"))],
                      how="horizontal")
    # on a roll day the old expiry is closed and a later one opened: keep the opening legs
    opens = opens.filter(pl.col("exp") == pl.col("exp").max().over("date", "asset"))
    condors = opens.group_by("date", "asset", "exp").agg(pl.len(), pl.col("side").sort_by("strike"),
                                                         pl.col("option_type").sort_by("strike"),
                                                         pl.col("qty").n_unique().alias("sizes"), pl.col("qty").first())
    condors = condors.filter(pl.col("len") == 4)
    assert condors.height >= 4
    assert all(s == ["buy", "sell", "sell", "buy"] for s in condors["side"].to_list())
    assert all(t == ["P", "P", "C", "C"] for t in condors["option_type"].to_list())
    assert (condors["sizes"] == 1).all() and (condors["qty"] >= 0.1).all()


def test_costs_reduce_net_monotonically_and_match_a_rerun(simulated):
    chain, perp, sig, cfg, res = simulated
    table = res.cost_sensitivity
    assert sorted(table["asset"].unique()) == ["ALL", "BTC", "ETH"]
    for asset in ("ALL", "BTC", "ETH"):
        part = table.filter(pl.col("asset") == asset).sort("cost_mult")
        assert part["cost_mult"].to_list() == [0.5, 1.0, 1.5, 2.0, 3.0]
        assert (np.diff(part["net_usd"].to_numpy()) < 0).all()
        assert (np.diff(part["max_drawdown_usd"].to_numpy()) >= -1e-9).all()
    at_one = table.filter((pl.col("asset") == "BTC") & (pl.col("cost_mult") == 1.0))["net_usd"].item()
    assert at_one == pytest.approx(res.daily.filter(pl.col("asset") == "BTC")["net_usd"].sum())
    doubled = run_option_backtest(chain, perp, sig, OptionBacktestConfig(cost_mult=2.0, family="har", horizon=7))
    at_two = table.filter((pl.col("asset") == "ALL") & (pl.col("cost_mult") == 2.0))["net_usd"].item()
    assert doubled.daily["net_usd"].sum() == pytest.approx(at_two, rel=1e-9)
    # a stress multiplier changes costs only, never what is held
    assert doubled.daily["position"].to_list() == res.daily["position"].to_list()


def test_same_inputs_give_identical_output(simulated):
    chain, perp, sig, cfg, res = simulated
    again = run_option_backtest(chain, perp, sig, cfg)
    assert again.daily.equals(res.daily) and again.trades.equals(res.trades)


# ---- inputs --------------------------------------------------------------------------------
def test_perp_closes_takes_the_last_perpetual_bar_of_each_day():
    ts = [datetime(2024, 1, 1, h, tzinfo=UTC) for h in (0, 22, 23)] + [datetime(2024, 1, 2, 23, tzinfo=UTC)]
    bars = pl.DataFrame({"ts": ts * 2, "asset": "BTC", "kind": ["perpetual"] * 4 + ["spot"] * 4,
                         "close": [1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0]})
    out = perp_closes(bars.sample(fraction=1.0, shuffle=True, seed=1))
    assert out.to_dicts() == [
        {"date": date(2024, 1, 1), "asset": "BTC", "perp_price": 3.0},
        {"date": date(2024, 1, 2), "asset": "BTC", "perp_price": 4.0},
    ]


def test_bad_signals_and_config_are_refused():
    fwd, iv = smooth_path(3)
    with pytest.raises(ValueError, match="signals must be -1, 0 or \\+1"):
        run_option_backtest(synthetic_chain(fwd, iv), synthetic_perp(fwd), signals_of([1, 2, 0]))
    as_float = signals_of([1, -1, 0]).with_columns(pl.col("signal").cast(pl.Float64))
    assert run_option_backtest(synthetic_chain(fwd, iv), synthetic_perp(fwd), as_float).daily["position"].to_list() == [
        1, -1, 0
    ]
    with pytest.raises(ValueError, match="dte_min"):
        OptionBacktestConfig(dte_min=10, dte_target=8)
    with pytest.raises(ValueError, match="wing"):
        OptionBacktestConfig(condor_short_delta=0.1, condor_wing_delta=0.2)
