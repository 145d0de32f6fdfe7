"""The plugin API: the built-in devices come through the ``synemu.devices`` entry points, and
the third-party example package (examples/synemu-nonlinear), pip-installed into a scratch
directory, works in ``devices``, ``verify``, ``train``, ``run`` and the Tile API with no edit
to synemu."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from synemu import plugin

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "synemu-nonlinear"


def test_builtin_devices_are_entry_point_plugins():
    from importlib import metadata
    eps = {ep.name: ep.value for ep in metadata.entry_points(group=plugin.ENTRY_POINT_GROUP)}
    plugs = plugin.plugins()
    for name in ("ideal", "probe", "fn", "femfet", "mtj"):
        assert eps[name] == f"synemu.devices.{name}:plugin"
        p = plugs[name]
        assert p.device.name == name and p.origin.startswith("synemu ")
        assert p.load_rule().__name__.endswith("Rule")
    assert plugin.make_device("ideal", preset="6bit").weight_bits == 6
    assert plugin.plugin_of(plugin.make_device("fn")).name == "fn"


def test_plugin_validation():
    from synemu.devices.ideal.golden import IdealDevice
    with pytest.raises(ValueError, match="named 'ideal'"):
        plugin.DevicePlugin(name="other", device=IdealDevice, rule="m:C")
    with pytest.raises(TypeError, match="Device subclass"):
        plugin.DevicePlugin(name="x", device=dict, rule="m:C")
    with pytest.raises(ValueError, match="module:Class"):
        plugin.DevicePlugin(name="ideal", device=IdealDevice, rule="m.C")
    with pytest.raises(ValueError, match="unknown device 'nope'; available: .*ideal"):
        plugin.make_device("nope")


def test_recipes_have_one_home():
    from synemu.devices.fn.presets import RECIPES as FN
    from synemu.runtime.train import recipe_for
    from synemu.spec.recipe import DEFAULT_RECIPES
    assert recipe_for("fn", "digits") is FN["digits"]
    assert recipe_for("ideal", "digits") is DEFAULT_RECIPES["digits"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The example package pip-installed (no deps, no network) into a scratch directory."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(target), str(EXAMPLE)],
                   check=True, cwd=tmp_path_factory.mktemp("build"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(target)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    return env


def _synemu(env, *args, timeout=600):
    r = subprocess.run([sys.executable, "-m", "synemu.cli.main", *args, "--json"], env=env,
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_third_party_device_is_listed(installed):
    res = _synemu(installed, "devices")
    devs = {d["name"]: d for d in res["devices"]}
    assert devs["nonlinear"]["origin"] == "synemu-nonlinear 0.1.0"
    assert devs["nonlinear"]["presets"] == ["6bit", "8bit"]
    assert set(devs) >= {"ideal", "probe", "fn", "femfet", "mtj", "nonlinear"}


@pytest.mark.verilator
def test_third_party_device_lockstep_verilator(installed, tmp_path):
    res = _synemu(installed, "verify", "--device", "nonlinear", "--preset", "6bit",
                  "--seeds", "3", "--ops", "1500", "--out", str(tmp_path))
    assert res["ok"] and res["mismatches"] == 0 and res["commands"] == 4500
    assert res["compared_words"] > 4500


@pytest.mark.verilator
def test_third_party_device_trains_and_runs_on_the_simulated_board(installed, tmp_path):
    gold = _synemu(installed, "train", "--device", "nonlinear", "--epochs", "2",
                   "--out", str(tmp_path))
    assert gold["test_accuracy"] > 0.5          # 10 classes: chance is 0.1
    run = _synemu(installed, "run", "--device", "nonlinear", "--sim", "verilator",
                  "--limit", "40", "--epochs", "1", "--check",
                  "--out", str(tmp_path))
    assert run["ok"] and run["samples"] == 40 and run["identical_to_golden"] is True


@pytest.mark.verilator
def test_third_party_device_example_tests_and_tile(installed):
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        str(EXAMPLE / "tests")], env=installed, capture_output=True, text=True,
                       timeout=600, cwd=EXAMPLE)
    assert r.returncode == 0, r.stdout[-3000:]
    code = ("import numpy as np; from synemu.runtime.tile import Tile\n"
            "with Tile('nonlinear', rows=3, cols=4, lanes=2, backend='verilator', seed=2) as t, "
            "Tile('nonlinear', rows=3, cols=4, lanes=2, backend='golden', seed=2) as g:\n"
            "    x = np.array([[1, 2, 3, 4], [4, 3, 2, 1]]); y = np.array([0, 2])\n"
            "    t.learn_batch(x, y); g.learn_batch(x, y)\n"
            "    assert (t.state_words() == g.state_words()).all()\n"
            "    print('same', t.state_words().tolist())\n")
    r = subprocess.run([sys.executable, "-c", code], env=installed, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0 and "same" in r.stdout, r.stderr[-3000:]
