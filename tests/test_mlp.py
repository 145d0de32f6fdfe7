"""Host-in-the-loop MLP over tiles (emu/mlp.py): generic over devices, float32 baseline,
FeMFET carry == ideal counter, golden vs Amaranth-simulated tiles give identical runs."""

from __future__ import annotations

import numpy as np
import pytest

from synemu.runtime.datasets import Dataset, load_dataset
from synemu.runtime.mlp import MLPConfig, TileLayer, compare_devices, train_mlp
from synemu.spec.registry import make_device

SMALL = dict(hidden=(16,), epochs=3, batch=32)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0)


def test_config_errors():
    with pytest.raises(ValueError, match="hidden layer sizes"):
        MLPConfig(hidden=(0,))
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        MLPConfig(epochs=0)
    with pytest.raises(ValueError, match="lr and range_mult"):
        MLPConfig(lr=-1.0)
    with pytest.raises(ValueError, match="unknown device"):
        train_mlp("memristorx", "digits")


def test_float_and_ideal_learn_digits(digits):
    f = train_mlp("float32", digits, seed=0, show_progress=False, **SMALL)
    i = train_mlp("ideal", digits, preset="6bit", seed=0, show_progress=False, **SMALL)
    assert f["test_accuracy"] > 0.85 and i["test_accuracy"] > 0.8
    assert f["sizes"] == [64, 16, 10] and i["weight_bits"] == 6
    assert len(i["test_accuracy_per_epoch"]) == 3 and i["pulses"] > 0


def test_femfet_carry_trains_exactly_like_the_ideal_counter(digits):
    """Without noise/leak, T2 carry makes the training read-out an exact 6-bit saturating
    counter, so with the same seed the run is bit-identical to the ideal 6-bit device; only
    the M-only inference read-out differs."""
    i = train_mlp("ideal", digits, preset="6bit", seed=1, show_progress=False, **SMALL)
    f = train_mlp("femfet", digits, preset="6bit", seed=1, show_progress=False, **SMALL)
    assert f["test_accuracy_train_readout_per_epoch"] == i["test_accuracy_per_epoch"]
    assert f["pulses"] == i["pulses"]
    assert f["msb_writes_total"] > 0
    assert f["test_accuracy"] != f["test_accuracy_train_readout"]


def test_layer_initial_weights_generic_and_state_for_weight():
    rng = np.random.default_rng(0)
    w0 = rng.uniform(-0.3, 0.3, (5, 9))
    for dev in (make_device("ideal", preset="6bit"), make_device("femfet", preset="6bit")):
        layer = TileLayer(dev, 8, 5, w0, range_mult=2.0, lanes=2)
        expect = np.clip(np.rint(w0 / layer.scale), -32, 31)
        assert np.array_equal(layer.weights(train=True)[:, :9], expect)
        assert layer.cols == 10
        layer.close()


def _tiny_dataset():
    rng = np.random.default_rng(5)
    x = rng.random((40, 6))
    y = (x[:, 0] + x[:, 1] > 1).astype(np.int64)
    return Dataset("tiny", x[:30], y[:30], x[30:], y[30:], (6,), 2)


def test_golden_and_amaranth_tiles_give_identical_runs():
    ds = _tiny_dataset()
    dev = make_device("femfet", preset="6bit", guard_bits=1, transfer="periodic",
                      transfer_period=2, leak_shift=2, leak_period_log2=1, prog_error=0.2,
                      c2c_bits=1, frac_bits=1)
    kw = dict(hidden=(3,), epochs=1, batch=10, ticks_per_batch=3, lanes=2, seed=3,
              show_progress=False, lr=2.0)
    g = train_mlp(dev, ds, backend="golden", **kw)
    a = train_mlp(dev, ds, backend="amaranth", **kw)
    for k in ("test_accuracy_per_epoch", "test_accuracy_train_readout_per_epoch", "pulses",
              "msb_writes_total"):
        assert g[k] == a[k], k
    assert g["msb_writes_total"] > 0


def test_compare_table_shape(digits):
    res = compare_devices(digits.name, seeds=(0, 1), show_progress=False,
                          sets={"ideal-6bit": ("ideal", "6bit", {}),
                                "femfet-6bit": ("femfet", "6bit", {})},
                          hidden=(8,), epochs=1, batch=128, qat=True)
    assert set(res["table"]) == {"ideal-6bit", "femfet-6bit"}
    assert len(res["table"]["ideal-6bit"]["per_seed"]) == 2
    assert "6bit" in res["gaps"]
