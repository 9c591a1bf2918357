"""The Deribit source end to end on recorded replies: requests planned, frames mapped.

A small router plays Deribit: it answers each public method from the fixtures (or a
function of the request), records what was asked, and fails any unexpected call.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dvol_pipeline.contracts.tables import RAW_TABLES, spec
from dvol_pipeline.contracts.validate import validate
from dvol_pipeline.pipeline.ingest import ingest_table
from dvol_pipeline.sources.base import _REGISTRY, TableNotProvided, open_source
from dvol_pipeline.sources.deribit import mapping
from dvol_pipeline.sources.deribit.client import DeribitClient, DeribitError
from dvol_pipeline.sources.deribit.source import DeribitSource, deribit_source, instrument_kind

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "deribit"
SNAPSHOT = datetime(2024, 3, 5, 14, 30, 12, 345678, tzinfo=UTC)
LATER = datetime(2024, 4, 1, 12, tzinfo=UTC)
"""A clock after every bar of the history fixtures, so all of their bars have closed."""


def raw(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def result(name: str) -> Any:
    return json.loads(raw(name))["result"]


def envelope(res: Any) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "result": res, "usIn": 1, "usOut": 2, "usDiff": 1,
                       "testnet": False}).encode()


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


Answer = bytes | Callable[[dict[str, str]], bytes]


class Router:
    """method -> list of answers, used in order (the last one repeats)."""

    def __init__(self, **answers: Answer | list[Answer]) -> None:
        self.answers = {k: v if isinstance(v, list) else [v] for k, v in answers.items()}
        self.calls: list[tuple[str, dict[str, str]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        method = request.url.path.removeprefix("/api/v2/public/")
        params = dict(request.url.params)
        assert method in self.answers, f"unexpected call {method} {params}"
        n = sum(1 for m, _ in self.calls if m == method)
        self.calls.append((method, params))
        queue = self.answers[method]
        answer = queue[min(n, len(queue) - 1)]
        return httpx.Response(200, content=answer(params) if callable(answer) else answer)

    def asked(self, method: str, key: str) -> list[int]:
        return [int(p[key]) for m, p in self.calls if m == method]


def source_for(router: Router, now: datetime = LATER, **options: Any) -> DeribitSource:
    client = DeribitClient(httpx.MockTransport(router), requests_per_second=None, sleep=lambda s: None)
    return DeribitSource(client=client, now=lambda: now, **options)


def assert_contract(table: str, frame: pl.DataFrame) -> None:
    assert frame.schema == spec(table).schema
    report = validate(spec(table), frame)
    assert report.passed, report.message()


DVOL_PAGES = [raw("dvol_btc_page1"), raw("dvol_btc_page2"), raw("dvol_btc_page3")]


# --- raw_dvol -------------------------------------------------------------------------
def test_dvol_pages_backwards_over_continuations_and_dedupes_the_overlap():
    router = Router(get_volatility_index_data=DVOL_PAGES)
    batch = source_for(router).fetch("raw_dvol", date(2024, 3, 1), date(2024, 3, 10), ["BTC"])
    lo, hi = ms(2024, 3, 1), ms(2024, 3, 11)
    assert router.asked("get_volatility_index_data", "start_timestamp") == [lo, lo, lo]
    assert router.asked("get_volatility_index_data", "end_timestamp") == [hi - 1, ms(2024, 3, 7), ms(2024, 3, 4)]
    assert {p["resolution"] for _, p in router.calls} == {"1D"}
    frame = batch.frame
    assert_contract("raw_dvol", frame)
    assert frame["ts"].to_list() == [datetime(2024, 3, d, tzinfo=UTC) for d in range(1, 11)]
    assert frame.row(by_predicate=pl.col("ts") == datetime(2024, 3, 7, tzinfo=UTC), named=True)["close"] == 65.12
    assert frame["asset"].unique().to_list() == ["BTC"]
    assert batch.source == "deribit" and batch.notes["requests"] == 3 and batch.notes["pages"] == 3
    assert sorted(batch.files.values()) == sorted(hashlib.sha256(b).hexdigest() for b in DVOL_PAGES)
    assert f"deribit:public/get_volatility_index_data?currency=BTC&end_timestamp={hi - 1}" \
           f"&resolution=1D&start_timestamp={lo}" in batch.files


def test_an_overlapping_bar_that_differs_keeps_the_first_fetched_copy_every_time():
    newer = {"data": [[ms(2024, 3, 2), 50.0, 52.0, 49.0, 51.0]], "continuation": ms(2024, 3, 2)}
    older = {"data": [[ms(2024, 3, 1), 48.0, 50.5, 47.0, 50.0], [ms(2024, 3, 2), 50.0, 53.0, 49.0, 51.5]],
             "continuation": None}
    frames = [source_for(Router(get_volatility_index_data=[envelope(newer), envelope(older)]))
              .fetch("raw_dvol", date(2024, 3, 1), date(2024, 3, 2), ["BTC"]).frame for _ in range(2)]
    assert frames[0].equals(frames[1])
    assert frames[0]["close"].to_list() == [50.0, 51.0]


def test_an_empty_page_gives_an_empty_frame_in_the_contract_shape():
    router = Router(get_volatility_index_data=raw("dvol_empty"))
    batch = source_for(router).fetch("raw_dvol", date(2024, 3, 1), date(2024, 3, 10), ["BTC", "ETH"])
    assert batch.frame.is_empty()
    assert_contract("raw_dvol", batch.frame)
    assert [p["currency"] for _, p in router.calls] == ["BTC", "ETH"]


def test_bars_still_open_at_the_clock_are_not_requested_or_kept():
    router = Router(get_volatility_index_data=DVOL_PAGES)
    now = datetime(2024, 3, 10, 12, tzinfo=UTC)
    frame = source_for(router, now=now).fetch("raw_dvol", date(2024, 3, 1), date(2024, 3, 10), ["BTC"]).frame
    assert router.asked("get_volatility_index_data", "end_timestamp")[0] == ms(2024, 3, 10) - 1
    assert frame["ts"].max() == datetime(2024, 3, 9, tzinfo=UTC)


def test_a_continuation_that_does_not_page_backwards_stops_with_an_error():
    stuck = envelope({"data": [[ms(2024, 3, 5), 60.0, 61.0, 59.0, 60.5]], "continuation": ms(2024, 3, 11)})
    with pytest.raises(DeribitError, match="does not page backwards"):
        source_for(Router(get_volatility_index_data=stuck)).fetch("raw_dvol", date(2024, 3, 1), date(2024, 3, 10), ["BTC"])


def test_a_wrong_shaped_reply_names_the_request_and_shows_the_body():
    bad = envelope({"data": "no candles today", "continuation": None})
    with pytest.raises(DeribitError, match="malformed response") as err:
        source_for(Router(get_volatility_index_data=bad)).fetch("raw_dvol", date(2024, 3, 1), date(2024, 3, 1), ["ETH"])
    assert "public/get_volatility_index_data?currency=ETH" in str(err.value)
    assert "no candles today" in str(err.value)


# --- raw_ohlcv ------------------------------------------------------------------------
def chart_server(params: dict[str, str]) -> bytes:
    """Deribit's chart endpoint over the recorded day: bars with start <= tick <= end."""
    full = result("chart_btc_perpetual_1h")
    lo, hi = int(params["start_timestamp"]), int(params["end_timestamp"])
    keep = [i for i, t in enumerate(full["ticks"]) if lo <= t <= hi]
    arrays = {k: [full[k][i] for i in keep] for k in mapping.CHART_ARRAYS}
    return envelope({**arrays, "status": "ok" if keep else "no_data"})


