"""The tear sheet: every section present, offline, deterministic, and never crashing on gaps."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.reports import TearSheetData, render_tearsheet, write_tearsheet
from dvol_pipeline.reports.html import format_value
from dvol_pipeline.reports.inputs import SERIES, Context, labelled, ranked_series
from dvol_pipeline.reports.tearsheet import SECTIONS, forecast_metrics, selected_families

SECTION_IDS = [sid for sid, _, _ in SECTIONS]
FAMILIES = ["zero", "mean_reversion", "har", "garch", "lightgbm", "lstm", "ensemble"]
HORIZONS = [1, 7, 14]
ODD_NAME = "<b>odd & risky</b>"


def synthetic_data(days: int = 4 * 365, n_strategies: int = 20, seed: int = 7) -> TearSheetData:
    """Every input filled, sized like the demo: 4 years of days, 20 futures strategies."""
    rng = np.random.default_rng(seed)
    dates = np.datetime64("2021-01-01") + np.arange(days)  # datetime64[D] -> pl.Date
    # like the backtests: one strategy per horizon, run once per forecast family
    combos = [(f, h) for h in HORIZONS for f in FAMILIES][: n_strategies - 1] + [("har", 1)]
    strategies = [f"dvol_futures_{h}d" for _, h in combos[:-1]] + [ODD_NAME]
    family = [f for f, _ in combos]
    horizon = [h for _, h in combos]

    net = rng.normal(20.0, 400.0, (n_strategies, days))
    equity = net.cumsum(axis=1)
    drawdown = equity - np.maximum.accumulate(equity, axis=1)
    daily = pl.DataFrame({
        "date": np.tile(dates, n_strategies), "asset": "BTC", "strategy": np.repeat(strategies, days),
        "family": np.repeat(family, days), "horizon": np.repeat(horizon, days), "net_usd": net.ravel(),
        "equity_usd": equity.ravel(), "drawdown_usd": drawdown.ravel(),
        "position": rng.choice([-1.0, 0.0, 1.0], n_strategies * days),
        "cost_usd": rng.uniform(0, 30, n_strategies * days),
    })  # fmt: skip
    key_numbers = pl.DataFrame({
        "strategy": strategies, "family": family, "horizon": horizon, "net_usd": equity[:, -1],
        "ann_return": rng.normal(0.1, 0.2, n_strategies), "sharpe": rng.normal(0.5, 0.7, n_strategies),
        "sortino": rng.normal(0.7, 0.9, n_strategies), "max_drawdown_usd": drawdown.min(axis=1),
        "hit_rate": rng.uniform(0.45, 0.58, n_strategies), "turnover": rng.uniform(0.05, 0.4, n_strategies),
        "exposure": rng.uniform(0.2, 1.0, n_strategies), "n_days": [days] * n_strategies,
    })  # fmt: skip

    pred_days = dates[-1000:]
    n = len(pred_days)
    y = {h: rng.normal(0, np.sqrt(h) * 2.0, n) for h in HORIZONS}
    predictions = pl.concat([
        pl.DataFrame({"date": pred_days, "asset": "BTC", "horizon": h, "family": f,
                      "y_hat": 0.3 * y[h] + rng.normal(0, np.sqrt(h), n) if f != "zero" else np.zeros(n), "y": y[h]})
        for h in HORIZONS for f in FAMILIES
    ]).with_columns(pl.col("horizon").cast(pl.Int32))  # fmt: skip

    features = [f"feat_{i:02d}" for i in range(45)]
    shap = pl.DataFrame({
        "fold": np.repeat([f"2022-{m:02d}" for m in range(1, 13)], len(features)),
        "feature": features * 12, "group": [["iv", "rv", "flow", "funding"][i % 4] for i in range(45)] * 12,
        "mean_abs_shap": rng.gamma(2.0, 0.05, 12 * len(features)),
    })  # fmt: skip
    mults = [0.0, 0.5, 1.0, 2.0, 3.0]
    cost_sensitivity = pl.DataFrame({
        "strategy": np.repeat(strategies, len(mults)), "cost_mult": mults * n_strategies,
        "net_usd": np.repeat(equity[:, -1], len(mults)) - 5000.0 * np.array(mults * n_strategies),
        "sharpe": rng.normal(0.4, 0.5, n_strategies * len(mults)),
        "max_drawdown_usd": -rng.uniform(1e3, 2e4, n_strategies * len(mults)),
    })  # fmt: skip
    regimes = ["calm", "rising", "stressed"]
    by_regime = pl.DataFrame({
        "strategy": np.repeat(strategies, 3), "regime": regimes * n_strategies,
        "net_usd": rng.normal(0, 5000, 3 * n_strategies), "sharpe": rng.normal(0, 1, 3 * n_strategies),
        "n_days": rng.integers(50, 500, 3 * n_strategies),
    })  # fmt: skip
    by_year = pl.DataFrame({
        "strategy": np.repeat(strategies, 4), "year": [2021, 2022, 2023, 2024] * n_strategies,
        "net_usd": rng.normal(0, 8000, 4 * n_strategies), "sharpe": rng.normal(0, 1, 4 * n_strategies),
    })  # fmt: skip
    in_vs_oos = pl.DataFrame({
        "strategy": strategies * 2, "family": family * 2, "horizon": horizon * 2,
        "sample": ["in_sample"] * n_strategies + ["out_of_sample"] * n_strategies,
        "sharpe": np.concatenate([rng.normal(1.2, 0.4, n_strategies), rng.normal(0.3, 0.6, n_strategies)]),
        "net_usd": rng.normal(5000, 9000, 2 * n_strategies), "n_days": [700] * n_strategies + [760] * n_strategies,
    })  # fmt: skip
    taus = [0.0, 0.5, 1.0, 1.5, 2.0]
    grid = [(s, t, m) for s in strategies for t in taus for m in mults]
    sweep = pl.DataFrame({
        "strategy": [g[0] for g in grid], "tau": [g[1] for g in grid], "cost_mult": [g[2] for g in grid],
        "sharpe": rng.normal(0.3, 0.6, len(grid)),
    })  # fmt: skip
    robustness = pl.DataFrame({
        "strategy": np.repeat(strategies, 2), "metric": ["sharpe", "net_usd"] * n_strategies,
        "mean": rng.normal(0.5, 0.3, 2 * n_strategies), "p5": rng.normal(-0.2, 0.2, 2 * n_strategies),
        "p95": rng.normal(1.2, 0.3, 2 * n_strategies),
    })  # fmt: skip
    controls = ["vol_target", "stop_loss", "max_position"]
    risk_effects = pl.DataFrame({
        "strategy": np.repeat(strategies, 3), "control": controls * n_strategies,
        "net_usd": rng.normal(2000, 4000, 3 * n_strategies), "sharpe": rng.normal(0.4, 0.5, 3 * n_strategies),
        "max_drawdown_usd": -rng.uniform(1e3, 1e4, 3 * n_strategies),
        "days_affected": rng.integers(0, 200, 3 * n_strategies),
    })  # fmt: skip
    option_names = ["straddle_dh", "strangle_dh", "calendar_dh", "risk_reversal_dh"]
    parts = rng.normal(3, 150, (5, len(option_names) * days))
    option_cost = rng.uniform(0, 10, len(option_names) * days)  # a positive charge, as the backtests write it
    option_net = parts.sum(axis=0) - option_cost
    options_daily = pl.DataFrame({
        "date": np.tile(dates, len(option_names)), "strategy": np.repeat(option_names, days), "net_usd": option_net,
        "equity_usd": option_net.reshape(len(option_names), days).cumsum(axis=1).ravel(),
        **{f"{c}_usd": parts[i] for i, c in enumerate(["delta", "gamma", "vega", "theta", "residual"])},
        "cost_usd": option_cost,
    })  # fmt: skip
    options_cost_sensitivity = pl.DataFrame({
        "cost_mult": mults, "net_usd": [12000.0 - 4000 * m for m in mults], "sharpe": [0.9 - 0.3 * m for m in mults],
        "max_drawdown_usd": [-8000.0 - 1000 * m for m in mults],
    })  # fmt: skip
    months = [f"{y}-{m:02d}" for y in (2021, 2022) for m in range(1, 13)]
    ivrank_folds = pl.DataFrame({"fold": months, "n": 240, "auc": rng.uniform(0.4, 0.8, len(months)),
                                 "threshold": 0.5, "base_rate": 0.4})
    ivr = [(s, r, a, m) for s in ("ivrank_rule", "ivrank_gated", "regime_selection")
           for r in ("ALL", "high_vol", "neutral") for a in ("BTC", "ALL") for m in mults]
    ivrank_metrics = pl.DataFrame({
        "strategy": [x[0] for x in ivr], "regime": [x[1] for x in ivr], "asset": [x[2] for x in ivr],
        "cost_mult": [x[3] for x in ivr], "n_trades": 30, "hit_rate": 0.5, "gross_usd": 5000.0,
        "cost_usd": [1000.0 * x[3] for x in ivr], "net_usd": [5000.0 - 1000.0 * x[3] for x in ivr],
        "sharpe": rng.normal(0.3, 0.5, len(ivr)), "max_drawdown_usd": 3000.0,
        **{f"{c}_usd": rng.normal(0, 900, len(ivr)) for c in ["delta", "gamma", "vega", "theta", "residual"]},
    })  # fmt: skip
    ivrank_daily = pl.DataFrame({"strategy": np.repeat(["ivrank_rule", "ivrank_gated"], days), "asset": "BTC",
                                 "date": np.tile(dates, 2), "net_usd": rng.normal(5, 100, 2 * days)})
    promotion = pl.DataFrame({"horizon": HORIZONS, "promoted_family": ["har", "ensemble", "lightgbm"],
                              "reason": ["lowest RMSE", "lowest RMSE", "beats zero by DM test"]})  # fmt: skip
    smile_models = pl.DataFrame({
        "test": np.repeat(["in_sample", "strike_holdout", "next_day"], 3), "model": ["svi", "svi_repaired", "sabr"] * 3,
        "slices": np.full(9, 120), "iv_rmse_vol_median": rng.uniform(0.1, 3.0, 9),
        "price_mae_spreads_median": rng.uniform(0.05, 1.5, 9), "inside_spread_share_median": rng.uniform(0.2, 1.0, 9),
    })  # fmt: skip
    return TearSheetData(
        title="DVOL tear sheet — synthetic", asset="BTC", run_id="run-123", generated_at="2025-01-02T00:00:00Z",
        notes=["Synthetic data for tests.", "Costs: 0.5 vol point per round trip."], key_numbers=key_numbers,
        daily=daily, predictions=predictions, shap=shap, cost_sensitivity=cost_sensitivity, by_regime=by_regime,
        by_year=by_year, in_vs_out_of_sample=in_vs_oos, sweep=sweep, robustness=robustness,
        risk_effects=risk_effects, options_daily=options_daily, options_cost_sensitivity=options_cost_sensitivity,
        promotion=promotion, ivrank_folds=ivrank_folds, ivrank_metrics=ivrank_metrics, ivrank_daily=ivrank_daily,
        smile_models=smile_models, mlflow_run="mlflow-run-abc",
    )  # fmt: skip


@pytest.fixture(scope="module")
def small() -> TearSheetData:
    return synthetic_data(days=300, n_strategies=6)


@pytest.fixture(scope="module")
def small_html(small: TearSheetData) -> str:
    return render_tearsheet(small)


def test_every_section_is_present_in_order_and_filled(small_html: str) -> None:
    positions = [small_html.find(f'<section id="{sid}">') for sid in SECTION_IDS]
    assert all(p >= 0 for p in positions), dict(zip(SECTION_IDS, positions))
    assert positions == sorted(positions)
    assert "not available" not in small_html
    # equity, forecast, calibration, hit rate, shap, costs, is/oos, sweep, options equity, attribution,
    # ivrank: gate AUC, Sharpe by regime, cost curve, cumulative net
    assert small_html.count("<svg") == 14
    assert small_html.index('id="key-numbers"') < small_html.index('id="equity"')


def test_no_external_references(small_html: str) -> None:
    assert not re.search(r"<script\b", small_html, re.I)
    assert not re.search(r"<link\b", small_html, re.I)
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:|//)""", small_html, re.I)
    assert not re.search(r"url\(\s*['\"]?(?:https?:|//)", small_html, re.I)
    assert "@import" not in small_html and "<image" not in small_html


