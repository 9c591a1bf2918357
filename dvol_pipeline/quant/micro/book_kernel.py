"""The order-book replay loop (numba): one pass over a stream's delta rows, message by message.

Why a dense array: every price of the stream is known before the replay starts, so each level is
an integer index into two flat arrays (bids, asks) and an update is one store; the best bid/ask
move by short scans over empty indices. `book.py` maps prices to indices (integer ticks, or the
ranks of the distinct ticks when the tick range is too wide for a flat array) and turns the
outputs here into polars frames. Nothing here allocates per event.

Sync states: UNKNOWN (no book), PENDING (a snapshot is loaded, the first diff has not validated
it yet), SYNCED. Rules (`rule`): FLAG (Tardis / Crypto Lake is_snapshot runs), FUTURES (Binance
USD-M / COIN-M: `pu` chains the diffs), SPOT (Binance spot: `U` = previous `u` + 1).
"""

from __future__ import annotations

import numpy as np
from numba import njit

FLAG, FUTURES, SPOT = 0, 1, 2
UNKNOWN, PENDING, SYNCED = 0, 1, 2
NULL_ID = np.iinfo(np.int64).min
"""Update ids are int64 with this sentinel for null (numba has no nullable ints)."""

# log kinds
LOG_SNAPSHOT, LOG_SYNC, LOG_RESYNC, LOG_BREAK, LOG_CROSSED, LOG_SYNC_FAILED = 0, 1, 2, 3, 4, 5
LOG_KINDS = ("snapshot", "sync", "resync", "break", "crossed", "sync_failed")

# st (int64 state array) slots
_NB, _NA, _BB, _BA = 0, 1, 2, 3


@njit(cache=True)
def decimals_of(prices: np.ndarray) -> int:
    """Fewest decimals d (<= 12) such that every price x 10^d is an integer up to float noise."""
    d = 0
    for p in prices:
        while d < 12:
            x = p * 10.0 ** d
            if abs(x - np.round(x)) <= 1e-9 * max(abs(x), 1.0):
                break
            d += 1
    return d


@njit(cache=True)
def to_integers(prices: np.ndarray, d: int) -> np.ndarray:
    """round(price x 10^d) as int64 (one pass; numpy's round + astype makes two)."""
    out = np.empty(prices.size, np.int64)
    scale = 10.0 ** d
    for i in range(prices.size):
        out[i] = np.int64(np.floor(prices[i] * scale + 0.5))
    return out


@njit(cache=True)
def run_ids(ts: np.ndarray, gap: int) -> np.ndarray:
    """Session number of each row: a new one after every silence longer than `gap` ns."""
    out = np.empty(ts.size, np.int64)
    s = 0
    for i in range(ts.size):
        if i > 0 and ts[i] - ts[i - 1] > gap:
            s += 1
        out[i] = s
    return out


@njit(cache=True)
def message_starts(key: np.ndarray, snap: np.ndarray) -> np.ndarray:
    """First row of every message (a change of `key` or of the snapshot flag), plus the end."""
    n = key.size
    out = np.empty(n + 1, np.int64)
    k = 0
    for i in range(n):
        if i == 0 or key[i] != key[i - 1] or snap[i] != snap[i - 1]:
            out[k] = i
            k += 1
    out[k] = n
    return out[:k + 1].copy()


@njit(cache=True)
def gcd_of_offsets(q: np.ndarray) -> int:
    """gcd of |q_i - q_0| (0 when all equal): the tick in integer price units."""
    g = 0
    q0 = q[0]
    for x in q:
        v = abs(x - q0)
        if v == 0 or (g != 0 and v % g == 0):
            continue
        a, b = g, v
        while b:
            a, b = b, a % b
        g = a
    return g


