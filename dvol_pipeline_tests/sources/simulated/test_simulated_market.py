"""The simulated market: exact table shapes, stylised facts near MARKET_FACTS.md, a sane
Deribit-like chain, DVOL replicated from it, and determinism / range independence.

The bands were checked for the default seed and for seeds 3 and 4: run with
`DVOL_SIM_TEST_SEED=3 pytest ...` to repeat that (see `dvol_pipeline.sources.simulated.facts`
for how each figure is measured).
"""

from __future__ import annotations

import os
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.contracts.tables import RAW_TABLES
from dvol_pipeline.contracts.validate import validate
from dvol_pipeline.quant.pricing.options import SECONDS_PER_YEAR
from dvol_pipeline.quant.pricing.options import vega as vega_per_point
from dvol_pipeline.sources.simulated import SimConfig, SimulatedMarket
from dvol_pipeline.sources.simulated.calendar import parse_instrument_names
from dvol_pipeline.sources.simulated.facts import market_facts
from dvol_pipeline.sources.simulated.surface import atm_vol, implied_vol, state_at

pytestmark = pytest.mark.slow  # builds the full default market once (~10 s)

START, END = date(2021, 3, 24), date(2024, 12, 31)
N_DAYS = (END - START).days + 1
COINS = ("BTC", "ETH")
CONFIG = SimConfig(seed=int(os.environ.get("DVOL_SIM_TEST_SEED", SimConfig.seed)))


@pytest.fixture(scope="module")
def market() -> SimulatedMarket:
    return SimulatedMarket(CONFIG)


@pytest.fixture(scope="module")
def tables(market) -> dict[str, pl.DataFrame]:
    return {name: market.table(name, START, END) for name in RAW_TABLES}


@pytest.fixture(scope="module")
def facts(tables) -> dict:
    return market_facts(tables["raw_ohlcv"], tables["raw_dvol"], tables["raw_funding"])


@pytest.fixture(scope="module")
def chain(tables) -> pl.DataFrame:
    return tables["raw_option_chain"].with_columns(
        t_days=(pl.col("expiry") - pl.col("ts")).dt.total_seconds() / 86400.0,
        k=(pl.col("strike") / pl.col("underlying_price")).log(),
    )


# ---- shapes -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(RAW_TABLES))
def test_table_matches_its_spec_exactly(tables, name):
    spec, frame = RAW_TABLES[name], tables[name]
    assert list(frame.schema.items()) == list(spec.schema.items())
    assert frame.height > 0 and not frame.select(spec.key).is_duplicated().any()
    assert frame.equals(frame.sort(spec.sort_by))
    required = [c.name for c in spec.columns if not c.nullable]
    assert frame.select(pl.col(required).null_count()).sum_horizontal()[0] == 0
    day = pl.col(spec.time_col).dt.date() if spec.time_col == "ts" else pl.col("date")
    days = frame.select(day.min().alias("lo"), day.max().alias("hi"), day.n_unique().alias("n"))
    assert days.row(0) == (START, END, N_DAYS)


def test_row_counts_per_day(tables):
    per_day = {"raw_ohlcv": 2 * 2 * 24, "raw_funding": 2 * 3, "raw_dvol": 2, "raw_options_summary": 2, "raw_onchain": 2}
    for name, n in per_day.items():
        assert tables[name].height == n * N_DAYS, name


def test_ohlc_bars_are_consistent(tables):
    for name in ("raw_ohlcv", "raw_dvol"):
        f = tables[name]
        assert f.filter(
            (pl.col("low") > pl.min_horizontal("open", "close")) | (pl.col("high") < pl.max_horizontal("open", "close"))
        ).is_empty(), name
        assert (f["low"] > 0).all()
    o = tables["raw_ohlcv"]
    assert set(o["instrument"].unique()) == {"BTCUSDT", "ETHUSDT", "BTC-PERPETUAL", "ETH-PERPETUAL"}
    assert set(o["venue"].unique()) == {"simulated"} and set(o["interval"].unique()) == {"1h"}
    assert (o["trade_count"] >= 1).all() and (o["volume"] > 0).all()
    vwap = o["volume_quote"] / o["volume"]
    assert ((vwap >= o["low"] * (1 - 1e-12)) & (vwap <= o["high"] * (1 + 1e-12))).all()
    # consecutive spot bars join: close of hour h is the open of hour h+1
    spot = o.filter(pl.col("kind") == "spot")
    gap = spot.with_columns(nxt=pl.col("open").shift(-1).over("instrument"))["close"] / spot.with_columns(
        nxt=pl.col("open").shift(-1).over("instrument")
    )["nxt"]
    assert np.nanmax(np.abs(gap.to_numpy() - 1.0)) < 1e-9