def test_render_is_byte_identical(small: TearSheetData, small_html: str) -> None:
    assert render_tearsheet(synthetic_data(days=300, n_strategies=6)) == small_html  # fresh frames, same bytes


def test_only_key_numbers_renders_notes_for_the_rest(small: TearSheetData) -> None:
    out = render_tearsheet(TearSheetData(title="only keys", key_numbers=small.key_numbers))
    bodies = dict(zip(SECTION_IDS, re.split(r'<section id="[^"]+">', out)[1:]))
    assert sorted(bodies) == sorted(SECTION_IDS)
    assert "not available" not in bodies["key-numbers"] and '<div class="cards">' in bodies["key-numbers"]
    assert all('<p class="na">not available: ' in body for sid, body in bodies.items() if sid != "key-numbers")
    assert "not available: no daily input" in bodies["equity"]
    assert "<svg" not in out


def test_missing_columns_and_bad_frames_become_notes(small: TearSheetData) -> None:
    broken = replace(
        small,
        daily=small.daily.drop("equity_usd"),
        predictions=small.predictions.rename({"y_hat": "forecast"}),
        shap=small.shap.head(0),
        sweep=small.sweep.with_columns(pl.lit("x").alias("tau")),  # unusable values, not missing columns
    )
    out = render_tearsheet(broken)
    assert "not available: missing columns [&#x27;equity_usd&#x27;] in daily" in out
    assert out.count("not available: missing columns [&#x27;y_hat&#x27;] in predictions") == 3
    assert "not available: shap has no rows" in out
    assert "not available: sweep has no rows with numeric tau and cost_mult" in out
    equity = out[out.index('<section id="equity">') : out.index('<section id="forecast">')]
    assert "not available" in equity
    # sections with good inputs still draw
    assert out[out.index('<section id="costs">') : out.index('<section id="regimes">')].count("<svg") == 1


