"""Files that parse but lie, per family (issue 15): a generated valid file, one lie applied; the lie is
quarantined with a reason naming its file and line, every other row lands as it would without the
lie, and landing/ is byte-identical afterwards. Also: re-runs that would lose rows, the partial-bar
rule by time, real-file quirks, notes for everything dropped, and CLI/environment faults."""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dvol_pipeline.cli import main
from dvol_pipeline.contracts.tables import spec
from dvol_pipeline.pipeline.ingest import ingest_table
from dvol_pipeline.lake.parquet import read_table
from dvol_pipeline.sources.cdd.reader import read_cdd_file
from dvol_pipeline.sources.cdd.source import CddSource
from dvol_pipeline_tests.cdd_files import T0, price_rows, write_funding_file, write_price_file

DAY, HOUR = timedelta(days=1), timedelta(hours=1)
NOW = datetime(2024, 6, 1, tzinfo=UTC)  # the run's clock in these tests
RANGE = (date(2024, 1, 1), date(2024, 3, 31))
OHLCV = spec("raw_ohlcv")
SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                            HealthCheck.too_slow])
KEY = ["asset", "venue", "instrument", "interval", "ts"]


def _rows(n: int, hourly: bool, base: float) -> list[dict]:
    rows = price_rows("BTC", T0, n, HOUR if hourly else DAY, base=base)
    for r in rows:
        r["n"] = 4_598_633 + 17 * r["n"]  # trade counts of a liquid pair, 7 digits
    return rows


def _name(hourly: bool) -> str:
    return f"Binance_BTCUSDT_{'1h' if hourly else 'd'}.csv"


def _lines(path: Path) -> list[str]:
    return path.read_text().split("\n")


def _digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _ingest(landing: Path, lake: Path, coins=("BTC", "ETH"), rebuild=False, table=OHLCV):
    before = _digest(landing)
    report = ingest_table(table, CddSource(landing, now=NOW), lake, *RANGE, list(coins), rebuild=rebuild)
    assert _digest(landing) == before, "landing/ must be byte-identical after a run"
    return report


def _lake(lake: Path, table: str = "raw_ohlcv") -> pl.DataFrame:
    try:
        return read_table(lake, table).sort(KEY if table == "raw_ohlcv" else ["asset", "ts"])
    except FileNotFoundError:
        return spec(table).empty()


def _quarantine(lake: Path) -> pl.DataFrame:
    files = list((lake / "quarantine").rglob("*.parquet"))
    return pl.concat([pl.read_parquet(f) for f in files], how="diagonal") if files else pl.DataFrame()