def test_start_prices_and_perpetual_basis(tables):
    o = tables["raw_ohlcv"]
    first = o.filter(pl.col("ts") == pl.col("ts").min(), pl.col("kind") == "spot")
    assert dict(first.select("asset", "open").iter_rows()) == pytest.approx({"BTC": 55_000.0, "ETH": 1_700.0})
    wide = o.pivot(on="kind", index=["ts", "asset"], values="close")
    basis = (wide["perpetual"] / wide["spot"] - 1.0).to_numpy()
    assert np.abs(basis).max() < 0.01 and 0 < np.mean(basis) < 1e-3
    # funding follows the premium: daily mean funding vs daily mean basis
    b = wide.with_columns(basis=pl.col("perpetual") / pl.col("spot") - 1, date=pl.col("ts").dt.date())
    b = b.group_by("asset", "date").agg(pl.col("basis").mean())
    fd = tables["raw_funding"].group_by("asset", pl.col("ts").dt.date().alias("date")).agg(pl.col("rate").mean())
    j = b.join(fd, on=["asset", "date"])
    assert np.corrcoef(j["basis"], j["rate"])[0, 1] > 0.5


# ---- stylised facts ----------------------------------------------------------------------
@pytest.mark.parametrize("coin", COINS)
def test_returns_have_fat_tails_and_vol_clustering(facts, coin):
    f = facts[coin]
    assert f["ret_exkurt"] > 1.5
    for lag in (1, 5, 10):
        assert f[f"absret_acf{lag}"] > 0.03, lag


def test_return_vol_levels_and_cross_correlation(facts):
    assert 40 <= facts["BTC"]["ret_vol_ann"] <= 75
    assert facts["ETH"]["ret_vol_ann"] > facts["BTC"]["ret_vol_ann"]
    assert 0.7 <= facts["cross"]["ret_corr"] <= 0.9
    assert 0.6 <= facts["cross"]["ddvol_corr"] <= 0.9


def test_variance_risk_premium(facts):
    btc, eth = facts["BTC"], facts["ETH"]
    assert btc["vrp_mean"] > eth["vrp_mean"] > 2.5  # real: +8.8 / +4.2 vol points
    for f in (btc, eth):
        assert 0.55 <= f["vrp_share_pos"] <= 0.85


def test_dvol_levels(facts):
    assert 45 <= facts["BTC"]["dvol_mean"] <= 80
    assert 1.05 <= facts["cross"]["dvol_ratio_median"] <= 1.4
    assert facts["BTC"]["dvol_min"] > 15 and facts["ETH"]["dvol_max"] < 300
    # crash spikes: real maxima 156 (BTC) and 193 (ETH)
    assert max(facts["BTC"]["dvol_max"], facts["ETH"]["dvol_max"]) > 130


@pytest.mark.parametrize("coin", COINS)
def test_dvol_dynamics(facts, coin):
    f = facts[coin]
    if coin == "BTC":
        assert 2.0 <= f["ddvol_std"] <= 5.0
    # real: excess kurtosis ~24 / 25, half-life ~49 / 60 days, corr(dDVOL, return) -0.34 / -0.32.
    # Kurtosis and half-life are sample statistics of a few crash days and regimes, so they
    # vary a lot between seeds; the joint bounds below hold for the default seed, 3 and 4.
    assert f["ddvol_exkurt"] > 10
    assert 25 <= f["dvol_halflife"] <= 120
    assert -0.45 <= f["corr_ddvol_ret"] <= -0.25
    assert f["corr_ddvol_absret"] > 0.1
    assert f["ddvol_acf1"] < 0
    by_day = f["ddvol_std_by_weekday"]
    assert np.mean(by_day[5:]) < np.mean(by_day[:5])


def test_dvol_tails_and_memory_across_coins(facts):
    btc, eth = facts["BTC"], facts["ETH"]
    assert max(btc["ddvol_exkurt"], eth["ddvol_exkurt"]) > 20
    assert (btc["dvol_halflife"] + eth["dvol_halflife"]) / 2 >= 35


