"""Deribit behind the `Source` seam: which endpoints feed which raw table, and how a date
range becomes requests (backward paging for DVOL, fixed windows for chart data and funding).

History tables are backfilled for any range. Option chains exist on Deribit only "now",
so `raw_option_chain` and `raw_options_summary` are one snapshot taken at the injected
clock's time, and only when the requested range contains that UTC date; the snapshot is
reused for a few minutes so both tables of one run describe the same market.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from dvol_pipeline.contracts.tables import spec
from dvol_pipeline.sources.base import SourceBatch, TableNotProvided, register_source
from dvol_pipeline.sources.deribit import mapping as m
from dvol_pipeline.sources.deribit.client import CallRecord, DeribitClient, DeribitError, malformed

RESOLUTIONS = {"1h": ("60", 3_600_000), "1d": ("1D", m.MS_PER_DAY)}
"""raw_ohlcv interval -> (chart resolution, bar length in ms)."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def instrument_kind(name: str) -> str:
    """raw_ohlcv holds spot and perpetual bars; Deribit names them BTC_USDC and BTC-PERPETUAL."""
    if name.endswith("-PERPETUAL"):
        return "perpetual"
    if "_" in name and "-" not in name:
        return "spot"
    raise ValueError(f"{name!r} is neither a perpetual (X-PERPETUAL) nor a spot pair (X_USDC)")


def _concat(table: str, frames: list[pl.DataFrame]) -> pl.DataFrame:
    return pl.concat(frames) if frames else spec(table).empty()


@dataclass
class Snapshot:
    ts: datetime
    chain: pl.DataFrame
    calls: list[CallRecord]


