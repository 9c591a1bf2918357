"""IV-rank strategies: exits on a hand-built chain, exact cost sensitivity, the DTE window,
held legs missing from the chain, and the gate / regime choice seeing only the past."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.quant.execution.options import index_chain
from dvol_pipeline.quant.options.ivrank import (
    IVRankConfig,
    choose_thresholds,
    regime_choices,
    schedule,
    walk_forward,
)
from dvol_pipeline.quant.options.ivrank.candidates import build_candidates
from dvol_pipeline.quant.options.ivrank.metrics import strategy_metrics
from dvol_pipeline.quant.options.ivrank.trades import GREEKS, simulate
from dvol_pipeline.quant.execution.options.run import perp_on_days

from dvol_pipeline_tests.quant.execution.options.test_option_strategies import START, synthetic_chain, synthetic_perp

N = 40


def _sim(fwd, iv, chain_rows=None, days=(0,), **kw):
    cfg = IVRankConfig(**kw)
    rows = synthetic_chain(fwd, iv) if chain_rows is None else chain_rows
    chain = index_chain(rows)["BTC"]
    cand = build_candidates(chain, cfg, None if days is None else np.asarray(days))
    return simulate(chain, cand, perp_on_days(chain, synthetic_perp(fwd)), cfg), cfg


def _trade(sim, structure):
    return sim.trades.filter(pl.col("structure") == structure).row(0, named=True)


def test_profit_target_exits_when_iv_collapses():
    iv = np.r_[0.55, np.full(N - 1, 0.30)]
    sim, _ = _sim(np.full(N, 40_000.0), iv, hedge=False)
    t = _trade(sim, "iron_condor")
    assert t["premium_usd"] > 0 and t["exit_reason"] == "profit_target" and t["days_held"] == 1
    assert t["gross_usd"] >= 0.5 * t["premium_usd"]
    assert t["vega_usd"] > 0  # short vega earned the fall in IV


def test_stop_exits_on_a_crash_and_the_loss_is_bounded_by_the_wings():
    fwd = np.r_[40_000.0, np.full(N - 1, 30_000.0)]
    sim, _ = _sim(fwd, np.full(N, 0.55), hedge=False, stop_mult=1.0)
    for name in ("iron_condor", "put_credit_spread"):
        t = _trade(sim, name)
        assert t["exit_reason"] == "stop" and t["days_held"] == 1, name
        assert -t["gross_usd"] >= t["premium_usd"]
        assert -t["gross_usd"] <= t["max_loss_usd"] + 1e-6  # defined risk: never beyond width - credit
    # the call spread profits from the same crash
    assert _trade(sim, "call_credit_spread")["exit_reason"] == "profit_target"


def test_dte_floor_exit_on_a_quiet_market():
    sim, cfg = _sim(np.full(N, 40_000.0), np.full(N, 0.55), debit_stop=0.95, debit_profit_target=5.0)
    t = _trade(sim, "long_straddle")
    assert t["exit_reason"] == "dte_floor"
    assert cfg.dte_floor - 1 < t["exit_dte"] <= cfg.dte_floor
    assert t["theta_usd"] < 0 and t["gross_usd"] < 0  # a long straddle pays time decay in a still market


def test_end_of_data_closes_an_open_trade_on_the_last_day():
    n = 8
    sim, _ = _sim(np.full(n, 40_000.0), np.full(n, 0.55), debit_stop=0.95, debit_profit_target=5.0)
    t = _trade(sim, "long_straddle")
    assert t["exit_reason"] == "end_of_data" and t["exit_date"] == START + timedelta(days=n - 1)


def test_costs_are_spreads_and_fees_and_net_is_exactly_linear_in_the_multiplier():
    fwd, iv = np.full(N, 40_000.0), np.r_[0.55, np.full(N - 1, 0.30)]
    # no fees, no hedge: the unit cost is the half-spread (0.0005 coin) on every leg, in and out
    # (a sale below 0.0005 coin has no bid: its half-spread is clipped at the mark, costs.py)
    sim, _ = _sim(fwd, iv, hedge=False, option_fee_rate=0.0, perp_fee_rate=0.0)
    for t in sim.trades.iter_rows(named=True):
        full = 2 * t["n_legs"] * t["units"] * 0.0005 * 40_000.0
        if t["structure"] == "long_straddle":  # at the money: always quoted both ways
            assert t["unit_cost_usd"] == pytest.approx(full)
        assert 0 < t["unit_cost_usd"] <= full + 1e-9
        assert t["net_usd"] == pytest.approx(t["gross_usd"] - t["unit_cost_usd"])
    # with fees and a hedge: the strategy table at m equals gross - m x cost(1)
    sim, cfg = _sim(fwd * np.exp(np.linspace(0, 0.2, N)), iv, days=range(0, 20))
    trades = sim.trades.with_columns(pl.lit("x").alias("strategy"), pl.lit("neutral").alias("regime"))
    days = sim.days.join(trades.select("entry_date", "structure", "strategy", "regime"), on=["entry_date", "structure"])
    m = strategy_metrics(trades, days, START, START + timedelta(days=N), cfg).filter(pl.col("asset") == "ALL")
    gross, cost1 = trades["gross_usd"].sum(), trades["unit_cost_usd"].sum()
    assert cost1 > 0
    for row in m.filter(pl.col("regime") == "ALL").iter_rows(named=True):
        assert row["net_usd"] == pytest.approx(gross - row["cost_mult"] * cost1, abs=1e-6)
        assert row["cost_usd"] == pytest.approx(row["cost_mult"] * cost1)
    assert sorted(m["cost_mult"].unique().to_list()) == [0.5, 1.0, 1.5, 2.0, 3.0]


def test_day_rows_add_up_to_the_trade_and_greeks_explain_the_gross():
    rng = np.random.default_rng(5)
    fwd = 40_000.0 * np.exp(np.cumsum(rng.normal(0, 0.02, N)))
    iv = 0.55 + np.cumsum(rng.normal(0, 0.01, N))
    sim, _ = _sim(fwd, iv, days=range(0, 10))
    sums = sim.days.group_by("entry_date", "structure").agg(
        pl.col("gross_usd", "unit_cost_usd").sum(), pl.sum_horizontal(GREEKS).sum().alias("parts"))
    j = sums.join(sim.trades, on=["entry_date", "structure"], suffix="_t")
    assert j.height == sim.trades.height == 40
    for a, b in (("gross_usd", "gross_usd_t"), ("unit_cost_usd", "unit_cost_usd_t"), ("parts", "gross_usd_t")):
        assert np.allclose(j[a].to_numpy(), j[b].to_numpy(), atol=1e-6)
    assert (sim.trades["max_adverse_usd"] >= 0).all()


def test_no_entry_outside_the_dte_window():
    fwd, iv = np.full(N, 40_000.0), np.full(N, 0.55)
    sim, cfg = _sim(fwd, iv, days=None, entry_dte_min=20.0, entry_dte_max=25.0, entry_dte_target=22.0)
    entries = sim.trades["entry_dte"]
    assert sim.trades.height > 0 and entries.min() >= 20.0 and entries.max() <= 25.0
    # weekly expiries leave days with no expiry 20-25 days out: those days have no candidate
    assert sim.trades["entry_date"].n_unique() < N - 1


def test_a_held_leg_missing_from_the_chain_is_marked_from_the_smile():
    fwd, iv = np.full(N, 40_000.0), np.full(N, 0.55)
    full, _ = _sim(fwd, iv, hedge=False)
    t = _trade(full, "iron_condor")
    chain = synthetic_chain(fwd, iv)
    # drop every strike of the condor's expiry between the short put and the wing, on days 1-3
    idx = index_chain(chain)["BTC"]
    cand = build_candidates(idx, IVRankConfig(), np.array([0]))
    rows = cand.row[cand.structure == 0][0]
    names = idx.names[idx.cols["inst"][rows]].tolist()
    gone = pl.col("instrument_name").is_in(names[:2]) & pl.col("ts").dt.date().is_between(
        START + timedelta(days=1), START + timedelta(days=3))
    holed, _ = _sim(fwd, iv, chain_rows=chain.filter(~gone), hedge=False)
    h = _trade(holed, "iron_condor")
    assert h["fallback_quotes"] > 0 and t["fallback_quotes"] == 0
    assert np.isfinite(h["gross_usd"]) and h["exit_reason"] == t["exit_reason"]
    assert h["gross_usd"] == pytest.approx(t["gross_usd"], rel=1e-6)  # flat smile: the model mark is the mark


# ---- the gate and the regime choice see only the past ------------------------------------
def _oos(seed=1, months=8):
    rng = np.random.default_rng(seed)
    days = [date(2022, 1, 1) + timedelta(days=i) for i in range(months * 30)]
    n = len(days)
    return pl.DataFrame({
        "entry_date": days, "exit_date": [d + timedelta(days=int(k)) for d, k in zip(days, rng.integers(3, 25, n))],
        "prob": rng.uniform(0.2, 0.8, n), "net_usd": rng.normal(0, 100, n),
    }).with_columns(pl.col("entry_date").dt.strftime("%Y-%m").alias("fold"))


def test_threshold_of_month_k_never_depends_on_month_k_or_later():
    cfg = IVRankConfig(min_past_folds=2, min_taken=5)
    oos = _oos()
    folds = sorted(oos["fold"].unique().to_list())
    base = choose_thresholds(oos, folds, cfg)
    assert (base["threshold_source"] == "past folds").sum() >= 4
    rng = np.random.default_rng(9)
    for k in folds[2:]:
        later = pl.col("fold") >= k
        moved = oos.with_columns(
            pl.when(later).then(pl.lit(rng.uniform(0, 1, oos.height))).otherwise(pl.col("prob")).alias("prob"),
            pl.when(later).then(-pl.col("net_usd") * 7).otherwise(pl.col("net_usd")).alias("net_usd"),
        )
        again = choose_thresholds(moved, folds, cfg)
        assert again.filter(pl.col("fold") == k).row(0) == base.filter(pl.col("fold") == k).row(0), k
    # a past month does move it: reward only the most confident trades of the first months
    early = oos.with_columns(pl.when(pl.col("fold") < folds[4]).then(
        pl.when(pl.col("prob") >= 0.7).then(1000.0).otherwise(-1000.0)).otherwise(pl.col("net_usd")).alias("net_usd"))
    changed = choose_thresholds(early, folds, cfg)
    assert changed.filter(pl.col("fold") == folds[4])["threshold"].item() == 0.7
    # with too few past folds: the documented default
    assert base["threshold"][0] == cfg.default_threshold and base["threshold_source"][0].startswith("default")


def _candidates(seed=3):
    rng = np.random.default_rng(seed)
    days = [date(2022, 1, 1) + timedelta(days=i) for i in range(200)]
    rows = []
    for s in range(4):
        x = rng.normal(0, 1, len(days))
        rows.append(pl.DataFrame({
            "entry_date": days, "exit_date": [d + timedelta(days=10) for d in days], "structure_code": s,
            "structure": ["iron_condor", "put_credit_spread", "call_credit_spread", "long_straddle"][s],
            "surf_atm_30d": x, "dvol_rank": rng.uniform(0, 1, len(days)),
            "net_usd": 100 * x + rng.normal(0, 60, len(days)),
            "regime": rng.choice(["neutral", "high_vol"], len(days)),
        }))
    return pl.concat(rows)


def test_gate_trains_only_on_trades_that_exited_before_the_month():
    cfg = IVRankConfig(min_train=100, n_estimators=20)
    cands = _candidates()
    out, folds = walk_forward(cands, cfg)
    k = "2022-05"
    assert k in folds["fold"].to_list() and folds["auc"].drop_nulls().mean() > 0.7  # the feature is informative
    # relabel everything that exits in month K or later: month K's predictions cannot move
    flipped = cands.with_columns(pl.when(pl.col("exit_date") >= date(2022, 5, 1)).then(-pl.col("net_usd"))
                                 .otherwise(pl.col("net_usd")).alias("net_usd"))
    out2, _ = walk_forward(flipped, cfg)
    p1 = out.filter(pl.col("fold") == k)["prob"].to_numpy()
    p2 = out2.filter(pl.col("fold") == k)["prob"].to_numpy()
    assert p1.size > 0 and np.array_equal(p1, p2)
    # deterministic, and a later month does learn from the relabelled trades
    assert np.array_equal(walk_forward(cands, cfg)[0]["prob"].to_numpy(), out["prob"].to_numpy(), equal_nan=True)
    assert not np.array_equal(out.filter(pl.col("fold") == "2022-07")["prob"].to_numpy(),
                              out2.filter(pl.col("fold") == "2022-07")["prob"].to_numpy())


def test_regime_choice_uses_only_trades_that_exited_before_the_month():
    cfg = IVRankConfig(min_regime_trades=10)
    cands = _candidates()
    months = ["2022-04", "2022-05", "2022-06"]
    base = regime_choices(cands, months, cfg)
    worse = cands.with_columns(pl.when(pl.col("exit_date") >= date(2022, 5, 1)).then(pl.col("net_usd") - 1e6)
                               .otherwise(pl.col("net_usd")).alias("net_usd"))
    again = regime_choices(worse, months, cfg)
    for k in ("2022-04", "2022-05"):
        assert again.filter(pl.col("fold") == k).equals(base.filter(pl.col("fold") == k))
    assert again.filter(pl.col("fold") == "2022-06")["structure"].null_count() == 2  # every past mean < 0 now
    # a structure is chosen only with a positive past mean
    assert (base.filter(pl.col("structure").is_not_null())["past_mean_net_usd"] > 0).all()


def test_one_open_position_per_asset():
    d0 = date(2022, 1, 1)
    cands = pl.DataFrame({
        "asset": ["BTC"] * 5 + ["ETH"],
        "entry_date": [d0 + timedelta(days=i) for i in (0, 1, 5, 6, 7)] + [d0 + timedelta(days=1)],
        "exit_date": [d0 + timedelta(days=i) for i in (5, 3, 6, 9, 8)] + [d0 + timedelta(days=2)],
        "structure": ["iron_condor"] * 6, "want": ["iron_condor"] * 6,
    })
    # BTC: day 0 (out day 5) -> day 5 is the exit day, not free -> day 6 (out 9) -> day 7 skipped; ETH alone
    assert schedule(cands, "want").tolist() == [True, False, False, True, False, True]


def test_a_chain_without_any_expiry_in_the_window_gives_empty_tables_not_an_error(tmp_path):
    from datetime import date as d

    from dvol_pipeline.quant.execution.options import perp_closes
    from dvol_pipeline.quant.options.ivrank import run_ivrank
    from dvol_pipeline_tests.toy_market import toy_table

    first, last = d(2024, 1, 1), d(2024, 1, 20)
    chain = toy_table("raw_option_chain", first, last, ["BTC"])  # one expiry 8 days out: below the 14-day window
    perp = perp_closes(toy_table("raw_ohlcv", first, last, ["BTC"]))
    regimes = pl.DataFrame({"date": pl.date_range(first, last, eager=True), "asset": "BTC", "dvol": 60.0,
                            "dvol_rank": 0.9, "dvol_pct": 0.9, "rv_iv_ratio": 0.5, "iv30_pct": 0.9,
                            "regime": "high_vol", "regime_code": 2})
    res = run_ivrank(chain, perp, regimes, None, None)
    assert all(frame.is_empty() for frame in res.tables().values())
    from dvol_pipeline.lake.parquet import write_single

    for name, frame in res.tables().items():  # and they still meet their contracts
        write_single(tmp_path, name, frame)
