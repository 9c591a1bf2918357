"""The micro lane's computation: rebuilt order books, order-flow imbalance, bars, their quality, and the
intraday features computed from the bars."""