@dataclass
class DeribitSource:
    client: DeribitClient = field(default_factory=DeribitClient)
    name: str = "deribit"
    now: Callable[[], datetime] = _utc_now
    """Wall clock (tz-aware): the option snapshot's time, and which bars have closed."""
    ohlcv_instruments: tuple[str, ...] = ("{coin}-PERPETUAL",)
    ohlcv_interval: str = "1h"
    funding_instrument: str = "{coin}-PERPETUAL"
    chart_max_points: int = 5000
    """Deribit caps chart data points per request; longer ranges are split into windows."""
    funding_window_days: int = 30
    """get_funding_rate_history returns at most ~744 hourly records (31 days) per call."""
    complete_bars_only: bool = True
    """Drop bars still open at `now`: a partial bar would change when re-fetched."""
    snapshot_max_age: timedelta = timedelta(minutes=10)
    max_pages: int = 10_000
    _snapshots: dict[str, Snapshot] = field(default_factory=dict, repr=False)

    def fetch(self, table: str, start: date, end: date, coins: Sequence[str]) -> SourceBatch:
        spec(table)  # an unknown table name fails here, with the list of known ones
        if end < start:
            raise ValueError(f"{table}: end {end} is before start {start}")
        handlers = {"raw_dvol": self._dvol, "raw_ohlcv": self._ohlcv, "raw_funding": self._funding,
                    "raw_option_chain": self._chain, "raw_options_summary": self._summary,
                    "raw_onchain": self._onchain}
        first, retries = len(self.client.log), self.client.retries
        frame, notes, reused = handlers[table](start, end, list(coins))
        calls = [*reused, *self.client.log[first:]]
        notes = {"requests": len(self.client.log) - first, "retries": self.client.retries - retries, **notes}
        return SourceBatch(frame, self.name, {c.key: c.sha256 for c in calls}, notes)

    # --- plumbing ---------------------------------------------------------------------
    def _get(self, method: str, params: dict[str, Any], check: Callable[[Any], Any]) -> Any:
        result = self.client.call(method, **params)
        try:
            return check(result)
        except (ValueError, KeyError, TypeError) as exc:
            raise malformed(method, params, str(exc), json.dumps(result)) from None

    def _clock(self) -> datetime:
        now = self.now()
        if now.tzinfo is None:
            raise ValueError("the Deribit source's clock must return a tz-aware (UTC) datetime")
        return now.astimezone(UTC)

    def _window(self, start: date, end: date, bar_ms: int) -> tuple[int, int]:
        """[lo, hi) in ms; with complete_bars_only, hi stops at the last bar boundary <= now."""
        lo, hi = m.day_window_ms(start, end)
        if self.complete_bars_only:
            now_ms = int(self._clock().timestamp() * 1000)
            hi = min(hi, lo + (now_ms - lo) // bar_ms * bar_ms)
        return lo, max(lo, hi)

    # --- history ----------------------------------------------------------------------
    def _dvol(self, start: date, end: date, coins: list[str]):
        lo, hi = self._window(start, end, m.MS_PER_DAY)
        frames, pages = [], 0
        for coin in coins:
            rows: list[tuple] = []
            end_ms = hi - 1
            while end_ms >= lo:
                params = dict(currency=coin, start_timestamp=lo, end_timestamp=end_ms, resolution="1D")
                page, cont = self._get("get_volatility_index_data", params, m.dvol_rows)
                rows, pages = rows + page, pages + 1
                if cont is None or cont < lo:
                    break
                if cont >= end_ms or pages >= self.max_pages:
                    raise DeribitError(f"get_volatility_index_data for {coin}: continuation {cont} after "
                                       f"end {end_ms} does not page backwards, or {pages} pages is too many")
                end_ms = cont
            frames.append(m.dvol_frame(coin, rows, lo, hi))
        return _concat("raw_dvol", frames), {"pages": pages}, []

    def _ohlcv(self, start: date, end: date, coins: list[str]):
        if self.ohlcv_interval not in RESOLUTIONS:
            raise ValueError(f"ohlcv_interval {self.ohlcv_interval!r}; choose one of {sorted(RESOLUTIONS)}")
        resolution, bar_ms = RESOLUTIONS[self.ohlcv_interval]
        lo, hi = self._window(start, end, bar_ms)
        spans, frames = m.windows(lo, hi, self.chart_max_points * bar_ms), []
        for coin in coins:
            for template in self.ohlcv_instruments:
                name = template.format(coin=coin)
                rows: list[tuple] = []
                for a, b in spans:
                    params = dict(instrument_name=name, start_timestamp=a, end_timestamp=b - 1,
                                  resolution=resolution)
                    rows += self._get("get_tradingview_chart_data", params, m.chart_rows)
                frames.append(m.ohlcv_frame(coin, name, instrument_kind(name), self.ohlcv_interval, rows, lo, hi))
        return _concat("raw_ohlcv", frames), {"windows": len(spans)}, []

    def _funding(self, start: date, end: date, coins: list[str]):
        lo, hi = m.day_window_ms(start, end)
        spans = m.windows(lo, hi, self.funding_window_days * m.MS_PER_DAY)
        frames = []
        for coin in coins:
            name = self.funding_instrument.format(coin=coin)
            rows: list[tuple] = []
            for a, b in spans:
                params = dict(instrument_name=name, start_timestamp=a, end_timestamp=b - 1)
                rows += self._get("get_funding_rate_history", params, m.funding_rows)
            frames.append(m.funding_frame(coin, name, rows, lo, hi))
        return _concat("raw_funding", frames), {"windows": len(spans)}, []

    # --- the option snapshot ----------------------------------------------------------
    def _snapshot(self, table: str, start: date, end: date, coins: list[str]):
        now = self._clock().replace(microsecond=0)
        if not start <= now.date() <= end:
            raise TableNotProvided(
                f"{table}: Deribit serves option chains only for the present moment (now is "
                f"{now:%Y-%m-%d %H:%M:%S} UTC, outside {start}..{end}); the end-of-day schedule "
                "captures one snapshot per day, so past days cannot be backfilled from Deribit"
            )
        snaps, fetched = [], []
        for coin in coins:
            snap = self._snapshots.get(coin)
            fresh = snap is not None and snap.ts.date() == now.date() and (
                timedelta(0) <= now - snap.ts <= self.snapshot_max_age)
            if not fresh:
                first = len(self.client.log)
                params = dict(currency=coin, kind="option")
                books = self._get("get_book_summary_by_currency", params, m.book_rows)
                metas = self._get("get_instruments", {**params, "expired": False}, m.instrument_rows)
                chain = m.option_chain_frame(coin, now, books, metas)
                snap = self._snapshots[coin] = Snapshot(now, chain, self.client.log[first:])
                fetched.append(coin)
            snaps.append(snap)
        reused = [c for coin, s in zip(coins, snaps, strict=True) if coin not in fetched for c in s.calls]
        notes = {"snapshot_ts": {c: s.ts.isoformat() for c, s in zip(coins, snaps, strict=True)}}
        return snaps, notes, reused

    def _chain(self, start: date, end: date, coins: list[str]):
        snaps, notes, reused = self._snapshot("raw_option_chain", start, end, coins)
        return _concat("raw_option_chain", [s.chain for s in snaps]), notes, reused

    def _summary(self, start: date, end: date, coins: list[str]):
        snaps, notes, reused = self._snapshot("raw_options_summary", start, end, coins)
        frame = _concat("raw_options_summary", [m.options_summary_frame(s.chain, s.ts.date()) for s in snaps])
        return frame, notes, reused

    def _onchain(self, start: date, end: date, coins: list[str]):
        raise TableNotProvided(
            "raw_onchain: Deribit has no on-chain data; use the simulated source or add an "
            "on-chain source for tx_count, fees and hashrate"
        )


CLIENT_OPTIONS = frozenset({"transport", "base_url", "timeout", "max_attempts", "backoff_base",
                            "backoff_max", "requests_per_second", "sleep", "clock"})
SOURCE_OPTIONS = frozenset(f.name for f in fields(DeribitSource) if not f.name.startswith("_"))


def deribit_source(**options: Any) -> DeribitSource:
    """Build from keyword options; unknown ones (e.g. the simulator's `seed`) are ignored.

    One instance serves every raw table of a run (the raw step opens the source once), so
    the option-chain and options-summary tables read the same snapshot and share the rate
    limiter.
    """
    client_opts = {k: v for k, v in options.items() if k in CLIENT_OPTIONS}
    source_opts = {k: v for k, v in options.items() if k in SOURCE_OPTIONS}
    if not client_opts and not source_opts:
        return DeribitSource()
    if "client" in source_opts and client_opts:
        raise ValueError(f"pass either client or client options {sorted(client_opts)}, not both")
    if "client" not in source_opts:
        source_opts["client"] = DeribitClient(**client_opts)
    return DeribitSource(**source_opts)


register_source("deribit", deribit_source)