def test_names_are_escaped_everywhere(small_html: str) -> None:
    assert ODD_NAME not in small_html
    assert "&lt;b&gt;odd &amp; risky&lt;/b&gt;" in small_html


def test_key_number_cards_show_the_best_sharpe_first(small: TearSheetData, small_html: str) -> None:
    best = small.key_numbers.sort("sharpe", descending=True).row(0, named=True)
    cards = small_html[small_html.index('class="cards"') : small_html.index("<table")]
    assert best["strategy"].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in cards
    assert f"{best['net_usd']:,.0f}" in cards and f"{best['sharpe']:.2f}" in cards


def test_in_vs_out_of_sample_pairs_each_strategy(small: TearSheetData, small_html: str) -> None:
    section = small_html[small_html.index('id="oos-vs-is"') : small_html.index('id="robustness"')]
    assert "past folds on which" in section and "months traded after" in section
    assert "sharpe (in-sample)" in section and "sharpe (out-of-sample)" in section
    assert section.count("<tr>") == small.key_numbers.height + 1


def test_inline_svgs_are_well_formed_with_unique_ids(small_html: str) -> None:
    for svg in re.findall(r"<svg\b.*?</svg>", small_html, re.S):
        ET.fromstring(svg)
    ids = re.findall(r'\sid="([^"]+)"', small_html)
    assert len(ids) == len(set(ids))  # clip paths of different figures never collide
    assert set(re.findall(r'(?:url\(#|href="#)([^)"]+)', small_html)) <= set(ids)


