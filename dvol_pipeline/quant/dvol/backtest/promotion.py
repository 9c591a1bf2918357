"""Which family drives live signals, per horizon, judged on past folds only.

A family is promoted only if, over the folds before `as_of_fold`, its futures strategy
beats HAR (the baseline) on net Sharpe AND on max drawdown (both coins together); among
those the best net Sharpe wins; if none qualifies HAR stays. A family that never held a
position is not eligible (its Sharpe is undefined, not good); its Sharpe counts as 0 in the
comparison, like a HAR that never traded. Past means P&L realised before the fold's first
day (rows dated up to the first day minus two), as for the thresholds.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from dvol_pipeline.quant.dvol.backtest.config import BacktestConfig
from dvol_pipeline.quant.evaluate.strategy import ALL_ASSETS, strategy_metrics
from dvol_pipeline.quant.stats import PERIODS_PER_YEAR

BASELINE = "har"
EVIDENCE_COLUMNS = ["horizon", "family", "net_sharpe", "max_drawdown_usd", "har_sharpe", "har_max_drawdown",
                    "beats_har_sharpe", "beats_har_drawdown", "eligible"]


def fold_start(fold: str) -> date:
    try:
        year, month = fold.split("-")
        return date(int(year), int(month), 1)
    except ValueError:
        raise ValueError(f"fold keys look like '2024-06', got {fold!r}") from None


def _past_metrics(daily: pl.DataFrame, as_of_fold: str, capital_usd: float, annualization: int) -> pl.DataFrame:
    past = daily.filter(pl.col("date") <= fold_start(as_of_fold) - timedelta(days=2))
    if past.is_empty():
        return pl.DataFrame(schema={"horizon": pl.Int32, "family": pl.Utf8, "sharpe": pl.Float64,
                                    "max_drawdown_usd": pl.Float64, "exposure": pl.Float64})
    return strategy_metrics(past, capital_usd=capital_usd, annualization=annualization).filter(
        pl.col("asset") == ALL_ASSETS
    )


def promote(
    daily_or_metrics: pl.DataFrame, as_of_fold: str, *, baseline: str = BASELINE,
    capital_usd: float = BacktestConfig.capital_usd, annualization: int = PERIODS_PER_YEAR,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(decisions: horizon, promoted_family, reason; evidence: EVIDENCE_COLUMNS).

    A daily frame (has `date`) is cut to the folds before `as_of_fold`; a metrics frame
    (horizon, family, sharpe, max_drawdown_usd[, exposure][, asset]) is taken as already
    past-only, using its asset="ALL" rows when it has them."""
    frame = daily_or_metrics
    if "date" in frame.columns:
        metrics = _past_metrics(frame, as_of_fold, capital_usd, annualization)
    else:
        metrics = frame.filter(pl.col("asset") == ALL_ASSETS) if "asset" in frame.columns else frame
    if "strategy" in metrics.columns and metrics.group_by("horizon").agg(pl.col("strategy").n_unique().max())[
        "strategy"
    ].max() not in (None, 1):
        raise ValueError("promote() compares families within one strategy per horizon; filter the frame first")
    if "exposure" not in metrics.columns:
        metrics = metrics.with_columns(exposure=pl.lit(1.0))
    scored = metrics.select(
        pl.col("horizon").cast(pl.Int32), "family", net_sharpe=pl.col("sharpe").fill_nan(None),
        max_drawdown_usd="max_drawdown_usd", traded=pl.col("exposure") > 0,
    )
    base = scored.filter(pl.col("family") == baseline).select(
        "horizon", har_sharpe="net_sharpe", har_max_drawdown="max_drawdown_usd"
    )
    evidence = (
        scored.join(base, on="horizon", how="left")
        .with_columns(
            beats_har_sharpe=(pl.col("net_sharpe").fill_null(0.0) > pl.col("har_sharpe").fill_null(0.0))
            & pl.col("har_max_drawdown").is_not_null(),
            beats_har_drawdown=(pl.col("max_drawdown_usd") < pl.col("har_max_drawdown")).fill_null(False),
        )
        .with_columns(
            eligible=pl.col("beats_har_sharpe") & pl.col("beats_har_drawdown") & pl.col("traded")
            & (pl.col("family") != baseline)
        )
        .select(EVIDENCE_COLUMNS)
        .sort("horizon", "family")
    )
    return _decide(evidence, as_of_fold, baseline), evidence


def _decide(evidence: pl.DataFrame, as_of_fold: str, baseline: str) -> pl.DataFrame:
    rows = []
    for (horizon,), group in evidence.group_by("horizon", maintain_order=True):
        winners = group.filter(pl.col("eligible")).sort("net_sharpe", "family", descending=[True, False])
        if winners.height:
            w = winners.row(0, named=True)
            reason = (f"{w['family']} beats {baseline} on net Sharpe ({w['net_sharpe']:.2f} vs "
                      f"{w['har_sharpe'] or 0.0:.2f}) and max drawdown ({w['max_drawdown_usd']:,.0f} vs "
                      f"{w['har_max_drawdown']:,.0f} USD) over folds before {as_of_fold}")
            rows.append((horizon, w["family"], reason))
        else:
            why = ("no baseline result" if group.filter(pl.col("family") == baseline).is_empty()
                   else f"no family beats {baseline} on both net Sharpe and max drawdown")
            rows.append((horizon, baseline, f"{why} over folds before {as_of_fold}; {baseline} stays"))
    return pl.DataFrame(rows, schema={"horizon": pl.Int32, "promoted_family": pl.Utf8, "reason": pl.Utf8},
                        orient="row").sort("horizon")
