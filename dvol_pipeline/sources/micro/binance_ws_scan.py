"""The fast path's tokenizer: one numba pass over a recording's bytes, no Python per line.

Each line `<digits> {"stream":"<name>","data":{...}}` whose stream kind is a depth diff, trade, aggTrade,
bookTicker or markPrice is read here: the timestamp, the stream kind (the name's part after the first
`@`, as `binance_ws_lines` reads it), and the data object's keys in any order, each value checked against
the type polars' struct decoder expects for it (`binance_ws_parse.DTYPES`). Numbers are read from the bytes
(`binance_ws_numbers`, exact); a depth diff's `b`/`a` levels go to their own arrays, bids first.

The tokenizer accepts only what it is sure of: compact JSON (no whitespace), strings without escapes,
control or non-ASCII bytes, numbers in JSON's grammar, every required key present once, no `null`, no
nested value under a key it does not know. Every other line gets status 0 and is read by the polars path,
so a line is never read differently from how `json_decode` reads it: only faster.

The per-line helpers are compiled without numba's reference counting (`_nrt=False`: they allocate
nothing); with it, every call increments and decrements each array argument, a fifth of the scan's time.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from dvol_pipeline.sources.micro.binance_ws_numbers import parse_decimal, parse_int, scan_decimal, scan_int

KIND_CODES = {"depth": 1, "trade": 2, "aggTrade": 3, "bookTicker": 4, "markPrice": 5}
DEPTH, TRADE, AGG, BOOK, MARK = 1, 2, 3, 4, 5
NEED_ROOM = -2
MAX_SYMBOLS = 64

# Value types of the walk; BOOL accepts either literal.
V_STR, V_NUM, V_ARR, BOOL = 1, 2, 6, 9


def _code(key: str) -> int:
    return sum(b << (8 * i) for i, b in enumerate(key.encode()))


K_E, K_T, K_s, K_U, K_u, K_pu, K_b, K_a = (_code(k) for k in ("E", "T", "s", "U", "u", "pu", "b", "a"))
K_t, K_p, K_q, K_m, K_X, K_M, K_B, K_A, K_i, K_r = (_code(k) for k in "tpqmXMBAir")
K_MARKET = _code("MARKET")

# Per kind, per slot: the expected value type (4 bits a slot, 0: no such slot) and the required slots (a bit
# each), packed into ints: numba compiles global ints as constants (a global array is read from memory).
# Slots 0, 1, 2 are E, T, s for every kind; the others follow `_slot`.
_LAYOUT = {
    DEPTH: ("N E", "N T?", "S s", "N U", "N u", "N pu?", "A b", "A a"),
    TRADE: ("N E?", "N T", "S s", "N t", "S p", "S q", "B m", "S X?", "B M?"),
    AGG: ("N E?", "N T", "S s", "N a", "S p", "S q", "B m", "B M?"),
    BOOK: ("N E?", "N T?", "S s", "N u", "S b", "S B", "S a", "S A"),
    MARK: ("N E", "N T", "S s", "S p", "S i", "S r"),
}
_TYPE = {"N": V_NUM, "S": V_STR, "B": BOOL, "A": V_ARR}
EXPECT = {k: sum(_TYPE[spec[0]] << (4 * n) for n, spec in enumerate(v)) for k, v in _LAYOUT.items()}
REQUIRED = {k: sum(1 << n for n, spec in enumerate(v) if not spec.endswith("?")) for k, v in _LAYOUT.items()}
X_DEPTH, X_TRADE, X_AGG, X_BOOK, X_MARK = (EXPECT[k] for k in (DEPTH, TRADE, AGG, BOOK, MARK))
R_DEPTH, R_TRADE, R_AGG, R_BOOK, R_MARK = (REQUIRED[k] for k in (DEPTH, TRADE, AGG, BOOK, MARK))


@njit(cache=True, _nrt=False)
def _expect(kind, slot):
    """The value type slot `slot` of `kind` wants (0: none)."""
    if kind == DEPTH:
        w = X_DEPTH
    elif kind == TRADE:
        w = X_TRADE
    elif kind == AGG:
        w = X_AGG
    elif kind == BOOK:
        w = X_BOOK
    else:
        w = X_MARK
    return (w >> (4 * slot)) & 15


@njit(cache=True, _nrt=False)
def _required(kind):
    if kind == DEPTH:
        return R_DEPTH
    if kind == TRADE:
        return R_TRADE
    if kind == AGG:
        return R_AGG
    if kind == BOOK:
        return R_BOOK
    return R_MARK


@njit(cache=True, _nrt=False)
def _slot(kind, code):
    if code == K_E:
        return 0
    if code == K_T:
        return 1
    if code == K_s:
        return 2
    if kind == DEPTH:
        if code == K_U:
            return 3
        if code == K_u:
            return 4
        if code == K_pu:
            return 5
        if code == K_b:
            return 6
        if code == K_a:
            return 7
    elif kind == TRADE or kind == AGG:
        if (kind == TRADE and code == K_t) or (kind == AGG and code == K_a):
            return 3
        if code == K_p:
            return 4
        if code == K_q:
            return 5
        if code == K_m:
            return 6
        if kind == TRADE and code == K_X:
            return 7
        if code == K_M:
            return 8 if kind == TRADE else 7
    elif kind == BOOK:
        if code == K_u:
            return 3
        if code == K_b:
            return 4
        if code == K_B:
            return 5
        if code == K_a:
            return 6
        if code == K_A:
            return 7
    elif kind == MARK:
        if code == K_p:
            return 3
        if code == K_i:
            return 4
        if code == K_r:
            return 5
    return -1


@njit(cache=True, _nrt=False)
def _code_of(buf, i, j):
    """A key of up to 7 bytes packed into an int (exact: key bytes are never 0); -1 for longer keys."""
    if j - i > 7:
        return -1
    c = 0
    for k in range(i, j):
        c |= np.int64(buf[k]) << (8 * (k - i))
    return c


@njit(cache=True, _nrt=False)
def _str_end(buf, p, n):
    """Index of the closing quote of a string starting after its opening quote at p; -1 for escapes,
    control or non-ASCII bytes (left to the JSON decoder) or a string cut by the line's end."""
    while p < n:
        c = buf[p]
        if c == 34:
            return p
        if c == 92 or c < 32 or c >= 128:
            return -1
        p += 1
    return -1