@pytest.mark.parametrize("coin", COINS)
def test_funding_daily_means(facts, coin):
    f = facts[coin]
    assert 0.3e-4 <= f["funding_mean"] <= 2.5e-4
    assert 0.03 <= f["funding_share_neg"] <= 0.25
    assert 0.5e-4 <= f["funding_std"] <= 4e-4 and 3e-4 <= f["funding_p99"] <= 2e-3


def test_funding_events_are_8_hourly(tables):
    f = tables["raw_funding"]
    assert set(f["ts"].dt.hour().unique()) == {0, 8, 16} and set(f["interval_hours"].unique()) == {8}
    assert (f["ts"].dt.minute() == 0).all()


# ---- DVOL against the model --------------------------------------------------------------
def test_replicated_dvol_tracks_the_model_variance_swap(market, tables):
    levels = market.model_levels(START, END)
    dvol = tables["raw_dvol"].select(pl.col("ts").dt.date().alias("date"), "asset", "close")
    j = levels.join(dvol, on=["date", "asset"])
    assert j.height == 2 * N_DAYS
    for coin in COINS:
        c = j.filter(pl.col("asset") == coin)
        diff = np.abs((c["close"] - c["vs30"]).to_numpy())
        assert diff.mean() < 0.6 and np.percentile(diff, 99) < 1.5 and diff.max() < 3.0, coin
        # skew makes the variance swap richer than at-the-money
        assert (c["close"] - c["atm30"]).mean() > 1.0
        assert ((c["close"] - c["atm30"]) > 0).mean() > 0.95


def test_dvol_bar_opens_near_previous_close(tables):
    d = tables["raw_dvol"].with_columns(prev=pl.col("close").shift(1).over("asset")).drop_nulls()
    rel = ((d["open"] - d["prev"]) / d["prev"]).abs()
    assert rel.median() < 0.01 and rel.max() < 0.05


# ---- option chain ------------------------------------------------------------------------
def test_chain_quotes_look_like_a_venue_dump(chain):
    """Marks are not the mid, quotes are not symmetric around the mark, deep wings lose their
    bid, a few bids are zero and a very few quotes are crossed (see sources/simulated/quotes.py)."""
    with_bid = chain.filter(pl.col("bid").is_not_null())
    assert chain["ask"].null_count() == 0 and (chain["ask"] > 0).all()
    ticks = pl.concat([with_bid["bid"], chain["ask"]]) * 1e4
    assert ((ticks - ticks.round()).abs() < 1e-6).all()
    assert chain["mark_iv"].is_between(5, 400).all()
    assert 0.01 < chain["bid"].null_count() / chain.height < 0.5
    inside = (with_bid["bid"] <= with_bid["mark_price"]) & (with_bid["mark_price"] <= with_bid["ask"])
    assert 0.8 < inside.mean() < 0.98  # the mark is a fair value, not the book: mostly inside
    mid = (with_bid["bid"] + with_bid["ask"]) * 0.5
    assert ((mid - with_bid["mark_price"]).abs() > 1e-4).mean() > 0.3
    zero, crossed = (with_bid["bid"] == 0).sum(), (with_bid["bid"] > with_bid["ask"]).sum()
    assert 0 < zero < 0.01 * chain.height and 0 < crossed < 1e-4 * chain.height
    y = (pl.col("k").abs() / (pl.col("mark_iv") / 100 * (pl.col("t_days") / 365).sqrt()))
    no_bid = chain.with_columns(y=y).group_by(pl.col("y") > 2.5).agg(pl.col("bid").is_null().mean())
    share = dict(no_bid.iter_rows())
    assert share[True] > 2 * share[False]


def test_contract_quarantines_exactly_the_crossed_quotes(chain):
    """A zero or missing bid is a legitimate far-OTM quote (kept); bid > ask is not (quarantined,
    but so rare that the contract passes: a tolerated venue glitch)."""
    raw = chain.drop("t_days", "k")
    report = validate(RAW_TABLES["raw_option_chain"], raw)
    crossed = raw.filter(pl.col("bid") > pl.col("ask"))
    assert report.rejected.height == crossed.height > 0
    assert set(report.rejected["reason"]) == {"bid must be <= ask"}
    assert set(report.rejected["instrument_name"]) == set(crossed["instrument_name"])
    assert report.valid["bid"].null_count() == raw["bid"].null_count() and (report.valid["bid"] == 0).any()
    assert report.tolerated and report.passed  # a few per million rows: quarantined, not fatal