def test_ohlcv_splits_the_range_into_windows_and_maps_the_perpetual():
    router = Router(get_tradingview_chart_data=chart_server)
    batch = source_for(router, chart_max_points=10).fetch("raw_ohlcv", date(2024, 3, 1), date(2024, 3, 1), ["BTC"])
    h = 3_600_000
    day = ms(2024, 3, 1)
    assert router.asked("get_tradingview_chart_data", "start_timestamp") == [day, day + 10 * h, day + 20 * h]
    assert router.asked("get_tradingview_chart_data", "end_timestamp") == [day + 10 * h - 1, day + 20 * h - 1,
                                                                           day + 24 * h - 1]
    frame, full = batch.frame, result("chart_btc_perpetual_1h")
    assert_contract("raw_ohlcv", frame)
    assert frame.height == 24
    assert frame["volume"].to_list() == full["volume"]  # coin
    assert frame["volume_quote"].to_list() == full["cost"]  # USD
    assert frame["close"].to_list() == full["close"]
    assert frame.select("venue", "instrument", "kind", "interval").unique().rows() == [
        ("deribit", "BTC-PERPETUAL", "perpetual", "1h")]
    assert frame["trade_count"].null_count() == 24
    assert {p["resolution"] for _, p in router.calls} == {"60"} and batch.notes["windows"] == 3


def test_ohlcv_no_data_and_configurable_instruments():
    router = Router(get_tradingview_chart_data=raw("chart_no_data"))
    src = source_for(router, ohlcv_instruments=("{coin}-PERPETUAL", "{coin}_USDC"))
    frame = src.fetch("raw_ohlcv", date(2024, 3, 1), date(2024, 3, 2), ["ETH"]).frame
    assert frame.is_empty() and frame.schema == spec("raw_ohlcv").schema
    assert [p["instrument_name"] for _, p in router.calls] == ["ETH-PERPETUAL", "ETH_USDC"]
    assert instrument_kind("ETH_USDC") == "spot"
    with pytest.raises(ValueError, match="neither a perpetual"):
        instrument_kind("BTC-29MAR24")


