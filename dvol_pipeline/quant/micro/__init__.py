"""The micro lane's pure computation: intraday features from `micro_bars` (and, later, models)."""
