"""``synemu demo``: every device on golden and Verilator, bit-identical; options validated."""

import json

import pytest

from synemu.cli.main import main
from synemu.demo import LEGS, DemoSettings


@pytest.mark.parametrize("argv, option", [
    (["--epochs", "0"], "--epochs"), (["--epochs", "-3"], "--epochs"),
    (["--seed", "-1"], "--seed"), (["--neurons", "0"], "--neurons"),
    (["--snn-epochs", "0"], "--snn-epochs"), (["--sample-s", "-1"], "--sample-s"),
])
def test_bad_options_are_named(argv, option, capsys, tmp_path):
    assert main(["demo", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert (f"synemu demo: error: {option} must" in err
            or f"synemu demo: error: argument {option}: must" in err)
    assert not list(tmp_path.iterdir())          # nothing ran


def test_settings():
    st = DemoSettings(quick=True)
    assert st.epochs == 2 and st.n_train == 300 and st.neurons == 50
    assert DemoSettings(quick=True, epochs=3).epochs == 3
    full = DemoSettings()
    assert full.epochs is None and full.n_train is None and full.points == 60
    with pytest.raises(ValueError, match="--points"):
        DemoSettings(points=2)


@pytest.mark.verilator
def test_quick_demo_is_bit_identical(capsys, tmp_path):
    """The reduced demo (same Verilator models as the full one): every leg identical on
    golden and Verilator, table printed, figure and JSON written, JSON printed last."""
    rc = main(["demo", "--quick", "--out", str(tmp_path), "--json"])
    out = capsys.readouterr()
    res = json.loads(out.out.strip().splitlines()[-1])
    assert rc == 0 and res["identical"] is True, res
    assert set(res["devices"]) == set(LEGS)
    for leg, d in res["devices"].items():
        assert d["identical"] and d["differences"] == [], leg
        assert d["golden_seconds"] >= 0 and d["verilator_seconds"] >= 0
        if leg != "fn-trajectory":
            assert d["test_accuracy"] == d["verilator_test_accuracy"] > 0.2, leg
            assert d["golden"] == {**d["verilator"], "seconds": d["golden"]["seconds"]}, leg
    assert res["devices"]["mtj"]["n_neurons"] == 50
    assert res["devices"]["fn"]["emulated_s"] == pytest.approx(2 * 300 * 10.0)
    assert res["devices"]["fn-trajectory"]["max_abs_error_lsb"] < 1
    assert res["dataset"] == {"name": "digits", "n_train": 300, "n_test": 120}
    png, js = tmp_path / "demo.png", tmp_path / "demo.json"
    assert res["plot"] == str(png) and png.stat().st_size > 10_000
    assert json.loads(js.read_text())["identical"] is True
    table = out.out
    for label in ("ideal 6-bit", "FeMFET 6-bit", "FN-DAM", "STT-MTJ", "FN trajectory"):
        assert label in table
    assert "bit-identical everywhere" in table and ": YES" in table
    assert "verilator mtj" in out.err            # progress lines on stderr


def test_exit_code_and_table_when_a_leg_differs(monkeypatch, capsys, tmp_path):
    """cmd_demo is printing only: a leg that is not identical gives exit 1 and is named."""
    import synemu.demo as demo

    def fake(st, out):
        devices = {}
        for leg, label in LEGS.items():
            d = {"label": label, "identical": leg != "fn", "differences": [] if leg != "fn"
                 else ["weights_sha"], "golden_seconds": 1.0, "verilator_seconds": 2.0}
            if leg == "fn-trajectory":
                d["max_abs_error_lsb"] = 0.5
            else:
                d["test_accuracy"] = 0.5
            devices[leg] = {**d, "n_neurons": 50, "preset": "board"}
        return {"command": "demo", "identical": False, "devices": devices, "seconds": 3.0,
                "plot": str(tmp_path / "demo.png"), "json": str(tmp_path / "demo.json"),
                "dataset": {"name": "digits", "n_train": 1, "n_test": 1}}

    monkeypatch.setattr(demo, "run_demo", fake)
    assert main(["demo", "--json", "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "NO: fn (weights_sha)" in out
    assert json.loads(out.strip().splitlines()[-1])["identical"] is False
    row = next(line for line in out.splitlines() if "FN-DAM" in line)
    assert row.split()[-1] == "NO"


def test_fn_leg_is_lane_independent():
    """The FN leg runs on FN_LANES lane(s): FN learning is deterministic, so every accuracy
    and prediction equals the 4-lane engine's (the recipe's)."""
    from synemu.demo import FN_LANES, _dataset, _fn_config, _fn_recipe, train_fn_onchip
    from synemu.spec.engine import EngineConfig
    st = DemoSettings(quick=True)
    ds = _dataset(st)
    r = _fn_recipe(st)
    c = _fn_config(st, ds)
    assert c.lanes == FN_LANES == r.lanes
    c4 = EngineConfig(device=c.device, rows=c.rows, cols=68, lanes=4, seed=c.seed,
                      **r.engine_kwargs())
    a = train_fn_onchip(c, ds, r, seed=st.seed)
    b = train_fn_onchip(c4, ds, r, seed=st.seed)
    for k in ("train_accuracy_per_epoch", "test_accuracy_per_epoch", "predictions", "time_counter"):
        assert a[k] == b[k], k
    assert a["emulated_s"] == b["emulated_s"] == 2 * 300 * 10.0
    with pytest.raises(ValueError, match="backend"):
        train_fn_onchip(c, ds, r, backend="amaranth")
