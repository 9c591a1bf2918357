"""Universe features and targets, for every coin at once (polars, `over("symbol")`).

Every feature of row (D, coin) reads bars dated D or earlier only (D's close is known at
D's cut-off); the targets read the next 7 / 14 days and are never features. Gaps: a
coin's calendar is made daily from its first to its last bar; prices are interpolated
over holes of at most `MAX_FILL_DAYS` days and left null across longer ones. An
interpolated day's own row read the bar after the hole, so it is flagged `filled` and
never used as a feature row (model code drops it); the rows after the hole are fine.
"""

from __future__ import annotations

import polars as pl

from dvol_pipeline.quant.stats import PERIODS_PER_YEAR
from dvol_pipeline.quant.universe.garch import garch_forecasts

HORIZONS = (7, 14)
WINDOWS = (7, 14, 30)
MAX_FILL_DAYS = 3
ANN = PERIODS_PER_YEAR**0.5
KEY = ("date", "symbol")
NOT_FEATURES = ("date", "symbol", "filled", "tier", "market_cap", "size_usd", "close", *(f"y_{h}" for h in HORIZONS))
CAP_PROXY_TURNOVER = 0.05
"""Where a source has no market cap (CDD files), the coin's trailing 30-day mean USD volume / 5 %
(a typical daily turnover) stands in for its size in the ranks, tiers, market weights and log size."""

GROUPS = {
    "returns": ("ret", "abs_ret", "range", "close_open", "ret_lag"),
    "rolling": ("ret_mean_", "ret_std_", "ret_skew_", "ret_kurt_"),
    "technical": ("atr_14", "bb_width", "rsi_14", "macd"),
    "liquidity": ("log_volume", "volume_ratio", "vol_to_mcap", "turnover_30", "amihud_30"),
    "size": ("log_mcap", "cap_rank"),
    "market": ("mkt_", "corr_btc", "beta_btc", "vol_spread"),
    "garch": ("garch_vol_",),
    "har": ("har_", "rv_lag"),
}
"""Feature groups (name prefixes) for the ablations and the SHAP colours."""


def feature_group(name: str) -> str:
    for group, prefixes in GROUPS.items():
        if any(name == p or name.startswith(p) for p in prefixes):
            return group
    return "other"


def daily_calendar(raw: pl.DataFrame) -> pl.DataFrame:
    """Each coin on every day from its first to its last bar; short holes interpolated, `filled` flagged."""
    cols = ["open", "high", "low", "close", "volume_quote", "market_cap"]
    spans = raw.group_by("symbol").agg(pl.col("date").min().alias("a"), pl.col("date").max().alias("b"))
    grid = spans.select("symbol", pl.date_ranges("a", "b", "1d").alias("date")).explode("date")
    full = grid.join(raw.select("symbol", "date", *cols), on=["symbol", "date"], how="left").sort("symbol", "date")
    missing = pl.col("close").is_null()
    run_id = (missing != missing.shift(1)).fill_null(True).cum_sum().over("symbol")
    run_len = pl.len().over("symbol", run_id)
    full = full.with_columns(missing.alias("filled"), run_id.alias("__run")).with_columns(
        (pl.col("filled") & (run_len <= MAX_FILL_DAYS)).alias("__short"))
    interp = [pl.col(c).interpolate().over("symbol") for c in cols]
    full = full.with_columns(
        [pl.when(pl.col("__short") | ~pl.col("filled")).then(e).otherwise(None).alias(c) for e, c in zip(interp, cols)])
    return full.drop("__run", "__short")


def _rsi(close: pl.Expr, n: int = 14) -> pl.Expr:
    d = close.diff()
    up = d.clip(lower_bound=0).ewm_mean(alpha=1 / n, adjust=False, ignore_nulls=True)
    down = (-d).clip(lower_bound=0).ewm_mean(alpha=1 / n, adjust=False, ignore_nulls=True)
    return 100 - 100 / (1 + up / down)


def _per_coin(frame: pl.DataFrame) -> pl.DataFrame:
    c, o, h, lo = pl.col("close"), pl.col("open"), pl.col("high"), pl.col("low")
    ret = c.log().diff()
    s = "symbol"
    proxy = pl.col("volume_quote").rolling_mean(30, min_samples=1).over(s) / CAP_PROXY_TURNOVER
    frame = frame.with_columns(pl.col("market_cap").fill_null(proxy).alias("size_usd"))
    exprs = [ret.over(s).alias("ret"), (h / lo).log().alias("range"), (c / o).log().alias("close_open"),
             pl.col("volume_quote").log1p().alias("log_volume"), pl.col("size_usd").log().alias("log_mcap"),
             (pl.col("volume_quote") / pl.col("size_usd")).alias("vol_to_mcap")]
    f = frame.with_columns(exprs).with_columns(pl.col("ret").abs().alias("abs_ret"))
    r = pl.col("ret")
    roll = []
    for w in WINDOWS:
        roll += [r.rolling_mean(w).over(s).alias(f"ret_mean_{w}"),
                 (r.rolling_std(w).over(s) * ANN).alias(f"ret_std_{w}"),
                 r.rolling_skew(w).over(s).alias(f"ret_skew_{w}"),
                 r.rolling_kurtosis(w).over(s).alias(f"ret_kurt_{w}")]
    tr = pl.max_horizontal(h - lo, (h - c.shift(1).over(s)).abs(), (lo - c.shift(1).over(s)).abs()) / c
    ema = lambda x, n: x.ewm_mean(span=n, adjust=False, ignore_nulls=True).over(s)  # noqa: E731
    macd = (ema(c, 12) - ema(c, 26)) / c
    roll += [tr.rolling_mean(14).over(s).alias("atr_14"),
             (4 * c.rolling_std(20).over(s) / c.rolling_mean(20).over(s)).alias("bb_width"),
             _rsi(c).over(s).alias("rsi_14"), macd.alias("macd"),
             pl.col("volume_quote").rolling_mean(7).over(s).log1p().alias("log_volume_7"),
             (pl.col("volume_quote") / pl.col("volume_quote").rolling_mean(30).over(s)).alias("volume_ratio"),
             pl.col("vol_to_mcap").rolling_mean(30).over(s).alias("turnover_30"),
             (pl.col("abs_ret") / pl.col("volume_quote")).rolling_mean(30).over(s).mul(1e9).alias("amihud_30"),
             *(r.shift(k).over(s).alias(f"ret_lag_{k}") for k in (1, 2, 3))]
    f = f.with_columns(roll).with_columns(
        pl.col("macd").ewm_mean(span=9, adjust=False, ignore_nulls=True).over(s).alias("macd_signal"))
    f = f.with_columns((pl.col("macd") - pl.col("macd_signal")).alias("macd_hist"))
    # HAR terms (Corsi): daily, weekly and monthly realised vol, and lags of the weekly one
    return f.with_columns(
        (pl.col("abs_ret") * ANN).alias("har_d"), pl.col("ret_std_7").alias("har_w"), pl.col("ret_std_30").alias("har_m"),
        *(pl.col("ret_std_7").shift(k).over(s).alias(f"rv_lag_{k}") for k in (1, 3, 7)),
        (r.rolling_std(14).over(s) * ANN).alias("rv_trailing_14"),
    )