def _check_lie(write, lie, reason: str, lied_ts: list[datetime] | None = None):
    """Ingest the clean file and the lied one; the lie is quarantined (file, line, reason), the rest identical."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clean, dirty = tmp / "clean", tmp / "dirty"
        clean.mkdir(), dirty.mkdir()
        path = write(clean)
        write(dirty)
        line_no = lie(dirty / path.name)
        _ingest(clean, tmp / "lake_clean")
        report = _ingest(dirty, tmp / "lake_dirty")
        q = _quarantine(tmp / "lake_dirty")
        assert not report.contract.passed
        hit = q.filter(pl.col("reason").str.contains(reason, literal=True))
        assert hit.height >= 1, q.select("file", "line", "reason") if q.height else "nothing quarantined"
        assert (hit["file"] == path.name).all()
        assert str(line_no) in hit["line"].to_list()
        expected = _lake(tmp / "lake_clean")
        if lied_ts is not None:
            expected = expected.filter(~pl.col("ts").is_in(lied_ts))
        got = _lake(tmp / "lake_dirty")
        assert got.equals(expected), (got.height, expected.height)
        return report


files = st.builds(lambda n, hourly, base: (n, hourly, base), st.integers(14, 40), st.booleans(),
                  st.sampled_from([40_000.0, 2_000.0, 0.5]))


def _writer(n, hourly, base, **kw):
    rows = _rows(n, hourly, base)
    return rows, (lambda folder: write_price_file(folder / _name(hourly), rows, **kw))


def _edit(index: int, change):
    """Edit data line `index` (0 = newest, as CDD writes) with change(fields) and return its 1-based number."""
    def lie(path: Path) -> int:
        lines = _lines(path)
        at = 2 + index  # URL line, header
        fields = lines[at].split(",")
        change(fields)
        lines[at] = ",".join(fields)
        path.write_text("\n".join(lines))
        return at + 1
    return lie


def _ts_of(rows, index):
    return [rows[len(rows) - 1 - index]["t"]]


# --- family 1: consistency with the file's own claims ---------------------------------------


@SETTINGS
@given(f=files, data=st.data(), other=st.sampled_from(["ETHUSDT", "SOLUSDT", "ETH/USDT"]))
def test_a_symbol_that_contradicts_the_file_name_and_header_is_quarantined(f, data, other):
    rows, write = _writer(*f)
    k = data.draw(st.integers(1, f[0] - 1))
    _check_lie(write, _edit(k, lambda x: x.__setitem__(2, other)), f"symbol '{other}' is not BTC", _ts_of(rows, k))


def test_a_file_whose_name_and_volume_header_disagree_stores_nothing(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    write_price_file(landing / "Binance_ETHUSDT_d.csv", _rows(12, False, 40_000))  # header says Volume BTC
    report = _ingest(landing, tmp_path / "lake")
    assert report.rows_written == 0
    q = _quarantine(tmp_path / "lake")
    assert q.height == 12 and q["reason"].str.contains("the file name says ETH but the header says 'Volume BTC'").all()


@SETTINGS
@given(f=files, data=st.data())
def test_swapped_base_and_quote_volumes_are_quarantined(f, data):
    rows, write = _writer(*f)
    k = data.draw(st.integers(1, f[0] - 1))
    if f[2] == 0.5:  # near 1 USD, a swap changes little; only the coin's price range decides
        return
    _check_lie(write, _edit(k, lambda x: x.__setitem__(slice(7, 9), [x[8], x[7]])), "look swapped", _ts_of(rows, k))


@SETTINGS
@given(f=files)
def test_bars_whose_spacing_contradicts_the_file_name_are_all_quarantined(f):
    n, hourly, base = f
    with tempfile.TemporaryDirectory() as tmp:
        landing = Path(tmp) / "landing"
        landing.mkdir()
        wrong = _name(not hourly)  # hourly bars in a `_d` file, or daily bars in a `_1h` file
        write_price_file(landing / wrong, _rows(n, hourly, base))
        report = _ingest(landing, Path(tmp) / "lake")
        q = _quarantine(Path(tmp) / "lake")
        assert report.rows_written == 0 and q.height == n
        assert q["reason"].str.contains("but the file name says").all() and (q["file"] == wrong).all()
        assert sorted(q["line"].cast(int).to_list()) == list(range(3, 3 + n))


@SETTINGS
@given(f=files, data=st.data(), minutes=st.sampled_from([15, 30, 45]))
def test_a_bar_off_the_files_grid_is_quarantined(f, data, minutes):
    rows, write = _writer(*f)
    k = data.draw(st.integers(1, f[0] - 2))

    def shift(x):
        t = datetime.fromtimestamp(int(x[0]) / 1000, UTC) + timedelta(minutes=minutes)
        x[0], x[1] = str(int(t.timestamp() * 1000)), f"{t:%Y-%m-%d %H:%M:%S}"
    _check_lie(write, _edit(k, shift), "bar grid", _ts_of(rows, k))


@SETTINGS
@given(hourly=st.booleans(), factor=st.sampled_from([0.05, 0.1, 20.0]))
def test_another_coins_prices_under_this_coins_name_are_quarantined_whole(hourly, factor):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        landing = tmp / "landing"
        landing.mkdir()
        write_price_file(landing / "Binance_BTCUSDT_d.csv", _rows(30, False, 40_000))
        write_price_file(landing / "Bitstamp_BTCUSD_d.csv", _rows(30, False, 40_400), symbol="{coin}USD")
        liar = write_price_file(landing / "Kraken_BTCUSD_1h.csv", _rows(48, True, 40_000 * factor),
                                symbol="{coin}USD")
        _ingest(landing, tmp / "lake")
        q = _quarantine(tmp / "lake")
        hit = q.filter(pl.col("reason").str.contains("price level off the coin's other files"))
        assert set(hit["file"]) == {liar.name} and hit.height == 47  # every row but the open bar
        assert set(_lake(tmp / "lake")["venue"]) == {"binance", "bitstamp"}


def test_with_two_files_the_one_matching_another_coin_is_the_liar(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    write_price_file(landing / "Binance_BTCUSDT_d.csv", _rows(20, False, 40_000))
    eth = _rows(20, False, 2_000)
    write_price_file(landing / "Binance_ETHUSDT_d.csv", [dict(r, coin="ETH") for r in eth])
    write_price_file(landing / "Bitstamp_BTCUSD_d.csv", eth, symbol="{coin}USD")  # ETH's prices as BTC
    report = _ingest(landing, tmp_path / "lake")
    off = report.notes["files_off_price_level"]
    assert list(off) == ["Bitstamp_BTCUSD_d.csv"] and "matches ETH" in off["Bitstamp_BTCUSD_d.csv"]


# --- family 2: plausibility of each value ---------------------------------------------------


@SETTINGS
@given(f=files, data=st.data(), column=st.sampled_from([3, 4, 5, 6, 7, 8]),
       text=st.sampled_from(["inf", "-inf", "Infinity", "INF"]))
def test_non_finite_numbers_are_quarantined(f, data, column, text):
    rows, write = _writer(*f)
    k = data.draw(st.integers(1, f[0] - 1))
    _check_lie(write, _edit(k, lambda x: x.__setitem__(column, text)), "is not a finite number", _ts_of(rows, k))


@SETTINGS
@given(f=files, keep=st.integers(1, 6))
def test_a_file_cut_inside_its_last_field_quarantines_that_line(f, keep):
    rows, write = _writer(*f)

    def cut(path: Path) -> int:
        lines = [ln for ln in _lines(path) if ln]
        fields = lines[-1].split(",")
        fields[-1] = fields[-1][:keep]  # e.g. tradecount 4598633 -> 45, and no newline after it
        lines[-1] = ",".join(fields)
        path.write_text("\n".join(lines))
        return len(lines)
    _check_lie(write, cut, "tradecount", [rows[0]["t"]])


@SETTINGS
@given(f=files, data=st.data(), pad=st.sampled_from([" ", "  ", "\t", " \t "]))
def test_whitespace_around_fields_is_trimmed_never_stored_in_a_key(f, data, pad):
    rows, write = _writer(*f)
    k = data.draw(st.integers(0, f[0] - 1))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "a").mkdir(), (tmp / "b").mkdir()
        write(tmp / "a")
        path = write(tmp / "b")
        _edit(k, lambda x: [x.__setitem__(i, pad + x[i] + pad) for i in (1, 2, 7)])(path)
        _ingest(tmp / "a", tmp / "lake_a")
        report = _ingest(tmp / "b", tmp / "lake_b")
        assert _lake(tmp / "lake_b").equals(_lake(tmp / "lake_a"))
        assert set(_lake(tmp / "lake_b")["instrument"]) == {"BTCUSDT"}
        assert report.notes["whitespace_trimmed"] == 1


def test_whitespace_inside_a_symbol_is_refused(tmp_path):
    rows, write = _writer(14, False, 40_000)
    _check_lie(write, _edit(3, lambda x: x.__setitem__(2, "BTC USDT")), "is not an instrument symbol",
               _ts_of(rows, 3))


# --- family 3: the partial bar by time ------------------------------------------------------


@SETTINGS
@given(f=files, years=st.integers(1, 30))
def test_a_future_dated_row_is_quarantined_and_does_not_push_the_open_bar_into_the_lake(f, years):
    n, hourly, base = f
    rows = _rows(n, hourly, base)
    with tempfile.TemporaryDirectory() as tmp:
        landing = Path(tmp) / "landing"
        landing.mkdir()
        future = dict(rows[-1], t=NOW + timedelta(days=365 * years))
        write_price_file(landing / _name(hourly), [*rows, future])
        _ingest(landing, Path(tmp) / "lake")
        q = _quarantine(Path(tmp) / "lake")
        assert q.filter(pl.col("reason").str.contains("future-dated"))["line"].to_list() == ["3"]
        stored = _lake(Path(tmp) / "lake")["ts"].to_list()
        assert rows[-1]["t"] not in stored  # the real open bar stays out
        assert stored == [r["t"] for r in rows[:-1]]


@SETTINGS
@given(f=files)
def test_an_oldest_first_file_loses_only_its_open_bar(f):
    n, hourly, base = f
    rows = _rows(n, hourly, base)
    with tempfile.TemporaryDirectory() as tmp:
        landing = Path(tmp) / "landing"
        landing.mkdir()
        path = write_price_file(landing / _name(hourly), rows)
        lines = [ln for ln in _lines(path) if ln]
        path.write_text("\n".join(lines[:2] + lines[2:][::-1]) + "\n")
        _ingest(landing, Path(tmp) / "lake")
        assert _lake(Path(tmp) / "lake")["ts"].to_list() == [r["t"] for r in rows[:-1]]


@SETTINGS
@given(f=files, cut=st.integers(5, 30))
def test_an_oldest_first_file_whose_tail_was_cut_keeps_its_newest_complete_bar(f, cut):
    n, hourly, base = f
    rows = _rows(n, hourly, base)
    with tempfile.TemporaryDirectory() as tmp:
        landing = Path(tmp) / "landing"
        landing.mkdir()
        path = write_price_file(landing / _name(hourly), rows)
        lines = [ln for ln in _lines(path) if ln]
        text = "\n".join(lines[:2] + lines[2:][::-1])  # oldest first: the open bar is the last line
        path.write_text(text[: len(text) - cut])  # the download was cut inside the open bar's line
        _ingest(landing, Path(tmp) / "lake")
        stored = _lake(Path(tmp) / "lake")["ts"].to_list()
        assert stored == [r["t"] for r in rows[:-1]]  # the newest complete bar is there


def test_the_run_clock_decides_what_is_future_and_what_is_open(tmp_path):
    rows = _rows(10, True, 40_000)
    path = write_price_file(tmp_path / "Binance_BTCUSDT_1h.csv", rows)
    parsed = read_cdd_file(path, now=rows[-2]["t"] + timedelta(minutes=30))  # bar -2 is still open then
    assert parsed.rows["ts"].to_list() == [r["t"] for r in rows[:-2]] and parsed.partial_excluded == 1
    assert parsed.rejected["reason"].str.contains("future-dated").to_list() == [True]


# --- family 4: a re-run never loses what the lake holds --------------------------------------


def test_a_newer_download_into_a_cleared_landing_folder_keeps_the_lakes_older_bars(tmp_path):
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    landing.mkdir()
    full = _rows(20, False, 40_000)
    old = write_price_file(landing / "Binance_BTCUSDT_d.csv", full[:12])
    _ingest(landing, lake)
    old.unlink()  # the user clears landing/ and drops a newer download that reaches back less far
    write_price_file(landing / "Binance_BTCUSDT_d.csv", full[8:])
    report = _ingest(landing, lake)
    assert _lake(lake)["ts"].to_list() == [r["t"] for r in full[:-1]]
    merge = report.notes["lake_merge"]
    assert merge["added"] == 8 and merge["unchanged"] == 3  # day 12 was the old file's open bar
    assert report.notes["lake_merge"]["kept"] == 0  # kept rows sit in partitions this batch did not touch


def test_a_redownload_with_one_bad_row_keeps_the_good_bar_the_lake_held(tmp_path):
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    landing.mkdir()
    rows = _rows(48, True, 40_000)
    path = write_price_file(landing / "Binance_BTCUSDT_1h.csv", rows)
    _ingest(landing, lake)
    before = _lake(lake)
    _edit(20, lambda x: x.__setitem__(3, "NULL"))(path)  # the re-download has one bad bar
    report = _ingest(landing, lake)
    assert _lake(lake).equals(before)
    assert report.notes["lake_merge"]["kept_over_rejected"] == 1
    assert report.contract.rejected.height == 1


def test_rebuild_replaces_the_range_from_the_files_alone(tmp_path):
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    landing.mkdir()
    full = _rows(20, False, 40_000)
    old = write_price_file(landing / "Binance_BTCUSDT_d.csv", full[:12])
    _ingest(landing, lake)
    old.unlink()
    write_price_file(landing / "Binance_BTCUSDT_d.csv", full[8:])
    report = _ingest(landing, lake, rebuild=True)
    assert _lake(lake)["ts"].to_list() == [r["t"] for r in full[8:-1]]
    assert report.notes["lake_merge"]["rebuild"] is True


# --- family 6: valid real files accepted ----------------------------------------------------


@SETTINGS
@given(n=st.integers(6, 40), jitter=st.lists(st.integers(1, 20), min_size=40, max_size=40))
def test_funding_times_a_few_ms_late_are_snapped_and_the_file_accepted(n, jitter):
    with tempfile.TemporaryDirectory() as tmp:
        path = write_funding_file(Path(tmp) / "Binance_BTCUSDT_funding.csv", "BTC", T0, n, 8 * HOUR)
        lines = _lines(path)
        for i in range(2, 2 + n):
            f = lines[i].split(",")
            f[0] = str(int(f[0]) + jitter[i - 2])
            lines[i] = ",".join(f)
        path.write_text("\n".join(lines))
        parsed = read_cdd_file(path, now=NOW)
        assert parsed.rejected.is_empty()
        assert parsed.rows["ts"].to_list() == [T0 + i * 8 * HOUR for i in range(n - 1)]
        assert parsed.rows["interval_hours"][0] == 8
        assert parsed.notes["funding_times_snapped"] == n and parsed.notes["funding_jitter_ms_max"] <= 20


@pytest.mark.parametrize("kind", ["gzip", "cr", "gzip+cr"])
def test_gzip_and_cr_only_files_are_read_and_named_for_what_they_are(tmp_path, kind):
    rows = _rows(15, True, 40_000)
    plain = write_price_file(tmp_path / "Binance_BTCUSDT_1h.csv", rows)
    expected = read_cdd_file(plain, now=NOW).rows
    data = plain.read_bytes()
    if "cr" in kind:
        data = data.replace(b"\n", b"\r")
    target = tmp_path / ("Binance_BTCUSDT_1h.csv.gz" if "gzip" in kind else "Binance_BTCUSDT_1h_mac.csv")
    target.write_bytes(gzip.compress(data) if "gzip" in kind else data)
    parsed = read_cdd_file(target, now=NOW)
    assert parsed.rows.drop("__line").equals(expected.drop("__line"))
    assert ("compression" in parsed.notes) == ("gzip" in kind)
    assert ("line_endings" in parsed.notes) == ("cr" in kind)


def test_a_zip_archive_is_refused_for_what_it_is(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "Binance_BTCUSDT_d.csv").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    report = _ingest(landing, tmp_path / "lake")
    assert "a zip archive" in report.contract.message() and "Binance_BTCUSDT_d.csv" in report.contract.message()


# --- family 7: nothing dropped without a note ------------------------------------------------


def test_a_file_for_a_coin_that_is_not_configured_is_reported(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    write_price_file(landing / "Binance_SOLUSDT_d.csv", [dict(r, coin="SOL") for r in _rows(10, False, 100)])
    (landing / "notes.xlsx").write_bytes(b"x")
    report = _ingest(landing, tmp_path / "lake")
    assert report.rows_written == 0
    (other,) = report.notes["files_not_in_coins"]
    assert other["file"] == "Binance_SOLUSDT_d.csv" and other["symbol"] == "SOLUSDT" and other["coin"] == "SOL"
    assert "--coins BTC,ETH,SOL" in other["fix"]
    assert report.notes["files_ignored"] == ["notes.xlsx"]


# --- family 5: environment and command-line faults -------------------------------------------


def test_a_dangling_symlink_in_landing_is_refused_by_name(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    write_price_file(landing / "Binance_BTCUSDT_d.csv", _rows(12, False, 40_000))
    os.symlink(tmp_path / "gone.csv", landing / "Binance_ETHUSDT_d.csv")
    report = _ingest(landing, tmp_path / "lake")
    assert report.rows_written == 11
    assert report.notes["files_refused"] == ["Binance_ETHUSDT_d.csv"]
    assert "dangling symbolic link" in report.contract.message()


@pytest.mark.parametrize(
    "argv,message",
    [
        (["materialize", "--select", "group:raw", "--start", "2019-01-01", "--end", "2021-04-01"],
         "--start 2019-01-01 is before the first partition (2021-03-24)"),
        (["materialize", "--select", "key:no_such_asset", "--start", "2024-01-01", "--end", "2024-01-02"],
         'matches no asset'),
        (["materialize", "--select", "group:raw", "--start", "2024-01-01", "--end", "2999-01-01"],
         "--end 2999-01-01 is after the last complete day"),
    ],
)
def test_command_line_faults_are_one_line_errors_with_exit_2(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.setenv("DVOL_LAKE", str(tmp_path / "lake"))
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "lake").exists()  # nothing was done


def test_a_dvol_lake_that_is_a_file_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    (tmp_path / "lake").write_text("")
    monkeypatch.setenv("DVOL_LAKE", str(tmp_path / "lake"))
    assert main(["materialize", "--start", "2024-01-01", "--end", "2024-01-02"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
