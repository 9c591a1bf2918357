"""Numbers read straight from a recording's bytes (numba), exactly as Python's `float()` / `int()` would.

Why exact: prices become float64 keys of the order book; a price one ulp off is a different level.
A decimal `d1..dn` with `k` fraction digits is the integer mantissa m = d1..dn over 10^k. When m <= 2^53
and k <= 22 both are exact doubles, and IEEE division rounds the exact quotient once, to nearest: the
result is the correctly rounded value of the decimal, which is what `float(text)` returns (Clinger's
fast path). Anything outside that range (more than 15-16 significant digits, exponents, `+`, `.5`, `5.`,
`inf`) is refused here and the caller falls back to the slower reader, so no value is ever approximate.
"""

from __future__ import annotations

import numpy as np
from numba import njit

POW10 = np.array([10.0**k for k in range(23)])
"""10^0 .. 10^22: every one is an exact float64."""
MAX_EXACT = 2**53
INT_GUARD = 922_337_203_685_477_579
"""Past this an int64 accumulator could overflow on the next digit: such integers are refused."""


@njit(cache=True, inline="always")
def scan_decimal(buf, i, n):
    """(ok, value, end): the decimal `-?digits(.digits)?` at buf[i:], read up to the first byte that is not
    part of it (end); ok False when it is not that shape or its value could not be computed exactly
    (mantissa > 2^53 or more than 22 fraction digits)."""
    neg = i < n and buf[i] == 45  # '-'
    if neg:
        i += 1
    if i >= n or buf[i] < 48 or buf[i] > 57:
        return False, 0.0, i
    m = 0
    frac = -1
    while i < n:
        c = buf[i]
        if 48 <= c <= 57:
            m = m * 10 + (c - 48)
            if m > MAX_EXACT:
                return False, 0.0, i
            if frac >= 0:
                frac += 1
        elif c == 46 and frac < 0:  # '.'
            frac = 0
        else:
            break
        i += 1
    if frac == 0 or frac > 22:  # "5." or too many fraction digits
        return False, 0.0, i
    v = float(m)
    if frac > 0:
        v = v / POW10[frac]
    return True, -v if neg else v, i


@njit(cache=True, inline="always")
def parse_decimal(buf, i, j):
    """(ok, value) of the whole of buf[i:j] read by `scan_decimal`."""
    ok, v, end = scan_decimal(buf, i, j)
    return ok and end == j, v


@njit(cache=True, inline="always")
def scan_int(buf, i, n):
    """(ok, value, end): the integer `-?digits` at buf[i:] in JSON's form (no leading zero), up to the first
    byte that is not a digit (end); ok False near the int64 limit."""
    neg = i < n and buf[i] == 45
    if neg:
        i += 1
    if i >= n or buf[i] < 48 or buf[i] > 57 or (buf[i] == 48 and i + 1 < n and 48 <= buf[i + 1] <= 57):
        return False, 0, i
    m = 0
    while i < n:
        c = buf[i]
        if c < 48 or c > 57:
            break
        if m > INT_GUARD:
            return False, 0, i
        m = m * 10 + (c - 48)
        i += 1
    return True, -m if neg else m, i


@njit(cache=True, inline="always")
def parse_int(buf, i, j):
    """(ok, value) of buf[i:j] read as `-?digits` into an int64 (refused near the int64 limit; leading zeros
    are read, as a timestamp prefix may have them)."""
    if i >= j:
        return False, 0
    neg = buf[i] == 45
    if neg:
        i += 1
    if i >= j:
        return False, 0
    m = 0
    for k in range(i, j):
        c = buf[k]
        if c < 48 or c > 57 or m > INT_GUARD:
            return False, 0
        m = m * 10 + (c - 48)
    return True, -m if neg else m


def decimal_value(text: str) -> float | None:
    """`parse_decimal` on a Python string (tests, docs): the float, or None where the fast reader refuses."""
    buf = np.frombuffer(text.encode(), dtype=np.uint8)
    ok, value = parse_decimal(buf, 0, len(buf))
    return value if ok else None