def _model_iv(market: SimulatedMarket, rows: pl.DataFrame, coin: str) -> np.ndarray:
    """The model smile's IV (decimal) at each row of one day's chain of `coin`."""
    path = market.paths[coin]
    d = (rows["ts"][0].date() - START).days
    st = state_at(path, np.array([24 * (d + 1)]))
    t = (rows["expiry"] - rows["ts"]).dt.total_seconds().to_numpy() / SECONDS_PER_YEAR
    atm = atm_vol(path.model, st["x"], st["log_vrp"], st["noise"], st["eta"], st["rho"], t, st["spike"])
    k = np.log(rows["strike"].to_numpy() / rows["underlying_price"].to_numpy())
    return implied_vol(k, t, atm, st["eta"], st["rho"])


def test_marks_differ_from_the_model_smile_by_a_little(market, chain):
    """The venue's mark smile wobbles around the model smile (per expiry and per strike)."""
    for coin in COINS:
        day = chain.filter(pl.col("ts").dt.date() == date(2023, 6, 30), pl.col("asset") == coin)
        rel = (day["mark_iv"].to_numpy() / 100.0) / _model_iv(market, day, coin) - 1.0
        assert 0.001 < np.std(rel) < 0.03 and np.abs(rel).max() < 0.1, coin


def test_spreads_widen_in_the_wings_and_at_short_expiry(chain):
    rel = chain.filter(pl.col("bid").is_not_null()).with_columns(
        rs=(pl.col("ask") - pl.col("bid")) / pl.col("mark_price")
    )
    otm = ((pl.col("k") > 0.3) & (pl.col("option_type") == "C")) | (
        (pl.col("k") < -0.3) & (pl.col("option_type") == "P")
    )
    atm30 = rel.filter(pl.col("t_days").is_between(20, 45), pl.col("k").abs() < 0.05)["rs"].median()
    wings = rel.filter(pl.col("t_days").is_between(20, 45), otm)["rs"].median()
    shortest = rel.filter(pl.col("t_days") < 1.0, pl.col("k").abs() < 0.01)["rs"].median()
    assert wings > 3 * atm30 and shortest > 1.5 * atm30


def test_instrument_names_parse_back(chain):
    parsed = parse_instrument_names(chain["instrument_name"])
    for col in ("asset", "expiry", "strike", "option_type"):
        assert parsed[col].equals(chain[col], check_names=False), col
    assert chain["instrument_name"].str.contains(r"^(BTC|ETH)-[1-9]\d?[A-Z]{3}\d{2}-\d+-[CP]$").all()


def test_expiries_follow_deribit_calendar(chain):
    e = chain.select("ts", "expiry", "t_days").unique()
    assert ((e["expiry"].dt.hour() == 8) & (e["expiry"].dt.minute() == 0)).all()
    assert (e["ts"].dt.strftime("%H:%M:%S") == "23:59:59").all()
    days_ahead = (e["expiry"].dt.date() - e["ts"].dt.date()).dt.total_days()
    friday = e["expiry"].dt.weekday() == 5
    assert ((days_ahead >= 1) & ((days_ahead <= 3) | friday)).all()
    assert days_ahead.max() <= 400
    per_day = chain.group_by("asset", "ts").agg(pl.col("expiry").n_unique().alias("n"))
    assert per_day["n"].is_between(8, 16).all()
    quarterly = e.filter(pl.col("t_days") > 100)["expiry"].dt.month().unique()
    assert set(quarterly.to_list()) <= {3, 6, 9, 12}


def test_strike_grids_are_round_and_wide_enough(chain):
    g = chain.filter(pl.col("option_type") == "C").group_by("asset", "ts", "expiry").agg(
        n=pl.len(), kmin=pl.col("k").min(), kmax=pl.col("k").max(), t=pl.col("t_days").first()
    )
    assert g["n"].is_between(10, 60).all()  # some strikes are missing on a day, mostly in the wings
    assert (g["kmin"] < 0).all() and (g["kmax"] > 0).all()
    assert (chain["strike"] == chain["strike"].round()).all()
    # the underlying is each expiry's forward: close to spot, diverging with maturity
    spread = chain.group_by("asset", "ts").agg(
        (pl.col("underlying_price").max() / pl.col("underlying_price").min()).alias("r")
    )
    assert spread["r"].is_between(1.0, 1.6).all() and spread["r"].median() < 1.2


