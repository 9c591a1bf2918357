"""Matplotlib figures rendered to inline SVG strings, small and byte-deterministic.

Figures are built with `matplotlib.figure.Figure` (no pyplot): no global figure registry to
leak, and importing this module does not switch the backend of a notebook that imports it.
Determinism: every figure is saved under its own `svg.hashsalt` (so clip-path ids are stable
and unique within the page) with no Date metadata. Size: text stays text
(`svg.fonttype = none`), coordinates are rounded to 0.1 pt, group ids and the XML prologue
are dropped, and long series are thinned before plotting.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # matplotlib is imported where a figure is drawn: ~0.5 s off every start
    from matplotlib.axes import Axes  # (the end-of-day run loads the tear-sheet assets, draws none)
    from matplotlib.figure import Figure

PALETTE = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22",
)  # fmt: skip
MAX_POINTS = 1500
WIDTH_IN = 9.5

STYLE = {
    "svg.fonttype": "none",
    "svg.image_inline": True,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e3e6ea",
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.1,
    "path.simplify": True,
    "path.simplify_threshold": 0.3,
    "text.parse_math": False,  # strategy names may hold "$"
    "figure.dpi": 72,
}

_NUMBER = re.compile(r"-?\d+\.\d+")
_ROUNDED_ATTRS = re.compile(r'(\s(?:d|x|y|width|height|transform|points)=")([^"]*)(")')


@dataclass(frozen=True)
class Series:
    label: str
    x: np.ndarray
    y: np.ndarray
    color: str | None = None
    dashed: bool = False
    width: float | None = None


@dataclass(frozen=True)
class Panel:
    title: str
    series: Sequence[Series]
    ylabel: str = ""
    reference: float | None = None  # a level worth a dashed line: 0, a 50 % hit rate
    legend: bool = True
    xlabel: str = ""
    usd: bool = False  # thousands separators on the y axis


@dataclass(frozen=True)
class Heatmap:
    title: str
    columns: Sequence[float]  # x values (cost multipliers)
    rows: Sequence[float]  # y values (thresholds)
    values: np.ndarray  # shape (len(rows), len(columns)); NaN where the sweep has no cell


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def legend_label(text: str) -> str:
    """Matplotlib hides labels starting with "_": a strategy name must never vanish."""
    return f" {text}" if text.startswith("_") else text


def thin(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Every k-th point (and always the last), so 10 years of days draw like 4."""
    if len(x) <= max_points:
        return x, y
    keep = np.unique(np.append(np.arange(0, len(x), int(np.ceil(len(x) / max_points))), len(x) - 1))
    return x[keep], y[keep]


@contextmanager
def _figure(name: str, height: float, width: float = WIDTH_IN) -> Iterator[Figure]:
    import matplotlib as mpl
    from matplotlib.figure import Figure

    with mpl.rc_context({**STYLE, "svg.hashsalt": f"dvol-{name}"}):
        yield Figure(figsize=(width, height), layout="constrained")


def _round_attr(match: re.Match[str]) -> str:
    value = " ".join(_NUMBER.sub(lambda m: f"{float(m.group()):.1f}".rstrip("0").rstrip("."), match.group(2)).split())
    if match.group(1).strip() == 'd="' and not re.search(r"[A-KN-Ya-kn-y]", value):
        value = value.replace(" L ", " ")  # only M/L/z: after M, coordinate pairs are implicit line-tos
    return match.group(1) + value + match.group(3)