@njit(cache=True, _nrt=False)
def _digits(buf, p, n):
    while p < n and 48 <= buf[p] <= 57:
        p += 1
    return p


@njit(cache=True, _nrt=False)
def _num_end(buf, p, n):
    """End of a JSON number at p (RFC 8259 grammar: no leading zeros, no `+`, no bare `.`); -1 if none."""
    if p < n and buf[p] == 45:
        p += 1
    if p >= n:
        return -1
    if buf[p] == 48:
        p += 1
    elif 49 <= buf[p] <= 57:
        p = _digits(buf, p, n)
    else:
        return -1
    if p < n and buf[p] == 46:
        q = _digits(buf, p + 1, n)
        if q == p + 1:
            return -1
        p = q
    if p < n and (buf[p] == 101 or buf[p] == 69):
        p += 1
        if p < n and (buf[p] == 43 or buf[p] == 45):
            p += 1
        q = _digits(buf, p, n)
        if q == p:
            return -1
        p = q
    return p


@njit(cache=True, _nrt=False)
def _literal(buf, p, n, word):
    """p + len(word) when buf[p:] starts with `word` (true/false), else -1."""
    if p + len(word) > n:
        return -1
    for k in range(len(word)):
        if buf[p + k] != word[k]:
            return -1
    return p + len(word)


TRUE = np.frombuffer(b"true", dtype=np.uint8).copy()
FALSE = np.frombuffer(b"false", dtype=np.uint8).copy()
HEAD = np.frombuffer(b'{"stream":"', dtype=np.uint8).copy()
DATA = np.frombuffer(b'","data":', dtype=np.uint8).copy()


