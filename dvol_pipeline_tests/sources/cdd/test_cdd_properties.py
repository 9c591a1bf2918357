"""Property tests: the CDD reader never crashes, whatever bytes it is handed."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dvol_pipeline.contracts.tables import spec
from dvol_pipeline.contracts.validate import validate
from dvol_pipeline.sources.cdd.layouts import CddLayoutError
from dvol_pipeline.sources.cdd.reader import read_cdd_file
from dvol_pipeline_tests.cdd_files import T0, URL, price_rows, write_price_file

HEADER = "Unix,Date,Symbol,Open,High,Low,Close,Volume BTC,Volume USDT,tradecount"
cell = st.one_of(
    st.text(alphabet="0123456789.-eE+NULnaAPM: /", max_size=14),
    st.sampled_from(["NULL", "NaN", "", "1704067200000", "1704067200.0", "2024-01-01", "2024-01-01 05-AM", "BTCUSDT"]),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)
line = st.lists(cell, min_size=0, max_size=12).map(",".join)
junk = st.binary(max_size=60)
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(first=st.sampled_from([URL + "\n", ""]), body=st.lists(st.one_of(line, junk.map(lambda b: b.decode("latin-1"))),
                                                          max_size=25), crlf=st.booleans())
def test_any_body_under_a_known_header_parses_or_is_rejected_line_by_line(tmp_path, first, body, crlf):
    nl = "\r\n" if crlf else "\n"
    text = first + HEADER + nl + nl.join(body)
    path = tmp_path / "Binance_BTCUSDT_d.csv"
    path.write_bytes(text.encode("utf-8", errors="surrogateescape"))
    try:
        parsed = read_cdd_file(path)
    except CddLayoutError as err:  # only legitimate when the bars' spacing is not a supported interval
        assert "only hourly" in str(err)
        return
    # every non-blank data line is accounted for: a row, a reject, or the excluded newest bar
    physical = [ln.rstrip(b"\r").decode("utf-8", errors="replace") for ln in path.read_bytes().split(b"\n")]
    data_lines = [ln for ln in physical[parsed.layout.header_line:] if ln.strip()]
    assert parsed.rows.height + parsed.rejected.height + parsed.partial_excluded == len(data_lines)
    report = validate(spec("raw_ohlcv"), parsed.rows.drop("__line"))
    assert report.valid.height + report.rejected.height == parsed.rows.height


@SETTINGS
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_never_raise_anything_but_a_layout_error(tmp_path, data):
    path = tmp_path / "whatever.csv"
    path.write_bytes(data)
    try:
        read_cdd_file(path)
    except CddLayoutError as err:
        assert "whatever.csv" in str(err)


@SETTINGS
@given(n=st.integers(2, 40), header=st.sampled_from(["modern", "lower", "unix_timestamp", "no_unix"]),
       unix=st.sampled_from(["ms", "s"]), hourly=st.booleans(), crlf=st.booleans(),
       url=st.sampled_from([URL, None]))
def test_generated_valid_files_round_trip(tmp_path, n, header, unix, hourly, crlf, url):
    step = timedelta(hours=1) if hourly else timedelta(days=1)
    rows = price_rows("BTC", T0, n, step, base=30_000)
    path = write_price_file(tmp_path / "Binance_BTCUSDT_x.csv", rows, header=header, unix=unix, crlf=crlf, url=url,
                            date_style="ampm" if hourly else "date")
    parsed = read_cdd_file(path)
    assert parsed.rejected.is_empty() and parsed.rows.height == n - 1
    assert parsed.rows["ts"].to_list() == [T0 + i * step for i in range(n - 1)]
    assert parsed.rows["close"].to_list() == [r["c"] for r in rows[: n - 1]]
    assert validate(spec("raw_ohlcv"), parsed.rows.drop("__line")).passed
    assert parsed.rows["interval"].unique().to_list() == (["1h"] if hourly else ["1d"]) or n == 2
    assert isinstance(parsed.rows, pl.DataFrame)
