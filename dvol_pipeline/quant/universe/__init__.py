"""The universe lane's maths: symbol screening, features and targets, walk-forward, metrics, strategy."""
