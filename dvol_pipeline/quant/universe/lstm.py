"""An LSTM over each coin's own recent days, pooled across coins (torch, CPU, seeded).

Input for row (D, coin): that coin's `SEQ_LEN` (30) most recent usable rows dated D or
earlier, `SEQ_FEATURES` standardised with the training rows' means and stds (missing -> 0,
the training mean); no other coin's rows. Target: the realised vol of the next h days,
standardised with the training mean/std (least squares on the level, so the forecast is a
mean, not a geometric mean). Early stopping on the training window's last 60 days, with a
purge of h days before them. The net, its training loop (Adam, clipping, early stopping
with patience `PATIENCE`, best epoch kept), seeding and thread settings are the DVOL lane's
(`quant/learn/lstm.py`: `lstm_net`, `train_net`, `torch_determinism`). A row with under SEQ_LEN days of its coin's history gets NaN
(the walk-forward fills such a row with the pooled HAR's forecast).
"""

from __future__ import annotations

import numpy as np
import polars as pl
from numpy.lib.stride_tricks import sliding_window_view

from dvol_pipeline.quant.learn.lstm import lstm_net, predict_net, torch_determinism, train_net

SEQ_LEN = 30
SEQ_FEATURES = ("ret", "abs_ret", "range", "close_open", "har_d", "har_w", "har_m", "mkt_ret", "mkt_vol_30",
                "corr_btc_30", "log_mcap", "vol_to_mcap")
MAX_SEQUENCES = 30_000
HIDDEN, LR, BATCH, MAX_EPOCHS, PATIENCE = 16, 3e-3, 256, 8, 1


class UniverseLSTM:
    def __init__(self, horizon: int, seed: int):
        self.horizon, self.seed = horizon, seed
        self.net = None
        self.epochs = 0

    def _windows(self, rows: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(windows (n, L, F), history length) for `rows` sorted by symbol, date."""
        x = rows.select(SEQ_FEATURES).to_numpy().astype(np.float64)
        x = np.nan_to_num((x - self.mean) / self.std, nan=0.0).astype(np.float32)
        sym = rows["symbol"].to_numpy()
        starts = np.flatnonzero(np.r_[True, sym[1:] != sym[:-1]])
        ends = np.r_[starts[1:], len(sym)]
        out, hist = [], []
        for a, b in zip(starts, ends):
            padded = np.vstack([np.zeros((SEQ_LEN - 1, x.shape[1]), np.float32), x[a:b]])
            out.append(sliding_window_view(padded, (SEQ_LEN, x.shape[1]))[:, 0])
            hist.append(np.arange(1, b - a + 1))
        return np.concatenate(out), np.concatenate(hist)

    def fit(self, rows: pl.DataFrame, train_mask: np.ndarray, target: str) -> "UniverseLSTM":
        """`rows`: every usable row (sorted by symbol, date); `train_mask`: the fold's labelled training rows."""
        train = rows.filter(pl.Series(train_mask))
        stats = train.select(SEQ_FEATURES)
        self.mean = stats.mean().to_numpy().ravel().astype(np.float64)
        self.std = np.where((s := stats.std().to_numpy().ravel().astype(np.float64)) > 0, s, 1.0)
        windows, hist = self._windows(rows)
        self._cached = (rows, windows, hist)  # the walk-forward predicts its next folds from the same rows
        y = rows[target].to_numpy().astype(np.float64)
        ok = train_mask & (hist >= SEQ_LEN) & np.isfinite(y)
        idx = np.flatnonzero(ok)
        dates = rows["date"].to_numpy()[idx]
        if idx.size > MAX_SEQUENCES:  # the newest sequences, as LightGBM's newest rows
            keep = np.argsort(dates, kind="stable")[-MAX_SEQUENCES:]
            idx, dates = idx[np.sort(keep)], dates[np.sort(keep)]
        last = dates.max()
        valid_start = last - np.timedelta64(59, "D")
        is_val = dates >= valid_start
        is_fit = dates < valid_start - np.timedelta64(self.horizon, "D")
        self.y_mean, self.y_std = float(y[idx[is_fit]].mean()), float(y[idx[is_fit]].std()) or 1.0
        z = ((y - self.y_mean) / self.y_std).astype(np.float32)
        with torch_determinism(self.seed, 1):
            net = lstm_net(len(SEQ_FEATURES), HIDDEN, 1)
            fit = train_net(net, (np.ascontiguousarray(windows[idx[is_fit]]), z[idx[is_fit]]),
                            (np.ascontiguousarray(windows[idx[is_val]]), z[idx[is_val]]), lr=LR, weight_decay=1e-4,
                            batch_size=BATCH, epochs=MAX_EPOCHS, patience=PATIENCE, seed=self.seed)
        self.epochs = fit["epochs_run"]
        self.net = net
        return self

    def predict(self, rows: pl.DataFrame, mask: np.ndarray) -> np.ndarray:
        """Forecasts for `rows[mask]`; the windows read every earlier row of the same coin in `rows`."""
        cached = getattr(self, "_cached", None)
        windows, hist = cached[1:] if cached is not None and cached[0] is rows else self._windows(rows)
        idx = np.flatnonzero(mask)
        with torch_determinism(self.seed, 1):
            out = predict_net(self.net, windows[idx], 4096)
        out = out * self.y_std + self.y_mean
        out[hist[idx] < SEQ_LEN] = np.nan
        return out
