"""The feature registry: every column of `features_daily`, described once.

Why one list: the builders, the leakage check, the Dagster asset metadata, the UI and the
docs (docs/dvol/features.md) all read `FEATURES`, so a feature's name, group, definition, source table and lag
live in exactly one place. `lag_days` is how many days before D the newest observation a
feature uses was stamped (0: it uses D itself, up to the cut-off D+1 00:00 UTC).

Units: DVOL and every volatility are annualised vol points (55.3 = 55.3 %), with 365 days a
year (crypto trades every day); returns are log returns in percent.
"""

from __future__ import annotations

from dataclasses import dataclass

GROUPS: list[str] = ["iv", "rv", "jump", "vrp", "garch", "funding", "flow", "surface", "regime", "onchain", "micro",
                     "calendar"]
OPT_IN_GROUPS: tuple[str, ...] = ("micro",)
"""Groups in features_daily that the models use only when asked (`run_fold(include_groups=...)`): tick
data covers days to months, not the years of history a walk-forward trains on, so a group that is null
on almost every training row would only add noise; a researcher opts in to test whether it helps."""
"""Named feature groups, in display order; a group is the unit of ablation."""

HORIZONS: tuple[int, ...] = (1, 7, 14)
"""Forecast horizons in days: the one source of truth for labels, folds, models and signals."""

MAX_HORIZON: int = max(HORIZONS)
"""How far past a day its labels reach: a label of D needs DVOL up to D + MAX_HORIZON."""

LABELS: dict[int, str] = {h: f"y_{h}d" for h in HORIZONS}
"""Horizon (days) -> label column: DVOL close(D+h) - DVOL close(D)."""

EXTRA_GROUP = "extra"
"""Group of columns added through `build_features(extra_features=...)` (research/test hook)."""


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    group: str
    definition: str
    source_table: str
    """Raw table(s) read, comma-separated when more than one."""
    lag_days: int = 0

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(t.strip() for t in self.source_table.split(","))


_DV, _OH, _FU, _OS, _OC = "raw_dvol", "raw_ohlcv", "raw_funding", "raw_options_summary", "raw_onchain"
_SF = "surface_features"
_MD = "micro_daily"
_PX = "daily close-to-close log return of the chosen price series"


def _f(name: str, group: str, definition: str, source: str, lag: int = 0) -> FeatureSpec:
    return FeatureSpec(name, group, definition, source, lag)