def test_ranking_puts_promoted_first_then_sharpe_then_equity() -> None:
    keys = pl.DataFrame({
        "strategy": ["a", "b", "c"], "family": ["har", "lstm", "ensemble"], "horizon": [1, 1, 7],
        "net_usd": [1.0, 2.0, 3.0], "sharpe": [0.1, 2.0, 1.0],
    })  # fmt: skip
    daily = pl.DataFrame({
        "date": np.array(["2024-01-01", "2024-01-02"] * 2, dtype="datetime64[D]"), "strategy": ["c", "c", "d", "d"],
        "equity_usd": [5.0, 6.0, 9.0, 8.0], "drawdown_usd": [0.0, 0.0, 0.0, -1.0],
    })  # fmt: skip
    promotion = pl.DataFrame({"horizon": [1], "promoted_family": ["har"]})
    ranked = ranked_series(TearSheetData(key_numbers=keys, daily=daily, promotion=promotion))
    assert ranked == ["a", "b", "c", "d"]  # d: no Sharpe, ranked by its equity after all with one
    assert ranked_series(TearSheetData(key_numbers=keys)) == ["b", "c", "a"]
    assert Context(list("abcdefgh")).pick(["h", "a", "z", "y"], limit=3) == ["a", "h", "y"]


def test_series_labels_add_only_the_keys_that_vary_within_a_strategy(small_html: str) -> None:
    frame = pl.DataFrame({"strategy": ["s", "s", "t"], "family": ["har", "lstm", "har"], "horizon": [7, 7, 1],
                          "asset": ["BTC"] * 3})  # fmt: skip
    assert labelled(frame)[SERIES].to_list() == ["s · har", "s · lstm", "t · har"]
    equity = small_html[small_html.index('id="equity"') : small_html.index('id="forecast"')]
    assert "dvol_futures_1d · har" in equity and "dvol_futures_1d · lightgbm" in equity
    assert SERIES not in small_html


