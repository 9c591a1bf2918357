"""`run_ivrank`: every candidate simulated, the gate walked forward, three strategies scored.

Order: per coin (one coin's chain in memory at a time) index the chain, build every
(day, structure) candidate and simulate it (trades.py); join each candidate's entry-day
features; walk the gate forward by month (gate.py); choose month K's gate threshold and
regime structures from outcomes known before K; schedule the strategies (one position per
coin each) on the out-of-sample window, i.e. entries in the gate's fold months, so the
rule, the gated rule and the regime choice are compared over the same days.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from dvol_pipeline.quant.execution.options.market import index_chain
from dvol_pipeline.quant.execution.options.run import perp_on_days
from dvol_pipeline.quant.learn.folds import month_start

from .candidates import build_candidates
from .config import GATED, REGIME_SELECTION, RULE, STRATEGIES, IVRankConfig
from .gate import FEATURES, FOLD_SCHEMA, choose_thresholds, month_of, structure_code, walk_forward
from .metrics import strategy_metrics
from .strategies import regime_choices, rule_structure, schedule
from .trades import GREEKS, TradeSim, simulate

REGIME_COLS = ["dvol_rank", "dvol_pct", "rv_iv_ratio", "iv30_pct", "regime", "regime_code"]
TAKEN = {RULE: "taken_rule", GATED: "taken_gated", REGIME_SELECTION: "taken_regime"}
WANTS = {RULE: "rule_structure", GATED: "gated_structure", REGIME_SELECTION: "regime_structure"}


@dataclass(frozen=True)
class IVRankResult:
    trades: pl.DataFrame  # every candidate, outcome, prob, fold, taken flags
    folds: pl.DataFrame  # gate metrics and threshold per month
    choices: pl.DataFrame  # regime selection per month and regime
    metrics: pl.DataFrame  # strategy x regime x coin x cost_mult
    daily: pl.DataFrame  # strategy x coin x day P&L (costs x1) and attribution

    def tables(self) -> dict[str, pl.DataFrame]:
        return {"ivrank_trades": self.trades, "ivrank_gate_folds": self.folds,
                "ivrank_regime_choices": self.choices, "ivrank_strategy_metrics": self.metrics,
                "ivrank_daily": self.daily}


def simulate_coins(chain: pl.LazyFrame, perp: pl.DataFrame, cfg: IVRankConfig) -> TradeSim:
    """All candidates of every coin, one coin's chain indexed (and freed) at a time."""
    lf = chain.lazy()
    trades, days = [], []
    for coin in sorted(lf.select(pl.col("asset").unique()).collect()["asset"].to_list()):
        for asset_chain in index_chain(lf.filter(pl.col("asset") == coin)).values():
            sim = simulate(asset_chain, build_candidates(asset_chain, cfg), perp_on_days(asset_chain, perp), cfg)
            trades.append(sim.trades)
            days.append(sim.days)
            del asset_chain
    if not trades:
        raise ValueError("ivrank: the option chain has no rows to trade")
    return TradeSim(pl.concat(trades), pl.concat(days))


def entry_features(trades: pl.DataFrame, regimes: pl.DataFrame, surface: pl.DataFrame | None,
                   features: pl.DataFrame | None, cfg: IVRankConfig) -> pl.DataFrame:
    """Candidates with the entry day's features (FEATURES) and the rule's structure."""
    missing = [c for c in ["date", "asset", *REGIME_COLS] if c not in regimes.columns]
    if missing:
        raise ValueError(f"vol_regimes lacks column(s) {missing}")
    out = trades.join(regimes.select("date", "asset", "dvol", *REGIME_COLS), left_on=["entry_date", "asset"],
                      right_on=["date", "asset"], how="left")
    for frame in (surface, features):
        if frame is None:
            continue
        cols = [c for c in FEATURES if c in frame.columns and c not in out.columns]
        if cfg.skew_column in frame.columns and cfg.skew_column not in out.columns and cfg.skew_column not in cols:
            cols.append(cfg.skew_column)
        out = out.join(frame.select("date", "asset", *cols).unique(["date", "asset"]),
                       left_on=["entry_date", "asset"], right_on=["date", "asset"], how="left")
    if cfg.skew_column not in out.columns:
        out = out.with_columns(pl.lit(None, pl.Float64).alias(cfg.skew_column))
    assets = sorted(out["asset"].unique().to_list())
    return out.with_columns(
        structure_code().alias("structure_code"),
        pl.col("asset").replace_strict({a: i for i, a in enumerate(assets)}, return_dtype=pl.Int8).alias("asset_code"),
        (pl.col("premium_usd") / cfg.notional_usd).alias("premium_frac"),
        rule_structure(cfg),
    )


