"""Which candidates each strategy trades: the IV-rank rule, the gated rule, the regime choice.

All three hold at most one position per asset at a time: a day's entry is taken only when
the previous trade of that strategy and asset exited on an earlier day. The rule's inputs
(IV rank, skew) are the entry day's closes; the gate's threshold and the regime choice of
month K come from outcomes known before K starts (gate.py, `regime_choices`).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from dvol_pipeline.quant.learn.folds import month_start

from .config import CALL_SPREAD, IRON_CONDOR, LONG_STRADDLE, PUT_SPREAD, IVRankConfig


def rule_structure(cfg: IVRankConfig) -> pl.Expr:
    """The rule's structure for a day from its IV rank and skew (config doc); null = no trade."""
    rank, skew = pl.col(cfg.rank_column), pl.col(cfg.skew_column)
    sell = (
        pl.when(skew < cfg.skew_put_rich).then(pl.lit(PUT_SPREAD))
        .when(skew > cfg.skew_call_rich).then(pl.lit(CALL_SPREAD))
        .otherwise(pl.lit(IRON_CONDOR))
    )
    return (
        pl.when(rank >= cfg.high_rank).then(sell)
        .when(rank <= cfg.low_rank).then(pl.lit(LONG_STRADDLE))
        .otherwise(pl.lit(None, pl.Utf8))
        .alias("rule_structure")
    )


CHOICE_SCHEMA = {"fold": pl.Utf8, "regime": pl.Utf8, "structure": pl.Utf8, "n_past": pl.Int64,
                 "past_mean_net_usd": pl.Float64}


def regime_choices(cands: pl.DataFrame, months: list[str], cfg: IVRankConfig) -> pl.DataFrame:
    """Per month K and entry regime: the structure with the best mean net P&L per trade (costs x1)
    among those with >= `min_regime_trades` candidates that exited before K starts; null (trade
    nothing) when none has enough or every mean is <= 0."""
    known = cands.filter(pl.col("regime").is_not_null())
    rows = []
    for fold in months:
        past = known.filter(pl.col("exit_date") < month_start(fold))
        stats = past.group_by("regime", "structure").agg(pl.len().alias("n"), pl.col("net_usd").mean().alias("mean"))
        for regime in sorted(known["regime"].unique().to_list()):
            s = stats.filter((pl.col("regime") == regime) & (pl.col("n") >= cfg.min_regime_trades)).sort(
                "mean", "structure", descending=[True, False])
            best = s.row(0, named=True) if s.height else None
            take = best is not None and best["mean"] > 0
            rows.append({"fold": fold, "regime": regime, "structure": best["structure"] if take else None,
                         "n_past": best["n"] if best else 0, "past_mean_net_usd": best["mean"] if best else None})
    return pl.DataFrame(rows, schema=CHOICE_SCHEMA)


def schedule(cands: pl.DataFrame, wanted: str) -> np.ndarray:
    """Boolean per candidate row: taken by a strategy that wants the structure in column `wanted`
    on each (asset, day), one open position per asset (next entry after the last exit)."""
    frame = cands.with_row_index("_i").filter(pl.col("structure") == pl.col(wanted)).sort("asset", "entry_date")
    taken = np.zeros(cands.height, bool)
    for part in frame.partition_by("asset"):
        free_after = None
        for i, entry, exit_ in zip(part["_i"].to_list(), part["entry_date"].to_list(), part["exit_date"].to_list()):
            if free_after is None or entry > free_after:
                taken[i] = True
                free_after = exit_
    return taken