@njit(cache=True, _nrt=False)
def _levels(buf, p, n, line, is_ask, lv_line, lv_ask, lv_px, lv_qty, nlev):
    """Parse `[["price","qty"],...]` at p into the level arrays from nlev on.

    Returns (end, nlev): end -1 when the text is not that shape or a number is not exact, NEED_ROOM
    when the arrays are full (the caller grows them and reads the line again)."""
    if buf[p] != 91:
        return -1, nlev
    p += 1
    if p < n and buf[p] == 93:
        return p + 1, nlev
    cap = len(lv_px)
    while True:
        if nlev >= cap:
            return NEED_ROOM, nlev
        if p + 1 >= n or buf[p] != 91 or buf[p + 1] != 34:
            return -1, nlev
        s0 = p + 2
        e0 = _str_end(buf, s0, n)
        if e0 < 0 or e0 + 2 >= n or buf[e0 + 1] != 44 or buf[e0 + 2] != 34:
            return -1, nlev
        s1 = e0 + 3
        e1 = _str_end(buf, s1, n)
        if e1 < 0 or e1 + 1 >= n or buf[e1 + 1] != 93:
            return -1, nlev
        ok0, px = parse_decimal(buf, s0, e0)
        ok1, qty = parse_decimal(buf, s1, e1)
        if not (ok0 and ok1):
            return -1, nlev
        lv_line[nlev] = line
        lv_ask[nlev] = is_ask
        lv_px[nlev] = px
        lv_qty[nlev] = qty
        nlev += 1
        p = e1 + 2
        if p >= n:
            return -1, nlev
        if buf[p] == 93:
            return p + 1, nlev
        if buf[p] != 44:
            return -1, nlev
        p += 1


@njit(cache=True, _nrt=False)
def _parse_line(buf, p, n, line, out_i, out_f, out_bits, out_sym, syms, nsym,
                lv_line, lv_ask, lv_px, lv_qty, nlev):
    """Read one line's message from p (just after the timestamp's space); values are read as the keys are
    walked (one pass over the bytes), straight into the output rows.

    Returns (status, end, nlev, nsym): status the kind code (0: not read here, NEED_ROOM: grow the level
    arrays), end where the line's parse stopped (the newline when read)."""
    start = nlev
    if p + len(HEAD) > n:
        return 0, p, start, nsym
    for k in range(len(HEAD)):
        if buf[p + k] != HEAD[k]:
            return 0, p, start, nsym
    s0 = p + len(HEAD)
    s1 = _str_end(buf, s0, n)
    if s1 < 0 or s1 + len(DATA) > n:
        return 0, p, start, nsym
    for k in range(len(DATA)):
        if buf[s1 + k] != DATA[k]:
            return 0, p, start, nsym
    # The stream kind: between the name's first `@` and the next `@` (or the name's end).
    at = s0
    while at < s1 and buf[at] != 64:
        at += 1
    if at == s1:
        return 0, p, start, nsym
    k1 = at + 1
    while k1 < s1 and buf[k1] != 64:
        k1 += 1
    kind = _kind_of(buf, at + 1, k1)
    if kind == 0:
        return 0, p, start, nsym
    p = s1 + len(DATA)
    if p >= n or buf[p] != 123:
        return 0, p, start, nsym
    p += 1
    seen = 0
    bits = 0
    sym = -1
    asks = -1
    # The data object's keys, any order.
    while True:
        if p >= n or buf[p] != 34:
            return 0, p, start, nsym
        ke = _str_end(buf, p + 1, n)
        if ke < 0 or ke + 1 >= n or buf[ke + 1] != 58:
            return 0, p, start, nsym
        slot = _slot(kind, _code_of(buf, p + 1, ke))
        p = ke + 2
        if p >= n:
            return 0, p, start, nsym
        c = buf[p]
        if slot < 0:  # a key the rules do not read: its value is checked and skipped
            if c == 34:
                e = _str_end(buf, p + 1, n)
                e = e + 1 if e >= 0 else -1
            elif c == 45 or 48 <= c <= 57:
                e = _num_end(buf, p, n)
            elif c == 116:
                e = _literal(buf, p, n, TRUE)
            elif c == 102:
                e = _literal(buf, p, n, FALSE)
            else:
                return 0, p, start, nsym  # null, a nested value, or not JSON
            if e < 0:
                return 0, p, start, nsym
            p = e
        else:
            if (seen >> slot) & 1:
                return 0, p, start, nsym  # a duplicate key
            seen |= 1 << slot
            want = _expect(kind, slot)
            if want == V_NUM:
                ok, iv, e = scan_int(buf, p, n)
                if not ok or e >= n or not (buf[e] == 44 or buf[e] == 125):
                    return 0, p, start, nsym
                out_i[line, slot] = iv
                p = e
            elif want == V_STR:
                if c != 34:
                    return 0, p, start, nsym
                if slot == 2:  # the symbol
                    e = _str_end(buf, p + 1, n)
                    if e < 0:
                        return 0, p, start, nsym
                    sym, nsym = _symbol(buf, p + 1, e, syms, nsym)
                    if sym < 0:
                        return 0, p, start, nsym
                    p = e + 1
                elif kind == TRADE and slot == 7:  # X: MARKET or not, all the trade rule asks of it
                    e = _str_end(buf, p + 1, n)
                    if e < 0:
                        return 0, p, start, nsym
                    if _code_of(buf, p + 1, e) == K_MARKET:
                        bits |= 1 << (slot + 16)
                    p = e + 1
                else:  # a decimal in quotes
                    ok, fv, e = scan_decimal(buf, p + 1, n)
                    if not ok or e >= n or buf[e] != 34:
                        return 0, p, start, nsym
                    out_f[line, slot - 3] = fv
                    p = e + 1
            elif want == BOOL:
                if c == 116:
                    e = _literal(buf, p, n, TRUE)
                    bits |= 1 << (slot + 16)
                elif c == 102:
                    e = _literal(buf, p, n, FALSE)
                else:
                    return 0, p, start, nsym
                if e < 0:
                    return 0, p, start, nsym
                p = e
            else:  # depth levels, bids first: read now, but asks met before the bids (read after the walk)
                if c != 91:
                    return 0, p, start, nsym
                if slot == 6 or (seen >> 6) & 1:
                    e, nlev = _levels(buf, p, n, line, slot == 7, lv_line, lv_ask, lv_px, lv_qty, nlev)
                    if e < 0:
                        return (NEED_ROOM if e == NEED_ROOM else 0), p, start, nsym
                else:
                    asks = p
                    e = _skip_levels(buf, p, n)
                    if e < 0:
                        return 0, p, start, nsym
                p = e
        if p >= n:
            return 0, p, start, nsym
        if buf[p] == 44:
            p += 1
            continue
        if buf[p] == 125:
            p += 1
            break
        return 0, p, start, nsym
    # The envelope's closing brace, then the line's end.
    if p >= n or buf[p] != 125:
        return 0, p, start, nsym
    p += 1
    if p < n and buf[p] != 10:
        return 0, p, start, nsym
    if seen & _required(kind) != _required(kind):
        return 0, p, start, nsym
    if asks >= 0:
        e, nlev = _levels(buf, asks, n, line, True, lv_line, lv_ask, lv_px, lv_qty, nlev)
        if e < 0:
            return (NEED_ROOM if e == NEED_ROOM else 0), p, start, nsym
    out_sym[line] = sym
    out_bits[line] = bits | seen
    return kind, p, nlev, nsym