# --- raw_funding ----------------------------------------------------------------------
def test_funding_is_hourly_and_rate_is_interest_1h_as_a_fraction():
    router = Router(get_funding_rate_history=raw("funding_btc_perpetual"))
    frame = source_for(router).fetch("raw_funding", date(2024, 3, 1), date(2024, 3, 1), ["BTC"]).frame
    records = result("funding_btc_perpetual")
    assert_contract("raw_funding", frame)
    assert frame["rate"].to_list() == [r["interest_1h"] for r in records]
    assert frame["rate"].to_list() != [r["interest_8h"] for r in records]
    assert frame["rate"].abs().max() < 1e-4  # ~0.001 % an hour: a fraction, not percent
    assert frame["interval_hours"].unique().to_list() == [1]
    assert frame["instrument"].unique().to_list() == ["BTC-PERPETUAL"]


def test_funding_requests_stay_under_the_744_record_cap():
    router = Router(get_funding_rate_history=envelope([]))
    source_for(router).fetch("raw_funding", date(2024, 1, 1), date(2024, 3, 31), ["BTC"])
    starts = router.asked("get_funding_rate_history", "start_timestamp")
    ends = router.asked("get_funding_rate_history", "end_timestamp")
    assert len(starts) == 4 and starts[0] == ms(2024, 1, 1) and ends[-1] == ms(2024, 4, 1) - 1
    assert all((e + 1 - s) / 3_600_000 <= 744 for s, e in zip(starts, ends, strict=True))
    assert all(s == e + 1 for s, e in zip(starts[1:], ends[:-1], strict=True))


# --- the option snapshot --------------------------------------------------------------
def option_router() -> Router:
    return Router(get_book_summary_by_currency=raw("book_summary_btc_option"),
                  get_instruments=raw("instruments_btc_option"))


def test_option_chain_is_a_snapshot_joined_with_instruments():
    router = option_router()
    batch = source_for(router, now=SNAPSHOT).fetch("raw_option_chain", date(2024, 3, 5), date(2024, 3, 5), ["BTC"])
    frame = batch.frame
    assert_contract("raw_option_chain", frame)
    assert frame.height == len(result("book_summary_btc_option"))
    assert frame["ts"].unique().to_list() == [datetime(2024, 3, 5, 14, 30, 12, tzinfo=UTC)]
    row = frame.row(by_predicate=pl.col("instrument_name") == "BTC-8MAR24-62000-P", named=True)
    assert row["expiry"] == datetime(2024, 3, 8, 8, tzinfo=UTC)
    assert (row["strike"], row["option_type"], row["bid"], row["ask"]) == (62000.0, "P", None, 0.0006)
    assert (row["mark_price"], row["mark_iv"], row["underlying_price"]) == (0.0003, 81.9, 66712.5)
    assert frame.filter(pl.col("instrument_name") == "BTC-28JUN24-80000-C")["ask"].to_list() == [None]
    assert set(frame["option_type"]) == {"C", "P"}
    assert [(m, p["kind"]) for m, p in router.calls] == [("get_book_summary_by_currency", "option"),
                                                         ("get_instruments", "option")]
    assert router.calls[1][1]["expired"] == "false"
    assert len(batch.files) == 2 and batch.notes["snapshot_ts"] == {"BTC": "2024-03-05T14:30:12+00:00"}


def vega_per_point_by_hand(F: float, K: float, T: float, iv_pct: float) -> float:
    s = iv_pct / 100.0
    d1 = (math.log(F / K) + 0.5 * s * s * T) / (s * math.sqrt(T))
    return F * math.exp(-0.5 * d1 * d1) / math.sqrt(2 * math.pi) * math.sqrt(T) / 100.0


def test_options_summary_aggregates_the_same_snapshot():
    router = option_router()
    src = source_for(router, now=SNAPSHOT)
    chain = src.fetch("raw_option_chain", date(2024, 3, 1), date(2024, 3, 31), ["BTC"]).frame
    batch = src.fetch("raw_options_summary", date(2024, 3, 1), date(2024, 3, 31), ["BTC"])
    assert len(router.calls) == 2  # one snapshot serves both tables
    assert len(batch.files) == 2 and batch.notes["requests"] == 0
    frame = batch.frame
    assert_contract("raw_options_summary", frame)
    ts = datetime(2024, 3, 5, 14, 30, 12, tzinfo=UTC)
    expected_vega = sum(
        r["open_interest"] * vega_per_point_by_hand(r["underlying_price"], r["strike"],
                                                     (r["expiry"] - ts).total_seconds() / (365 * 86400), r["mark_iv"])
        for r in chain.iter_rows(named=True)
    )
    oi = chain["open_interest"]
    (row,) = frame.iter_rows(named=True)
    assert row["date"] == date(2024, 3, 5) and row["asset"] == "BTC"
    assert row["net_vega"] == pytest.approx(expected_vega, rel=1e-9)
    assert row["net_vega"] > 1e5  # ~5,700 BTC of options: hundreds of thousands of USD per vol point
    assert row["avg_iv"] == pytest.approx((oi * chain["mark_iv"]).sum() / oi.sum())
    assert row["open_interest"] == pytest.approx(oi.sum())
    assert row["volume"] == pytest.approx(chain["volume"].sum())