def test_marks_are_nearly_free_of_butterfly_arbitrage(chain):
    """Marks are a smoothed fair value: monotone and convex in strike but for rare, small kinks."""
    grp = ["asset", "ts", "expiry"]
    c = (
        chain.filter(pl.col("option_type") == "C", pl.col("t_days") >= 1)
        .sort(*grp, "strike")
        .with_columns(usd=pl.col("mark_price") * pl.col("underlying_price"))
        .with_columns(
            slope=(pl.col("usd").shift(-1).over(grp) - pl.col("usd"))
            / (pl.col("strike").shift(-1).over(grp) - pl.col("strike"))
        )
        .with_columns(convex=pl.col("slope").shift(-1).over(grp) - pl.col("slope"))
    )
    assert c["slope"].max() <= 0 and c["slope"].min() >= -1
    convex = c["convex"].drop_nulls()
    assert (convex < -1e-9).mean() < 0.01 and convex.min() > -0.05


def test_chain_is_free_of_calendar_arbitrage(chain):
    sample = chain.filter(pl.col("option_type") == "C", pl.col("t_days") >= 1).with_columns(
        w=(pl.col("mark_iv") / 100) ** 2 * pl.col("t_days") / 365
    )
    days = sample["ts"].unique().sort()[::45]
    worst = np.inf
    for (asset, ts), g in sample.filter(pl.col("ts").is_in(days.implode())).group_by("asset", "ts"):
        by_expiry = g.sort("expiry", "strike").group_by("expiry", maintain_order=True)
        smiles = [(s["k"].to_numpy(), s["w"].to_numpy()) for _, s in by_expiry]  # by maturity
        for (k1, w1), (k2, w2) in zip(smiles, smiles[1:]):
            inside = (k2 >= k1.min()) & (k2 <= k1.max())
            if inside.any():
                worst = min(worst, np.min(w2[inside] / np.interp(k2[inside], k1, w1)))
    assert worst > 1.0


def test_options_summary_aggregates_the_chain(tables):
    day = date(2023, 6, 30)
    ch = tables["raw_option_chain"].filter(pl.col("ts").dt.date() == day)
    sm = tables["raw_options_summary"].filter(pl.col("date") == day)
    for coin in COINS:
        c = ch.filter(pl.col("asset") == coin)
        t = (c["expiry"] - c["ts"]).dt.total_seconds().to_numpy() / (365 * 86400)
        iv = c["mark_iv"].to_numpy()
        vega = vega_per_point(c["underlying_price"].to_numpy(), c["strike"].to_numpy(), t, iv / 100)
        oi = c["open_interest"].to_numpy()
        row = sm.filter(pl.col("asset") == coin).row(0, named=True)
        assert row["net_vega"] == pytest.approx(float(np.sum(oi * vega)), rel=1e-9)
        assert row["avg_iv"] == pytest.approx(float(np.sum(oi * iv) / oi.sum()), rel=1e-9)
        assert row["volume"] == pytest.approx(c["volume"].sum()) and row["open_interest"] == pytest.approx(oi.sum())
    totals = tables["raw_options_summary"].group_by("asset").agg(pl.col("open_interest").median())
    oi = dict(totals.iter_rows())
    assert 1e5 < oi["BTC"] < 5e5 and 5e5 < oi["ETH"] < 5e6


def test_open_interest_concentrates_near_the_money_and_in_monthlies(chain):
    grp = ["asset", "ts", "expiry"]
    ranked = chain.with_columns(r=pl.col("k").abs().rank("ordinal").over(grp), n=pl.len().over(grp))
    per_expiry = ranked.group_by(grp).agg(
        near=pl.col("open_interest").filter(pl.col("r") <= 8).mean(),
        far=pl.col("open_interest").filter(pl.col("r") > pl.col("n") - 8).mean(),
        total=pl.col("open_interest").sum(),
        last_friday=(pl.col("expiry").first().dt.day() >= 25) & (pl.col("expiry").first().dt.weekday() == 5),
        t=pl.col("t_days").first(),
    )
    assert (per_expiry["near"] / per_expiry["far"]).median() > 3
    for coin in COINS:
        mid = per_expiry.filter(pl.col("asset") == coin, pl.col("t").is_between(8, 60))
        assert mid.filter("last_friday")["total"].median() > 1.5 * mid.filter(~pl.col("last_friday"))["total"].median()


