"""The numba fast path against the polars path it must reproduce, and its float parser against `float()`.

The oracle for the fast path is the polars `json_decode` path (`read_binance_ws(fast=False)`), which the
tests of `test_binance_ws.py` pin to hand-read values; the oracle for numbers is Python's `float()`.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from dvol_pipeline.sources.micro.binance_ws import REJECTED, read_binance_ws
from dvol_pipeline.sources.micro.binance_ws_fast import parse_bytes
from dvol_pipeline.sources.micro.binance_ws_numbers import decimal_value
from dvol_pipeline_tests.bench.bench_micro_parse import synth_lines
from dvol_pipeline_tests.sources.micro.test_binance_ws import SPOT, USDM, T0, _ns, _write

# Lines the fast path must leave to the polars path (each for its own reason), among lines it reads.
TRADE = ('{"stream":"btcusdt@trade","data":{"e":"trade","E":1704067199940,"T":1704067199935,"s":"BTCUSDT",'
         '"t":7,"p":"42000.20","q":"0.010","X":"MARKET","m":false}}')
FORCED = [
    _ns(T0 + 1) + " " + TRADE.replace('"s":"BTCUSDT",', '"s": "BTCUSDT",'),  # whitespace
    _ns(T0 + 2) + " " + TRADE.replace('"X":"MARKET",', "") + "  ",  # trailing spaces, no X
    _ns(T0 + 3) + " " + TRADE.replace('"t":7,', '"t":null,'),  # null id
    _ns(T0 + 4) + " " + TRADE.replace('"p":"42000.20"', '"p":"4.2e4"'),  # exponent
    _ns(T0 + 5) + " " + TRADE.replace('"p":"42000.20"', '"p":"42000.123456789012345"'),  # not exact here
    _ns(T0 + 6) + " " + TRADE.replace('"X":"MARKET"', '"X":"ADL"'),  # read fast, dropped by the rule
    _ns(T0 + 7) + " " + TRADE.replace('"s":"BTCUSDT"', '"s":"BTC\\u0055SDT"'),  # an escape
    _ns(T0 + 8) + " " + TRADE.replace('"E":1704067199940', '"E":01704067199940'),  # not JSON
    _ns(T0 + 9) + " " + TRADE.replace("{", "{ ", 1),  # envelope whitespace
    _ns(T0 + 10) + " " + TRADE.replace('"m":false', '"m":false,"x":{"nested":1}'),  # unknown nested value
    _ns(T0 + 11) + ' {"stream":"btcusdt@depth20@100ms","data":{"lastUpdateId":1,"bids":[],"asks":[]}}',
    _ns(T0 + 12) + " " + TRADE.replace('"p":"42000.20"', '"p":"abc"'),  # rejected by the rules
    str(T0 * 1000) + " " + TRADE,  # another unit: rejected
    "+" + _ns(T0 + 13) + " " + TRADE,  # a sign before the timestamp
    _ns(T0 + 14) + " " + TRADE.replace('"m":false', '"m":true,"m":false'),  # a duplicate key
    _ns(T0 + 15) + " " + TRADE + "\r",  # a carriage return
    _ns(T0 + 16) + ' {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1704067200050,'
    '"T":1704067200045,"s":"BTCUSDT","U":106,"u":107,"pu":105,"b":[["1.0","2.0","3.0"]],"a":[]}}',  # 3 values
    _ns(T0 + 17) + ' {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1704067200050,'
    '"a":[["42000.3","1"]],"T":1704067200045,"s":"BTCUSDT","U":108,"u":109,"pu":107,"b":[["42000.0","2"]]}}',
    "",
]


def _same(tmp_path, name: str, lines: list[str]) -> None:
    _write(tmp_path / name, lines)
    fast, slow = read_binance_ws(tmp_path), read_binance_ws(tmp_path, fast=False)
    assert fast.refused == slow.refused and fast.notes == slow.notes
    assert sorted(fast.tables) == sorted(slow.tables)
    for table, frame in slow.tables.items():
        assert fast.tables[table].equals(frame), table


def test_fast_and_polars_paths_give_identical_frames_on_a_mixed_file(tmp_path):
    lines = synth_lines(3000, seed=3)
    mixed = lines[:1500] + USDM + FORCED + lines[1500:]
    _same(tmp_path, "usdm/btcusdt.txt", mixed)
    batch = read_binance_ws(tmp_path)
    assert batch.tables[REJECTED].height >= 3  # the bad price, the other unit, the empty line
    trades = batch.table("raw_trades")
    assert trades.filter(pl.col("price") == 42000.123456789012345).height == 1


def test_fast_path_reads_most_lines_and_leaves_the_rest(tmp_path):
    data = ("\n".join([*USDM, *FORCED]) + "\n").encode()
    file = parse_bytes(data)
    assert file is not None and file.n_lines == len(USDM) + len(FORCED)
    slow_lines = set(file.slow["__line"].to_list())
    # The snapshot (3) and forceOrder (6) are the polars path's; every forced line is too, but the ADL trade.
    adl = len(USDM) + 6
    assert {3, 6} <= slow_lines and adl not in slow_lines
    levels_any_order = len(USDM) + 18  # the depth diff with asks before bids: read fast, bids first
    assert set(range(len(USDM) + 1, len(USDM) + len(FORCED) + 1)) - {adl, levels_any_order} <= slow_lines
    assert levels_any_order not in slow_lines


def test_spot_and_micro_second_files_agree(tmp_path):
    _same(tmp_path, "spot/ethusdt.txt", SPOT)


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 10**17), st.integers(0, 25), st.booleans())
def test_decimal_parser_is_float_exactly(mantissa, frac, neg):
    digits = str(mantissa).rjust(frac + 1, "0")
    text = ("-" if neg else "") + (digits[:-frac] + "." + digits[-frac:] if frac else digits)
    value = decimal_value(text)
    if value is None:  # refused: only outside the exact range (mantissa > 2^53 or > 22 fraction digits)
        assert mantissa > 2**53 or frac > 22
    else:
        assert value == float(text) and math.copysign(1, value) == math.copysign(1, float(text))


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=1e-8, max_value=1e9, allow_nan=False))
def test_decimal_parser_on_printed_prices(x):
    for text in (f"{x:.2f}", f"{x:.8f}", repr(x) if "e" not in repr(x) else "1.5"):
        value = decimal_value(text)
        assert value is None or value == float(text)


def test_decimal_parser_refuses_what_it_cannot_read_exactly():
    for text in ("", "-", ".5", "5.", "+1", "1e5", "inf", "nan", "1.2.3", " 1", "9007199254740993"):
        assert decimal_value(text) is None, text
    assert decimal_value("26809.90") == 26809.9 and decimal_value("0.00010000") == 1e-4
    assert np.signbit(decimal_value("-0.0"))