FEATURES: list[FeatureSpec] = [
    # --- iv: the DVOL index itself ------------------------------------------------------
    _f("dvol", "iv", "DVOL close of day D (the daily bar opened at D 00:00 closes at the cut-off)", _DV),
    _f("dvol_lag1", "iv", "DVOL close of D-1", _DV, 1),
    _f("dvol_lag2", "iv", "DVOL close of D-2", _DV, 2),
    _f("dvol_lag5", "iv", "DVOL close of D-5", _DV, 5),
    _f("dvol_chg1", "iv", "DVOL close(D) - close(D-1)", _DV),
    _f("dvol_chg5", "iv", "DVOL close(D) - close(D-5)", _DV),
    _f("dvol_range", "iv", "DVOL high - low within day D", _DV),
    _f("dvol_ma5", "iv", "mean DVOL close over D-4..D", _DV),
    _f("dvol_ma22", "iv", "mean DVOL close over D-21..D", _DV),
    _f("dvol_ma66", "iv", "mean DVOL close over D-65..D", _DV),
    _f("dvol_dist_ma5", "iv", "dvol - dvol_ma5", _DV),
    _f("dvol_dist_ma22", "iv", "dvol - dvol_ma22", _DV),
    _f("dvol_dist_ma66", "iv", "dvol - dvol_ma66", _DV),
    # --- rv: realised and range volatility ----------------------------------------------
    _f("ret_1d", "rv", f"{_PX}, percent", _OH),
    _f("rv_1d", "rv", "realised vol of day D: sqrt(365 * sum of squared intraday returns) (daily bars: |ret_1d|)", _OH),
    _f("rv_5d", "rv", "sqrt(365 * mean daily realised variance over D-4..D)", _OH),
    _f("rv_22d", "rv", "sqrt(365 * mean daily realised variance over D-21..D)", _OH),
    _f("har_d", "rv", "HAR daily term: ln(365 * realised variance of D) (null when it is 0)", _OH),
    _f("har_w", "rv", "HAR weekly term: ln(365 * mean daily realised variance over D-4..D)", _OH),
    _f("har_m", "rv", "HAR monthly term: ln(365 * mean daily realised variance over D-21..D)", _OH),
    _f("park_1d", "rv", "Parkinson vol of D: sum of ln(H/L)^2/(4 ln 2) over D's bars, annualised", _OH),
    _f("park_22d", "rv", "Parkinson vol, mean daily variance over D-21..D, annualised", _OH),
    _f("gk_1d", "rv", "Garman-Klass vol of D: sum of 0.5 ln(H/L)^2 - (2 ln 2 - 1) ln(C/O)^2 over D's bars (floored at 0)", _OH),
    _f("gk_22d", "rv", "Garman-Klass vol, mean daily variance over D-21..D, annualised", _OH),
    # --- jump: bipower variation (intraday bars only) -----------------------------------
    _f("bv_1d", "jump", "bipower vol of D: sqrt(365 * pi/2 * n/(n-1) * sum |r_i||r_i-1|) over D's intraday returns", _OH),
    _f("jump_1d", "jump", "jump vol of D: sqrt(365 * max(RV - BV, 0))", _OH),
    _f("jump_share_1d", "jump", "max(RV - BV, 0) / RV of day D", _OH),
    _f("jump_22d", "jump", "sqrt(365 * mean of max(RV - BV, 0) over D-21..D)", _OH),
    # --- vrp: implied minus realised ------------------------------------------------------
    _f("vrp_rv22", "vrp", "dvol - rv_22d (vol points)", f"{_DV},{_OH}"),
    _f("vrp_rv5", "vrp", "dvol - rv_5d (vol points)", f"{_DV},{_OH}"),
    _f("vrp_log_rv22", "vrp", "ln(dvol / rv_22d)", f"{_DV},{_OH}"),
    # --- garch: model-based realised-vol forecast ----------------------------------------
    _f("garch_vol1", "garch", "GJR-GARCH(1,1)-t next-day conditional vol after D, annualised", _OH),
    _f("garch_vol30", "garch", "GJR-GARCH(1,1)-t forecast of vol over D+1..D+30, annualised", _OH),
    _f("vrp_garch", "garch", "dvol - garch_vol30 (vol points)", f"{_DV},{_OH}"),
    # --- funding -------------------------------------------------------------------------
    _f("funding_mean", "funding", "mean funding rate of D's events, basis points per 8h", _FU),
    _f("funding_std", "funding", "std of D's funding rates (bp per 8h; null with one event)", _FU),
    _f("funding_chg5", "funding", "funding_mean(D) - funding_mean(D-5)", _FU),
    # --- flow: options market ------------------------------------------------------------
    _f("opt_net_vega", "flow", "open-interest-weighted net vega of D's end-of-day chain (USD/vol pt)", _OS),
    _f("opt_net_vega_z", "flow", "(net vega(D) - mean over D-60..D-1) / std over D-60..D-1", _OS),
    _f("opt_iv_minus_dvol", "flow", "OI-weighted average mark IV of D minus dvol", f"{_OS},{_DV}"),
    _f("opt_volume", "flow", "option contracts traded on D", _OS),
    _f("opt_open_interest", "flow", "option contracts open at D's end of day", _OS),
    # --- surface: SVI fits of D's end-of-day chain (surface_features, from raw_option_chain) --
    _f("surf_atm_7d", "surface", "constant-maturity 7-day ATM (forward) implied vol of D's SVI surface", _SF),
    _f("surf_atm_30d", "surface", "constant-maturity 30-day ATM implied vol", _SF),
    _f("surf_atm_60d", "surface", "constant-maturity 60-day ATM implied vol", _SF),
    _f("surf_atm_90d", "surface", "constant-maturity 90-day ATM implied vol", _SF),
    _f("surf_term_slope", "surface", "term-structure slope: surf_atm_90d - surf_atm_7d", _SF),
    _f("surf_rr25_30d", "surface", "30-day 25-delta risk reversal: iv(25d call) - iv(25d put)", _SF),
    _f("surf_bf25_30d", "surface", "30-day 25-delta butterfly: mean(iv 25d call, 25d put) - ATM", _SF),
    _f("surf_replica_gap", "surface", "chain's 30-day variance-swap replica minus surf_atm_30d (the smile's convexity premium)", _SF),
    _f("surf_atm_30d_pct", "surface", "share of the 365 days D-364..D whose surf_atm_30d is below D's (null under 180 days)", _SF),
    # --- regime: where DVOL sits in its past year (quant/dvol/regimes.py; the vol_regimes table) --
    _f("regime_dvol_rank", "regime", "DVOL rank: (dvol - min) / (max - min) of the closes D-364..D (null under 180 days)", _DV),
    _f("regime_dvol_pct", "regime", "DVOL percentile: share of the closes D-364..D below dvol", _DV),
    _f("regime_rv_iv_ratio", "regime", "20-day realised vol (sqrt(365 mean daily RV of D-19..D)) / dvol", f"{_DV},{_OH}"),
    _f("regime_code", "regime", "regime label as a code: 0 neutral, 1 low_vol, 2 high_vol, 3 iv_expansion, 4 iv_contraction", f"{_DV},{_OH}"),
    _f("regime_is_low_vol", "regime", "1 when the regime label is low_vol, else 0", f"{_DV},{_OH}"),
    _f("regime_is_high_vol", "regime", "1 when the regime label is high_vol, else 0", f"{_DV},{_OH}"),
    _f("regime_is_iv_expansion", "regime", "1 when the regime label is iv_expansion, else 0", f"{_DV},{_OH}"),
    _f("regime_is_iv_contraction", "regime", "1 when the regime label is iv_contraction, else 0", f"{_DV},{_OH}"),
    # --- onchain (published the next day: lag 1) -----------------------------------------
    _f("onchain_tx", "onchain", "transactions on D-1", _OC, 1),
    _f("onchain_fees", "onchain", "fees paid on D-1 (coin)", _OC, 1),
    _f("onchain_tx_chg5", "onchain", "ln(tx_count(D-1) / tx_count(D-6))", _OC, 1),
    _f("onchain_fees_chg5", "onchain", "ln(fees(D-1) / fees(D-6))", _OC, 1),
    # --- micro: the micro lane's daily roll-up of its intraday features (bars closing on D) ---
    _f("micro_spread_bps", "micro", "mean time-weighted bid-ask spread of D's bars, bps (micro_daily)", _MD),
    _f("micro_rv", "micro", "realised volatility of D's intraday mid returns, annualised vol points", _MD),
    _f("micro_vpin", "micro", "mean VPIN (exact aggressor side) over D's bars", _MD),
    _f("micro_kyle_lambda", "micro", "mean rolling Kyle's lambda over D's bars (price impact per unit flow)", _MD),
    _f("micro_ofi_z_abs", "micro", "mean |z-score of order-flow imbalance| over D's bars", _MD),
    _f("micro_depth_imbalance_5", "micro", "mean depth imbalance over the first 5 levels, D's bars", _MD),
    _f("micro_trade_imbalance", "micro", "mean trade-sign imbalance of D's bars", _MD),
    _f("micro_basis_bps", "micro", "mean spot-perpetual basis over D's bars, bps", _MD),
    # --- calendar ------------------------------------------------------------------------
    _f("weekday", "calendar", "ISO weekday of D (1 = Monday ... 7 = Sunday)", _DV),
    _f("is_weekend", "calendar", "1 on Saturday and Sunday, else 0", _DV),
]

BY_NAME: dict[str, FeatureSpec] = {f.name: f for f in FEATURES}
assert len(BY_NAME) == len(FEATURES), "duplicate feature name"
assert all(f.group in GROUPS for f in FEATURES), "feature in an unknown group"


def features_markdown(groups: list[str] | None = None) -> str:
    """The registry as a markdown table (for docs/dvol/features.md and the asset description)."""
    rows = [
        "| feature | group | definition | source | lag (days) |",
        "|---|---|---|---|---|",
    ]
    for f in FEATURES:
        if groups is None or f.group in groups:
            rows.append(f"| `{f.name}` | {f.group} | {f.definition.replace('|', '/')} | {f.source_table} | {f.lag_days} |")
    for h, name in LABELS.items():
        rows.append(f"| `{name}` | label | DVOL close(D+{h}) - DVOL close(D); null beyond the data | raw_dvol | -{h} |")
    return "\n".join(rows) + "\n"
