"""Writes the Deribit dump fixtures under fixtures/deribit/dumps/ (run by hand; the files are committed).

They are synthesized, not recorded: valid `public/ticker` and
`public/get_book_summary_by_currency` reply shapes (field names, nesting, JSON-RPC envelope,
ms timestamps, 5-decimal greeks as the exchange rounds them). Their numbers come from vollib's
Black-76 (not from the pricing core the tests check) the way Deribit computes its own: on the
expiry's forward (`underlying_price`), mark_price = USD value / forward, delta dV/dF, gamma per
USD, vega and rho in USD per point, and theta per calendar day = the analytic rate x min(1,
days to expiry), floored at minus the option's value: the rule that reproduces the theta of
real Deribit tickers. A snapshot one hour before the 08:00 UTC expiry puts options within a
day of expiry, where the scaling and the floor apply.

    PYTHONPATH=. python dvol_pipeline_tests/sources/deribit/make_dump_fixtures.py
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from vollib.black import black
from vollib.black.greeks import analytical

SECONDS_PER_YEAR = 365 * 86_400  # ACT/365 in seconds, as Deribit

OUT = Path(__file__).resolve().parents[2] / "fixtures" / "deribit" / "dumps"
SNAP = datetime(2023, 12, 28, 7, 0, 0, tzinfo=UTC)  # one hour before the 28DEC23 expiry
rng = np.random.default_rng(20231228)

BTC = {  # expiry -> (forward, ATM vol, strikes)
    "28DEC23": (datetime(2023, 12, 28, 8, tzinfo=UTC), 42_508.0, 0.48, (41_000, 42_000, 42_500, 43_000, 44_000)),
    "29DEC23": (datetime(2023, 12, 29, 8, tzinfo=UTC), 42_622.0, 0.50, (40_000, 42_000, 43_000, 45_000)),
    "26JAN24": (datetime(2024, 1, 26, 8, tzinfo=UTC), 42_905.5, 0.53, (36_000, 40_000, 43_000, 46_000, 50_000)),
    "29MAR24": (datetime(2024, 3, 29, 8, tzinfo=UTC), 43_640.0, 0.56, (35_000, 43_000, 55_000)),
}
ETH = {
    "28DEC23": (datetime(2023, 12, 28, 8, tzinfo=UTC), 2_380.35, 0.55, (2_300, 2_400, 2_500)),
    "26JAN24": (datetime(2024, 1, 26, 8, tzinfo=UTC), 2_398.10, 0.60, (2_000, 2_400, 2_800)),
}
INDEX = {"BTC": 42_598.17, "ETH": 2_379.44}


def _smile(k: float, f: float, atm: float, t: float) -> float:
    x = np.log(k / f)
    return atm * (1.0 - 0.35 * x + 1.8 * x * x / max(np.sqrt(t * 12), 0.3))


def _greeks(flag: str, fwd: float, k: float, t: float, vol: float) -> dict:
    """vollib's Black-76 (r = 0) value and greeks, theta by the exchange's rule."""
    value = float(black(flag, fwd, k, t, 0.0, vol))
    out = {name: float(getattr(analytical, name)(flag, fwd, k, t, 0.0, vol))
           for name in ("delta", "gamma", "vega", "rho")}
    rate = float(analytical.theta(flag, fwd, k, t, 0.0, vol))  # per calendar day (/365)
    return {**out, "price": value, "theta": max(rate * min(1.0, t * 365), -value)}


def _options(coin: str, book: dict):
    out = []
    for label, (expiry, fwd, atm, strikes) in book.items():
        t = (expiry - SNAP).total_seconds() / SECONDS_PER_YEAR
        for k in strikes:
            for cp in ("C", "P"):
                vol = _smile(k, fwd, atm, t)
                g = _greeks("c" if cp == "C" else "p", fwd, float(k), t, vol)
                mark = g["price"] / fwd
                spread = max(0.0001, round(0.04 * mark + 0.0003, 4))
                bid = max(round(mark - spread / 2, 4), 0.0)
                ask = round(mark + spread / 2, 4)
                out.append(dict(name=f"{coin}-{label}-{k}-{cp}", label=label, fwd=fwd, vol=vol, mark=mark, bid=bid,
                                ask=ask, g=g, t=t, coin=coin))
    return out


def _ticker(o: dict, ms: int) -> dict:
    g = o["g"]
    zero_bid = o["name"].endswith("-41000-P") or o["name"].endswith("-55000-P")
    vol_traded = round(float(rng.gamma(1.5, 20.0)), 1)
    return {
        "timestamp": ms,
        "state": "open",
        "stats": {"volume_usd": round(vol_traded * o["mark"] * o["fwd"], 2), "volume": vol_traded,
                  "price_change": round(float(rng.normal(0, 5)), 4), "low": round(o["mark"] * 0.9, 4),
                  "high": round(o["mark"] * 1.1, 4)},
        "settlement_price": round(o["mark"] * 1.02, 8),
        "open_interest": round(float(rng.gamma(2.0, 150.0)), 1),
        "min_price": max(round(o["mark"] - 0.05, 4), 0.0001),
        "max_price": round(o["mark"] + 0.05, 4),
        "mark_price": round(o["mark"], 8),
        "mark_iv": round(o["vol"] * 100, 2),
        "last_price": round(o["mark"], 4),
        "interest_rate": 0.0,
        "instrument_name": o["name"],
        "index_price": INDEX[o["coin"]],
        "greeks": {"vega": round(g["vega"], 5), "theta": round(g["theta"], 5), "rho": round(g["rho"], 5),
                   "gamma": round(g["gamma"], 5), "delta": round(g["delta"], 5)},
        "estimated_delivery_price": INDEX[o["coin"]],
        "bid_iv": 0.0 if zero_bid else round(o["vol"] * 100 - 1.1, 2),
        "best_bid_price": 0.0 if zero_bid else o["bid"],
        "best_bid_amount": 0.0 if zero_bid else round(float(rng.uniform(1, 40)), 1),
        "best_ask_price": o["ask"],
        "best_ask_amount": round(float(rng.uniform(1, 40)), 1),
        "ask_iv": round(o["vol"] * 100 + 1.1, 2),
        "underlying_price": o["fwd"],
        "underlying_index": f"{o['coin']}-{o['label']}",
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    base = int(SNAP.timestamp() * 1000)
    btc = _options("BTC", BTC)
    # a list of full JSON-RPC replies, one public/ticker call each, a few ms apart
    replies = [{"jsonrpc": "2.0", "id": i, "result": _ticker(o, base - 900 + 7 * i), "usIn": (base + i) * 1000,
                "usOut": (base + i) * 1000 + 412, "usDiff": 412, "testnet": False} for i, o in enumerate(btc)]
    (OUT / "ticker_btc_20231228T0700.json").write_text(json.dumps(replies, indent=1))
    # ETH as JSON lines of bare results (another way collectors save them)
    eth = _options("ETH", ETH)
    rows = [_ticker(o, base - 500 + 5 * i) for i, o in enumerate(eth)]
    (OUT / "ticker_eth_20231228T0700.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    # ETH again as the CSV pandas writes from the same records: nested dicts as Python reprs
    with (OUT / "ticker_eth_20231228T0700.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: (repr(v) if isinstance(v, dict) else v) for k, v in r.items()})
    # a book summary of the BTC chain a day earlier (no greeks in this endpoint), plus a future
    day0 = int(datetime(2023, 12, 27, 8, 0, 5, tzinfo=UTC).timestamp() * 1000)
    summaries = []
    for o in btc:
        summaries.append({"volume": round(float(rng.gamma(1.5, 20.0)), 1), "volume_usd": 1000.0,
                          "underlying_price": o["fwd"] - 30.0, "underlying_index": f"BTC-{o['label']}",
                          "quote_currency": "BTC", "price_change": 1.5, "open_interest": 210.0,
                          "mid_price": round((o["bid"] + o["ask"]) / 2, 4), "mark_price": round(o["mark"], 8),
                          "mark_iv": round(o["vol"] * 100 + 0.4, 2), "low": o["bid"], "last": o["ask"],
                          "interest_rate": 0.0, "instrument_name": o["name"], "high": o["ask"],
                          "estimated_delivery_price": INDEX["BTC"] - 30.0, "creation_timestamp": day0,
                          "bid_price": o["bid"] if o["bid"] > 0 else None, "base_currency": "BTC",
                          "ask_price": o["ask"]})
    summaries.append({**summaries[0], "instrument_name": "BTC-PERPETUAL", "mark_price": 42_600.0})
    (OUT / "book_summary_btc_20231227T0800.json").write_text(json.dumps(
        {"jsonrpc": "2.0", "id": 3, "result": summaries, "usIn": day0 * 1000, "usOut": day0 * 1000 + 950,
         "usDiff": 950, "testnet": False}, indent=1))


if __name__ == "__main__":
    main()
