"""The go/no-go gates on hand-set values."""

from __future__ import annotations

import polars as pl

from dvol_pipeline.quant.micro.gates import gate_rows, gates_table

GOOD = dict(sharpe_1x=2.0, sharpe_2x=1.2, net_return_2x=0.1, sharpe_without_micro=1.4, btc_sharpe=2.5,
            regime_sharpes={"low": 0.8, "mid": 1.1, "high": 0.6}, shap_signs={"ofi_z": -0.2, "vpin": 0.1},
            expected_signs={"ofi_z": -1, "vpin": 1})


def _passed(t: pl.DataFrame) -> dict[str, bool]:
    return dict(zip(t["criterion"], t["passed"], strict=True))


def test_all_pass_is_go():
    t = gate_rows("micro_mr", "ETHUSDT", **GOOD)
    assert t.height == 8 and t["passed"].all()
    d = t.filter(pl.col("gate") == "decision").row(0, named=True)
    assert d["decision"] == "GO"
    # sharpe / BTC's = 2.0 / 2.5 = 0.8 >= 0.7; gain 2.0 - 1.4 = 0.6 >= 0.5; worst regime 0.6 > 0.5
    v = dict(zip(t["criterion"], t["value"], strict=True))
    assert abs(v["sharpe / BTC's sharpe"] - 0.8) < 1e-12 and abs(v["sharpe gain from micro features"] - 0.6) < 1e-12
    assert v["min sharpe over volatility regimes"] == 0.6


def test_each_criterion_fails_on_its_own():
    cases = {
        "sharpe gain from micro features": dict(sharpe_without_micro=1.6),  # 0.4 < 0.5
        "net return at 2x costs": dict(net_return_2x=-0.01),
        "SHAP signs as expected (share)": dict(shap_signs={"ofi_z": 0.2, "vpin": 0.1}),  # 1 of 2 agrees
        "sharpe at 1x costs": dict(sharpe_1x=1.5, sharpe_without_micro=0.9, btc_sharpe=2.0),  # not > 1.5
        "sharpe at 2x costs": dict(sharpe_2x=1.0),  # not > 1.0
        "sharpe / BTC's sharpe": dict(btc_sharpe=3.0),  # 0.667 < 0.7
        "min sharpe over volatility regimes": dict(regime_sharpes={"low": 0.8, "high": 0.5}),  # not > 0.5
    }
    for criterion, change in cases.items():
        t = gate_rows("micro_mr", "SOLUSDT", **{**GOOD, **change})
        failed = [c for c, p in _passed(t).items() if not p]
        assert failed == [criterion, "all criteria pass"], criterion
        assert t["decision"][-1] == "NO-GO"


def test_missing_inputs_fail_with_null_and_reason():
    t = gate_rows("stat_mr", "ETHUSDT", sharpe_1x=2.0)
    assert t["decision"][-1] == "NO-GO"
    missing = t.filter(pl.col("criterion") != "sharpe at 1x costs").filter(pl.col("gate") != "decision")
    assert missing["value"].null_count() == missing.height and not missing["passed"].any()
    assert missing["reason"].null_count() == 0
    # NaN is missing too; BTC's own cross-symbol ratio is 1
    t = gate_rows("stat_mr", "BTCUSDT", **{**GOOD, "sharpe_2x": float("nan")})
    assert _passed(t)["sharpe / BTC's sharpe"] and not _passed(t)["sharpe at 2x costs"]


def test_gates_table_from_metrics():
    rows = []
    for sym, s1, s2 in (("BTCUSDT", 2.0, 1.2), ("SOLUSDT", 1.2, 0.5)):
        for mult, s in ((1.0, s1), (2.0, s2)):
            rows.append(dict(strategy="micro_mr", symbol=sym, regime="all", cost_mult=mult, sharpe=s, net_return=0.1))
            rows.append(dict(strategy="micro_mr", symbol=sym, regime="low", cost_mult=mult, sharpe=s, net_return=0.1))
    m = pl.DataFrame(rows)
    base = m.with_columns(pl.col("sharpe") - 1.0)
    t = gates_table(m, base, shap_signs={("micro_mr", "BTCUSDT"): {"ofi_z": -1.0}}, expected_signs={"ofi_z": -1})
    dec = dict(zip(t.filter(pl.col("gate") == "decision")["symbol"], t.filter(pl.col("gate") == "decision")["decision"],
                   strict=True))
    assert dec == {"BTCUSDT": "GO", "SOLUSDT": "NO-GO"}
    sol = dict(zip(*t.filter(pl.col("symbol") == "SOLUSDT").select("criterion", "value"), strict=True))
    assert abs(sol["sharpe / BTC's sharpe"] - 0.6) < 1e-12  # 1.2 / 2.0
