"""Tile API: every backend gives identical results; persistence; input errors."""

import numpy as np
import pytest

from synemu.runtime.tile import Tile

KW = dict(rows=4, cols=16, lanes=4, t_pos=200, t_neg=-200, eta=4, rounding="stochastic")


def _exercise(tile, rng):
    X = rng.integers(0, 16, (12, 16))
    L = rng.integers(0, 4, 12)
    P = rng.integers(-3, 4, (4, 16))
    out = {"learn": tile.learn_batch(X, L), "single": tile.learn(X[0], 2)}
    out["y"] = tile.forward(X[1])
    out["pred"] = tile.predict(X[:4])
    tile.update_matrix(P)
    tile.update(1, 2, -5)
    tile.update_row(3, 4)
    tile.update_col(7, -2)
    tile.tick(9)
    tile.write(0, 0, {"w": -7})
    out["read"] = tile.read(0, 0)["w"]
    out["weights"] = tile.weights()
    out["words"] = tile.state_words()
    g = tile.globals()
    out["globals"] = [g["time"], g["samples"], *g["rng"]]
    return out


@pytest.fixture(scope="module")
def golden_run():
    with Tile("ideal", backend="golden", **KW) as t:
        return _exercise(t, np.random.default_rng(5))


@pytest.mark.parametrize("backend", ["amaranth", pytest.param("verilator", marks=pytest.mark.verilator)])
def test_backends_identical(backend, golden_run):
    with Tile("ideal", backend=backend, **KW) as t:
        got = _exercise(t, np.random.default_rng(5))
    for k, v in golden_run.items():
        np.testing.assert_array_equal(np.asarray(got[k]), np.asarray(v), err_msg=k)
    assert golden_run["read"] == -7


def test_save_load_roundtrip(tmp_path):
    rng = np.random.default_rng(3)
    with Tile("ideal", backend="golden", **KW) as a:
        a.learn_batch(rng.integers(0, 16, (20, 16)), rng.integers(0, 4, 20))
        a.save(tmp_path / "t.npz")
        X = rng.integers(0, 16, (5, 16))
        after_a = a.learn_batch(X, [0, 1, 2, 3, 0])
        words_a = a.state_words()
    with Tile("ideal", backend="golden", **KW) as b:
        b.load(tmp_path / "t.npz")
        after_b = b.learn_batch(X, [0, 1, 2, 3, 0])
        np.testing.assert_array_equal(b.state_words(), words_a)
    np.testing.assert_array_equal(after_a, after_b)
    with Tile("ideal", backend="golden", **{**KW, "rows": 5}) as c:
        with pytest.raises(ValueError, match="config differs"):
            c.load(tmp_path / "t.npz")


def test_tile_input_errors():
    with Tile("ideal", backend="golden", **KW) as t:
        with pytest.raises(ValueError, match=r"input vector has shape \(3,\)"):
            t.load_x([1, 2, 3])
        with pytest.raises(ValueError, match="input x 99 does not fit"):
            t.forward(np.full(16, 99))
        with pytest.raises(ValueError, match="pulse matrix has shape"):
            t.update_matrix(np.zeros((2, 2), int))
        with pytest.raises(ValueError, match="pulse 300 does not fit"):
            t.update_matrix(np.full((4, 16), 300))
        with pytest.raises(ValueError, match="negative"):
            t.tick(-1)
    with pytest.raises(ValueError, match="unknown backend 'fpga'"):
        Tile("ideal", backend="fpga", **KW)
    with pytest.raises(ValueError, match="unknown device 'memristor'"):
        Tile("memristor", **KW)
    with pytest.raises(ValueError, match="no preset 'huge'"):
        from synemu.spec.registry import make_device
        make_device("ideal", preset="huge")


def test_checkpoint_into_hardware_refused_unless_partial(tmp_path):
    """A hardware backend cannot set time/samples/LFSRs: loading a checkpoint that would
    resume differently is refused with the reason; partial=True restores words and inputs."""
    rng = np.random.default_rng(4)
    with Tile("ideal", backend="golden", **KW) as a:
        a.learn_batch(rng.integers(0, 16, (8, 16)), rng.integers(0, 4, 8))
        a.save(tmp_path / "t.npz")
        words = a.state_words()
    with Tile("ideal", backend="amaranth", **KW) as h:
        with pytest.raises(ValueError, match="cannot restore .*rng.*samples|cannot restore"):
            h.load(tmp_path / "t.npz")
        assert not h.state_words().any()          # refused before touching the tile
        h.load(tmp_path / "t.npz", partial=True)
        np.testing.assert_array_equal(h.state_words(), words)
    with Tile("ideal", backend="golden", **KW) as fresh:
        fresh.save(tmp_path / "fresh.npz")
    with Tile("ideal", backend="amaranth", **KW) as h:
        h.load(tmp_path / "fresh.npz")            # same globals as the hardware: fine


def test_checkpoint_validated_before_loading(tmp_path):
    import json
    with Tile("ideal", backend="golden", **KW) as a:
        a.save(tmp_path / "t.npz")
    good = dict(np.load(tmp_path / "t.npz"))
    (tmp_path / "corrupt.npz").write_bytes((tmp_path / "t.npz").read_bytes()[:200])
    bad_word = {**good, "words": good["words"].copy()}
    bad_word["words"][1, 2] = 1 << 20
    np.savez(tmp_path / "badword.npz", **bad_word)
    np.savez(tmp_path / "nokey.npz", **{k: v for k, v in good.items() if k != "x"})
    np.savez(tmp_path / "badglobals.npz", **{**good, "globals": json.dumps({"time": 0})})
    with Tile("ideal", backend="golden", **KW) as t:
        t.write(0, 0, {"w": 5})
        for name, msg in [("corrupt", "corrupt or unreadable checkpoint"),
                          ("badword", "does not fit"), ("nokey", "missing x"),
                          ("badglobals", "globals lack")]:
            with pytest.raises(ValueError, match=msg):
                t.load(tmp_path / f"{name}.npz")
            assert t.read(0, 0)["w"] == 5             # nothing half-loaded
