"""A tiny order-book market written in plain Python, as the oracle of the micro lane's end-to-end tests.

It keeps the true book in two dicts and records, after every message, the true best bid and
ask: what a rebuilt book must show. It writes that market as the files traders have (a
Binance USDⓈ-M websocket recording, Tardis CSV exports), with what real files do planted
on purpose: the REST snapshot arriving after the first diffs, a collector clock that runs
behind the exchange's by a fixed skew, and optionally a lost message (a sequence break)
followed by a second snapshot. Nothing here imports the lane's code: the expected books
come from this module's dicts, not from the code under test.
"""

from __future__ import annotations

import gzip
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

TICK = 0.1


@dataclass
class Message:
    t_ns: int
    """exchange time"""
    levels: list[tuple[str, float, float]]
    """(bid|ask, price, size after) of this message"""
    trade: tuple[str, float, float] | None
    """(aggressor side, price, size) of a trade that came with it"""
    best: tuple[float, float, float, float]
    """true best bid, bid size, best ask, ask size after the message"""


@dataclass
class ToyMarket:
    start: datetime
    seconds: int = 600
    seed: int = 0
    rate_per_second: float = 5.0
    bids: dict[float, float] = field(default_factory=dict)
    asks: dict[float, float] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    initial: tuple[dict[float, float], dict[float, float]] | None = None

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        mid = 60_000.0
        for i in range(25):
            self.bids[round(mid - TICK * (i + 1), 1)] = rng.randint(1, 40) / 10
            self.asks[round(mid + TICK * i, 1)] = rng.randint(1, 40) / 10
        self.initial = (dict(self.bids), dict(self.asks))
        t = int(self.start.timestamp() * 1e9)
        end = t + self.seconds * 10**9
        while True:
            t += int(rng.expovariate(self.rate_per_second) * 1e9) + 1
            if t >= end:
                break
            self.messages.append(self._step(rng, t))

    def _best(self) -> tuple[float, float, float, float]:
        b, a = max(self.bids), min(self.asks)
        return b, self.bids[b], a, self.asks[a]

    def _step(self, rng: random.Random, t: int) -> Message:
        u = rng.random()
        levels: list[tuple[str, float, float]] = []
        trade = None
        b, a = max(self.bids), min(self.asks)
        if u < 0.2:  # a market buy takes the best ask; the next level becomes best
            trade = ("buy", a, self.asks.pop(a))
            levels.append(("ask", a, 0.0))
            p = round(max(self.asks) + TICK, 1)
            self.asks[p] = 1.0
            levels.append(("ask", p, 1.0))
        elif u < 0.4:
            trade = ("sell", b, self.bids.pop(b))
            levels.append(("bid", b, 0.0))
            p = round(min(self.bids) - TICK, 1)
            self.bids[p] = 1.0
            levels.append(("bid", p, 1.0))
        elif u < 0.55 and a - b > TICK * 1.5:  # a new best bid inside the spread
            p = round(b + TICK, 1)
            self.bids[p] = rng.randint(1, 40) / 10
            levels.append(("bid", p, self.bids[p]))
        elif u < 0.7 and a - b > TICK * 1.5:
            p = round(a - TICK, 1)
            self.asks[p] = rng.randint(1, 40) / 10
            levels.append(("ask", p, self.asks[p]))
        else:  # a size change at a random existing level
            side, book = ("bid", self.bids) if rng.random() < 0.5 else ("ask", self.asks)
            p = rng.choice(sorted(book))
            book[p] = rng.randint(1, 40) / 10
            levels.append((side, p, book[p]))
        return Message(t, levels, trade, self._best())

    # -- writers -----------------------------------------------------------------------------
    def binance_usdm_recording(self, path: Path, *, skew_ms: float = 2.0, snapshot_after: int = 5,
                               drop_message: int | None = None, resnapshot_after: int = 20,
                               unit: str = "ns", first_id: int = 1_000_000) -> dict:
        """A USDⓈ-M combined-stream recording (`<local ts> <json>` lines, gzip when `path` ends .gz):
        depth diffs with U/u/pu, aggTrades, bookTicker, and the REST snapshot of the book *before*
        the first diff written after `snapshot_after` diffs (as collectors receive it). With
        `drop_message`, that diff is lost (a sequence break) and a second snapshot follows
        `resnapshot_after` messages later. Returns what the lane must find."""
        scale = 1 if unit == "ns" else 1000
        lines: list[tuple[int, str]] = []
        skew = int(skew_ms * 1e6)
        last_u = first_id
        bids, asks = dict(self.initial[0]), dict(self.initial[1])
        resnap_at = None
        pending: tuple[int, str] | None = None
        expected = {"diffs": 0, "breaks": 0, "snapshot_local_ns": None, "resync_local_ns": None,
                    "first_known_message": None}
        agg_id = 1

        def snapshot(t_ns: int, last_id: int) -> str:
            # GET /fapi/v1/depth: the book as of lastUpdateId (it equals the u of a diff already streamed)
            return json.dumps({"lastUpdateId": last_id, "E": t_ns // 10**6, "T": t_ns // 10**6,
                               "bids": [[f"{p:.1f}", f"{q}"] for p, q in sorted(bids.items(), reverse=True)],
                               "asks": [[f"{p:.1f}", f"{q}"] for p, q in sorted(asks.items())]}, separators=(",", ":"))

        for k, m in enumerate(self.messages):
            local = m.t_ns + skew
            for side, p, q in m.levels:
                book = bids if side == "bid" else asks
                book[p] = q
                if q == 0:
                    book.pop(p)
            n = len(m.levels)
            big_u, u = last_u + 1, last_u + n
            diff = {"e": "depthUpdate", "E": m.t_ns // 10**6 + 1, "T": m.t_ns // 10**6, "s": "BTCUSDT", "U": big_u,
                    "u": u, "pu": last_u,
                    "b": [[f"{p:.1f}", f"{q}"] for s, p, q in m.levels if s == "bid"],
                    "a": [[f"{p:.1f}", f"{q}"] for s, p, q in m.levels if s == "ask"]}
            last_u = u
            if k != drop_message:
                lines.append((local, json.dumps({"stream": "btcusdt@depth@100ms", "data": diff}, separators=(",", ":"))))
                expected["diffs"] += 1
            else:
                expected["breaks"] += 1
                resnap_at = k + resnapshot_after
            b, bq, a, aq = m.best
            ticker = {"e": "bookTicker", "u": u, "s": "BTCUSDT", "b": f"{b:.1f}", "B": f"{bq}", "a": f"{a:.1f}",
                      "A": f"{aq}", "T": m.t_ns // 10**6, "E": m.t_ns // 10**6 + 1}
            lines.append((local + 1000, json.dumps({"stream": "btcusdt@bookTicker", "data": ticker},
                                                   separators=(",", ":"))))
            if m.trade is not None:
                side, p, q = m.trade
                trade = {"e": "aggTrade", "E": m.t_ns // 10**6 + 1, "s": "BTCUSDT", "a": agg_id, "p": f"{p:.1f}",
                         "q": f"{q}", "f": agg_id, "l": agg_id, "T": m.t_ns // 10**6, "m": side == "sell"}
                agg_id += 1
                lines.append((local - 1000, json.dumps({"stream": "btcusdt@aggTrade", "data": trade},
                                                       separators=(",", ":"))))
            if k == snapshot_after:  # the REST reply describes the book after this diff ...
                pending = (k + 3, snapshot(m.t_ns, u))
                expected["first_known_message"] = k
            if pending is not None and k == pending[0]:  # ... and arrives a few diffs later, as collectors see it
                lines.append((local + 2000, pending[1]))
                expected["snapshot_local_ns"] = local + 2000
                pending = None
            if resnap_at is not None and k == resnap_at:
                lines.append((local + 3000, snapshot(m.t_ns, u)))
                expected["resync_local_ns"] = local + 3000
        lines.sort(key=lambda x: x[0])
        text = "".join(f"{ts // scale} {body}\n" for ts, body in lines)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".gz":
            with gzip.open(path, "wt") as f:
                f.write(text)
        else:
            path.write_text(text)
        return expected

    def tardis_exports(self, folder: Path, day: str, exchange: str = "binance-futures", symbol: str = "BTCUSDT",
                       skew_us: int = 2000) -> None:
        """Tardis CSV exports of the same market: incremental_book_L2 (a snapshot first) and trades."""
        folder.mkdir(parents=True, exist_ok=True)
        t0 = int(self.start.timestamp() * 1e6)
        rows = ["exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount"]
        for side, book in (("bid", self.initial[0]), ("ask", self.initial[1])):
            rows += [f"{exchange},{symbol},{t0},{t0 + skew_us},true,{side},{p:.1f},{q}" for p, q in book.items()]
        trades = ["exchange,symbol,timestamp,local_timestamp,id,side,price,amount"]
        for i, m in enumerate(self.messages):
            t = m.t_ns // 1000
            rows += [f"{exchange},{symbol},{t},{t + skew_us},false,{s},{p:.1f},{q}" for s, p, q in m.levels]
            if m.trade is not None:
                trades.append(f"{exchange},{symbol},{t},{t + skew_us},{i},{m.trade[0]},{m.trade[1]:.1f},{m.trade[2]}")
        for kind, lines in (("incremental_book_L2", rows), ("trades", trades)):
            with gzip.open(folder / f"{exchange}_{kind}_{day}_{symbol}.csv.gz", "wt") as f:
                f.write("\n".join(lines) + "\n")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