@njit(cache=True, _nrt=False)
def _skip_levels(buf, p, n):
    """End of an array of arrays of plain strings at p (the shape of depth levels), -1 otherwise."""
    depth = 0
    while p < n:
        c = buf[p]
        if c == 91:
            depth += 1
            if depth > 2:
                return -1
        elif c == 93:
            depth -= 1
            if depth == 0:
                return p + 1
        elif c == 34:
            e = _str_end(buf, p + 1, n)
            if e < 0:
                return -1
            p = e
        elif c != 44:
            return -1
        p += 1
    return -1


NAMES = [np.frombuffer(w, dtype=np.uint8).copy() for w in (b"depth", b"trade", b"aggTrade", b"bookTicker",
                                                             b"markPrice")]
W_DEPTH, W_TRADE, W_AGG, W_BOOK, W_MARK = NAMES


@njit(cache=True, _nrt=False)
def _kind_of(buf, i, j):
    """The stream kind code of the name part buf[i:j] (depth, trade, aggTrade, bookTicker, markPrice), else 0."""
    if _literal(buf, i, j, W_DEPTH) == j:
        return DEPTH
    if _literal(buf, i, j, W_TRADE) == j:
        return TRADE
    if _literal(buf, i, j, W_AGG) == j:
        return AGG
    if _literal(buf, i, j, W_BOOK) == j:
        return BOOK
    if _literal(buf, i, j, W_MARK) == j:
        return MARK
    return 0


