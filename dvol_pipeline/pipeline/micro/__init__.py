"""The micro lane's pipeline steps: ticks in, books, bars, features, research."""
