"""The DVOL tear sheet: one self-contained HTML file from the frames the pipeline produces.

Numbers people look for come first (key numbers), then the curves, then the forecast
diagnostics, then the robustness evidence (in- vs out-of-sample, sweeps, noise, risk
controls, options). Every input is optional: a missing frame, a frame without the columns a
section needs, or a section that fails renders a one-line "not available" note, so one bad
input never costs the whole report. No clock, no randomness: same data, same bytes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from dvol_pipeline.quant.evaluate.forecast import forecast_metrics as quant_forecast_metrics
from dvol_pipeline.quant.learn.names import ZERO
from dvol_pipeline.quant.stats import hits
from dvol_pipeline.reports import charts
from dvol_pipeline.reports.charts import Heatmap, Panel, Series
from dvol_pipeline.reports.html import (Section, cards, document, esc, explain, figure, format_value, note, table,
                                        write_html)
from dvol_pipeline.reports.options.ivrank import ivrank_section
from dvol_pipeline.reports.inputs import (
    MAX_SERIES, SERIES, Context, TearSheetData, Unavailable, dates, floats, frame_of, key_columns, labelled, maybe,
    ranked_series, rows, selection_caption,
)  # fmt: skip

__all__ = ["TearSheetData", "render_tearsheet", "write_tearsheet"]

MAX_HEATMAPS = 6
MAX_ATTRIBUTION_PANELS = 4
TOP_FEATURES = 20
HIT_RATE_WINDOW = 60  # calendar days
BASELINE_FAMILY = ZERO  # wins on RMSE when nothing is predictable, but has no line to draw
GREEKS = ("delta_usd", "gamma_usd", "vega_usd", "theta_usd", "hedge_usd", "residual_usd")
CHARGES = ("cost_usd",)  # positive charges: drawn below zero


# ---------------------------------------------------------------- header and key numbers


def _header(data: TearSheetData) -> str:
    items = [("asset", data.asset), ("run", data.run_id), ("generated", data.generated_at)]
    if data.mlflow_run:
        items.append(("MLflow run", data.mlflow_run))
    meta = "".join(f"<span><b>{esc(k)}:</b> {esc(v)}</span>" for k, v in items if v)
    return f'<header><h1>{esc(data.title)}</h1><div class="meta">{meta}</div></header>'


_CARDS = (
    ("net_usd", "net P&L (USD)"), ("sharpe", "Sharpe"), ("sortino", "Sortino"),
    ("max_drawdown_usd", "max drawdown (USD)"), ("ann_return", "annual return"),
    ("hit_rate", "hit rate"), ("turnover", "turnover"), ("exposure", "exposure"), ("n_days", "days"),
)  # fmt: skip


def key_numbers_section(data: TearSheetData, ctx: Context) -> str:
    frame = floats(frame_of(data, "key_numbers"), "net_usd", "sharpe")
    keys = key_columns(frame)
    frame = frame.sort(["sharpe", "net_usd", *keys], descending=[True, True, *[False] * len(keys)], nulls_last=True)
    best = frame.row(0, named=True)
    detail = " · ".join(str(best[c]) for c in key_columns(frame)[1:] if best[c] is not None)
    items = [("best by Sharpe", f"{best['strategy']}" + (f" ({detail})" if detail else ""))]
    items += [(title, format_value(col, best[col])) for col, title in _CARDS if col in best]
    return cards(items) + table(frame)


# ---------------------------------------------------------------- curves


def _series(frame: pl.DataFrame, shown: list[str], column: str) -> list[Series]:
    """One line per shown label, coloured by its place in `shown`."""
    picked = frame.filter(pl.col(SERIES).is_in(shown)).sort(SERIES, "date")
    parts = picked.partition_by(SERIES, as_dict=True)
    return [
        Series(label, parts[(label,)]["date"].to_numpy(), parts[(label,)][column].to_numpy(), color=charts.color(i))
        for i, label in enumerate(shown)
        if (label,) in parts
    ]


def _futures(data: TearSheetData, ctx: Context) -> tuple[pl.DataFrame, list[str], int]:
    daily = labelled(floats(dates(frame_of(data, "daily")), "equity_usd", "drawdown_usd"))
    # drawdown sign conventions differ (peak - equity >= 0, or equity - peak <= 0): draw it below zero
    daily = daily.with_columns(pl.col("drawdown_usd").abs().neg())
    labels = daily[SERIES].unique().to_list()
    return daily, ctx.pick(labels), len(labels)


def equity_section(data: TearSheetData, ctx: Context) -> str:
    daily, shown, total = _futures(data, ctx)
    panels = [
        Panel("Equity (USD)", _series(daily, shown, "equity_usd"), reference=0.0, usd=True),
        Panel("Drawdown below the running peak (USD)", _series(daily, shown, "drawdown_usd"), legend=False, usd=True),
    ]
    svg = charts.line_panels("equity", panels, panel_height=2.8, sharex=True)
    return figure(svg, f"Cumulative net P&L and drawdown; {selection_caption(len(shown), total)}.")


# ---------------------------------------------------------------- forecasts


def _predictions(data: TearSheetData) -> tuple[pl.DataFrame, str]:
    """Rows with both y and y_hat, one asset (the sheet's, else the first)."""
    frame = floats(dates(frame_of(data, "predictions")), "y_hat", "y").drop_nulls(["y_hat", "y"])
    frame = rows(frame.filter(pl.col("y_hat").is_finite() & pl.col("y").is_finite()), "no rows with both y and y_hat")
    shown_note = ""
    if "asset" in frame.columns and frame["asset"].n_unique() > 1:
        first = frame["asset"].drop_nulls().sort()[0]
        frame = frame.filter(pl.col("asset") == first)
        shown_note = f" Showing {first} only."
    return frame.with_columns(pl.col("horizon").cast(pl.Int64, strict=False)), shown_note


def forecast_metrics(frame: pl.DataFrame) -> pl.DataFrame:
    """Per horizon and family: n, rmse, mae and hit_rate exactly as in the forecast_metrics
    table (`quant.metrics.forecast_metrics`; hit rate by `quant.stats.hit_rate`: zeros excluded),
    plus the Pearson correlation."""
    groups = frame.group_by("horizon", "family").agg(pl.col("y_hat"), pl.col("y"), pl.corr("y_hat", "y").alias("corr"))
    rows = []
    for g in groups.iter_rows(named=True):
        m = quant_forecast_metrics(np.asarray(g["y"], float), np.asarray(g["y_hat"], float))
        rows.append({"horizon": g["horizon"], "family": g["family"], "n": m.n, "rmse": m.rmse, "mae": m.mae,
                     "hit_rate": m.hit_rate, "corr": g["corr"]})
    schema = {**frame.select("horizon", "family").schema, "n": pl.Int64, "rmse": pl.Float64, "mae": pl.Float64,
              "hit_rate": pl.Float64, "corr": pl.Float64}
    return pl.DataFrame(rows, schema=schema).sort("horizon", "rmse", "family")


def selected_families(data: TearSheetData, metrics: pl.DataFrame) -> dict[int, str]:
    """The promoted family per horizon, else the lowest RMSE other than the zero baseline."""
    fallback = metrics.sort(pl.col("family") == BASELINE_FAMILY, "rmse", "family", nulls_last=True)
    chosen = dict(fallback.group_by("horizon", maintain_order=True).agg(pl.col("family").first()).iter_rows())
    promotion = maybe(lambda: frame_of(data, "promotion"))
    if promotion is not None:
        available = set(metrics.select("horizon", "family").iter_rows())
        for h, fam in promotion.select(pl.col("horizon").cast(pl.Int64, strict=False), "promoted_family").iter_rows():
            if (h, fam) in available:
                chosen[h] = fam
    return dict(sorted(chosen.items()))


def _selected(data: TearSheetData) -> tuple[pl.DataFrame, dict[int, str], pl.DataFrame, str]:
    frame, shown_note = _predictions(data)
    metrics = forecast_metrics(frame)
    families = selected_families(data, metrics)
    keys = pl.DataFrame(
        {"horizon": list(families), "family": list(families.values()), "selected": [True] * len(families)},
        schema={**frame.select("horizon", "family").schema, "selected": pl.Boolean},
    )
    picked = frame.join(keys.drop("selected"), on=["horizon", "family"]).sort("horizon", "date")
    metrics = metrics.join(keys, on=["horizon", "family"], how="left").with_columns(pl.col("selected").fill_null(False))
    return picked, families, metrics.sort("horizon", "rmse", "family"), shown_note


def _by_horizon(frame: pl.DataFrame) -> list[tuple[int, pl.DataFrame]]:
    return [(h, part) for (h,), part in frame.partition_by("horizon", as_dict=True, maintain_order=True).items()]


def forecast_section(data: TearSheetData, ctx: Context) -> str:
    picked, families, metrics, shown_note = _selected(data)
    panels = [
        (f"h = {h}d · {families[h]}", part["date"].to_numpy(), part["y"].to_numpy(), part["y_hat"].to_numpy())
        for h, part in _by_horizon(picked)
    ]
    text = ("Out-of-sample forecasts of the DVOL change over each horizon (walk-forward folds) against what "
            f"happened, for the promoted family (else the lowest-RMSE one).{shown_note}")  # fmt: skip
    return (
        explain(text)
        + figure(charts.forecast_panels("forecast", panels))
        + "<h3>Forecast accuracy by family</h3>"
        + table(metrics)
    )


def calibration_section(data: TearSheetData, ctx: Context) -> str:
    picked, families, _, _ = _selected(data)
    decile = (((pl.col("y_hat").rank("ordinal") - 1) * 10) // pl.len()).over("horizon")
    deciles = (
        picked.with_columns(decile.alias("decile"))
        .group_by("horizon", "decile")
        .agg(pl.col("y_hat").mean(), pl.col("y").mean())
        .sort("horizon", "decile")
    )
    panels = [(f"h = {h}d · {families[h]}", p["y_hat"].to_numpy(), p["y"].to_numpy()) for h, p in _by_horizon(deciles)]
    svg = charts.calibration_panels("calibration", panels)
    return figure(svg, "Mean realised y per decile of y_hat; dotted: the 45° line of a calibrated forecast.")


def hit_rate_section(data: TearSheetData, ctx: Context) -> str:
    picked, families, _, _ = _selected(data)
    # the rows `quant.stats.hit_rate` counts (both signs nonzero), each a hit (1) or a miss (0)
    counted = picked.with_columns(hit=pl.Series(hits(picked["y_hat"].to_numpy(), picked["y"].to_numpy()))).filter(
        pl.col("hit").is_not_nan()
    )
    window = f"{HIT_RATE_WINDOW}d"
    rolled = counted.with_columns(
        pl.col("hit").rolling_mean_by("date", window, min_samples=HIT_RATE_WINDOW // 3).over("horizon").alias("hit")
    ).drop_nulls("hit")
    series = [
        Series(f"h = {h}d · {families[h]}", part["date"].to_numpy(), part["hit"].to_numpy(), color=charts.color(i))
        for i, (h, part) in enumerate(_by_horizon(rolled))
    ]
    if not series:
        raise Unavailable(f"fewer than {HIT_RATE_WINDOW // 3} predictions in any {window} window")
    panel = Panel(f"Rolling {HIT_RATE_WINDOW}-day sign agreement", series, reference=0.5)
    svg = charts.line_panels("hit-rate", [panel])
    return figure(svg, "Share of days with sign(y_hat) = sign(y), over days where neither is zero "
                       "(as in the forecast table); dotted: a coin flip.")


def shap_section(data: TearSheetData, ctx: Context) -> str:
    frame = floats(frame_of(data, "shap"), "mean_abs_shap")
    group = pl.col("group").cast(pl.String).fill_null("") if "group" in frame.columns else pl.lit("")
    top = (
        frame.with_columns(group.alias("group"), pl.col("feature").cast(pl.String))
        .group_by("feature")
        .agg(pl.col("mean_abs_shap").mean(), pl.col("group").first())
        .drop_nulls("mean_abs_shap")
        .sort(["mean_abs_shap", "feature"], descending=[True, False])
        .head(TOP_FEATURES)
    )
    top = rows(top, "shap has no numeric mean_abs_shap")
    features, groups = top["feature"].to_list(), top["group"].to_list()
    svg = charts.horizontal_bars("shap", features, top["mean_abs_shap"].to_numpy(), groups)
    return figure(svg, f"Top {top.height} features by mean |SHAP| (LightGBM), averaged over folds and horizons.")


# ---------------------------------------------------------------- costs, breakdowns, robustness


def _sorted_table(data: TearSheetData, name: str, *after: str) -> str:
    frame = frame_of(data, name)
    by = [*key_columns(frame), *(c for c in after if c in frame.columns)]
    return table(frame.sort(by, nulls_last=True) if by else frame)


def costs_section(data: TearSheetData, ctx: Context) -> str:
    frame = labelled(floats(frame_of(data, "cost_sensitivity"), "cost_mult", "net_usd")).sort(SERIES, "cost_mult")
    labels = frame[SERIES].unique().to_list()
    shown = ctx.pick(labels)
    parts = frame.partition_by(SERIES, as_dict=True)
    lines = [
        Series(s, parts[(s,)]["cost_mult"].to_numpy(), parts[(s,)]["net_usd"].to_numpy(), color=charts.color(i))
        for i, s in enumerate(shown)
    ]
    panel = Panel("Net P&L (USD) by cost multiplier", lines, reference=0.0, xlabel="cost multiplier", usd=True)
    svg = charts.line_panels("costs", [panel])
    text = selection_caption(len(shown), len(labels))
    return figure(svg, text) + _sorted_table(data, "cost_sensitivity", "cost_mult")


IS_OOS_TEXT = (
    "In-sample: the past folds on which each strategy's threshold was chosen; the numbers there "
    "are flattered by that choice. Out-of-sample: the months traded after the choice, with the "
    "threshold fixed. Only the out-of-sample column is evidence; a large drop from in-sample to "
    "out-of-sample means the threshold was fitted to noise."
)


def oos_vs_is_section(data: TearSheetData, ctx: Context) -> str:
    frame = floats(frame_of(data, "in_vs_out_of_sample"), "sharpe")
    keys = key_columns(frame)
    values = [c for c in frame.columns if c not in (*keys, "sample")]
    parts = {}
    for sample, label in (("in_sample", "in-sample"), ("out_of_sample", "out-of-sample")):
        part = frame.filter(pl.col("sample") == sample).drop("sample").unique(keys, keep="first", maintain_order=True)
        parts[sample] = part.rename({c: f"{c} ({label})" for c in values})
    if parts["in_sample"].height + parts["out_of_sample"].height == 0:
        raise Unavailable("no rows with sample in {in_sample, out_of_sample}")
    joined = parts["in_sample"].join(parts["out_of_sample"], on=keys, how="full", coalesce=True)
    paired = [col for c in values for col in (f"{c} (in-sample)", f"{c} (out-of-sample)")]
    change = (pl.col("sharpe (out-of-sample)") - pl.col("sharpe (in-sample)")).alias("sharpe change")
    joined = joined.select(*keys, *paired).with_columns(change).sort(keys, nulls_last=True)
    both = joined.drop_nulls(["sharpe (in-sample)", "sharpe (out-of-sample)"])
    body = explain(IS_OOS_TEXT)
    if both.height:
        x, y = both["sharpe (in-sample)"].to_numpy(), both["sharpe (out-of-sample)"].to_numpy()
        svg = charts.scatter_diagonal("oos-vs-is", x, y, "Sharpe in-sample", "Sharpe out-of-sample")
        body += figure(svg, "One point per strategy; dotted: no decay. Points below it lost Sharpe out of sample.")
    return body + table(joined)


def _sweep_block(data: TearSheetData, ctx: Context) -> str:
    frame = floats(frame_of(data, "sweep"), "tau", "cost_mult", "sharpe").drop_nulls(["tau", "cost_mult"])
    frame = labelled(rows(frame, "sweep has no rows with numeric tau and cost_mult"))
    cells = frame.group_by(SERIES, "tau", "cost_mult").agg(pl.col("sharpe").mean())
    taus = np.sort(cells["tau"].unique().to_numpy())
    mults = np.sort(cells["cost_mult"].unique().to_numpy())
    labels = cells[SERIES].unique().to_list()
    parts = cells.partition_by(SERIES, as_dict=True)
    maps = []
    for label in ctx.pick(labels, MAX_HEATMAPS):
        part = parts[(label,)]
        grid = np.full((len(taus), len(mults)), np.nan)
        at = np.searchsorted(taus, part["tau"].to_numpy()), np.searchsorted(mults, part["cost_mult"].to_numpy())
        grid[at] = part["sharpe"].to_numpy()
        maps.append(Heatmap(label, mults.tolist(), taus.tolist(), grid))
    svg = charts.heatmaps("sweep", maps)
    return figure(svg, f"Sharpe over threshold tau × cost multiplier; {selection_caption(len(maps), len(labels))}.")


def robustness_section(data: TearSheetData, ctx: Context) -> str:
    return (
        "<h3>Parameter sweep</h3>"
        + _guarded(lambda: _sweep_block(data, ctx))
        + "<h3>Noise and resampling</h3>"
        + _guarded(lambda: _sorted_table(data, "robustness", "metric"))
    )


# ---------------------------------------------------------------- options


def options_section(data: TearSheetData, ctx: Context) -> str:
    frame = labelled(floats(dates(frame_of(data, "options_daily")), "equity_usd", "net_usd", *GREEKS, *CHARGES))
    labels = sorted(frame[SERIES].unique().to_list())
    panels = []
    futures = maybe(lambda: _futures(data, ctx))
    if futures is not None:
        daily, shown_futures, _ = futures
        series = _series(daily, shown_futures, "equity_usd")
        panels.append(Panel("Futures strategies: equity (USD)", series, reference=0.0, usd=True))
    shown = labels[:MAX_SERIES]
    options = _series(frame, shown, "equity_usd")
    panels.append(Panel("Option strategies: equity (USD)", options, reference=0.0, usd=True))
    svg = charts.line_panels("options-equity", panels, ncols=len(panels), panel_height=3.0)
    body = figure(svg, selection_caption(len(shown), len(labels), "option series"))
    body += "<h3>P&amp;L attribution</h3>" + _guarded(lambda: _attribution(frame, labels))
    body += "<h3>Cost sensitivity</h3>" + _guarded(lambda: _sorted_table(data, "options_cost_sensitivity", "cost_mult"))
    return body


SMILE_TEXT = (
    "Implied-vol smiles of this coin's option chains, every 7th day: raw SVI, SVI after the no-arbitrage "
    "repair (what the surface features use) and SABR (beta = 1). In sample: fitted and priced on all of the "
    "day's quotes. Strike holdout: fitted on every other strike, priced on the rest. Next day: the day "
    "before's smile prices the day's quotes at the day's forward (sticky moneyness). Errors per expiry, then "
    "the median and mean over expiries: IV RMSE in vol points, mean |model price - mid| in bid-ask spreads, "
    "and the share of model prices inside the bid-ask."
)


def smile_models_section(data: TearSheetData, ctx: Context) -> str:
    return explain(SMILE_TEXT) + table(frame_of(data, "smile_models"))


def _attribution(frame: pl.DataFrame, labels: list[str]) -> str:
    greeks = [c for c in GREEKS if c in frame.columns]
    charges = [c for c in CHARGES if c in frame.columns]
    if not greeks:
        raise Unavailable(f"options_daily has none of {list(GREEKS)}")
    keys = key_columns(frame)
    sums = [c for c in ("net_usd", *greeks, *charges) if c in frame.columns]
    totals = (
        frame.sort("date")
        .group_by(keys)
        .agg(
            pl.len().alias("n_days"),
            *(pl.col(c).sum() for c in sums),
            pl.col("equity_usd").last().alias("final_equity_usd"),
        )
        .sort(keys, nulls_last=True)
    )
    drawn = {c: pl.col(c) for c in greeks} | {c: -pl.col(c).abs() for c in charges}
    if "net_usd" in frame.columns:
        drawn["net_usd"] = pl.col("net_usd")
    cumulative = frame.sort(SERIES, "date").with_columns(
        e.fill_null(0.0).cum_sum().over(SERIES).alias(c) for c, e in drawn.items()
    )
    parts = cumulative.partition_by(SERIES, as_dict=True)
    panels = []
    for label in labels[:MAX_ATTRIBUTION_PANELS]:
        part, x = parts[(label,)], parts[(label,)]["date"].to_numpy()
        names = {c: c.removesuffix("_usd") + (" (−)" if c in charges else "") for c in [*greeks, *charges]}
        series = [Series(name, x, part[c].to_numpy(), color=charts.color(i)) for i, (c, name) in enumerate(names.items())]
        if "net_usd" in drawn:
            series.append(Series("net", x, part["net_usd"].to_numpy(), color="#111111", width=1.6))
        panels.append(Panel(f"{label}: cumulative attribution (USD)", series, reference=0.0, usd=True))
    svg = charts.line_panels("attribution", panels, ncols=min(2, len(panels)), panel_height=2.6)
    shown = selection_caption(len(panels), len(labels), "option series")
    text = f"Greeks P&L, hedge, costs (drawn as a loss) and the unexplained residual; {shown}."
    return figure(svg, text) + table(totals)


# ---------------------------------------------------------------- assembly


def notes_section(data: TearSheetData, ctx: Context) -> str:
    if not data.notes:
        raise Unavailable("no notes")
    return "<ul>" + "".join(f"<li>{esc(n)}</li>" for n in data.notes) + "</ul>"


def _guarded(build: Callable[[], str]) -> str:
    """A section that cannot be drawn becomes a note: one bad input never loses the report."""
    try:
        return build()
    except Unavailable as why:
        return note(str(why))
    except Exception as error:  # noqa: BLE001 - the report must still be written; the note says what broke
        return note(f"{type(error).__name__}: {error}")


SECTIONS: tuple[tuple[str, str, Callable[[TearSheetData, Context], str]], ...] = (
    ("key-numbers", "Key numbers", key_numbers_section),
    ("equity", "Equity and drawdown", equity_section),
    ("forecast", "Forecast vs realised", forecast_section),
    ("calibration", "Calibration", calibration_section),
    ("hit-rate", "Rolling hit rate", hit_rate_section),
    ("shap", "SHAP summary", shap_section),
    ("costs", "Cost sensitivity", costs_section),
    ("regimes", "By regime", lambda d, c: _sorted_table(d, "by_regime", "scheme", "regime")),
    ("years", "By year", lambda d, c: _sorted_table(d, "by_year", "year")),
    ("oos-vs-is", "In-sample vs out-of-sample", oos_vs_is_section),
    ("robustness", "Robustness", robustness_section),
    ("risk", "Risk controls", lambda d, c: _sorted_table(d, "risk_effects", "control", "variant")),
    ("options", "Option strategies", options_section),
    ("ivrank", "IV-rank strategies and gate", lambda d, c: ivrank_section(d, _guarded)),
    ("smile-models", "Smile models in and out of sample", smile_models_section),
    ("promotion", "Promotion", lambda d, c: _sorted_table(d, "promotion", "horizon")),
    ("notes", "Notes", notes_section),
)


def render_tearsheet(data: TearSheetData) -> str:
    try:
        ranked = ranked_series(data)
    except Exception:  # noqa: BLE001 - the ranking only orders charts; fall back to names
        ranked = []
    ctx = Context(ranked)
    sections = [Section(sid, title, _guarded(lambda b=build: b(data, ctx))) for sid, title, build in SECTIONS]
    return document(data.title, _header(data), sections)


def write_tearsheet(data: TearSheetData, path: str | os.PathLike[str]) -> Path:
    """Temp file in the target folder, fsync, rename: a reader never sees half a report."""
    return write_html(render_tearsheet(data), Path(path))