def run_ivrank(chain: pl.LazyFrame | pl.DataFrame, perp: pl.DataFrame, regimes: pl.DataFrame,
               surface: pl.DataFrame | None, features: pl.DataFrame | None,
               cfg: IVRankConfig = IVRankConfig()) -> IVRankResult:
    """The IV-rank strategies and their gate (module doc); perp: date, asset, perp_price."""
    sim = simulate_coins(chain, perp, cfg)
    cands = entry_features(sim.trades, regimes, surface, features, cfg).sort("asset", "entry_date", "structure")
    cands, fold_metrics = walk_forward(cands, cfg)
    months = fold_metrics["fold"].to_list()
    rule_rows = cands.filter(pl.col("structure") == pl.col("rule_structure"))
    thresholds = choose_thresholds(rule_rows, months, cfg)
    folds = fold_metrics.join(thresholds, on="fold", how="left").select(list(FOLD_SCHEMA)).sort("fold")
    choices = regime_choices(cands, months, cfg)
    in_window = month_of().is_in(months)
    cands = (
        cands.with_columns(month_of().alias("_month"))
        .join(thresholds.select(pl.col("fold").alias("_month"), "threshold"), on="_month", how="left")
        .join(choices.select(pl.col("fold").alias("_month"), "regime", pl.col("structure").alias("regime_structure")),
              on=["_month", "regime"], how="left")
        .with_columns(
            pl.when(in_window).then(pl.col("rule_structure")).alias("rule_structure"),
            pl.when(in_window).then(pl.col("regime_structure")).alias("regime_structure"),
        )
        .with_columns(
            pl.when(pl.col("prob") >= pl.col("threshold")).then(pl.col("rule_structure")).alias("gated_structure"),
        )
    )
    cands = cands.with_columns(pl.Series(TAKEN[s], schedule(cands, WANTS[s])) for s in STRATEGIES)
    trades_out = cands.drop("_month", "gated_structure").rename({"threshold": "gate_threshold"})
    daily, metrics = _score(cands, sim.days, months, cfg)
    return IVRankResult(trades_out, folds, choices, metrics, daily)


def _score(cands: pl.DataFrame, days: pl.DataFrame, months: list[str], cfg: IVRankConfig):
    key = ["asset", "entry_date", "structure"]
    taken_t, taken_d = [], []
    for s in STRATEGIES:
        t = cands.filter(pl.col(TAKEN[s])).select(*key, "regime", "gross_usd", "unit_cost_usd", *GREEKS).with_columns(
            pl.lit(s).alias("strategy"))
        taken_t.append(t)
        taken_d.append(days.join(t.select(*key, "regime", "strategy"), on=key, how="inner"))
    trades, day_rows = pl.concat(taken_t), pl.concat(taken_d)
    daily = (
        day_rows.group_by("strategy", "asset", "date")
        .agg(pl.col("gross_usd", "unit_cost_usd", *GREEKS).sum(), pl.len().cast(pl.Int32).alias("n_open"))
        .with_columns((pl.col("gross_usd") - pl.col("unit_cost_usd")).alias("net_usd"))
        .sort("strategy", "asset", "date")
    )
    if not months:
        return daily, strategy_metrics(trades.head(0), day_rows.head(0), cands["entry_date"].min(),
                                       cands["entry_date"].max(), cfg)
    first = month_start(months[0])
    last = max(cands["exit_date"].max(), first)
    return daily, strategy_metrics(trades, day_rows, first, last, cfg)
