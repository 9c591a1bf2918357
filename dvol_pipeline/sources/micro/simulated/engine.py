"""The order-book engine: one instrument-day of limit orders, cancels and market orders, in numba.

Model (a zero-intelligence book in the Santa Fe / Cont-Stoikov-Talreja family, made state
dependent by a latent fair price F, in ticks): with fair quote b0 = floor(F) (bid) and
b0 + 1 (ask),
- limit orders arrive on either side k ticks behind the fair quote, weight (k+1)^-add_decay
  (plus a share `deep_share` uniform over `levels`, the patient deep book); one priced
  through the opposite best executes (a marketable limit); an order aimed at a non-empty
  fair quote joins it with probability 1 / (1 + q / join_ref), else steps one tick behind
  (queue-reactive arrivals, Huang-Lehalle-Rosenbaum);
- cancels hit a level drawn with the flatter weight (k+1)^-cancel_decay behind the side's own
  best, taking a random fraction of it; a share `stale_cancel` of them first pulls a stale
  best quote (an ask at or below F's floor, a bid above it): market makers re-quoting after F
  moves;
- noise market orders of either sign; informed market orders whose rate grows with the
  lag |F - mid| (capped), in its direction; and external market orders (metaorder children,
  liquidations) with their own impact on this venue's F, decaying with `impact_halflife`.
Levels farther than `max_depth` ticks from the best are pulled. Sizes are integer lots.

Output, per Binance's depth protocol: events get update ids (spot: consecutive; futures:
gaps allowed); every `message_ms` window's changed levels form one diff message (U, u, pu);
a full snapshot is taken at every UTC hour (its id the last event before it, or the day's
first event at midnight); the venue's bookTicker row after each change of the best; one
trade row per price level a market order fills (aggTrade style).
"""

from __future__ import annotations

import numpy as np
from numba import njit

W = 1 << 15
"""Book window in ticks; recentred when the best drifts within W/8 of an edge."""
NS = 1_000_000_000


@njit(cache=True)
def _next_nonempty(arr, i, step, lo, hi):
    while lo <= i < hi and arr[i] == 0:
        i += step
    return i


@njit(cache=True)
def _next_time(t, rate_tot):
    """The next internal event after t (ns) under a rate constant within each second."""
    while True:
        s = t // NS
        if s >= 86_400:
            return np.int64(1) << 62
        lam = rate_tot[s]
        if lam > 0:
            tn = t + np.int64(np.random.exponential(1.0 / lam) * 1e9) + 1
            if tn < (s + 1) * NS:
                return tn
        t = (s + 1) * NS