def test_onchain_levels_and_seasonality(tables):
    oc = tables["raw_onchain"].with_columns(weekend=pl.col("date").dt.weekday() >= 6)
    med = dict(oc.group_by("asset").agg(pl.col("tx_count").median()).iter_rows())
    assert 250_000 <= med["BTC"] <= 450_000 and 900_000 <= med["ETH"] <= 1_300_000
    fees = dict(oc.group_by("asset").agg(pl.col("fees").median()).iter_rows())
    assert 10 <= fees["BTC"] <= 100 and 300 <= fees["ETH"] <= 3000
    for coin in COINS:
        c = oc.filter(pl.col("asset") == coin)
        assert c.filter("weekend")["tx_count"].mean() < c.filter(~pl.col("weekend"))["tx_count"].mean()
    btc = oc.filter(pl.col("asset") == "BTC")["hashrate"].to_numpy()
    assert 100 < btc[:30].mean() < 220 and 450 < btc[-30:].mean() < 1000
    assert oc.filter(pl.col("asset") == "ETH")["hashrate"].null_count() == N_DAYS


# ---- determinism -------------------------------------------------------------------------
SHORT_END = date(2022, 1, 31)
PROBE = (date(2022, 1, 14), date(2022, 1, 15))


@pytest.fixture(scope="module")
def short_market() -> SimulatedMarket:
    return SimulatedMarket(CONFIG, end=SHORT_END)


@pytest.mark.parametrize("name", list(RAW_TABLES))
def test_values_do_not_depend_on_market_end_or_range(market, tables, short_market, name):
    a = short_market.table(name, *PROBE)
    assert a.equals(market.table(name, *PROBE))
    day = pl.col("ts").dt.date() if "ts" in a.columns else pl.col("date")
    assert a.equals(tables[name].filter(day.is_between(*PROBE)))


def test_single_days_match_the_full_range_build(tables):
    fresh = SimulatedMarket(CONFIG)  # empty caches: every request below is built from scratch
    for day in [START + timedelta(days=int(i)) for i in np.linspace(0, N_DAYS - 1, 12)]:
        for name in ("raw_dvol", "raw_options_summary", "raw_option_chain"):
            col = "ts" if name != "raw_options_summary" else "date"
            day_of = pl.col(col).dt.date() if col == "ts" else pl.col(col)
            assert fresh.table(name, day, day).equals(tables[name].filter(day_of == day)), (name, day)


def test_same_seed_twice_identical_and_other_seed_differs(short_market):
    again = SimulatedMarket(CONFIG, end=SHORT_END)
    other = SimulatedMarket(SimConfig(seed=CONFIG.seed + 1), end=SHORT_END)
    for name in ("raw_ohlcv", "raw_dvol", "raw_option_chain"):
        a = short_market.table(name, date(2021, 12, 1), date(2021, 12, 3))
        assert a.equals(again.table(name, date(2021, 12, 1), date(2021, 12, 3)))
        assert not a.equals(other.table(name, date(2021, 12, 1), date(2021, 12, 3)))


def test_a_coin_does_not_depend_on_the_other_coins(short_market):
    eth_only = SimulatedMarket(SimConfig(seed=CONFIG.seed, coins=("ETH",)), end=SHORT_END)
    for name in ("raw_ohlcv", "raw_dvol", "raw_funding"):
        assert eth_only.table(name, *PROBE).equals(short_market.table(name, *PROBE, coins=["ETH"]))


def test_bad_requests_raise_clear_errors(short_market):
    with pytest.raises(ValueError, match="before"):
        short_market.table("raw_dvol", START - timedelta(days=1), START)
    with pytest.raises(ValueError, match="after this market's last day"):
        short_market.table("raw_dvol", START, SHORT_END + timedelta(days=1))
    with pytest.raises(ValueError, match="unknown coin"):
        short_market.table("raw_dvol", START, START, coins=["SOL"])
    with pytest.raises(ValueError, match="unknown table"):
        short_market.table("raw_trades", START, START)
    with pytest.raises(ValueError, match="after end"):
        short_market.table("raw_dvol", SHORT_END, START)
    with pytest.raises(ValueError, match="coins"):
        SimulatedMarket(SimConfig(coins=("BTC", "DOGE")))