@njit(cache=True)
def _clear(bid: np.ndarray, ask: np.ndarray, st: np.ndarray) -> None:
    """Empty the book, walking only the occupied span (a flat fill would cost the whole range)."""
    j = st[_BB]
    while st[_NB] > 0 and j >= 0:
        if bid[j] > 0:
            bid[j] = 0.0
            st[_NB] -= 1
        j -= 1
    j = st[_BA]
    while st[_NA] > 0 and j < ask.size:
        if ask[j] > 0:
            ask[j] = 0.0
            st[_NA] -= 1
        j += 1
    st[_NB] = 0
    st[_NA] = 0
    st[_BB] = -1
    st[_BA] = ask.size


@njit(cache=True)
def _apply(a: int, b: int, is_bid: np.ndarray, idx: np.ndarray, size: np.ndarray,
           bid: np.ndarray, ask: np.ndarray, st: np.ndarray) -> None:
    """Apply rows [a, b): set each level's size (0 deletes) and keep the best indices."""
    for r in range(a, b):
        i = idx[r]
        s = size[r]
        if is_bid[r]:
            old = bid[i]
            if s > 0:
                if old == 0:
                    st[_NB] += 1
                bid[i] = s
                st[_BB] = max(st[_BB], i)
            elif old > 0:
                bid[i] = 0.0
                st[_NB] -= 1
                if i == st[_BB]:
                    if st[_NB] == 0:
                        st[_BB] = -1
                    else:
                        j = i - 1
                        while bid[j] == 0:
                            j -= 1
                        st[_BB] = j
        else:
            old = ask[i]
            if s > 0:
                if old == 0:
                    st[_NA] += 1
                ask[i] = s
                st[_BA] = min(st[_BA], i)
            elif old > 0:
                ask[i] = 0.0
                st[_NA] -= 1
                if i == st[_BA]:
                    if st[_NA] == 0:
                        st[_BA] = ask.size
                    else:
                        j = i + 1
                        while ask[j] == 0:
                            j += 1
                        st[_BA] = j


@njit(cache=True)
def _first_ok(rule: int, first: int, last: int, snap_id: int) -> int:
    """Binance's first-applied rule: -1 drop the diff, 1 apply it (the sync point), 0 it fails."""
    if rule == FUTURES:
        if last < snap_id:
            return -1
        return 1 if first <= snap_id else 0
    if last <= snap_id:
        return -1
    return 1 if first <= snap_id + 1 else 0


@njit(cache=True)
def _continues(rule: int, first: int, prev: int, last_u: int) -> bool:
    if rule == FUTURES:
        return prev == last_u
    return first == last_u + 1


@njit(cache=True)
def _snap_row(T: int, bid: np.ndarray, ask: np.ndarray, st: np.ndarray, price: np.ndarray, levels: int,
              out: np.ndarray, k: int) -> None:
    """Top `levels` a side into out[k]: bid p1, s1, ..., ask p1, s1, ... (NaN where fewer levels)."""
    j = st[_BB]
    n = 0
    while n < levels and j >= 0:
        if bid[j] > 0:
            out[k, 2 * n] = price[j]
            out[k, 2 * n + 1] = bid[j]
            n += 1
        j -= 1
    j = st[_BA]
    n = 0
    base = 2 * levels
    while n < levels and j < ask.size:
        if ask[j] > 0:
            out[k, base + 2 * n] = price[j]
            out[k, base + 2 * n + 1] = ask[j]
            n += 1
        j += 1