@njit(cache=True)
def run_day(fair, rates, ext_t, ext_sign, ext_lots, ext_imp, ext_kind, p, seed, futures, id0, trade_id0, init_lots,
            cap_rows, cap_msgs, cap_tob, cap_trades, cap_snap):
    """Simulate one day. `fair`: F in ticks at the 86 401 second boundaries (pre-impact);
    `rates`: (86 400, 4) limit / cancel / noise-MO / informed rates per second;
    `ext_*`: external market orders sorted by time (ns of day), kind 1 = liquidation;
    `p`: float params (see simulate.py `_engine_params`). Returns arrays and their counts."""
    np.random.seed(seed)
    levels = int(p[0])
    max_depth = int(p[1])
    add_decay = p[2]
    cancel_frac = p[3]
    stale_cancel = p[4]
    informed_cap = p[5]
    mean_lots = p[6]
    msg_ns = np.int64(p[7])
    impact_decay_per_ns = np.log(2.0) / (p[8] * 1e9)
    mo_sd = p[9]
    mo_lots = p[10]
    # the add/cancel distance law, as a cumulative table
    cdf = np.empty(levels)
    acc = 0.0
    for k in range(levels):
        acc += (k + 1.0) ** (-add_decay)
        cdf[k] = acc
    for k in range(levels):
        cdf[k] /= acc
    ccdf = np.empty(levels)
    acc = 0.0
    for k in range(levels):
        acc += (k + 1.0) ** (-p[11])
        ccdf[k] = acc
    for k in range(levels):
        ccdf[k] /= acc

    bid = np.zeros(W, np.int64)
    ask = np.zeros(W, np.int64)
    mark = np.full(W * 2, -1, np.int64)  # message number that last touched (side*W + idx)
    origin = np.int64(fair[0]) - W // 2
    f0 = int(np.floor(fair[0])) - origin
    for k in range(init_lots.shape[1]):
        bid[f0 - k] = init_lots[0, k]
        ask[f0 + 1 + k] = init_lots[1, k]
    bb = f0
    ba = f0 + 1

    # outputs
    row_side = np.empty(cap_rows, np.int8)
    row_tick = np.empty(cap_rows, np.int64)
    row_lots = np.empty(cap_rows, np.int64)
    msg_t = np.empty(cap_msgs, np.int64)
    msg_U = np.empty(cap_msgs, np.int64)
    msg_u = np.empty(cap_msgs, np.int64)
    msg_end = np.empty(cap_msgs, np.int64)
    tob = np.empty((cap_tob, 6), np.int64)  # t, id, bid tick, bid lots, ask tick, ask lots
    trd = np.empty((cap_trades, 5), np.int64)  # t, tick, lots, sign, trade id
    snap_hdr = np.empty((25, 3), np.int64)  # t, last update id, end row
    snap_side = np.empty(cap_snap, np.int8)
    snap_tick = np.empty(cap_snap, np.int64)
    snap_lots = np.empty(cap_snap, np.int64)
    liq = np.empty((ext_t.shape[0], 4), np.float64)  # t, sign, avg tick, lots
    touched_side = np.empty(4096, np.int8)
    touched_idx = np.empty(4096, np.int64)
    n_rows = 0
    n_msgs = 0
    n_tob = 0
    n_trd = 0
    n_snap = 0
    n_snaprow = 0
    n_liq = 0
    n_touched = 0
    overflow = False

    uid = id0
    tid = trade_id0
    msg_no = 0
    win = np.int64(-1)
    msg_first = np.int64(-1)
    impact = 0.0
    last_imp_t = np.int64(0)
    last_b = np.int64(-1)
    last_bq = np.int64(-1)
    last_a = np.int64(-1)
    last_aq = np.int64(-1)
    next_hour = 0
    ext_i = 0
    n_ext = ext_t.shape[0]

    rate_tot = rates[:, 0] + rates[:, 1] + rates[:, 2] + rates[:, 3]
    t = np.int64(0)
    t_int = _next_time(np.int64(0), rate_tot)
    day_ns = np.int64(86_400) * NS
    bid_floor = bb - levels
    ask_ceil = ba + levels

    while True:
        is_ext = ext_i < n_ext and ext_t[ext_i] <= t_int
        t = ext_t[ext_i] if is_ext else t_int
        sec = min(t // NS, 86_399)
        lam_tot = rate_tot[sec]
        if t >= day_ns:
            break

        # ---- hourly snapshot of the book as it stands before this event
        hour_ns = np.int64(next_hour) * 3600 * NS
        if next_hour < 24 and t >= hour_ns and next_hour > 0:
            snap_hdr[n_snap, 0] = hour_ns
            snap_hdr[n_snap, 1] = uid
            for i in range(bb, max(bb - max_depth - 1, -1), -1):
                if bid[i] > 0 and n_snaprow < cap_snap:
                    snap_side[n_snaprow] = 0
                    snap_tick[n_snaprow] = i + origin
                    snap_lots[n_snaprow] = bid[i]
                    n_snaprow += 1
            for i in range(ba, min(ba + max_depth + 1, W)):
                if ask[i] > 0 and n_snaprow < cap_snap:
                    snap_side[n_snaprow] = 1
                    snap_tick[n_snaprow] = i + origin
                    snap_lots[n_snaprow] = ask[i]
                    n_snaprow += 1
            snap_hdr[n_snap, 2] = n_snaprow
            n_snap += 1
            next_hour += 1

        # ---- the diff message window
        w_now = t // msg_ns
        if w_now != win:
            if n_touched > 0:
                if n_msgs >= cap_msgs or n_rows + n_touched > cap_rows:
                    overflow = True
                    break
                msg_t[n_msgs] = min((win + 1) * msg_ns, day_ns - 1)
                msg_U[n_msgs] = msg_first
                msg_u[n_msgs] = uid
                for j in range(n_touched):
                    ii = touched_idx[j]
                    row_side[n_rows] = touched_side[j]
                    row_tick[n_rows] = ii + origin
                    row_lots[n_rows] = bid[ii] if touched_side[j] == 0 else ask[ii]
                    n_rows += 1
                msg_end[n_msgs] = n_rows
                n_msgs += 1
                n_touched = 0
                msg_no += 1
            win = w_now
            msg_first = -1

        # ---- fair price (this venue's: the base path plus decaying external impact)
        x = t / 1e9
        si = min(int(x), 86_399)
        fr = x - si
        impact *= np.exp(-impact_decay_per_ns * (t - last_imp_t))
        last_imp_t = t
        F = fair[si] * (1.0 - fr) + fair[si + 1] * fr + impact - origin
        fq = int(np.floor(F))
        mid2 = bb + ba  # twice the mid, in window ticks

        # ---- the event: (side 0 bid / 1 ask, kind)
        kind = -1  # 0 limit, 1 cancel, 2 market
        side = 0
        lots = np.int64(0)
        limit_px = -1
        if is_ext:
            kind = 2
            side = 0 if ext_sign[ext_i] > 0 else 1  # a buy takes asks: 'side' = taker's sign (0 buy)
            lots = ext_lots[ext_i]
            impact += ext_imp[ext_i]
        else:
            u = np.random.random() * lam_tot
            r_lim = rates[sec, 0]
            r_can = rates[sec, 1]
            r_mo = rates[sec, 2]
            if u < r_lim:
                kind = 0
                lag = F - mid2 / 2.0
                side = 0 if np.random.random() < 0.5 + 0.15 * np.tanh(lag) else 1
                if np.random.random() < p[14]:
                    kk = np.random.randint(0, levels)  # the deep book: patient, uniform over the levels
                else:
                    kk = np.searchsorted(cdf, np.random.random())
                lots = max(np.int64(1), np.int64(np.random.lognormal(np.log(mean_lots), p[12])))
                limit_px = fq - kk if side == 0 else fq + 1 + kk
                # queue-reactive joining (Huang-Lehalle-Rosenbaum): a long queue at the fair quote
                # deters joiners, who step one tick behind instead
                if kk == 0:
                    q_at = bid[limit_px] if side == 0 else ask[limit_px]
                    if q_at > 0 and np.random.random() * (1.0 + q_at / p[13]) > 1.0:
                        limit_px = limit_px - 1 if side == 0 else limit_px + 1
            elif u < r_lim + r_can:
                kind = 1
                if np.random.random() < stale_cancel and (ba <= fq or bb >= fq + 1):
                    if ba <= fq:
                        side = 1
                        limit_px = ba
                        lots = ask[ba]
                    else:
                        side = 0
                        limit_px = bb
                        lots = bid[bb]
                else:
                    side = 0 if np.random.random() < 0.5 else 1
                    kk = np.searchsorted(ccdf, np.random.random())
                    limit_px = bb - kk if side == 0 else ba + kk
                    have = bid[limit_px] if side == 0 else ask[limit_px]
                    if have == 0:
                        kind = -1
                    else:
                        lots = max(np.int64(1), np.int64(np.ceil(have * cancel_frac * 2.0 * np.random.random())))
                        lots = min(lots, have)
            elif u < r_lim + r_can + r_mo:
                kind = 2
                side = 0 if np.random.random() < 0.5 else 1
                lots = max(np.int64(1), np.int64(np.random.lognormal(np.log(mo_lots), mo_sd)))
            else:
                lag = F - mid2 / 2.0
                if np.random.random() * informed_cap < min(abs(lag), informed_cap) and abs(lag) > 0.5:
                    kind = 2
                    side = 0 if lag > 0 else 1
                    lots = max(np.int64(1), np.int64(np.random.lognormal(np.log(mo_lots), mo_sd)))

        if kind == -1:
            if is_ext:
                ext_i += 1
            else:
                t_int = _next_time(t, rate_tot)
            continue

        # ---- assign the update id
        uid += 1
        if futures and np.random.random() < 0.2:
            uid += 1
        if msg_first < 0:
            msg_first = uid

        # ---- apply
        taker = -1
        take_limit = -1
        if kind == 0:
            if side == 0 and limit_px >= ba:
                taker = 0
                take_limit = limit_px
            elif side == 1 and limit_px <= bb:
                taker = 1
                take_limit = limit_px
            else:
                if side == 0:
                    bid[limit_px] += lots
                    bid_floor = min(bid_floor, limit_px)
                    bb = max(bb, limit_px)
                else:
                    ask_ceil = max(ask_ceil, limit_px)
                    ask[limit_px] += lots
                    ba = min(ba, limit_px)
                key = side * W + limit_px
                if mark[key] != msg_no and n_touched < 4096:
                    mark[key] = msg_no
                    touched_side[n_touched] = side
                    touched_idx[n_touched] = limit_px
                    n_touched += 1
        elif kind == 1:
            if side == 0:
                bid[limit_px] -= lots
                if limit_px == bb and bid[bb] == 0:
                    nxt = _next_nonempty(bid, bb, -1, 0, W)
                    if nxt < 0:
                        bid[bb] = 1
                    else:
                        bb = nxt
            else:
                ask[limit_px] -= lots
                if limit_px == ba and ask[ba] == 0:
                    nxt = _next_nonempty(ask, ba, 1, 0, W)
                    if nxt >= W:
                        ask[ba] = 1
                    else:
                        ba = nxt
            key = side * W + limit_px
            if mark[key] != msg_no and n_touched < 4096:
                mark[key] = msg_no
                touched_side[n_touched] = side
                touched_idx[n_touched] = limit_px
                n_touched += 1
        else:
            taker = side
        if taker >= 0:
            left = lots
            notional = 0.0
            filled = np.int64(0)
            n_lv = 0
            while left > 0 and n_lv < 40:
                if taker == 0:
                    if ba >= W - 1 or (take_limit >= 0 and ba > take_limit):
                        break
                    # keep at least one lot on the far book: a side never empties
                    q = min(left, ask[ba])
                    ask[ba] -= q
                    px = ba
                    if ask[ba] == 0:
                        nxt = _next_nonempty(ask, ba + 1, 1, 0, W)
                        if nxt >= W - 1:
                            ask[ba] = 1
                            q -= 1
                        else:
                            ba = nxt
                    side_t = 1
                else:
                    if bb <= 0 or (take_limit >= 0 and bb < take_limit):
                        break
                    q = min(left, bid[bb])
                    bid[bb] -= q
                    px = bb
                    if bid[bb] == 0:
                        nxt = _next_nonempty(bid, bb - 1, -1, 0, W)
                        if nxt <= 0:
                            bid[bb] = 1
                            q -= 1
                        else:
                            bb = nxt
                    side_t = 0
                key = side_t * W + px
                if mark[key] != msg_no and n_touched < 4096:
                    mark[key] = msg_no
                    touched_side[n_touched] = side_t
                    touched_idx[n_touched] = px
                    n_touched += 1
                if q > 0:
                    if n_trd >= cap_trades:
                        overflow = True
                        break
                    tid += 1
                    trd[n_trd, 0] = t
                    trd[n_trd, 1] = px + origin
                    trd[n_trd, 2] = q
                    trd[n_trd, 3] = 1 if taker == 0 else -1
                    trd[n_trd, 4] = tid
                    n_trd += 1
                    notional += q * (px + origin)
                    filled += q
                left -= q
                n_lv += 1
                if q == 0:
                    break
            if overflow:
                break
            if kind == 0 and left > 0 and ((side == 0 and limit_px < ba) or (side == 1 and limit_px > bb)):
                # the marketable limit's remainder rests at its price (if it no longer crosses)
                if side == 0:
                    bid[limit_px] += left
                    bb = max(bb, limit_px)
                    bid_floor = min(bid_floor, limit_px)
                else:
                    ask[limit_px] += left
                    ba = min(ba, limit_px)
                    ask_ceil = max(ask_ceil, limit_px)
                key = side * W + limit_px
                if mark[key] != msg_no and n_touched < 4096:
                    mark[key] = msg_no
                    touched_side[n_touched] = side
                    touched_idx[n_touched] = limit_px
                    n_touched += 1
            if is_ext and ext_kind[ext_i] == 1 and filled > 0:
                liq[n_liq, 0] = t
                liq[n_liq, 1] = 1.0 if taker == 0 else -1.0
                liq[n_liq, 2] = notional / filled
                liq[n_liq, 3] = filled
                n_liq += 1

        # ---- pull levels beyond max_depth (every index between the old and the new limit)
        lo = bb - max_depth
        if lo > bid_floor:
            for i in range(max(bid_floor, 0), lo):
                if bid[i] > 0:
                    bid[i] = 0
                    if mark[i] != msg_no and n_touched < 4096:
                        mark[i] = msg_no
                        touched_side[n_touched] = 0
                        touched_idx[n_touched] = i
                        n_touched += 1
            bid_floor = lo
        hi = ba + max_depth
        if hi < ask_ceil:
            for i in range(hi + 1, min(ask_ceil + 1, W)):
                if ask[i] > 0:
                    ask[i] = 0
                    if mark[W + i] != msg_no and n_touched < 4096:
                        mark[W + i] = msg_no
                        touched_side[n_touched] = 1
                        touched_idx[n_touched] = i
                        n_touched += 1
            ask_ceil = hi

        # ---- the midnight snapshot: the book after the day's first event
        if next_hour == 0:
            snap_hdr[0, 0] = t
            snap_hdr[0, 1] = uid
            for i in range(bb, max(bb - max_depth - 1, -1), -1):
                if bid[i] > 0 and n_snaprow < cap_snap:
                    snap_side[n_snaprow] = 0
                    snap_tick[n_snaprow] = i + origin
                    snap_lots[n_snaprow] = bid[i]
                    n_snaprow += 1
            for i in range(ba, min(ba + max_depth + 1, W)):
                if ask[i] > 0 and n_snaprow < cap_snap:
                    snap_side[n_snaprow] = 1
                    snap_tick[n_snaprow] = i + origin
                    snap_lots[n_snaprow] = ask[i]
                    n_snaprow += 1
            snap_hdr[0, 2] = n_snaprow
            n_snap = 1
            next_hour = 1

        # ---- bookTicker
        if bb != last_b or ba != last_a or bid[bb] != last_bq or ask[ba] != last_aq:
            if n_tob >= cap_tob:
                overflow = True
                break
            last_b = bb
            last_a = ba
            last_bq = bid[bb]
            last_aq = ask[ba]
            tob[n_tob, 0] = t
            tob[n_tob, 1] = uid
            tob[n_tob, 2] = bb + origin
            tob[n_tob, 3] = last_bq
            tob[n_tob, 4] = ba + origin
            tob[n_tob, 5] = last_aq
            n_tob += 1

        # ---- recentre the window (flushing the open message first: its indices move)
        if bb < W // 8 or ba > W - W // 8:
            shift = (bb + ba) // 2 - W // 2
            if n_touched > 0:
                if n_msgs >= cap_msgs or n_rows + n_touched > cap_rows:
                    overflow = True
                    break
                msg_t[n_msgs] = t
                msg_U[n_msgs] = msg_first
                msg_u[n_msgs] = uid
                for j in range(n_touched):
                    ii = touched_idx[j]
                    row_side[n_rows] = touched_side[j]
                    row_tick[n_rows] = ii + origin
                    row_lots[n_rows] = bid[ii] if touched_side[j] == 0 else ask[ii]
                    n_rows += 1
                msg_end[n_msgs] = n_rows
                n_msgs += 1
                n_touched = 0
                msg_first = -1
            msg_no += 1
            nb = np.zeros(W, np.int64)
            na = np.zeros(W, np.int64)
            for i in range(W):
                j = i + shift
                if 0 <= j < W:
                    nb[i] = bid[j]
                    na[i] = ask[j]
            bid = nb
            ask = na
            bb -= shift
            ba -= shift
            bid_floor -= shift
            ask_ceil -= shift
            origin += shift

        if is_ext:
            ext_i += 1
        else:
            t_int = _next_time(t, rate_tot)

    # the last open message
    if n_touched > 0 and not overflow and n_msgs < cap_msgs and n_rows + n_touched <= cap_rows:
        msg_t[n_msgs] = min((win + 1) * msg_ns, day_ns - 1)
        msg_U[n_msgs] = msg_first
        msg_u[n_msgs] = uid
        for j in range(n_touched):
            ii = touched_idx[j]
            row_side[n_rows] = touched_side[j]
            row_tick[n_rows] = ii + origin
            row_lots[n_rows] = bid[ii] if touched_side[j] == 0 else ask[ii]
            n_rows += 1
        msg_end[n_msgs] = n_rows
        n_msgs += 1
    counts = np.array([n_rows, n_msgs, n_tob, n_trd, n_snap, n_snaprow, n_liq, 1 if overflow else 0], np.int64)
    return (counts, row_side, row_tick, row_lots, msg_t, msg_U, msg_u, msg_end, tob, trd, snap_hdr, snap_side,
            snap_tick, snap_lots, liq)