@njit(cache=True, _nrt=False)
def _symbol(buf, i, j, syms, nsym):
    """The id of the symbol buf[i:j] in the file's table (rows: first byte offset, length, two packed words);
    -1 when it is empty, longer than 16 bytes or the table is full."""
    m = j - i
    if m == 0 or m > 16:
        return -1, nsym
    w0 = np.int64(0)
    w1 = np.int64(0)
    for k in range(m):
        if k < 8:
            w0 |= np.int64(buf[i + k]) << (8 * k)
        else:
            w1 |= np.int64(buf[i + k]) << (8 * (k - 8))
    for s in range(nsym):
        if syms[s, 1] == m and syms[s, 2] == w0 and syms[s, 3] == w1:
            return s, nsym
    if nsym >= syms.shape[0]:
        return -1, nsym
    syms[nsym, 0] = i
    syms[nsym, 1] = m
    syms[nsym, 2] = w0
    syms[nsym, 3] = w1
    return nsym, nsym + 1


@njit(cache=True)
def _grow(a, size):
    b = np.empty(size, dtype=a.dtype)
    b[: len(a)] = a
    return b


@njit(cache=True)
def scan(buf, n_lines):
    """Every line of `buf` (`n_lines` of them, cut at `\\n`).

    Returns per line: start, end (the newline's offset), the timestamp and whether it is plain digits
    followed by a space, the status (kind code, 0 for the polars path), int slots (E, T, ids), float slots
    (prices, sizes), presence bits (slot k) and booleans (bit 16 + k), the symbol id; the symbol table;
    and the depth levels (line, is_ask, price, qty)."""
    n = len(buf)
    starts = np.empty(n_lines, np.int64)
    ends = np.empty(n_lines, np.int64)
    ts = np.zeros(n_lines, np.int64)
    ts_ok = np.zeros(n_lines, np.bool_)
    status = np.zeros(n_lines, np.int8)
    out_i = np.zeros((n_lines, 6), np.int64)
    out_f = np.zeros((n_lines, 6), np.float64)
    out_bits = np.zeros(n_lines, np.int64)
    out_sym = np.zeros(n_lines, np.int16)
    syms = np.zeros((MAX_SYMBOLS, 4), np.int64)
    nsym = 0
    cap = max(1024, n // 256)
    lv_line = np.empty(cap, np.int64)
    lv_ask = np.empty(cap, np.bool_)
    lv_px = np.empty(cap, np.float64)
    lv_qty = np.empty(cap, np.float64)
    nlev = 0
    p = 0
    for line in range(n_lines):
        starts[line] = p
        q = p
        while q < n and 48 <= buf[q] <= 57 and q - p < 19:
            q += 1
        if q > p and q < n and buf[q] == 32:
            ok, v = parse_int(buf, p, q)
            if ok:
                ts[line] = v
                ts_ok[line] = True
                while True:
                    st, q2, nlev, nsym = _parse_line(buf, q + 1, n, line, out_i, out_f, out_bits, out_sym, syms,
                                                     nsym, lv_line, lv_ask, lv_px, lv_qty, nlev)
                    if st != NEED_ROOM:
                        break
                    cap = 2 * len(lv_px)
                    lv_line = _grow(lv_line, cap)
                    lv_ask = _grow(lv_ask, cap)
                    lv_px = _grow(lv_px, cap)
                    lv_qty = _grow(lv_qty, cap)
                status[line] = st
                q = q2
        while q < n and buf[q] != 10:
            q += 1
        ends[line] = q
        p = q + 1
    return (starts, ends, ts, ts_ok, status, out_i, out_f, out_bits, out_sym, syms[:nsym],
            lv_line[:nlev], lv_ask[:nlev], lv_px[:nlev], lv_qty[:nlev])


@njit(cache=True)
def gather_lines(buf, starts, ends, rows):
    """The bytes of lines `rows`, each followed by a newline (the text the polars path reads)."""
    total = 0
    for r in rows:
        total += ends[r] - starts[r] + 1
    out = np.empty(total, np.uint8)
    o = 0
    for r in rows:
        m = ends[r] - starts[r]
        out[o:o + m] = buf[starts[r]:ends[r]]
        out[o + m] = 10
        o += m + 1
    return out


@njit(cache=True)
def count_lines(buf):
    """Lines in `buf` as polars' CSV reader counts them: newlines, plus a last line without one."""
    c = 0
    for x in buf:
        if x == 10:
            c += 1
    return c + (1 if len(buf) and buf[len(buf) - 1] != 10 else 0)
