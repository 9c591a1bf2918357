"""The micro lane's sources: tick data from the simulated order book and from the files traders have.

Each source turns its inputs into a `TickBatch`: one frame per raw tick table
(`contracts/micro.py`: the columns, the conventions, in arrival order, with the `__file` and
`__line` provenance columns where the input is a file), the files it read and refused, and
notes saying what it decided (units, clocks, venues, sessions without a snapshot) and
which features its data cannot support. Nothing here writes to the lake or touches
`landing/`: `pipeline/micro` validates the batch and writes it.
"""