def test_selected_family_is_promoted_else_best_non_baseline() -> None:
    metrics = pl.DataFrame({"horizon": [1, 1, 1], "family": ["zero", "har", "lstm"], "rmse": [1.0, 1.2, 1.1]})
    assert selected_families(TearSheetData(), metrics) == {1: "lstm"}
    promotion = pl.DataFrame({"horizon": [1, 7], "promoted_family": ["har", "har"]})
    assert selected_families(TearSheetData(promotion=promotion), metrics) == {1: "har"}


def test_number_formats() -> None:
    assert format_value("net_usd", -1234567.8) == "-1,234,568"
    assert format_value("sharpe", 1.23456) == "1.23"
    assert format_value("hit_rate", 0.54321) == "0.543"
    assert format_value("year", 2024) == "2024"
    assert format_value("sharpe", None) == "–" and format_value("sharpe", float("nan")) == "–"


def test_forecast_metrics_by_hand() -> None:
    frame = pl.DataFrame(
        {"horizon": [1] * 4, "family": ["a"] * 4, "y_hat": [1.0, -1.0, 2.0, 0.0], "y": [2.0, 1.0, 2.0, -1.0]}
    )
    row = forecast_metrics(frame).row(0, named=True)
    assert row["n"] == 4
    assert row["rmse"] == pytest.approx(np.sqrt((1 + 4 + 0 + 1) / 4))
    assert row["mae"] == pytest.approx(1.0)
    # quant.stats.hit_rate: the zero forecast makes no call, so it is left out (2 hits of 3)
    assert row["hit_rate"] == pytest.approx(2 / 3)


def test_write_is_atomic(tmp_path: Path, small: TearSheetData) -> None:
    light = TearSheetData(key_numbers=small.key_numbers, promotion=small.promotion, notes=["n"])
    target = tmp_path / "reports" / "tearsheet.html"
    target.parent.mkdir()
    target.write_text("an older report")
    assert write_tearsheet(light, target) == target
    assert target.read_text(encoding="utf-8") == render_tearsheet(light)
    assert target.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in target.parent.iterdir()) == ["tearsheet.html"]


