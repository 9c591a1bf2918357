"""dvol_pipeline.progress: silent unless asked, one updating line when on, never changes results."""

from __future__ import annotations

import io

import pytest

from dvol_pipeline import progress as P


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def err(monkeypatch):
    stream = Tty()
    monkeypatch.setattr(P, "_stream", lambda: stream)  # pytest re-sets sys.stderr after fixtures
    monkeypatch.setattr(P, "MIN_INTERVAL", 0.0)
    return stream


def assert_no_bar_open(err: Tty) -> None:
    """What every bar closed looks like from outside: a printed line leaves the progress line alone
    (no clearing, no redraw), and the next bar is drawn on its own, without an outer level."""
    drawn = err.getvalue()
    printed = io.StringIO()
    P.echo("a log line", file=printed)
    assert printed.getvalue() == "a log line\n" and err.getvalue() == drawn
    with P.progress("next", total=1) as bar:
        bar.update()
    frames = [f for f in err.getvalue()[len(drawn):].split("\r") if f.strip()]
    assert frames and all(f.startswith("next") for f in frames if "\x1b[K" in f)


def test_off_by_default_under_pytest_is_a_no_op(monkeypatch, capsys):
    monkeypatch.delenv(P.ENV, raising=False)
    items = [1, 2, 3]
    assert P.track(items, "x") is items  # the iterable itself: no wrapper, no cost
    with P.progress("x", total=3) as bar:
        bar.update()
    assert P.phased("x", 2)(lambda a: a + 1)(1) == 2
    assert capsys.readouterr().err == ""


def test_env_forces_on_and_off(monkeypatch, err):
    monkeypatch.setenv(P.ENV, "0")
    assert not P.enabled()  # even on a terminal
    monkeypatch.setenv(P.ENV, "1")
    assert P.enabled()
    monkeypatch.delenv(P.ENV)
    assert P.enabled()  # a terminal


def test_one_updating_line_with_counts_and_eta(monkeypatch, err):
    monkeypatch.setenv(P.ENV, "1")
    out = list(P.track(["2023-01", "2023-02", "2023-03"], "oos_predictions", unit="fold", note=lambda k: f"fold {k}"))
    assert out == ["2023-01", "2023-02", "2023-03"]
    text = err.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")  # one line, redrawn with \r, kept at the end
    frames = [f for f in text.split("\r") if f.strip()]
    assert "1/3" in text and "3/3" in frames[-1] and "100%" in frames[-1]
    assert "fold 2023-03" in frames[-1] and "<" in frames[-1]  # elapsed<ETA
    assert "fold/s" in text or "s/fold" in text


def test_nested_and_phased(monkeypatch, err):
    monkeypatch.setenv(P.ENV, "1")

    @P.phased("features_daily", total=2)
    def build(x):
        P.step("read")
        with P.progress("SVI fits", total=10, unit="slice") as bar:
            bar.update(10)
            P.step("not mine")  # inner bar is not phased: ignored
        P.step("write")
        return x * 2

    assert build(21) == 42
    frames = [f for f in err.getvalue().split("\r") if f.strip()]
    assert any("features_daily" in f and "| SVI fits" in f and "10/10" in f for f in frames)
    assert "2/2" in frames[-1] and "100%" in frames[-1]
    assert_no_bar_open(err)


def test_exception_leaves_no_bar_behind(monkeypatch, err):
    monkeypatch.setenv(P.ENV, "1")
    with pytest.raises(RuntimeError):
        with P.progress("x", total=2):
            raise RuntimeError("boom")
    assert_no_bar_open(err)


def test_an_inner_bar_left_open_by_a_failed_loop_closes_with_its_outer(monkeypatch, err):
    monkeypatch.setenv(P.ENV, "1")
    with pytest.raises(RuntimeError):
        with P.progress("graph", total=1):
            for _ in P.track([1, 2], "raw tables"):  # the generator stays suspended
                raise RuntimeError("contract failed")
    assert err.getvalue().endswith("\n")
    assert_no_bar_open(err)
