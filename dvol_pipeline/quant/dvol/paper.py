"""The paper book: what the desk would hold if it traded each evening's signal, day by day.

Timing, as a desk lives it: the signal of day D is decided at D's close; its order fills at
the next snapshot (D+1's close), at the ask when buying and the bid when selling (the DVOL
future's price from listing.py ± the half-spread, plus slippage, plus the taker fee: the
backtest's CostModel), so a paper fill is one day later and one spread worse than the
backtest's close-of-signal fill. Positions are in the DVOL future the backtest would hold
and roll at the close before its expiry (both legs filled at bid/ask).

Book per coin (USD): cash changes only by fills (−qty × price × USD per point − fee);
equity = cash + position × the held contract's price × USD per point; the day's P&L is the
change in equity. So cash and positions always reconcile to the fills.

Kill switches (the research plan's): a drawdown from the peak equity beyond
`kill_drawdown_frac` of the allocated capital orders the book flat at the next snapshot and
stops it for good (`halted`, reason `drawdown`); a coin whose newest market data is older
than `max_data_gap_days` when a day is processed is ordered flat (reason `data_gap`) and
resumes when data returns. Either event is reported so the run can raise its alert.
Nothing is traded before the contract's listing day (listing.py).

A run starts from the book as the day before left it (`opening_books`: that day's
`paper_positions` rows) and needs only the range's signals and marks, so a day's work does
not grow with the book's age. The check (`reconcile`) starts from the same
opening rows: each run proves that its own fills carry the opening book to its closing
one, and the opening book was proven by the run that wrote it.

Reconciliation with the backtest (`reconciliation`): the paper P&L of day D is earned over
(D-1, D]; the backtest row that earns the same interval is dated D-1 (its position is
decided at D-1's close and filled there). It is read for the strategy the signal follows:
the primary horizon's futures strategy of the signal's `family`. Where the backtest does
not cover the day its columns are null.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import polars as pl

from dvol_pipeline.quant.dvol.backtest.config import BacktestConfig
from dvol_pipeline.quant.dvol.backtest.listing import (
    EXPIRY_DAY_FRACTION,
    TERM_COLUMNS,
    ListedFutures,
    fair_ratio,
    futures_marks,
)
from dvol_pipeline.quant.evaluate.daily_frame import FUTURES_STRATEGY

FILL_SCHEMA = {"date": pl.Date, "asset": pl.Utf8, "contract_expiry": pl.Date, "reason": pl.Utf8,
               "qty": pl.Float64, "mark": pl.Float64, "price": pl.Float64, "fee_usd": pl.Float64,
               "spread_usd": pl.Float64, "decision_mark": pl.Float64, "delay_usd": pl.Float64,
               "cash_usd": pl.Float64}
POSITION_SCHEMA = {"date": pl.Date, "asset": pl.Utf8, "contract_expiry": pl.Date, "position": pl.Float64,
                   "mark": pl.Float64, "cash_usd": pl.Float64, "equity_usd": pl.Float64,
                   "peak_equity_usd": pl.Float64, "target_next": pl.Float64, "signal": pl.Int8,
                   "halted": pl.Boolean, "flat_reason": pl.Utf8, "last_data": pl.Date,
                   "decision_mark": pl.Float64}
PNL_SCHEMA = {"date": pl.Date, "asset": pl.Utf8, "pnl_usd": pl.Float64, "cost_usd": pl.Float64,
              "turnover": pl.Float64, "equity_usd": pl.Float64, "drawdown_usd": pl.Float64,
              "return_on_capital": pl.Float64}


@dataclass(frozen=True)
class PaperConfig:
    """Size, capital and kill switches of the paper book (per coin)."""

    units: float = 1.0
    """|position| for a ±1 signal, in backtest units (contracts_per_unit contracts)."""
    capital_usd: float = 250_000.0
    """Capital allocated to each coin's book (the backtest's capital_usd)."""
    kill_drawdown_frac: float = 0.20
    """Drawdown from peak equity, as a share of capital, that turns the book flat for good."""
    max_data_gap_days: int = 1
    """Newest data older than this many days when a day is processed: the book goes flat."""
    backtest: BacktestConfig = field(default_factory=BacktestConfig)
    """Costs, contract size and listed contract shared with the backtest."""

    @property
    def contract(self) -> ListedFutures:
        return self.backtest.contract or ListedFutures(basis="none")


@dataclass
class CoinBook:
    """One coin's book after a day's close."""

    position: float = 0.0
    contract_expiry: date | None = None
    cash_usd: float = 0.0
    peak_equity_usd: float = 0.0
    target_next: float = 0.0
    halted: bool = False
    last_data: date | None = None
    last_mark: float | None = None
    flat_reason: str | None = None
    """Why the book is ordered flat: 'drawdown' (for good) or 'data_gap' (until data returns)."""
    decision_mark: float | None = None
    """The price, at the close the pending order was decided, of the contract it will trade."""

    @staticmethod
    def from_row(row: dict) -> CoinBook:
        """The book as a paper_positions row left it."""
        return CoinBook(row["position"], row["contract_expiry"], row["cash_usd"], row["peak_equity_usd"],
                        row["target_next"], row["halted"], row["last_data"], row["mark"], row["flat_reason"],
                        row["decision_mark"])


@dataclass
class DayResult:
    fills: list[dict]
    positions: list[dict]
    pnl: list[dict]
    events: list[str]


def opening_books(coins: list[str], opening: pl.DataFrame | None) -> dict[str, CoinBook]:
    """Each coin's book as `opening` (paper_positions rows of the day before) left it; flat
    with no cash where it has no row."""
    books = {c: CoinBook() for c in coins}
    for row in ([] if opening is None else opening.iter_rows(named=True)):
        books[row["asset"]] = CoinBook.from_row(row)
    return books


def missed_days(last_state: date | None, start: date) -> list[date]:
    """The days between the book's newest state before `start` (`last_state`; None: the book
    never ran) and `start` that the book never ran. Opening `start` from a flat book, or from an
    older state, would forget or misdate what the book held over them: they are run first (the
    end-of-day catch-up), never stepped over."""
    if last_state is None or last_state >= start - timedelta(days=1):
        return []
    return [last_state + timedelta(days=i) for i in range(1, (start - last_state).days)]


def catch_up_start(last_state: date | None, day: date) -> date:
    """The first day an end of day closing `day` must run so that the book runs every day since
    its newest state: the first missed day, or `day` itself when none was missed."""
    missed = missed_days(last_state, day)
    return missed[0] if missed else day


HISTORY_DAYS = 90
"""Days a book that never ran is started before the day a whole-graph run (`demo`, `run`) ends on:
the end of day run over them as the schedule would have, so the signal history and the paper books
have a quarter to show rather than one day."""


def first_eod_day(last_state: date | None, day: date, history_days: int = 1, earliest: date | None = None) -> date:
    """The first day of an end-of-day run closing `day`: the catch-up's (`catch_up_start`) for a book
    that ran before; for a new book, `history_days` before `day` inclusive, never before `earliest`
    (the first day whose month has trained models)."""
    if last_state is not None:
        return catch_up_start(last_state, day)
    first = day - timedelta(days=history_days - 1)
    return max(first, earliest) if earliest is not None else first


def day_marks(market: pl.DataFrame, day: date, config: PaperConfig) -> dict[str, dict]:
    """coin -> today's futures_marks row (held expiry, its price, tradable), from market rows
    (date, asset, dvol, ATM term vols) up to `day` only: the book never sees tomorrow."""
    marks = futures_marks(market.filter(pl.col("date") <= day), config.contract)
    return {r["asset"]: r for r in marks.filter(pl.col("date") == day).iter_rows(named=True)}


def price_of(market: pl.DataFrame, asset: str, day: date, expiry: date, config: PaperConfig) -> float:
    """The price at `day`'s close of the contract expiring on `expiry` (fair value, listing.py)."""
    past = market.filter((pl.col("asset") == asset) & (pl.col("date") <= day)).sort("date")
    dvol = float(past["dvol"][-1])
    if config.contract.basis == "none" or not all(c in past.columns for c in TERM_COLUMNS):
        return dvol
    filled = past.select([pl.col(c).cast(pl.Float64).forward_fill() for c in TERM_COLUMNS]).tail(1).to_numpy()
    tau = (expiry - day).days - 1 + EXPIRY_DAY_FRACTION
    return dvol * float(fair_ratio(filled.astype(float), np.array([tau]))[0])


