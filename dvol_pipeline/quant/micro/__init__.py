"""The micro lane's computation: rebuilt order books, order-flow imbalance, bars and their quality."""
