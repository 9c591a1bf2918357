"""The intraday feature registry: every column of `micro_features`, described once.

Why one list: the builder, the look-ahead check, `missing_features`, the daily roll-up and the
docs (docs/micro/features.md, a test keeps its table equal to `features_markdown()`) read
`FEATURES`, so a feature's name, group, definition, inputs and look-back live in one place.

`inputs` names `micro_bars` columns, plus the tokens `price` (the bar's mid close, or its trade
close where the source has no book), `raw_derivative_ticker`, `raw_liquidations`, `btc` (the
BTC series of the same venue) and `spot_perp` (a `<x>_spot` and `<x>_usdm` pair of one coin).
`lookback_bars` is how many bars, the current one included, the value at bar t reads (1: the
bar itself; as-of joins read the latest row at or before the close; recursive smoothers read
the whole history, given as their warm-up length). Everything at bar t uses rows with
ts <= t only. Units: returns and deviations in basis points of the price, sizes in base units.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

GROUPS: list[str] = ["book", "flow", "vol", "reversion", "funding", "cross", "calendar", "interaction"]
"""Feature groups, in display order; a group is the unit of ablation."""

W_S, W, W_L, W_XL = 20, 60, 300, 1440
"""Window lengths in bars: short, main, long, extra long (funding moves slowly)."""
RSI_N = ADX_N = 14
RK_BANDWIDTH = 6
"""Realised-kernel bandwidth H (Parzen) over a 300-return window: the BNHLS (2008) rule
H = c* xi^(4/5) n^(3/5) gives about 6 for n = 300 at a noise ratio xi^2 of 1e-3."""
HURST_QS = (1, 2, 4, 8, 16)
VPIN_CALIB, VPIN_BUCKET_BARS, VPIN_BUCKETS = 300, 5, 50
"""VPIN buckets hold the mean volume of the first `VPIN_CALIB` bars times `VPIN_BUCKET_BARS`
(fixed once known, so no bucket depends on later data); VPIN averages the last 50 buckets."""
PRE_FUNDING_MINUTES = 30
EXTRA_GROUP = "extra"
"""Group of columns added through `build_features(extra_features=...)` (research and test hook)."""
PRICE, TICKER, LIQ, BTC, PAIR = "price", "raw_derivative_ticker", "raw_liquidations", "btc", "spot_perp"
TOKENS = (PRICE, TICKER, LIQ, BTC, PAIR)


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    group: str
    definition: str
    inputs: tuple[str, ...]
    lookback_bars: int = 1


def _f(name: str, group: str, definition: str, inputs: str, lookback: int = 1) -> FeatureSpec:
    return FeatureSpec(name, group, definition, tuple(s.strip() for s in inputs.split(",")), lookback)


_DEPTH = {n: f"bid_depth_{n},ask_depth_{n}" for n in (5, 10, 20)}
_TOP = "bid_price,ask_price,bid_size,ask_size"
_VOL = "buy_volume,sell_volume"

FEATURES: list[FeatureSpec] = [
    # --- book: the limit order book at the bar close ---------------------------------------
    _f("depth_imb_1", "book", "(bid_size - ask_size) / (bid_size + ask_size) at the close", "bid_size,ask_size"),
    *(_f(f"depth_imb_{n}", "book", f"(bid_depth_{n} - ask_depth_{n}) / (bid_depth_{n} + ask_depth_{n}): "
         f"imbalance of the first {n} levels", _DEPTH[n]) for n in (5, 10, 20)),
    _f("microprice", "book", "Stoikov microprice (bid ask_size + ask bid_size) / (bid_size + ask_size)", _TOP),
    _f("microprice_dev_bps", "book", "1e4 (microprice - mid) / mid, mid = (bid + ask) / 2 at the close", _TOP),
    _f("ofi_z", "book", f"z-score of the bar's OFI over the last {W} bars (mean and std, ddof 1)", "ofi", W),
    _f("ofi_depth", "book", f"OFI / mean over {W} bars of (bid_depth_5 + ask_depth_5) / 2: OFI per unit of "
       "depth, whose price impact CKS (2014) find linear", "ofi,bid_depth_5,ask_depth_5", W),
    _f("spread_mean", "book", f"mean time-weighted spread (bps) over {W} bars", "spread_bps", W),
    _f("spread_z", "book", f"(spread_bps - mean) / std over {W} bars", "spread_bps", W),
    _f("depletion_rate", "book", f"mean of bid_depletions + ask_depletions per bar over {W} bars",
       "bid_depletions,ask_depletions", W),
    _f("depletion_imb", "book", f"(ask - bid depletions) / (ask + bid depletions), sums over {W} bars (> 0: asks "
       "run out faster)", "bid_depletions,ask_depletions", W),
    _f("cancel_rate", "book", f"mean of cancel_bid + cancel_ask per bar over {W} bars", "cancel_bid,cancel_ask", W),
    _f("cancel_imb", "book", f"(cancel_ask - cancel_bid) / (cancel_ask + cancel_bid), sums over {W} bars",
       "cancel_bid,cancel_ask", W),
    # --- flow: trades --------------------------------------------------------------------------
    _f("trade_imb", "flow", "(buy_volume - sell_volume) / (buy_volume + sell_volume) of the bar (null: no trade)",
       _VOL),
    _f("trade_imb_20", "flow", f"(sum buy - sum sell) / (sum buy + sum sell) volume over {W_S} bars", _VOL, W_S),
    _f("trade_imb_60", "flow", f"(sum buy - sum sell) / (sum buy + sum sell) volume over {W} bars", _VOL, W),
    _f("vpin", "flow", f"VPIN with the exact aggressor side: mean |V_buy - V_sell| / V over the last "
       f"{VPIN_BUCKETS} volume buckets completed by the close (bucket V: mean volume of the first {VPIN_CALIB} "
       f"bars x {VPIN_BUCKET_BARS}; null before)", _VOL, VPIN_CALIB),
    _f("vpin_bvc", "flow", f"VPIN with bulk-volume classification (ELO 2012): a bar's buy share is "
       f"Phi(ret_bps / std of ret_bps over {W} bars), same buckets", "buy_volume,sell_volume,price", VPIN_CALIB),
    _f("kyle_lambda", "flow", f"Kyle's lambda: OLS slope (with intercept) of ret_bps on buy_volume - sell_volume "
       f"over {W} bars (bps per base unit)", "price,buy_volume,sell_volume", W),
    _f("liq_notional", "flow", "liquidation notional (quote units) of the coin's perpetual with ts_local in the "
       "bar (after the previous bar's close, up to this close)", LIQ),
    _f("liq_intensity", "flow", f"mean liq_notional per bar over {W} bars", LIQ, W),
    # --- vol: realised variation ----------------------------------------------------------------
    _f("ret_bps", "vol", "1e4 ln(price_t / price_t-1)", PRICE, 2),
    _f("rv_60", "vol", f"realised vol sqrt(sum ret_bps^2) over {W} bars (bps, not annualised)", PRICE, W + 1),
    _f("rv_300", "vol", f"realised vol sqrt(sum ret_bps^2) over {W_L} bars", PRICE, W_L + 1),
    _f("rk_300", "vol", f"realised kernel (BNHLS 2008, Parzen, H = {RK_BANDWIDTH}) over {W_L} returns, as a vol: "
       "sqrt(max(RK, 0)) bps", PRICE, W_L + 1),
    _f("bv_300", "vol", f"bipower vol sqrt(pi/2 n/(n-1) sum |r_i||r_i-1|) over {W_L} returns (bps)", PRICE, W_L + 1),
    _f("jump_share_300", "vol", "max(RV - BV, 0) / RV over 300 returns", PRICE, W_L + 1),
    _f("jump_z_300", "vol", "BNS ratio jump statistic ((RV - BV)/RV) / sqrt((pi^2/4 + pi - 5) / n max(1, TQ/BV^2)) "
       "over 300 returns, TQ the tripower quarticity (Huang & Tauchen 2005); ~N(0,1) without jumps", PRICE, W_L + 1),
    # --- reversion: mean reversion and trend ------------------------------------------------
    _f("ou_half_life", "reversion", f"Ornstein-Uhlenbeck half-life in bars: -ln 2 / ln b, b the OLS AR(1) slope of "
       f"price_t on price_t-1 over {W_L} bars (null unless 0 < b < 1)", PRICE, W_L + 1),
    *(_f(f"price_z_{w}", "reversion", f"(price - mean) / std of price over {w} bars", PRICE, w) for w in (W_S, W, W_L)),
    _f("vwap_dev_bps", "reversion", f"1e4 (price / VWAP - 1), VWAP = sum notional / sum volume over {W} bars",
       "price,notional,volume", W),
    _f("ema_dev_bps", "reversion", f"1e4 (price / EMA - 1), EMA of price with span {W} (adjust=False)", PRICE, W),
    _f("boll_pos", "reversion", f"Bollinger position (price - (m - 2s)) / (4s), m and s over {W_S} bars", PRICE, W_S),
    _f("rsi_14", "reversion", f"Wilder RSI over {RSI_N} bars (seeded by the first {RSI_N} changes' mean)", PRICE,
       RSI_N + 1),
    _f("hurst_300", "reversion", f"Hurst exponent: half the OLS slope of ln var(q-bar log-price changes) on ln q, "
       f"q in {HURST_QS}, within {W_L} bars (0.5 random walk, < 0.5 mean reverting)", PRICE, W_L),
    _f("adx_14", "reversion", f"Wilder ADX over {ADX_N} bars from the bar high, low, close (mid; trade prices "
       "without a book)", "price", 2 * ADX_N + 1),
    # --- funding: the perpetual's ticker, as of the close ---------------------------------
    _f("funding_bps", "funding", "funding rate of the coin's perpetual (1e4 x fraction) as of the close", TICKER),
    _f("funding_z", "funding", f"(funding_bps - mean) / std over {W_XL} bars (null while it does not change)",
       TICKER, W_XL),
    _f("premium_bps", "funding", "1e4 (mark / index - 1) as of the close", TICKER),
    _f("time_to_funding_min", "funding", "minutes from the close to the next funding (the ticker's funding_time, "
       "rolled forward by its interval when already past)", TICKER),
    _f("oi_chg_pct", "funding", f"100 ln(open interest / open interest {W} bars earlier)", TICKER, W + 1),
    _f("basis_bps", "funding", "spot-perp basis 1e4 (perp mid / spot mid - 1) of the venue pair at the same close",
       PAIR),
    _f("basis_z", "funding", f"(basis_bps - mean) / std over {W_L} bars", PAIR, W_L),
    # --- cross: BTC against the alts -------------------------------------------------------
    *(_f(f"btc_lead_{k}", "cross", f"correlation over {W} bars of the alt's ret_bps with BTC's ret_bps {k} bar(s) "
         "earlier, same venue (null on BTC)", "price,btc", W + k + 1) for k in (1, 2, 3)),
    _f("btc_corr", "cross", f"correlation of ret_bps with BTC's over {W} bars, same venue", "price,btc", W + 1),
    *(_f(f"btc_ratio_z_{w}", "cross", f"z-score of ln(price / BTC price) over {w} bars (ETH/BTC, SOL/BTC)",
         "price,btc", w) for w in (W, W_L)),
    # --- calendar ---------------------------------------------------------------------------
    _f("hour", "calendar", "UTC hour the bar covers (of ts - 1 ns: a bar closing at 10:00 is hour 9)", "ts"),
    _f("weekday", "calendar", "ISO weekday the bar covers (1 = Monday)", "ts"),
    _f("is_month_end", "calendar", "1 on the last UTC day of a month, else 0", "ts"),
    _f("pre_funding", "calendar", f"1 when the next funding is at most {PRE_FUNDING_MINUTES} minutes away", TICKER),
    # --- interaction ------------------------------------------------------------------------
    _f("ofi_z_x_depth_imb_5", "interaction", "ofi_z x depth_imb_5: flow pushing into a thin side",
       "ofi,bid_depth_5,ask_depth_5", W),
    _f("vpin_x_spread_z", "interaction", "vpin_bvc x spread_z: toxic flow with a widening spread",
       "buy_volume,sell_volume,price,spread_bps", VPIN_CALIB),
    _f("trade_imb_x_kyle", "interaction", "trade_imb_20 x kyle_lambda: signed flow times its price impact",
       "price,buy_volume,sell_volume", W),
]

BY_NAME: dict[str, FeatureSpec] = {f.name: f for f in FEATURES}
assert len(BY_NAME) == len(FEATURES), "duplicate feature name"
assert all(f.group in GROUPS for f in FEATURES), "feature in an unknown group"
NAMES: list[str] = [f.name for f in FEATURES]
INT_FEATURES = ("hour", "weekday", "is_month_end", "pre_funding")
BOOK_COLUMNS = ("mid_open", "mid_high", "mid_low", "mid_close", "spread_bps", "ofi", "bid_price", "ask_price",
                "bid_size", "ask_size", *(f"{s}_depth_{n}" for n in (5, 10, 20) for s in ("bid", "ask")),
                "bbo_updates", "bid_depletions", "ask_depletions", "cancel_bid", "cancel_ask")


def features_markdown(groups: list[str] | None = None) -> str:
    """The registry as a markdown table (docs/micro/features.md)."""
    rows = ["| feature | group | definition | inputs | look-back (bars) |", "|---|---|---|---|---|"]
    for f in FEATURES:
        if groups is None or f.group in groups:
            rows.append(f"| `{f.name}` | {f.group} | {f.definition.replace('|', '/')} | {', '.join(f.inputs)} | "
                        f"{f.lookback_bars} |")
    return "\n".join(rows) + "\n"


def _present(frame: pl.DataFrame | None, column: str) -> bool:
    return frame is not None and column in frame.columns and frame[column].null_count() < frame.height


def available_inputs(bars: pl.DataFrame, ticker: pl.DataFrame | None = None,
                     liquidations: pl.DataFrame | None = None) -> set[str]:
    """Inputs with at least one value: the bars' non-null columns and the tokens that hold."""
    have = {c for c in bars.columns if _present(bars, c)}
    if _present(bars, "mid_close") or _present(bars, "trade_close"):
        have.add(PRICE)
    if ticker is not None and ticker.height:
        have.add(TICKER)
    if liquidations is not None:
        have.add(LIQ)
    if "symbol" in bars.columns and bars.height:
        from .frames import coin_expr, pair_expr  # the frames module reads this registry: import late

        tags = bars.select(coin=coin_expr("symbol"), venue="venue", pair=pair_expr("venue"))
        if (tags["coin"] == "BTC").any() and (tags["coin"] != "BTC").any():  # BTC and an alt to lead
            have.add(BTC)
        spot = tags.filter(pl.col("venue").str.ends_with("_spot")).select("pair", "coin").unique()
        perp = tags.filter(pl.col("venue").str.ends_with("_usdm")).select("pair", "coin").unique()
        if spot.join(perp, on=["pair", "coin"]).height:
            have.add(PAIR)
    return have


def missing_features(bars: pl.DataFrame, ticker: pl.DataFrame | None = None,
                     liquidations: pl.DataFrame | None = None) -> list[str]:
    """Features `build_features` leaves null for want of an input: a book column that is all
    null (a source with trades or klines only), no ticker, no liquidations, no BTC series to
    lead the alts, no spot-perp pair. Only the inputs are checked, not every row."""
    have = available_inputs(bars, ticker, liquidations)
    out = []
    for f in FEATURES:
        needs = {i for i in f.inputs if i != "ts"}
        if f.name == "adx_14":
            # high/low/close of the mid, or of the trades without a book
            if not ({"mid_high", "mid_low", "mid_close"} <= have or {"trade_high", "trade_low", "trade_close"} <= have):
                out.append(f.name)
            continue
        if not needs <= have:
            out.append(f.name)
    return out
