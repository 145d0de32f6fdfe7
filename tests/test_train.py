"""On-chip delta-rule learning with the ideal synapse."""

import numpy as np
import pytest

from synemu.runtime.datasets import load_dataset
from synemu.runtime.train import Recipe, prepare_inputs, train_onchip


def test_ideal_8bit_learns_digits_to_90_percent():
    res = train_onchip("ideal", "digits", backend="golden", seed=0, show_progress=False)
    assert res["engine"]["device"]["weight_bits"] == 8
    assert res["test_accuracy"] >= 0.90, res["test_accuracy_per_epoch"]
    # learning, not luck: the first epoch is already far above chance and training helps
    assert res["test_accuracy_per_epoch"][0] > 0.5


def test_training_is_deterministic_and_seed_dependent():
    a = train_onchip("ideal", "digits", seed=3, epochs=2, show_progress=False)
    b = train_onchip("ideal", "digits", seed=3, epochs=2, show_progress=False)
    c = train_onchip("ideal", "digits", seed=4, epochs=2, show_progress=False)
    assert a["weights_sha"] == b["weights_sha"] and a["predictions"] == b["predictions"]
    assert a["weights_sha"] != c["weights_sha"]


@pytest.mark.verilator
def test_golden_and_verilator_training_identical():
    ds = load_dataset("digits")
    small = type(ds)(name="digits", x_train=ds.x_train[:300], y_train=ds.y_train[:300],
                     x_test=ds.x_test[:100], y_test=ds.y_test[:100],
                     image_shape=ds.image_shape, n_classes=ds.n_classes)
    recipe = Recipe(epochs=2, rounding="stochastic")   # exercises the rounding LFSRs too
    g = train_onchip("ideal", small, backend="golden", seed=1, recipe=recipe, show_progress=False)
    v = train_onchip("ideal", small, backend="verilator", seed=1, recipe=recipe, show_progress=False)
    assert g["weights_sha"] == v["weights_sha"]
    assert g["predictions"] == v["predictions"]
    assert g["train_accuracy_per_epoch"] == v["train_accuracy_per_epoch"]


def test_prepare_inputs_bias_and_padding():
    x = np.array([[0.0, 0.5, 1.0]])
    codes = prepare_inputs(x, Recipe(x_bits=4, lanes=4))
    np.testing.assert_array_equal(codes, [[0, 4, 7, 7]])   # 3 pixels + bias, 4 lanes
    assert prepare_inputs(x, Recipe(x_bits=4, lanes=8)).shape == (1, 8)


def test_ctrl_c_keeps_finished_epochs(monkeypatch):
    """Ctrl-C during training: the finished epochs come back (interrupted=True), so the CLI
    can save them; before the first epoch finishes it propagates."""
    from synemu.runtime import train as T
    from synemu.runtime.tile import Tile
    calls = {"n": 0}
    real = Tile.predict

    def predict(self, x):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, x)

    monkeypatch.setattr(Tile, "predict", predict)
    res = T.train_onchip("ideal", "digits", epochs=5, show_progress=False)
    assert res["interrupted"] and res["epochs"] == 2 and len(res["test_accuracy_per_epoch"]) == 2
    calls["n"] = 2
    import pytest
    with pytest.raises(KeyboardInterrupt):
        T.train_onchip("ideal", "digits", epochs=5, show_progress=False)