def test_failed_write_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()
    (target / "x").write_text("a non-empty folder cannot be replaced by a file")
    with pytest.raises(OSError):
        write_tearsheet(TearSheetData(notes=["n"]), target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_tear_sheet_hit_rate_and_sharpe_are_the_tables() -> None:
    """What a reader sees in the tear sheet is what the tables say, for the same family and
    strategy: the hit rate of forecast_metrics, the Sharpe of strategy_metrics (and of the
    cost-sensitivity table at 1x), each from quant/stats.py."""
    from datetime import date, timedelta

    from dvol_pipeline.quant.dvol.backtest import BacktestConfig, run_futures_backtest
    from dvol_pipeline.quant.evaluate.forecast import metrics_table
    from dvol_pipeline.quant.stats import hit_rate, sharpe

    rng = np.random.default_rng(11)
    n, h = 400, 7
    days = [date(2023, 1, 1) + timedelta(days=i) for i in range(n + h)]
    dvol = np.round(60 + np.cumsum(rng.normal(0, 2, n + h)))  # whole points: some 7-day changes are 0
    y = dvol[h:] - dvol[:-h]
    frames = []
    for family, noise in (("har", 4.0), ("lstm", 8.0)):
        y_hat = np.round(y + rng.normal(0, noise, n))  # some forecasts are exactly 0
        frames.append(pl.DataFrame({
            "date": days[:n], "asset": "BTC", "horizon": h, "family": family,
            "fold": [f"{d:%Y-%m}" for d in days[:n]], "y_hat": y_hat, "y": y,
        }))
    preds = pl.concat(frames).with_columns(pl.col("horizon").cast(pl.Int32))
    assert (preds["y"] == 0).any() and (preds["y_hat"] == 0).any()
    market = pl.DataFrame({"date": days, "asset": "BTC", "dvol": dvol, "jump_1d": 1.0, "jump_share_1d": 0.1,
                           "funding_mean": 1.0})
    run = run_futures_backtest(preds, market, BacktestConfig(run_sweep=False, run_robustness=False))
    strategies = run.metrics.filter(pl.col("asset") == "BTC")
    table = metrics_table(preds, market.select("date", "asset", "dvol")).filter(
        (pl.col("scope") == "overall") & (pl.col("asset") == "BTC")
    )
    data = TearSheetData(asset="BTC", key_numbers=strategies, predictions=preds, daily=run.daily,
                         cost_sensitivity=run.cost_sensitivity)
    html = render_tearsheet(data)
    forecast_html = html[html.index('<section id="forecast">') : html.index('<section id="calibration">')]
    sheet = forecast_metrics(preds)
    for family in ("har", "lstm"):
        rows = preds.filter(pl.col("family") == family)
        want = table.filter(pl.col("family") == family)["hit_rate"][0]
        assert sheet.filter(pl.col("family") == family)["hit_rate"][0] == want
        assert want == hit_rate(rows["y_hat"].to_numpy(), rows["y"].to_numpy())
        assert format_value("hit_rate", want) in forecast_html

        strategy = strategies.filter(pl.col("family") == family).row(0, named=True)
        net = run.daily.filter((pl.col("family") == family) & (pl.col("asset") == "BTC")).sort("date")["net_usd"]
        assert strategy["sharpe"] == pytest.approx(sharpe(net.to_numpy()), rel=1e-12)
        at_1x = run.cost_sensitivity.filter(
            (pl.col("family") == family) & (pl.col("asset") == "BTC") & (pl.col("cost_mult") == 1.0)
        )
        assert at_1x["sharpe"][0] == pytest.approx(strategy["sharpe"], rel=1e-12)
    best = strategies.sort("sharpe", descending=True, nulls_last=True).row(0, named=True)
    cards = html[html.index('class="cards"') : html.index("<table")]
    assert best["family"] in cards and format_value("sharpe", best["sharpe"]) in cards


def test_ivrank_section_shows_the_gate_the_regimes_the_costs_and_the_greeks(small: TearSheetData,
                                                                              small_html: str) -> None:
    body = small_html.split('<section id="ivrank">')[1].split("</section>")[0]
    assert all(h in body for h in ("Gate", "Net Sharpe by strategy and regime", "Cost sensitivity",
                                   "Attribution by greek"))
    assert body.count("<svg") == 4 and "not available" not in body
    weighted = float((small.ivrank_folds["auc"] * small.ivrank_folds["n"]).sum() / small.ivrank_folds["n"].sum())
    assert f"n-weighted mean AUC {weighted:.3f} over 24 months" in body
    assert "vega_usd" in body and "high_vol" in body
    gone = render_tearsheet(replace(small, ivrank_folds=None)).split('<section id="ivrank">')[1].split("</section>")[0]
    assert "not available: no ivrank_folds input" in gone and gone.count("<svg") == 3