def step_day(books: dict[str, CoinBook], day: date, signals: dict[str, int], market: pl.DataFrame,
             config: PaperConfig) -> DayResult:
    """Advance every coin's book over `day`: fill yesterday's order at today's snapshot (rolling
    first when the held contract expires before the next close), mark, apply the kill
    switches, and queue the order of today's signal."""
    usd = config.backtest.usd_per_vol
    costs = config.backtest.costs
    edge = (costs.half_spread_vol + costs.slippage_vol) * costs.multiplier  # bid/ask and slippage, points
    fee_vol = costs.fee_vol * costs.multiplier
    fills, positions, pnl, events = [], [], [], []
    marks = day_marks(market, day, config)
    for asset, book in sorted(books.items()):
        equity_before = book.cash_usd + book.position * (book.last_mark or 0.0) * usd
        traded = {"units": 0.0, "cost": 0.0}

        def fill(qty: float, expiry: date | None, mark: float, why: str) -> None:
            price = mark + np.sign(qty) * edge  # buy at the ask, sell at the bid
            fee = abs(qty) * fee_vol * usd
            # the backtest fills a signal at the close it was decided at; the paper book a day later
            decided = book.last_mark if why == "roll" else book.decision_mark
            delay = 0.0 if decided is None or why == "roll" else qty * (mark - decided) * usd
            book.cash_usd -= qty * price * usd + fee
            traded["units"] += abs(qty)
            traded["cost"] += abs(qty) * edge * usd + fee
            fills.append({"date": day, "asset": asset, "contract_expiry": expiry, "reason": why, "qty": qty,
                          "mark": mark, "price": price, "fee_usd": fee, "spread_usd": abs(qty) * edge * usd,
                          "decision_mark": decided, "delay_usd": delay, "cash_usd": book.cash_usd})

        row = marks.get(asset)
        if row is None or row["futures_price"] is None:
            # no snapshot today: nothing fills or re-marks; a long gap orders the book flat
            gap = (day - book.last_data).days if book.last_data else 0
            if gap > config.max_data_gap_days and (book.target_next or book.position):
                book.target_next, book.flat_reason = 0.0, "data_gap"
                events.append(f"{asset} {day}: newest market data is {gap} days old "
                              f"(> {config.max_data_gap_days}): ordered flat")
        else:
            book.last_data = day
            held, price = row["contract_expiry"], float(row["futures_price"])
            target = book.target_next if row["tradable"] else 0.0
            why = "kill" if book.flat_reason and target == 0 else "signal"
            if book.position and book.contract_expiry != held:  # roll: close the old contract first
                fill(-book.position, book.contract_expiry,
                     price_of(market, asset, day, book.contract_expiry, config), "roll")
                book.position = 0.0
                why = "roll" if target else why
            if target != book.position:
                fill(target - book.position, held, price, why)
                book.position = target
            book.contract_expiry = held if book.position else None
            book.last_mark = price
            if book.flat_reason == "data_gap":
                book.flat_reason = None
        equity = book.cash_usd + book.position * (book.last_mark or 0.0) * usd
        book.peak_equity_usd = max(book.peak_equity_usd, equity)
        drawdown = book.peak_equity_usd - equity
        if row is not None:
            if not book.halted and drawdown > config.kill_drawdown_frac * config.capital_usd:
                book.halted, book.flat_reason = True, "drawdown"
                events.append(f"{asset} {day}: drawdown USD {drawdown:,.0f} > {config.kill_drawdown_frac:.0%} of "
                              f"capital USD {config.capital_usd:,.0f}: flat and stopped")
            book.target_next = 0.0 if book.halted else float(signals.get(asset, 0)) * config.units
            book.decision_mark = book.last_mark
        positions.append({"date": day, "asset": asset, "contract_expiry": book.contract_expiry,
                          "position": book.position, "mark": book.last_mark, "cash_usd": book.cash_usd,
                          "equity_usd": equity, "peak_equity_usd": book.peak_equity_usd,
                          "target_next": book.target_next, "signal": int(signals.get(asset, 0)),
                          "halted": book.halted, "flat_reason": book.flat_reason, "last_data": book.last_data,
                          "decision_mark": book.decision_mark})
        pnl.append({"date": day, "asset": asset, "pnl_usd": equity - equity_before, "cost_usd": traded["cost"],
                    "turnover": traded["units"], "equity_usd": equity, "drawdown_usd": drawdown,
                    "return_on_capital": (equity - equity_before) / config.capital_usd})
    return DayResult(fills, positions, pnl, events)


