"""Progress a person can read: one updating line on the terminal, with counts and an ETA.

    from dvol_pipeline.progress import progress, track

    for key in track(keys, "walk-forward", unit="fold"):       # an iterable
        ...
    with progress("raw tables", total=6, unit="table") as bar:  # or by hand
        bar.update(note="raw_dvol")
    @phased("features_daily", total=3)                          # or by phase
    def build(...):
        step("read"); ...; step("build"); ...; step("write"); ...

On when stderr is a terminal, or when DVOL_PROGRESS=1 (DVOL_PROGRESS=0 turns it off even on
a terminal); otherwise, as under pytest, in CI logs and in Dagster's daemon, it is a no-op:
`track` hands the iterable back unchanged and `update` returns at once. It only reads the
clock and writes to stderr, never touches a random state or the data, so results are the
same with it on or off.

The line is tqdm's own meter (`tqdm.format_meter`: count/total, percent, elapsed<ETA, rate)
drawn by a tiny writer rather than a tqdm bar: Dagster's console logger writes to stderr
too, and each redraw ends with a carriage return, so a log line overwrites the bar from
column 0 instead of being glued to its end; the bar is redrawn below it on the next update.
Nested progress (a loop inside a loop) shows on the same line, outer first. Redraws are
throttled (every 0.25 s at most) so a tight loop pays only a clock read per step.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
ENV = "DVOL_PROGRESS"
MIN_INTERVAL = 0.25
TICK = 1.0
"""While a bar is open and nothing updates it (a long call, Dagster storing events between two
tables), a daemon thread redraws it this often, so the elapsed time keeps moving."""
_active: list[Progress] = []
_lock = threading.RLock()
_state = {"drawn": 0.0, "ticker": None}


def enabled() -> bool:
    """DVOL_PROGRESS=1/0 forces it on/off; by default on only when stderr is a terminal."""
    flag = os.environ.get(ENV, "").strip().lower()
    if flag in ("1", "true", "yes", "on"):
        return True
    if flag in ("0", "false", "no", "off"):
        return False
    try:
        return _stream().isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


class Progress:
    """Counts `n` of `total` (None: unknown) `unit`s; a no-op unless `enabled()`."""

    def __init__(self, desc: str, total: int | None = None, unit: str = "it", on: bool | None = None):
        self.desc, self.total, self.unit = desc, total, unit
        self.on = enabled() if on is None else on
        self.n, self.note, self._stepping, self.phased = 0, "", False, False
        self.started = self._drawn = time.perf_counter()

    # ---- counting -------------------------------------------------------------------
    def update(self, n: int = 1, note: str | None = None) -> None:
        if not self.on:
            return
        self.n += n
        if note is not None:
            self.note = note
        now = time.perf_counter()
        if now - self._drawn >= MIN_INTERVAL:
            self._drawn = now
            _draw()

    def step(self, note: str) -> None:
        """A new phase of a step-counted progress (total = number of phases): the previous
        phase is done, `note` is running now."""
        if self.on:
            if self._stepping:
                self.n += 1
            self._stepping = True
            self.set_note(note)

    def set_note(self, note: str) -> None:
        """What is being worked on now (shown after the meter); redraws at once."""
        if self.on:
            self.note = note
            self._drawn = time.perf_counter()
            _draw()

    def meter(self, width: int | None = None) -> str:
        elapsed = time.perf_counter() - self.started
        total = self.total if self.total and self.n <= self.total else None
        return tqdm.format_meter(
            self.n, total, elapsed, ncols=width, prefix=self.desc, unit=self.unit,
            postfix=self.note or None,
        )

    def short(self) -> str:
        """desc n/total note [elapsed]: an outer level of a nested line."""
        count = f"{self.n}/{self.total}" if self.total else str(self.n)
        elapsed = tqdm.format_interval(time.perf_counter() - self.started)
        return " ".join(x for x in (self.desc, count, self.note, f"[{elapsed}]") if x)

    # ---- lifetime -------------------------------------------------------------------
    def __enter__(self) -> Progress:
        if self.on:
            self.started = time.perf_counter()
            with _lock:
                _active.append(self)
                _draw()
            _start_ticker()
        return self

    def __exit__(self, *exc) -> None:
        with _lock:
            if not self.on or self not in _active:
                return
            if self._stepping and exc[0] is None:
                self.n, self.note = self.n + 1, ""
            _draw()
            del _active[_active.index(self):]  # and any inner bar a failed loop left open
            if not _active:  # the outermost bar ends: keep its last state as a summary line
                _write("\n")


def progress(desc: str, total: int | None = None, unit: str = "it") -> Progress:
    return Progress(desc, total, unit)


def phased(desc: str, total: int, unit: str = "phase") -> Callable[[F], F]:
    """Decorate a function of `total` phases; inside it, `step("what now")` starts each.
    Off: the function itself, called directly."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            if not enabled():
                return fn(*args, **kwargs)
            with Progress(desc, total, unit, on=True) as bar:
                bar.phased = True
                return fn(*args, **kwargs)

        return inner  # type: ignore[return-value]

    return wrap


def step(note: str) -> None:
    """The innermost `phased` function moves to its next phase, `note`; a no-op otherwise."""
    if _active and _active[-1].phased:
        _active[-1].step(note)


def track(
    items: Iterable[T], desc: str, total: int | None = None, unit: str = "it", note=None
) -> Iterator[T] | Iterable[T]:
    """`items`, counted on the progress line; `note(item)` names the item being worked on.
    Off: `items` itself, untouched (no wrapper, no cost)."""
    if not enabled():
        return items
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    return _tracked(items, Progress(desc, total, unit, on=True), note)


def _tracked(items: Iterable[T], bar: Progress, note) -> Iterator[T]:
    with bar:
        for item in items:
            if note is not None:
                bar.set_note(str(note(item)))
            yield item
            bar.update()


def _start_ticker() -> None:
    with _lock:
        if _state["ticker"] is None:
            _state["ticker"] = threading.Thread(target=_tick, name="dvol-progress", daemon=True)
            _state["ticker"].start()


def _tick() -> None:
    while True:
        time.sleep(TICK)
        with _lock:
            if _active and time.perf_counter() - _state["drawn"] >= TICK:
                _draw()


def _draw() -> None:
    with _lock:
        if _active:
            _state["drawn"] = time.perf_counter()
            _render()


def _render() -> None:
    width = max(40, min(110, shutil.get_terminal_size((110, 20)).columns - 1))
    if len(_active) == 1:
        text = _active[0].meter(width)
    else:  # outer levels short (no bar), the innermost fills the rest
        outer = " | ".join(b.short() for b in _active[:-1])
        text = outer + " | " + _active[-1].meter(max(40, width - len(outer) - 3))
    _write("\r" + text[:width] + "\x1b[K\r")


def echo(text: str, file=None) -> None:
    """print(text) that keeps the progress line intact: the line is cleared, the text printed,
    the line redrawn below it. A plain print when no bar is open."""
    out = file or sys.stdout
    with _lock:
        if _active:
            _write("\r\x1b[K")
        print(text, file=out, flush=True)
        if _active:
            _render()


def _stream():
    return sys.stderr  # looked up at each write: pytest and Dagster swap sys.stderr


def _write(text: str) -> None:
    try:
        stream = _stream()
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):
        pass
