"""The micro lane's report."""