def to_svg(fig: Figure) -> str:
    """Call inside `_figure` so the salt and font settings apply while saving."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    svg = re.sub(r'<g id="[^"]*">', "<g>", svg)
    svg = _ROUNDED_ATTRS.sub(_round_attr, svg)
    return re.sub(r">\s+<", "><", svg).strip()


def _date_axis(ax: Axes, x: np.ndarray) -> None:
    if np.issubdtype(x.dtype, np.datetime64):
        import matplotlib.dates as mdates

        locator = mdates.AutoDateLocator(minticks=3, maxticks=9)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _draw_panel(ax: Axes, panel: Panel) -> None:
    for s in panel.series:
        x, y = thin(s.x, s.y)
        ax.plot(x, y, label=legend_label(s.label), color=s.color, lw=s.width, ls="--" if s.dashed else "-")
    if panel.reference is not None:
        ax.axhline(panel.reference, color="#555555", lw=0.8, ls=":")
    if panel.series:
        _date_axis(ax, panel.series[0].x)
    ax.set_title(panel.title, loc="left")
    ax.set_ylabel(panel.ylabel)
    ax.set_xlabel(panel.xlabel)
    if panel.usd:
        from matplotlib.ticker import StrMethodFormatter

        ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    if panel.legend and panel.series:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def line_panels(name: str, panels: Sequence[Panel], ncols: int = 1, panel_height: float = 2.6,
                sharex: bool = False) -> str:  # fmt: skip
    nrows = int(np.ceil(len(panels) / ncols))
    with _figure(name, panel_height * nrows) as fig:
        axes = fig.subplots(nrows, ncols, sharex=sharex, squeeze=False).ravel()
        for ax, panel in zip(axes, panels):
            _draw_panel(ax, panel)
        for ax in axes[len(panels) :]:
            ax.set_visible(False)
        return to_svg(fig)


def forecast_panels(name: str, rows: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
                    max_scatter: int = 700) -> str:  # fmt: skip
    """Per horizon: realised y and forecast y_hat over time, and y against y_hat."""
    with _figure(name, 2.4 * len(rows)) as fig:
        axes = fig.subplots(len(rows), 2, squeeze=False, width_ratios=[3, 1])
        for (title, dates, y, y_hat), (ax_t, ax_s) in zip(rows, axes):
            _draw_panel(ax_t, Panel(title, [
                Series("realised y", dates, y, color="#9aa3ab", width=0.8),
                Series("forecast y_hat", dates, y_hat, color=PALETTE[0]),
            ], ylabel="Δ DVOL", reference=0.0))  # fmt: skip
            sx, sy = thin(y_hat, y, max_scatter)
            ax_s.scatter(sx, sy, s=4, alpha=0.45, color=PALETTE[0], linewidths=0)
            _diagonal(ax_s)
            ax_s.set_xlabel("y_hat")
            ax_s.set_ylabel("y")
        return to_svg(fig)


def _diagonal(ax: Axes) -> None:
    """y = x across the axes without widening them: the data decides the limits."""
    ax.axline((0.0, 0.0), slope=1.0, color="#555555", lw=0.8, ls=":")


def calibration_panels(name: str, rows: Sequence[tuple[str, np.ndarray, np.ndarray]]) -> str:
    """Mean realised y per decile of y_hat: a calibrated forecast sits on the 45° line."""
    with _figure(name, 2.8, width=min(WIDTH_IN, 3.2 * len(rows))) as fig:
        axes = fig.subplots(1, len(rows), squeeze=False).ravel()
        for ax, (title, mean_hat, mean_y) in zip(axes, rows):
            ax.plot(mean_hat, mean_y, marker="o", ms=3.5, color=PALETTE[0])
            _diagonal(ax)
            ax.set_title(title, loc="left")
            ax.set_xlabel("mean y_hat in decile")
            ax.set_ylabel("mean realised y")
        return to_svg(fig)


def scatter_diagonal(name: str, x: np.ndarray, y: np.ndarray, xlabel: str, ylabel: str) -> str:
    with _figure(name, 3.0, width=4.2) as fig:
        ax = fig.subplots()
        ax.scatter(x, y, s=14, color=PALETTE[0], alpha=0.8, linewidths=0)
        _diagonal(ax)
        ax.axhline(0.0, color="#999999", lw=0.6)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        return to_svg(fig)


def horizontal_bars(name: str, labels: Sequence[str], values: np.ndarray, groups: Sequence[str]) -> str:
    """Largest at the top; one colour per feature group."""
    order = list(dict.fromkeys(groups))
    with _figure(name, 0.6 + 0.2 * len(labels), width=7.5) as fig:
        ax = fig.subplots()
        positions = np.arange(len(labels))[::-1]
        colors = [color(order.index(g)) for g in groups]
        ax.barh(positions, values, color=colors, height=0.7)
        ax.set_yticks(positions, labels=list(labels))
        ax.grid(axis="y", visible=False)
        if order != [""]:
            from matplotlib.patches import Patch

            handles = [Patch(color=color(i), label=legend_label(g)) for i, g in enumerate(order)]
            ax.legend(handles=handles, loc="lower right", frameon=False)
        ax.set_xlabel("mean |SHAP|")
        return to_svg(fig)


def heatmaps(name: str, maps: Sequence[Heatmap], ncols: int = 3) -> str:
    """Vector cells (pcolormesh, no colourbar: it would embed a raster) with the value printed."""
    nrows = int(np.ceil(len(maps) / ncols))
    with _figure(name, 2.6 * nrows, width=min(WIDTH_IN, 3.2 * min(ncols, len(maps)))) as fig:
        axes = fig.subplots(nrows, min(ncols, len(maps)), squeeze=False).ravel()
        finite = np.concatenate([m.values[np.isfinite(m.values)] for m in maps] + [np.zeros(1)])
        bound = float(np.abs(finite).max()) or 1.0
        for ax, hm in zip(axes, maps):
            ax.pcolormesh(hm.values, cmap="RdBu", vmin=-bound, vmax=bound)
            rows, cols = np.nonzero(np.isfinite(hm.values))
            for r, c in zip(rows, cols):
                value = hm.values[r, c]
                ink = "white" if abs(value) > 0.6 * bound else "black"
                ax.text(c + 0.5, r + 0.5, f"{value:.2f}", ha="center", va="center", fontsize=6.5, color=ink)
            ax.set_xticks(np.arange(len(hm.columns)) + 0.5, labels=[f"{v:g}" for v in hm.columns])
            ax.set_yticks(np.arange(len(hm.rows)) + 0.5, labels=[f"{v:g}" for v in hm.rows])
            ax.grid(False)
            ax.set_title(hm.title, loc="left")
            ax.set_xlabel("cost multiplier")
            ax.set_ylabel("tau")
        for ax in axes[len(maps) :]:
            ax.set_visible(False)
        return to_svg(fig)


def histograms(name: str, rows: Sequence[tuple[str, np.ndarray, str]], bins: int = 60) -> str:
    """One histogram per (title, values, x label), side by side; non-finite values dropped."""
    with _figure(name, 2.6, width=min(WIDTH_IN, 3.2 * len(rows))) as fig:
        axes = fig.subplots(1, len(rows), squeeze=False).ravel()
        for ax, (title, values, xlabel) in zip(axes, rows):
            v = np.asarray(values, float)
            ax.hist(v[np.isfinite(v)], bins=bins, color=PALETTE[0], alpha=0.85)
            ax.set_title(title, loc="left")
            ax.set_xlabel(xlabel)
        return to_svg(fig)


def matrix_heatmaps(name: str, maps: Sequence[tuple[str, Sequence[str], Sequence[str], np.ndarray]],
                    ncols: int = 3, fmt: str = "{:.2f}", diverging: bool = True, cell_in: float = 0.0) -> str:
    """Labelled matrices (title, row labels, column labels, values): correlations, confusion counts."""
    nrows = int(np.ceil(len(maps) / ncols))
    size = max(len(m[1]) for m in maps)
    height = max(2.6, cell_in * size) * nrows
    with _figure(name, height, width=min(WIDTH_IN, max(3.2, cell_in * size) * min(ncols, len(maps)))) as fig:
        axes = fig.subplots(nrows, min(ncols, len(maps)), squeeze=False).ravel()
        for ax, (title, rows, cols, values) in zip(axes, maps):
            v = np.asarray(values, float)
            bound = float(np.nanmax(np.abs(v))) if np.isfinite(v).any() else 1.0
            ax.pcolormesh(v, cmap="RdBu" if diverging else "Blues", vmin=-bound if diverging else 0, vmax=bound or 1.0)
            if v.shape[0] <= 12:
                for r, c in zip(*np.nonzero(np.isfinite(v))):
                    ink = "white" if abs(v[r, c]) > 0.6 * bound else "black"
                    ax.text(c + 0.5, r + 0.5, fmt.format(v[r, c]), ha="center", va="center", fontsize=6.5, color=ink)
            ax.set_xticks(np.arange(len(cols)) + 0.5, labels=list(cols), rotation=90 if len(cols) > 6 else 0)
            ax.set_yticks(np.arange(len(rows)) + 0.5, labels=list(rows))
            ax.invert_yaxis()
            ax.grid(False)
            ax.set_title(title, loc="left")
        for ax in axes[len(maps):]:
            ax.set_visible(False)
        return to_svg(fig)