@njit(cache=True)
def replay(ts, tsx, is_bid, idx, size, uid, fid, pid, msg_start, msg_snap, msg_session, rule, price, levels,
           step, n_bound, gap, end):
    """Replay the stream's messages (msg_start: first row of each message, plus the end) in arrival order.

    `gap`: a silence longer than this ends a session; the book stays known `gap` after its last row (what a
    live reader at that instant believes), then is unknown. `end`: the stream's data is complete up to
    this instant (the last row's time when nothing more is known).

    Returns (tops, top_ts, top_tsx, top_uid, top_seg, n_top, snap_ts, snaps, n_snap, log_ts, log_kind,
    log_session, n_log, kn_start, kn_end, kn_session, n_known). A known interval is (start, end]: the
    book is known at a second boundary T when start < T <= end (the state at T applies every message
    with ts_local < T).
    """
    n_msg = msg_start.size - 1
    m_rows = price.size
    bid = np.zeros(m_rows)
    ask = np.zeros(m_rows)
    st = np.zeros(4, np.int64)
    st[_BB] = -1
    st[_BA] = m_rows
    tops = np.empty((n_msg + 1, 4))
    top_ts = np.empty(n_msg + 1, np.int64)
    top_tsx = np.empty(n_msg + 1, np.int64)
    top_uid = np.empty(n_msg + 1, np.int64)
    top_seg = np.empty(n_msg + 1, np.int64)
    snaps = np.full((n_bound, 4 * levels), np.nan)
    snap_ts = np.empty(n_bound, np.int64)
    cap = 2 * n_msg + 8
    log_ts = np.empty(cap, np.int64)
    log_kind = np.empty(cap, np.int8)
    log_session = np.empty(cap, np.int64)
    kn_start = np.empty(n_msg + 1, np.int64)
    kn_end = np.empty(n_msg + 1, np.int64)
    kn_session = np.empty(n_msg + 1, np.int64)
    n_top = 0
    n_snap = 0
    n_log = 0
    n_known = 0
    state = UNKNOWN
    ever_synced_in_session = False
    had_break = False
    snap_id = 0
    last_u = 0
    buf = -1
    in_run = False  # FLAG rule: inside a run of snapshot rows
    crossed = False
    last_bp, last_bs, last_ap, last_as = np.nan, np.nan, np.nan, np.nan
    session = msg_session[0] if n_msg > 0 else 0
    next_T = (ts[0] // step + 1) * step if n_msg > 0 else 0
    prev_t = ts[0] if n_msg > 0 else 0
    for m in range(n_msg):
        a = msg_start[m]
        b = msg_start[m + 1]
        t = ts[a]
        force = False
        if m > 0 and msg_session[m] != session:
            lim = prev_t + gap  # a silence reads as a quiet market for `gap`, then the book is unknown
            while next_T <= lim:  # the previous session's last seconds
                if state == SYNCED and not crossed and st[_NB] > 0 and st[_NA] > 0:
                    snap_ts[n_snap] = next_T
                    _snap_row(next_T, bid, ask, st, price, levels, snaps, n_snap)
                    n_snap += 1
                next_T += step
            if state == SYNCED:
                kn_end[n_known - 1] = lim
            state = UNKNOWN
            in_run = False
            buf = -1
            session = msg_session[m]
            ever_synced_in_session = False
            had_break = False
            next_T = (t // step + 1) * step
        while next_T <= t:
            if state == SYNCED and not crossed and st[_NB] > 0 and st[_NA] > 0:
                snap_ts[n_snap] = next_T
                _snap_row(next_T, bid, ask, st, price, levels, snaps, n_snap)
                n_snap += 1
            next_T += step
        prev_t = ts[b - 1]
        was = state
        if rule == FLAG:
            if msg_snap[m]:
                if not in_run:
                    log_ts[n_log] = t
                    log_kind[n_log] = LOG_SNAPSHOT
                    log_session[n_log] = session
                    n_log += 1
                    _clear(bid, ask, st)
                    in_run = True
                _apply(a, b, is_bid, idx, size, bid, ask, st)
                state = SYNCED
                force = True
            else:
                in_run = False
                if state == SYNCED:
                    _apply(a, b, is_bid, idx, size, bid, ask, st)
        elif msg_snap[m]:
            log_ts[n_log] = t
            log_kind[n_log] = LOG_SNAPSHOT
            log_session[n_log] = session
            n_log += 1
            if state != SYNCED:  # a snapshot while synced is older than the diffs applied: ignored
                _clear(bid, ask, st)
                _apply(a, b, is_bid, idx, size, bid, ask, st)
                snap_id = uid[a]
                state = PENDING
                if buf >= 0:  # the diffs buffered before the snapshot arrived (Binance: "buffer the events")
                    first_kept = -1
                    for mm in range(buf, m):
                        if msg_snap[mm]:
                            continue
                        r = msg_start[mm]
                        if state == PENDING:
                            ok = _first_ok(rule, fid[r], uid[r], snap_id)
                            if ok < 0:
                                continue
                            if first_kept < 0:
                                first_kept = mm
                            if ok == 0:
                                state = UNKNOWN
                                break
                            _apply(r, msg_start[mm + 1], is_bid, idx, size, bid, ask, st)
                            last_u = uid[r]
                            state = SYNCED
                        elif _continues(rule, fid[r], pid[r], last_u):
                            _apply(r, msg_start[mm + 1], is_bid, idx, size, bid, ask, st)
                            last_u = uid[r]
                        else:
                            state = UNKNOWN
                            break
                    if first_kept >= 0:
                        buf = first_kept
                    if state == UNKNOWN:
                        log_ts[n_log] = t
                        log_kind[n_log] = LOG_SYNC_FAILED
                        log_session[n_log] = session
                        n_log += 1
                if state == SYNCED:
                    force = True
        else:
            r = a
            if state == UNKNOWN:
                if buf < 0:
                    buf = m
            elif state == PENDING:
                ok = _first_ok(rule, fid[r], uid[r], snap_id)
                if ok > 0:
                    _apply(a, b, is_bid, idx, size, bid, ask, st)
                    last_u = uid[r]
                    state = SYNCED
                    force = True
                elif ok == 0:
                    state = UNKNOWN
                    buf = m
                    log_ts[n_log] = t
                    log_kind[n_log] = LOG_SYNC_FAILED
                    log_session[n_log] = session
                    n_log += 1
            elif _continues(rule, fid[r], pid[r], last_u):
                _apply(a, b, is_bid, idx, size, bid, ask, st)
                last_u = uid[r]
            else:
                state = UNKNOWN
                buf = m
                had_break = True
                log_ts[n_log] = t
                log_kind[n_log] = LOG_BREAK
                log_session[n_log] = session
                n_log += 1
                kn_end[n_known - 1] = t
        if state == SYNCED and was != SYNCED:
            log_ts[n_log] = t
            log_kind[n_log] = LOG_RESYNC if (had_break or ever_synced_in_session) else LOG_SYNC
            log_session[n_log] = session
            n_log += 1
            ever_synced_in_session = True
            kn_start[n_known] = t
            kn_end[n_known] = t
            kn_session[n_known] = session
            n_known += 1
        if state == SYNCED:
            crossed = st[_NB] > 0 and st[_NA] > 0 and st[_BB] >= st[_BA]
            if crossed:
                log_ts[n_log] = t
                log_kind[n_log] = LOG_CROSSED
                log_session[n_log] = session
                n_log += 1
            elif st[_NB] > 0 and st[_NA] > 0:
                bp = price[st[_BB]]
                bs = bid[st[_BB]]
                ap = price[st[_BA]]
                az = ask[st[_BA]]
                if force or bp != last_bp or bs != last_bs or ap != last_ap or az != last_as:
                    tops[n_top, 0] = bp
                    tops[n_top, 1] = bs
                    tops[n_top, 2] = ap
                    tops[n_top, 3] = az
                    top_ts[n_top] = t
                    top_tsx[n_top] = tsx[b - 1]
                    top_uid[n_top] = NULL_ID if rule == FLAG else last_u
                    top_seg[n_top] = n_known - 1
                    n_top += 1
                    last_bp, last_bs, last_ap, last_as = bp, bs, ap, az
            kn_end[n_known - 1] = prev_t
    if n_msg > 0:
        lim = min(max(end, prev_t), prev_t + gap)
        while next_T <= lim:
            if state == SYNCED and not crossed and st[_NB] > 0 and st[_NA] > 0:
                snap_ts[n_snap] = next_T
                _snap_row(next_T, bid, ask, st, price, levels, snaps, n_snap)
                n_snap += 1
            next_T += step
        if state == SYNCED:
            kn_end[n_known - 1] = lim
    return (tops, top_ts, top_tsx, top_uid, top_seg, n_top, snap_ts, snaps, n_snap, log_ts, log_kind,
            log_session, n_log, kn_start, kn_end, kn_session, n_known)