def _market(f: pl.DataFrame, coins: list[str]) -> pl.DataFrame:
    """Cap-weighted market return (yesterday's caps as weights), its 30-day vol, and each coin's
    30-day correlation and beta to BTC. Interpolated days (`filled`) never enter another coin's row:
    on day D they read the bar after D."""
    inside = f.filter(pl.col("symbol").is_in(coins)).with_columns(
        pl.col("size_usd").shift(1).over("symbol").alias("__w")).filter(~pl.col("filled"))
    mkt = inside.filter(pl.col("ret").is_not_null() & pl.col("__w").is_not_null()).group_by("date").agg(
        ((pl.col("ret") * pl.col("__w")).sum() / pl.col("__w").sum()).alias("mkt_ret")).sort("date")
    mkt = mkt.with_columns((pl.col("mkt_ret").rolling_std(30) * ANN).alias("mkt_vol_30"))
    btc = f.filter((pl.col("symbol") == "BTC") & ~pl.col("filled")).select("date", pl.col("ret").alias("__btc"))
    f = f.join(mkt, on="date", how="left").join(btc, on="date", how="left").sort("symbol", "date")
    return f.with_columns(
        pl.rolling_corr("ret", "__btc", window_size=30).over("symbol").alias("corr_btc_30"),
        (pl.rolling_cov("ret", "__btc", window_size=30) / pl.col("__btc").rolling_var(30)).over("symbol")
        .alias("beta_btc_30"),
        (pl.col("ret_std_30") - pl.col("mkt_vol_30")).alias("vol_spread"),
    ).drop("__btc")


def _targets(f: pl.DataFrame) -> pl.DataFrame:
    """y_h(D): annualised std (ddof 1) of the log returns of days D+1 .. D+h (null unless all h are known)."""
    return f.with_columns(
        (pl.col("ret").rolling_std(h, min_samples=h).shift(-h).over("symbol") * ANN).alias(f"y_{h}") for h in HORIZONS)


def _size(f: pl.DataFrame, coins: list[str]) -> pl.DataFrame:
    """Rank by market cap among `coins` that day (1 = largest) and its tier; an interpolated day
    neither gets a rank nor takes one from the others."""
    rank = pl.when(pl.col("symbol").is_in(coins) & ~pl.col("filled")).then(pl.col("size_usd")).rank(
        "ordinal", descending=True)
    f = f.with_columns(rank.over("date").cast(pl.Int32).alias("cap_rank"))
    tier = pl.when(pl.col("cap_rank") <= 10).then(pl.lit("large")).when(pl.col("cap_rank") <= 30).then(
        pl.lit("mid")).when(pl.col("cap_rank").is_not_null()).then(pl.lit("small"))
    return f.with_columns(tier.alias("tier"))


def build_universe_features(raw: pl.DataFrame, symbols: pl.DataFrame, memo: pl.DataFrame | None = None
                            ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(features and targets for every coin and day, the GARCH memo with this build's fits)."""
    modelled = symbols.filter(pl.col("modelled"))["symbol"].to_list()
    # the market and the size ranks use every coin but the stablecoins, not "modelled", which depends on
    # how long a coin's whole history turns out to be (known only later)
    traded = symbols.filter(~pl.col("stablecoin"))["symbol"].to_list()
    frame = daily_calendar(raw)
    f = _per_coin(frame)
    f = _market(f, traded)
    f = _size(f, traded)
    garch_in = f.filter(pl.col("symbol").is_in(modelled)).select("symbol", "date", "ret")
    garch, memo = garch_forecasts(garch_in, HORIZONS, memo)
    if garch.height:
        f = f.join(garch, on=["symbol", "date"], how="left")
    else:
        f = f.with_columns(pl.lit(None, pl.Float64).alias(f"garch_vol_{h}") for h in HORIZONS)
    f = _targets(f)
    floats = [c for c, t in f.schema.items() if t.is_float()]
    f = f.with_columns(pl.col(floats).fill_nan(None))
    return f.sort("symbol", "date"), memo


def feature_columns(frame: pl.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in NOT_FEATURES and c not in ("volume_quote", "open", "high", "low")]
