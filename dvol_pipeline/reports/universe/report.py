"""The universe report: one self-contained HTML page per run, from the lane's frames.

Sections: the universe (coins, skipped ones and why), the EDA (close, returns and 7-day vol
of sample coins, distributions, a feature correlation heatmap, vol by market-cap quartile,
rolling correlation with BTC), the model table over the top 10 coins by market cap and the
headline per family, cross-symbol validation, actual vs predicted, confusion matrices,
calibration, SHAP and ablations, and the strategy. A section whose input is missing says
so instead of failing the page (as the tear sheet does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from dvol_pipeline.reports.charts import (Panel, Series, calibration_panels, color, histograms, horizontal_bars,
                                          line_panels, matrix_heatmaps)
from dvol_pipeline.reports.html import Section, cards, document, esc, explain, figure, note, table

CLASSES = ("low", "mid", "high")
EDA_FEATURES = ("ret", "abs_ret", "range", "ret_std_7", "ret_std_30", "atr_14", "bb_width", "rsi_14", "macd_hist",
                "vol_to_mcap", "amihud_30", "log_mcap", "corr_btc_30", "beta_btc_30", "vol_spread", "garch_vol_7",
                "y_7", "y_14")


@dataclass
class UniverseReportData:
    title: str
    run_id: str
    symbols: pl.DataFrame
    features: pl.DataFrame
    predictions: pl.DataFrame
    forecast_metrics: pl.DataFrame
    class_metrics: pl.DataFrame
    calibration: pl.DataFrame
    importance: pl.DataFrame | None
    strategy_daily: pl.DataFrame | None
    strategy_metrics: pl.DataFrame | None
    quarantined: int = 0


def _dates(frame: pl.DataFrame) -> np.ndarray:
    return frame["date"].to_numpy().astype("datetime64[D]")


def sample_coins(data: UniverseReportData, k: int = 4) -> list[str]:
    """BTC, ETH and modelled coins spread over the size ranking (large to small)."""
    ranked = data.symbols.filter(pl.col("modelled")).sort("last_market_cap", descending=True, nulls_last=True)["symbol"]
    rest = [s for s in ranked.to_list() if s not in ("BTC", "ETH")]
    picks = [s for s in ("BTC", "ETH") if s in ranked.to_list()]
    if rest:
        picks += [rest[int(i)] for i in np.linspace(0, len(rest) - 1, max(0, k - len(picks))).round()]
    return list(dict.fromkeys(picks))


def top_coins(data: UniverseReportData, k: int = 10) -> list[str]:
    return data.symbols.filter(pl.col("modelled")).sort("last_market_cap", descending=True, nulls_last=True)[
        "symbol"].head(k).to_list()


def _header(data: UniverseReportData) -> str:
    s = data.symbols
    head = data.forecast_metrics.filter((pl.col("scope") == "overall") & (pl.col("split") == "all"))
    best = head.sort("qlike").group_by("horizon", maintain_order=True).first().sort("horizon")
    items = [("coins", str(s.height)), ("modelled", str(s["modelled"].sum())),
             ("stablecoins excluded", str(s["stablecoin"].sum())),
             ("days", f"{data.features['date'].min()}..{data.features['date'].max()}"),
             ("folds", str(data.predictions["fold"].n_unique())), ("rows quarantined", str(data.quarantined))]
    items += [(f"best QLIKE {h} d", f"{f} ({q:.3f})") for h, f, q in best.select("horizon", "family", "qlike").iter_rows()]
    return f"<h1>{esc(data.title)}</h1>" + cards(items)


def universe_section(data: UniverseReportData) -> str:
    cols = ["symbol", "first_day", "last_day", "n_days", "listed_in_history", "delisted", "stablecoin", "source",
            "modelled", "skip_reason"]
    skipped = data.symbols.filter(~pl.col("modelled")).select(cols)
    return (explain("Every coin with its history; stablecoins and coins with too little history are listed with "
                    "the reason the models skip them.")
            + (table(skipped) if skipped.height else note("no coin skipped"))
            + table(data.symbols.select(cols).sort("symbol")))


def eda_series_section(data: UniverseReportData) -> str:
    coins = sample_coins(data)
    f = data.features.filter(pl.col("symbol").is_in(coins)).sort("symbol", "date")
    panels = []
    for metric, title, label in (("close", "Close (log scale: log10 USD)", "log10 USD"), ("ret", "Daily log return", ""),
                                 ("ret_std_7", "7-day realised vol (annualised)", "")):
        series = []
        for i, c in enumerate(coins):
            g = f.filter(pl.col("symbol") == c).drop_nulls(metric)
            y = np.log10(g[metric].to_numpy()) if metric == "close" else g[metric].to_numpy()
            series.append(Series(c, _dates(g), y, color=color(i), width=0.8))
        panels.append(Panel(title, series, ylabel=label))
    return explain("Sample coins from the largest to the smallest modelled one.") + figure(line_panels("u-eda", panels))


def eda_distribution_section(data: UniverseReportData) -> str:
    modelled = data.symbols.filter(pl.col("modelled"))["symbol"].to_list()
    f = data.features.filter(pl.col("symbol").is_in(modelled))
    dist = histograms("u-dist", [("Daily log returns (clipped to ±30 %)", f["ret"].clip(-0.3, 0.3).to_numpy(), "log return"),
                                 ("7-day realised vol", f["ret_std_7"].clip(0, 4).to_numpy(), "annualised vol")])
    cols = [c for c in EDA_FEATURES if c in f.columns]
    corr = f.select(cols).drop_nulls().corr().to_numpy()
    heat = matrix_heatmaps("u-corr", [("Feature correlation (modelled coins)", cols, cols, corr)], ncols=1, cell_in=0.42)
    q = f.drop_nulls("size_usd").with_columns(
        pl.col("size_usd").rank().over("date").alias("__r"), pl.len().over("date").alias("__n"))
    q = q.with_columns(((pl.col("__r") - 1) * 4 // pl.col("__n") + 1).cast(pl.Int32).alias("quartile"))
    by = q.group_by("quartile", pl.col("date").dt.truncate("1mo").alias("date")).agg(pl.col("ret_std_30").median()).sort("date")
    series = [Series(f"Q{k} ({'largest' if k == 4 else 'smallest' if k == 1 else ''})".replace(" ()", ""),
                     _dates(g), g["ret_std_30"].to_numpy(), color=color(k)) for (k,), g in by.group_by("quartile")]
    series.sort(key=lambda s: s.label)
    coins = [c for c in sample_coins(data) if c != "BTC"]
    corr_series = [Series(c, _dates(g), g["corr_btc_30"].to_numpy(), color=color(i), width=0.8)
                   for i, c in enumerate(coins) for g in [f.filter(pl.col("symbol") == c).drop_nulls("corr_btc_30")]]
    panels = line_panels("u-quart", [Panel("Median 30-day vol by market-cap quartile (monthly)", series),
                                     Panel("Rolling 30-day correlation with BTC", corr_series)])
    summary = (f.group_by("symbol").agg(pl.col("ret_std_30").median().alias("median_vol_30"),
                                        pl.col("size_usd").median().alias("median_market_cap"))
               .sort("median_market_cap", descending=True))
    rho = summary.select(pl.corr("median_vol_30", pl.col("median_market_cap").log(), method="spearman")).item()
    return (figure(dist) + figure(heat) + figure(panels) +
            explain(f"Spearman correlation of a coin's median vol with its log market cap: {rho:.2f} "
                    "(negative: smaller coins are more volatile)."))


def model_section(data: UniverseReportData) -> str:
    fm = data.forecast_metrics
    overall = fm.filter((pl.col("scope") == "overall") & (pl.col("split") == "all")).select(
        "family", "horizon", "n", "mae", "rmse", "r2_oos", "qlike", "top20_hit_rate", "dm_vs_har_pooled", "dm_pvalue")
    cm = data.class_metrics.filter((pl.col("scope") == "overall") & (pl.col("split") == "all")).select(
        "family", "horizon", "accuracy", "f1_macro", "precision_macro", "recall_macro", "auc_high")
    top = top_coins(data)
    per_coin = fm.filter((pl.col("scope") == "symbol") & (pl.col("split") == "all") & pl.col("group").is_in(top)).select(
        pl.col("group").alias("symbol"), "family", "horizon", "r2_oos", "qlike", "rmse")
    wide = per_coin.pivot(on="family", index=["symbol", "horizon"], values="qlike").sort("horizon", "symbol")
    tiers = fm.filter((pl.col("scope") == "tier") & (pl.col("split") == "all")).select(
        pl.col("group").alias("tier"), "family", "horizon", "n", "r2_oos", "qlike").sort("horizon", "tier", "qlike")
    return (explain("All coins, all folds. R²_oos is against each coin's training-window mean; QLIKE on variances "
                    "(lower is better); DM < 0: smaller squared errors than the pooled HAR.")
            + table(overall.sort("horizon", "qlike")) + table(cm.sort("horizon", "family"))
            + explain("QLIKE per family for the 10 largest modelled coins (lower is better).") + table(wide)
            + explain("By market-cap tier (large: top 10, mid: 11-30, small: the rest).") + table(tiers))


def cross_symbol_section(data: UniverseReportData) -> str:
    fm = data.forecast_metrics.filter(pl.col("family").is_in(["har_pooled", "lgbm"]) & (
        ((pl.col("scope") == "overall") & (pl.col("split") == "held_out")) | (pl.col("scope") == "held_out_coins")))
    held = data.predictions.filter(pl.col("split") == "held_out")["symbol"].unique().sort().to_list()
    return (explain(f"Pooled models fitted without the held-out coins ({', '.join(held)}) and scored on them only "
                    "(split held_out), against the same families trained on every coin, scored on the same coins "
                    "and days (split all).")
            + table(fm.select("split", "family", "horizon", "n", "r2_oos", "qlike", "rmse").sort("horizon", "family", "split")))


def actual_section(data: UniverseReportData) -> str:
    coins = sample_coins(data)
    p = data.predictions.filter((pl.col("split") == "all") & (pl.col("horizon") == 7) & pl.col("symbol").is_in(coins))
    panels = []
    for c in coins:
        g = p.filter(pl.col("symbol") == c)
        series = [Series("realised 7 d", _dates(g.filter(pl.col("family") == "har_pooled")),
                         g.filter(pl.col("family") == "har_pooled")["y"].to_numpy(), color="#9aa3ab", width=0.8)]
        for i, fam in enumerate(("har_pooled", "lgbm", "ensemble")):
            h = g.filter(pl.col("family") == fam)
            series.append(Series(fam, _dates(h), h["y_hat"].to_numpy(), color=color(i)))
        panels.append(Panel(f"{c}: 7-day realised vol vs forecasts", series))
    return figure(line_panels("u-actual", panels, ncols=2, panel_height=2.4))


def confusion_section(data: UniverseReportData) -> str:
    cm = data.class_metrics.filter((pl.col("scope") == "overall") & (pl.col("split") == "all")
                                   & pl.col("family").is_in(["lgbm_class", "har_pooled", "ensemble"]))
    maps = []
    for row in cm.sort("horizon", "family").iter_rows(named=True):
        counts = np.array([[row[f"n_{a}_as_{b}"] for b in CLASSES] for a in CLASSES], float)
        share = counts / counts.sum(axis=1, keepdims=True)
        maps.append((f"{row['family']} {row['horizon']} d (row share)", [f"true {c}" for c in CLASSES], list(CLASSES), share))
    return (explain("Rows: realised regime (terciles of the coin's own training labels), columns: predicted. "
                    "The regressions' classes are their forecasts bucketed by the same thresholds.")
            + figure(matrix_heatmaps("u-confusion", maps, ncols=3, diverging=False)))


def calibration_section(data: UniverseReportData) -> str:
    cal = data.calibration.filter(pl.col("family").is_in(["har_pooled", "lgbm", "ensemble", "garch"]))
    rows = [(f"{fam} {h} d", g["mean_forecast"].to_numpy(), g["mean_realised"].to_numpy())
            for (fam, h), g in cal.sort("horizon", "family", "decile").group_by("family", "horizon", maintain_order=True)]
    return explain("Mean realised vol per decile of the forecast; a calibrated forecast sits on the diagonal.") + figure(
        calibration_panels("u-cal", rows[:6]))


def shap_section(data: UniverseReportData) -> str:
    if data.importance is None or data.importance.is_empty():
        return note("no SHAP values: the walk-forward ran with explain=False")
    parts = []
    shap = data.importance.filter(pl.col("kind") == "shap")
    for h in sorted(shap["horizon"].unique()):
        g = shap.filter(pl.col("horizon") == h)
        s = g.group_by("feature", "group").agg(pl.col("value").mean()).sort("value", "feature", descending=[True, False]).head(20)
        folds = g["fold"].unique().sort()
        parts.append(figure(horizontal_bars(f"u-shap-{h}", s["feature"].to_list(), s["value"].to_numpy(),
                                            s["group"].to_list()),
                            f"LightGBM mean |SHAP| (log-vol units: the gamma objective's link), {h} d, averaged over "
                            f"{folds.len()} folds {folds[0]}..{folds[-1]}"))
    abl = data.importance.filter(pl.col("kind") == "ablation").select("horizon", "fold", pl.col("feature").alias("group_dropped"),
                                                                    pl.col("value").alias("delta_rmse")).sort("horizon", "delta_rmse", descending=[False, True])
    return "".join(parts) + explain("RMSE change when a feature group is dropped and LightGBM refitted (> 0: the group helps).") + table(abl)


def strategy_section(data: UniverseReportData) -> str:
    if data.strategy_metrics is None or data.strategy_daily is None:
        return note("the strategy was not built")
    book = data.strategy_daily.group_by("strategy", "date").agg(pl.col("net").mean()).sort("date")
    series = [Series(s, _dates(g), np.cumprod(1 + g["net"].to_numpy()), color=color(i))
              for i, ((s,), g) in enumerate(book.group_by("strategy", maintain_order=True))]
    allm = data.strategy_metrics.filter(pl.col("symbol") == "ALL")
    top = top_coins(data)
    coins = data.strategy_metrics.filter(pl.col("symbol").is_in(top)).pivot(on="strategy", index="symbol", values="sharpe")
    return (explain("Equal-weight book over the modelled coins, net of costs (10/25/50 bps per unit of turnover by "
                    "tier). vol_target scales each coin to 50 % forecast vol and holds cash when a High regime is "
                    "predicted; trailing_vol uses the trailing 30-day vol.")
            + table(allm) + figure(line_panels("u-strat", [Panel("Growth of 1 (equal-weight book, net)", series)]))
            + explain("Net Sharpe per rule, 10 largest coins.") + table(coins))


SECTIONS: tuple[tuple[str, str, Callable[[UniverseReportData], str]], ...] = (
    ("universe", "The universe", universe_section),
    ("eda-series", "EDA: sample coins", eda_series_section),
    ("eda-dist", "EDA: distributions, correlations, size", eda_distribution_section),
    ("models", "Models", model_section),
    ("cross-symbol", "Cross-symbol validation", cross_symbol_section),
    ("actual", "Actual vs predicted", actual_section),
    ("confusion", "Confusion matrices", confusion_section),
    ("calibration", "Calibration", calibration_section),
    ("shap", "SHAP and ablations", shap_section),
    ("strategy", "Strategy", strategy_section),
)


def _guarded(build: Callable[[UniverseReportData], str], data: UniverseReportData) -> str:
    try:
        return build(data)
    except Exception as error:  # noqa: BLE001 - one bad section never loses the report; the note says what broke
        return note(f"{type(error).__name__}: {error}")


def render_universe_report(data: UniverseReportData) -> str:
    sections = [Section(sid, title, _guarded(build, data)) for sid, title, build in SECTIONS]
    return document(data.title, _header(data), sections)
