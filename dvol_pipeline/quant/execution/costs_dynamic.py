"""A dynamic cost model per order: fees by tier, the spread paid, market impact, adverse selection, opportunity cost.

Why per order and per market state: a fixed "x bps a side" hides what the research plan warns about (costs eat
50-80 % of gross returns): the cost of an order grows with its size against the market's volume and depth, with
volatility, and with how toxic the flow is. Core module: plain frames in, plain frames out, no lane import, so
every book (micro, options, ...) prices orders the same way.

Conventions. Costs are in bps of the order's notional at mid (positive = paid), and every component is the
expected contribution to the total, so `total_bps` is their sum:

- aggressive: `fee_bps` (taker) + `spread_bps` (half the quoted spread) + `temp_impact_bps` (Almgren-Chriss
  temporary impact, a power law of the order's size against the volume rate) + `perm_bps` (a share of the
  Kyle-lambda permanent move the order causes: Almgren-Chriss charge half of a linear permanent impact).
- passive: with `fill_prob` p (the order's own column, e.g. from the queue simulation, else the config's),
  p x (maker fee - half spread earned + adverse selection) + (1 - p) x the opportunity cost of not filling.
  No impact: a resting order does not take liquidity (its information shows up as adverse selection).

`sigma` (return std, a fraction) and `volume_rate` (base units) must be per the same time unit (a second or a
bar); with beta = 0.5 the temporary impact does not depend on that unit (the square-root law is
scale-free: sigma*sqrt(T) x sqrt(Q / (v*T)) = sigma x sqrt(Q / v)). `kyle_lambda` is in bps of mid per base
unit of signed volume, the unit of `estimate_kyle_lambda` and of the micro lane's `kyle_lambda` feature.
Every component is multiplied by `cost_mult`, so a cost-sensitivity table is exact from one run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import polars as pl

BPS = 1e4
# Binance USDⓈ-M futures fee schedule, regular users, USDT-margined, in bps of notional (maker, taker):
# https://www.binance.com/en/fee/futureFee (VIP0 maker 0.0200 %, taker 0.0500 %; read 2024-12, no BNB
# discount). The table changes from time to time: a config can pass its own.
BINANCE_USDM_FEE_TIERS: dict[str, tuple[float, float]] = {
    "VIP0": (2.0, 5.0), "VIP1": (1.6, 4.0), "VIP2": (1.4, 3.5), "VIP3": (1.2, 3.2), "VIP4": (1.0, 3.0),
    "VIP5": (0.8, 2.7), "VIP6": (0.6, 2.5), "VIP7": (0.4, 2.2), "VIP8": (0.2, 2.0), "VIP9": (0.0, 1.7),
}
MARKET_COLUMNS = ("mid", "spread", "sigma", "volume_rate", "kyle_lambda", "vpin")
"""Market state an order is priced against (as of the order); `bid_size`, `ask_size`, `depth` are optional."""


@dataclass(frozen=True)
class CostConfig:
    """Parameters of the cost model, with where each number comes from.

    - `eta`, `beta`: temporary impact eta x sigma x (Q / V)^beta. Almgren, Thum, Hauptmann & Li (2005), "Direct
      estimation of equity market impact" (Risk): beta = 0.6, eta = 0.142 on US equities, with V the daily
      volume and sigma the daily volatility; the square-root law (Toth et al. 2011, "Anomalous price impact and
      the critical nature of liquidity", PRX; Bouchaud et al., "Trades, Quotes and Prices", 2018, ch. 12) has
      beta = 0.5 and a prefactor Y of order 1 (0.5-1 in crypto studies). Default: beta 0.5, eta 0.7.
    - `perm_share`: share of the Kyle permanent move (lambda x Q, Kyle 1985) the order itself pays: 0.5, the
      Almgren & Chriss (2000) cost of a linear permanent impact (gamma X^2 / 2) for one child order.
    - `adverse_coef`, `markout_s`: adverse selection of a passive fill = adverse_coef x VPIN x
      sigma x sqrt(markout_s) (the post-fill markout against us grows with volatility and with the share of
      informed flow; Easley, Lopez de Prado & O'Hara 2012, "Flow toxicity and liquidity in a high-frequency
      world", RFS). adverse_coef = 1: at VPIN = 1 the markout is one standard deviation of the markout horizon.
    - `horizon_s`: how long a passive order rests before it is given up; an unfilled order pays the expected
      absolute move over it, sigma x sqrt(horizon) x sqrt(2 / pi) (the mean of a half-normal: unfilled orders
      are mostly the ones the price ran away from), then has to trade another way.
    - `passive_fill_prob`: fill probability of a passive order without its own `fill_prob` column.
    """

    fee_tiers: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(BINANCE_USDM_FEE_TIERS))
    tier: str = "VIP0"
    eta: float = 0.7
    beta: float = 0.5
    perm_share: float = 0.5
    adverse_coef: float = 1.0
    markout_s: float = 10.0
    horizon_s: float = 60.0
    passive_fill_prob: float = 0.5
    sigma_unit_s: float = 1.0
    """Seconds per unit of `sigma` / `volume_rate` (1: per second; 60: per 1-minute bar)."""
    cost_mult: float = 1.0

    def fees_bps(self) -> tuple[float, float]:
        """(maker, taker) of the configured tier, in bps."""
        return self.fee_tiers[self.tier]


def _join_market(orders: pl.DataFrame, market: pl.DataFrame) -> pl.DataFrame:
    """Each order with the market state as of its `ts` (the last state at or before it; per symbol if both have one)."""
    if orders.height == market.height and "ts" not in market.columns:
        return pl.concat([orders, market.select([c for c in market.columns if c not in orders.columns])],
                         how="horizontal")
    by = "symbol" if "symbol" in orders.columns and "symbol" in market.columns else None
    keep = [c for c in market.columns if c not in orders.columns or c in ("ts", "symbol")]
    return orders.with_row_index("__row").sort("ts").join_asof(
        market.select(keep).sort("ts"), on="ts", by=by, strategy="backward",
        check_sortedness=by is None).sort("__row").drop("__row")  # sorted by ts above; polars cannot check per group


def order_costs(orders: pl.DataFrame, market: pl.DataFrame, config: CostConfig = CostConfig()) -> pl.DataFrame:
    """The expected cost of each order, by component, in bps of notional and in quote currency.

    `orders`: `ts`, `side` (+1 buy, -1 sell), `qty` (base units), `style` ("aggressive" | "passive"), optional
    `symbol` and `fill_prob` (passive). `market`: `ts` (+ `symbol`) and MARKET_COLUMNS; it is joined as of each
    order's time. A `market` without `ts` and with one row per order is taken row for row.
    """
    df = _join_market(orders, market)
    missing = [c for c in MARKET_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"market state lacks {missing}")
    maker, taker = config.fees_bps()
    aggressive = pl.col("style") == "aggressive"
    sigma_bps = pl.col("sigma") * BPS
    per_s = 1.0 / config.sigma_unit_s  # sigma x sqrt(seconds / unit)
    p = pl.col("fill_prob") if "fill_prob" in df.columns else pl.lit(config.passive_fill_prob)
    p = pl.when(aggressive).then(1.0).otherwise(p.clip(0.0, 1.0))
    half_spread_bps = 0.5 * pl.col("spread") / pl.col("mid") * BPS
    temp = config.eta * sigma_bps * (pl.col("qty").abs() / pl.col("volume_rate")).pow(config.beta)
    move = pl.col("kyle_lambda") * pl.col("side") * pl.col("qty").abs()
    adverse = config.adverse_coef * pl.col("vpin") * sigma_bps * math.sqrt(config.markout_s * per_s)
    opportunity = sigma_bps * math.sqrt(config.horizon_s * per_s) * math.sqrt(2.0 / math.pi)
    m = config.cost_mult
    out = df.with_columns(
        notional=pl.col("qty").abs() * pl.col("mid"),
        fill_prob=p,
        fee_bps=m * pl.when(aggressive).then(taker).otherwise(p * maker),
        spread_bps=m * pl.when(aggressive).then(half_spread_bps).otherwise(-p * half_spread_bps),
        temp_impact_bps=m * pl.when(aggressive).then(temp).otherwise(0.0),
        perm_move_bps=pl.when(aggressive).then(move).otherwise(0.0),
        perm_bps=m * pl.when(aggressive).then(config.perm_share * move.abs()).otherwise(0.0),
        adverse_bps=m * pl.when(aggressive).then(0.0).otherwise(p * adverse),
        opportunity_bps=m * pl.when(aggressive).then(0.0).otherwise((1.0 - p) * opportunity),
    )
    parts = ("fee_bps", "spread_bps", "temp_impact_bps", "perm_bps", "adverse_bps", "opportunity_bps")
    out = out.with_columns(total_bps=pl.sum_horizontal(parts))
    return out.with_columns(total_cost=pl.col("total_bps") / BPS * pl.col("notional"))


def estimate_kyle_lambda(bars: pl.DataFrame, window: int | None = 300, by: tuple[str, ...] = ("symbol",),
                         regime: str | None = None, min_periods: int | None = None) -> pl.DataFrame:
    """Kyle's lambda: OLS slope (with intercept) of the bar's mid return (bps) on its signed volume (base units).

    `bars`: `ts`, `mid_close`, `buy_volume`, `sell_volume` (the micro lane's `micro_bars` columns) and the `by`
    columns. The return is taken within `by` in time order; the regression then runs within `by` + `regime`
    (a regime's bars need not be contiguous). `window` rows: a trailing rolling estimate on every bar (uses
    only that bar and earlier ones: no look-ahead); `window=None`: one full-sample estimate per group, with its
    bar count, R^2 and slope t-statistic (a table).
    """
    by = tuple(c for c in by if c in bars.columns)
    b = bars.sort([*by, "ts"]).with_columns(
        ret_bps=(pl.col("mid_close") / pl.col("mid_close").shift(1) - 1.0).over(by or None) * BPS
        if by else (pl.col("mid_close") / pl.col("mid_close").shift(1) - 1.0) * BPS,
        signed_volume=pl.col("buy_volume").fill_null(0.0) - pl.col("sell_volume").fill_null(0.0))
    b = b.filter(pl.col("ret_bps").is_finite())
    keys = [*by, *([regime] if regime else [])]
    x, y = pl.col("signed_volume"), pl.col("ret_bps")
    if window is None:
        g = b.group_by(keys or pl.lit(0).alias("__all"), maintain_order=True).agg(
            n=pl.len(), cov=pl.cov(x, y), var=x.var(), vary=y.var(), xbar=x.mean())
        g = g.with_columns(kyle_lambda=pl.col("cov") / pl.col("var"),
                           r2=pl.col("cov") ** 2 / (pl.col("var") * pl.col("vary")))
        se = ((1.0 - pl.col("r2")) * pl.col("vary") / (pl.col("var") * (pl.col("n") - 2))).sqrt()
        return g.with_columns(t_stat=pl.col("kyle_lambda") / se).select(
            *(keys or []), "n", "kyle_lambda", "r2", "t_stat")
    mp = min_periods or window
    over = keys or None
    cov = pl.rolling_cov(x, y, window_size=window, min_samples=mp)
    var = x.rolling_var(window_size=window, min_samples=mp)
    lam = (cov / var).over(over) if over else cov / var
    return b.with_columns(kyle_lambda=pl.when(lam.is_finite()).then(lam).otherwise(None))


BTC_PERP_STATE = {
    "state": "btc_perp_typical", "mid": 100_000.0, "spread": 0.1, "bid_size": 5.0, "ask_size": 5.0,
    "sigma": 0.025 / math.sqrt(86_400), "volume_rate": 1.5, "kyle_lambda": 0.05, "vpin": 0.3,
}
"""An illustrative BTCUSDT perpetual (our assumptions, not a measurement): 2.5 % daily volatility, ~130 000 BTC a
day (1.5 BTC/s), one-tick spread, 5 BTC at the touch, lambda 0.05 bps per BTC, VPIN 0.3."""


def calibration_table(states: pl.DataFrame | None = None, sizes_usd: tuple[float, ...] = (1e4, 1e5, 1e6),
                      config: CostConfig = CostConfig()) -> pl.DataFrame:
    """What the model charges an aggressive and a passive buy of each USD size on each market state.

    `states`: one row per state, a `state` name and MARKET_COLUMNS (default: BTC_PERP_STATE). The research plan's
    calibration point is 100 000 USD aggressive on BTC ~ 10-30 bps and passive ~ 2-10 bps.
    """
    states = pl.DataFrame([BTC_PERP_STATE]) if states is None else states
    grid = states.join(pl.DataFrame({"size_usd": list(sizes_usd)}), how="cross").join(
        pl.DataFrame({"style": ["aggressive", "passive"]}), how="cross")
    orders = grid.select("style", side=pl.lit(1), qty=pl.col("size_usd") / pl.col("mid"))
    costs = order_costs(orders, grid.drop("style"), config)
    cols = ["fee_bps", "spread_bps", "temp_impact_bps", "perm_bps", "adverse_bps", "opportunity_bps", "total_bps"]
    return pl.concat([grid.select("state", "size_usd", "style"), costs.select(cols)], how="horizontal")


def format_table(table: pl.DataFrame) -> str:
    """A fixed-width text rendering (what the docs and the benchmark print)."""
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=200, float_precision=2, tbl_hide_dataframe_shape=True,
                   tbl_hide_column_data_types=True):
        return str(table)


if __name__ == "__main__":  # pragma: no cover - `python -m dvol_pipeline.quant.execution.costs_dynamic`
    print(format_table(calibration_table()))