@pytest.mark.parametrize("table", ["raw_option_chain", "raw_options_summary"])
def test_option_tables_outside_the_snapshot_day_are_not_provided(table):
    router = option_router()
    with pytest.raises(TableNotProvided) as why:
        source_for(router, now=SNAPSHOT).fetch(table, date(2024, 3, 1), date(2024, 3, 4), ["BTC"])
    assert "only for the present moment" in str(why.value)
    assert "one snapshot per day" in str(why.value)
    assert router.calls == []


def test_onchain_is_not_provided():
    with pytest.raises(TableNotProvided, match="Deribit has no on-chain data"):
        source_for(Router()).fetch("raw_onchain", date(2024, 3, 1), date(2024, 3, 1), ["BTC"])


# --- the seam -------------------------------------------------------------------------
def dvol_server(params: dict[str, str]) -> bytes:
    """Deribit's paging over the recorded bars: the newest 4 in range, then a continuation."""
    bars = sorted({tuple(r) for page in DVOL_PAGES for r in json.loads(page)["result"]["data"]})
    hit = [b for b in bars if int(params["start_timestamp"]) <= b[0] <= int(params["end_timestamp"])]
    page = hit[-4:]
    return envelope({"data": [list(b) for b in page], "continuation": page[0][0] if len(hit) > 4 else None})


def full_router() -> Router:
    return Router(get_volatility_index_data=dvol_server, get_tradingview_chart_data=chart_server,
                  get_funding_rate_history=raw("funding_btc_perpetual"),
                  get_book_summary_by_currency=raw("book_summary_btc_option"),
                  get_instruments=raw("instruments_btc_option"))


@pytest.mark.parametrize("table", sorted(set(RAW_TABLES) - {"raw_onchain"}))
def test_every_provided_table_honours_its_contract(table):
    batch = source_for(full_router(), now=SNAPSHOT).fetch(table, date(2024, 3, 1), date(2024, 3, 10), ["BTC"])
    assert not batch.frame.is_empty()
    assert_contract(table, batch.frame)


def test_ingest_writes_deribit_partitions(lake: Path):
    report = ingest_table(spec("raw_dvol"), source_for(full_router()), lake, date(2024, 3, 1), date(2024, 3, 10), ["BTC"])
    assert report.contract.passed and report.rows_written == 10 and report.missing == []
    assert len(report.files) == 3


def test_factory_registers_deribit_and_ignores_unknown_options():
    assert _REGISTRY["deribit"] is deribit_source
    shared = open_source("deribit", seed=7)  # the simulator's seed means nothing here and is ignored
    assert isinstance(shared, DeribitSource) and shared.client.limiter.rate == deribit_source().client.limiter.rate
    tuned = deribit_source(seed=1, transport=httpx.MockTransport(Router()), requests_per_second=2.0,
                           ohlcv_interval="1d", now=lambda: LATER)
    assert tuned is not shared and tuned.ohlcv_interval == "1d" and tuned.client.limiter.rate == 2.0


@given(lo=st.integers(0, 2_000_000_000_000), step=st.integers(1, 40 * 86_400_000), data=st.data())
def test_windows_cover_the_range_exactly_once(lo, step, data):
    length = data.draw(st.integers(0, step * 300), label="length")
    hi = lo + length
    spans = mapping.windows(lo, hi, step)
    assert all(a < b and b - a <= step for a, b in spans)
    if length == 0:
        assert spans == []
    else:
        assert spans[0][0] == lo and spans[-1][1] == hi
        assert all(prev[1] == nxt[0] for prev, nxt in zip(spans, spans[1:]))


@given(start=st.dates(date(2021, 1, 1), date(2030, 1, 1)), days=st.integers(0, 800))
def test_day_windows_are_utc_midnights(start, days):
    end = start + timedelta(days=days)
    lo, hi = mapping.day_window_ms(start, end)
    assert (hi - lo) == (days + 1) * mapping.MS_PER_DAY
    assert datetime.fromtimestamp(lo / 1000, UTC) == datetime(start.year, start.month, start.day, tzinfo=UTC)