def run_days(books: dict[str, CoinBook], start: date, end: date, signals: pl.DataFrame, market: pl.DataFrame,
             config: PaperConfig) -> DayResult:
    """`step_day` over each day of [start, end], oldest first, with that day's signals
    (date, asset, direction) only."""
    out = DayResult([], [], [], [])
    for i in range((end - start).days + 1):
        day = start + timedelta(days=i)
        today = {r["asset"]: r["direction"] for r in signals.filter(pl.col("date") == day).iter_rows(named=True)}
        r = step_day(books, day, today, market, config)
        out.fills += r.fills
        out.positions += r.positions
        out.pnl += r.pnl
        out.events += r.events
    return out


def frames(result: DayResult) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    return (pl.DataFrame(result.fills, schema=FILL_SCHEMA), pl.DataFrame(result.positions, schema=POSITION_SCHEMA),
            pl.DataFrame(result.pnl, schema=PNL_SCHEMA))


def reconcile(fills: pl.DataFrame, positions: pl.DataFrame, config: PaperConfig,
              opening: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per (date, asset): the position and cash the fills imply against the book's, and the
    equity recomputed from them; `ok` when all agree (to a cent). The fills are counted from
    `opening` (paper_positions rows of the day before the first fill; none: flat, no cash)."""
    usd = config.backtest.usd_per_vol
    flows = fills.sort("date").group_by("asset", "date", maintain_order=True).agg(
        qty=pl.col("qty").sum(), cash=(-(pl.col("qty") * pl.col("price")) * usd - pl.col("fee_usd")).sum())
    start = pl.DataFrame(schema={"asset": pl.Utf8, "open_position": pl.Float64, "open_cash": pl.Float64})
    if opening is not None:
        start = opening.select("asset", open_position="position", open_cash="cash_usd")
    book = positions.select("date", "asset", "position", "cash_usd", "equity_usd", "mark").join(
        flows, on=["asset", "date"], how="left").join(start, on="asset", how="left").sort("asset", "date").with_columns(
        implied_position=pl.col("open_position").fill_null(0.0) + pl.col("qty").fill_null(0.0).cum_sum().over("asset"),
        implied_cash=pl.col("open_cash").fill_null(0.0) + pl.col("cash").fill_null(0.0).cum_sum().over("asset"),
    ).drop("open_position", "open_cash")
    return book.with_columns(
        implied_equity=pl.col("implied_cash") + pl.col("implied_position") * pl.col("mark").fill_null(0.0) * usd,
    ).with_columns(ok=((pl.col("implied_position") - pl.col("position")).abs() < 1e-9)
                   & ((pl.col("implied_cash") - pl.col("cash_usd")).abs() < 0.01)
                   & ((pl.col("implied_equity") - pl.col("equity_usd")).abs() < 0.01))


def followed_strategy(signals: pl.DataFrame) -> pl.DataFrame:
    """date, asset, strategy, family: the backtest strategy the order filled on `date` follows,
    i.e. the primary horizon's futures strategy of the family of the day before's signal."""
    return signals.select(
        (pl.col("date") + pl.duration(days=1)).alias("date"), "asset", pl.col("primary_horizon").alias("horizon"),
        "family").select("date", "asset", FUTURES_STRATEGY.alias("strategy"), "family")


def reconciliation(pnl: pl.DataFrame, fills: pl.DataFrame, positions: pl.DataFrame, signals: pl.DataFrame,
                   backtest: pl.DataFrame | None) -> pl.DataFrame:
    """paper_reconciliation: each day's paper P&L, position, delay and spread against the
    backtest row earning the same interval (module doc); `backtest`: backtest_daily rows."""
    delay = fills.group_by("date", "asset").agg(delay_usd=pl.col("delay_usd").sum(),
                                                 spread_usd=pl.col("spread_usd").sum())
    out = pnl.join(positions.select("date", "asset", "position"), on=["date", "asset"], how="left").join(
        delay, on=["date", "asset"], how="left").with_columns(pl.col("delay_usd", "spread_usd").fill_null(0.0))
    # the signal that set yesterday's order, and the backtest row earning the same interval
    out = out.join(followed_strategy(signals), on=["date", "asset"], how="left")
    cols = {"backtest_net_usd": pl.Float64, "backtest_cost_usd": pl.Float64, "backtest_position": pl.Float64}
    if backtest is not None and not backtest.is_empty():
        bt = backtest.filter(pl.col("strategy").str.starts_with("dvol_futures")).select(
            (pl.col("date") + pl.duration(days=1)).alias("date"), "asset", "strategy", "family",
            backtest_net_usd="net_usd", backtest_cost_usd="cost_usd", backtest_position="position")
        out = out.join(bt, on=["date", "asset", "strategy", "family"], how="left")
    else:
        out = out.with_columns(pl.lit(None, t).alias(c) for c, t in cols.items())
    return out.select(
        "date", "asset", "strategy", "family", paper_pnl_usd="pnl_usd", paper_cost_usd="cost_usd",
        paper_position="position", delay_usd="delay_usd", spread_usd="spread_usd",
        backtest_net_usd="backtest_net_usd", backtest_cost_usd="backtest_cost_usd",
        backtest_position="backtest_position",
    ).with_columns(pnl_gap_usd=pl.col("paper_pnl_usd") - pl.col("backtest_net_usd")).sort("asset", "date")
