"""Delta-hedged option structures traded on the DVOL forecast (pure functions, no IO).

A forecast of rising implied vol (+1) buys an ATM straddle, a forecast of falling vol (−1)
sells a defined-risk iron condor, 0 stays flat; both are delta-hedged daily with the
perpetual and rolled before the last week of their expiry. P&L is in USD, at Deribit's
quotes and fees, with a daily greek attribution. Modules: config (settings and why),
market (chain index, perp closes), selection (which options), costs (prices and fees),
attribution (greeks), book (one day of the book), run (the backtest and its tables).
"""

from .attribution import GreekPnL, attribute, theta_exchange, theta_per_day
from .config import COST_MULTS, OptionBacktestConfig
from .costs import execution, half_spreads, option_fee_coin, perp_fee_usd
from .market import index_chain, perp_closes
from .run import STRATEGY, OptionBacktestResult, cost_sensitivity, run_option_backtest

__all__ = [
    "COST_MULTS", "STRATEGY", "GreekPnL", "OptionBacktestConfig", "OptionBacktestResult", "attribute",
    "cost_sensitivity", "execution", "half_spreads", "index_chain", "option_fee_coin", "perp_closes",
    "perp_fee_usd", "run_option_backtest", "theta_exchange", "theta_per_day",
]
