"""`micro_gates`: the research plan's go/no-go gates, per strategy and symbol, out of sample.

Gate 0: the microstructure features add >= 0.5 Sharpe over the same strategy without them (at 1x
costs; the caller runs both); the strategy is profitable at 2x costs (net return > 0); the top
features' SHAP signs agree with the expected signs (share of agreeing features = 1).
Gate 1: Sharpe > 1.5 at 1x costs, > 1.0 at 2x, Sharpe >= 70 % of BTC's (the cross-symbol bar; 1 on
BTC itself), Sharpe > 0.5 in every volatility regime.
A decision row per strategy and symbol: GO only if every criterion passes. A missing or NaN input
fails its criterion with a null value and a reason: nothing passes silently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import polars as pl

GATE_COLUMNS = ("strategy", "symbol", "gate", "criterion", "value", "threshold", "passed", "decision", "reason")
SHARPE_GAIN, SHARPE_1X, SHARPE_2X, CROSS_SYMBOL, REGIME_SHARPE = 0.5, 1.5, 1.0, 0.7, 0.5


def _ok(x) -> bool:
    return x is not None and isinstance(x, int | float) and math.isfinite(x)


def _row(strategy, symbol, gate, criterion, value, threshold, test, reason=None) -> dict:
    if not _ok(value):
        return {"strategy": strategy, "symbol": symbol, "gate": gate, "criterion": criterion, "value": None,
                "threshold": threshold, "passed": False, "decision": "FAIL", "reason": reason or "missing input"}
    passed = bool(test(value))
    return {"strategy": strategy, "symbol": symbol, "gate": gate, "criterion": criterion, "value": float(value),
            "threshold": threshold, "passed": passed, "decision": "PASS" if passed else "FAIL", "reason": reason}


def shap_agreement(shap_signs: Mapping[str, float] | None, expected: Mapping[str, float] | None):
    """(share of features whose SHAP sign equals the expected sign, reason); a feature without an
    expected sign counts as disagreeing. None without inputs."""
    if not shap_signs or not expected:
        return None, "no SHAP signs or no expected signs"
    agree = [math.copysign(1, s) == math.copysign(1, expected[f]) if f in expected and s != 0 else False
             for f, s in shap_signs.items()]
    bad = [f for f, a in zip(shap_signs, agree) if not a]
    return sum(agree) / len(agree), (f"disagree or unexpected: {', '.join(bad)}" if bad else None)


def gate_rows(strategy: str, symbol: str, *, sharpe_1x: float | None = None, sharpe_2x: float | None = None,
              net_return_2x: float | None = None, sharpe_without_micro: float | None = None,
              btc_sharpe: float | None = None, regime_sharpes: Mapping[str, float] | None = None,
              shap_signs: Mapping[str, float] | None = None, expected_signs: Mapping[str, float] | None = None,
              is_btc: bool | None = None) -> pl.DataFrame:
    """One strategy and symbol's gate rows (GATE_COLUMNS), the decision row last.

    `shap_signs`: the top features' mean SHAP direction (feature -> signed value); `expected_signs`:
    feature -> +1 / -1. `regime_sharpes`: volatility regime -> Sharpe (1x costs). `is_btc`
    defaults to "BTC" in the symbol."""
    r = []
    gain = sharpe_1x - sharpe_without_micro if _ok(sharpe_1x) and _ok(sharpe_without_micro) else None
    r.append(_row(strategy, symbol, "gate0", "sharpe gain from micro features", gain, SHARPE_GAIN,
                  lambda v: v >= SHARPE_GAIN, None if gain is not None else "needs sharpe with and without"))
    r.append(_row(strategy, symbol, "gate0", "net return at 2x costs", net_return_2x, 0.0, lambda v: v > 0))
    share, why = shap_agreement(shap_signs, expected_signs)
    r.append(_row(strategy, symbol, "gate0", "SHAP signs as expected (share)", share, 1.0, lambda v: v >= 1.0, why))
    r.append(_row(strategy, symbol, "gate1", "sharpe at 1x costs", sharpe_1x, SHARPE_1X, lambda v: v > SHARPE_1X))
    r.append(_row(strategy, symbol, "gate1", "sharpe at 2x costs", sharpe_2x, SHARPE_2X, lambda v: v > SHARPE_2X))
    btc = ("BTC" in symbol.upper()) if is_btc is None else is_btc
    if btc:
        ratio, why = (1.0, "BTC itself") if _ok(sharpe_1x) else (None, "no sharpe at 1x")
    elif not _ok(btc_sharpe) or not _ok(sharpe_1x):
        ratio, why = None, "needs this symbol's and BTC's sharpe"
    elif btc_sharpe <= 0:
        ratio, why = None, "BTC's sharpe <= 0: no ratio"
    else:
        ratio, why = sharpe_1x / btc_sharpe, None
    r.append(_row(strategy, symbol, "gate1", "sharpe / BTC's sharpe", ratio, CROSS_SYMBOL, lambda v: v >= CROSS_SYMBOL,
                  why))
    vals = dict(regime_sharpes or {})
    bad = [k for k, v in vals.items() if not _ok(v)]
    worst = None if not vals or bad else min(vals.values())
    why = "no regimes" if not vals else (f"no sharpe in: {', '.join(map(str, bad))}" if bad else
                                         f"worst of {len(vals)} regimes: {min(vals, key=vals.get)}")
    r.append(_row(strategy, symbol, "gate1", "min sharpe over volatility regimes", worst, REGIME_SHARPE,
                  lambda v: v > REGIME_SHARPE, why))
    go = all(x["passed"] for x in r)
    failed = [x["criterion"] for x in r if not x["passed"]]
    r.append({"strategy": strategy, "symbol": symbol, "gate": "decision", "criterion": "all criteria pass",
              "value": float(sum(x["passed"] for x in r)), "threshold": float(len(r)), "passed": go,
              "decision": "GO" if go else "NO-GO", "reason": None if go else "failed: " + "; ".join(failed)})
    return pl.DataFrame(r, schema={"strategy": pl.Utf8, "symbol": pl.Utf8, "gate": pl.Utf8, "criterion": pl.Utf8,
                                   "value": pl.Float64, "threshold": pl.Float64, "passed": pl.Boolean,
                                   "decision": pl.Utf8, "reason": pl.Utf8})


def _metric(m: pl.DataFrame, strategy: str, symbol: str, col: str, mult: float, regime: str = "all"):
    rows = m.filter((pl.col("strategy") == strategy) & (pl.col("symbol") == symbol) & (pl.col("regime") == regime)
                    & ((pl.col("cost_mult") - mult).abs() < 1e-9))
    return rows[col][0] if rows.height == 1 else None


def gates_table(metrics: pl.DataFrame, baseline: pl.DataFrame | None = None,
                shap_signs: Mapping[tuple[str, str], Mapping[str, float]] | None = None,
                expected_signs: Mapping[str, float] | None = None, btc_symbol: str | None = None) -> pl.DataFrame:
    """`micro_gates` from `micro_strategy_metrics` rows (out of sample; one execution and venue per
    strategy and symbol, else the criterion fails as ambiguous). `baseline`: the same table for the
    runs without microstructure features; `shap_signs`: (strategy, symbol) -> feature -> SHAP sign.
    Volatility regimes: every regime label other than "all" at 1x costs."""
    out = []
    pairs = metrics.select("strategy", "symbol").unique(maintain_order=True).iter_rows()
    for strategy, symbol in pairs:
        btc = btc_symbol or next((s for s in metrics.filter(pl.col("strategy") == strategy)["symbol"].unique()
                                  if "BTC" in s.upper()), None)
        regimes = metrics.filter((pl.col("strategy") == strategy) & (pl.col("symbol") == symbol)
                                 & (pl.col("regime") != "all") & ((pl.col("cost_mult") - 1.0).abs() < 1e-9))
        out.append(gate_rows(
            strategy, symbol, sharpe_1x=_metric(metrics, strategy, symbol, "sharpe", 1.0),
            sharpe_2x=_metric(metrics, strategy, symbol, "sharpe", 2.0),
            net_return_2x=_metric(metrics, strategy, symbol, "net_return", 2.0),
            sharpe_without_micro=None if baseline is None else _metric(baseline, strategy, symbol, "sharpe", 1.0),
            btc_sharpe=None if btc is None else _metric(metrics, strategy, btc, "sharpe", 1.0),
            regime_sharpes=(dict(zip(regimes["regime"], regimes["sharpe"], strict=True))
                            if regimes["regime"].is_unique().all() else {"ambiguous": None}),
            shap_signs=(shap_signs or {}).get((strategy, symbol)), expected_signs=expected_signs,
            is_btc=symbol == btc if btc else None))
    return pl.concat(out) if out else pl.DataFrame(schema=dict.fromkeys(GATE_COLUMNS, pl.Utf8))
