"""Measured-device benchmark rows, per shipped preset: the fit (refit of its example CSV:
RMS errors in % of the conductance range, seconds), golden vs Verilator lockstep (native
driver, 4 seeds x 25,000 random commands, every state word compared after every command),
the host-in-the-loop MLP on mnist5k (float32 / ideal at the same weight precision / the
device, 3 seeds, mean +- std) and on-chip delta-rule learning of digits (golden, seed 0).
Board capacity rows are in ``bench_boards`` (``measured-<preset>`` keys).

``python benchmarks/bench_measured.py [--quick]`` prints the rows as JSON.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time


def _lockstep(device, seeds: int, ops: int) -> dict:
    from synemu.sim.lockstep import random_commands, verilator_lockstep
    from synemu.spec.engine import EngineConfig
    cfg = EngineConfig(device=device, rows=4, cols=8, lanes=2, rounding="stochastic", eta=4,
                       tick_width=8, seed=1)
    streams = [random_commands(cfg, s, ops) for s in range(seeds)]
    t0 = time.perf_counter()
    reps = verilator_lockstep(cfg, streams, driver="native")
    return {"commands": sum(r.commands for r in reps),
            "compared_words": sum(r.compared_words for r in reps),
            "mismatches": sum(len(r.mismatches) for r in reps),
            "seconds": time.perf_counter() - t0}


def run(quick: bool = False) -> dict:
    from synemu.devices.measured.cli import compare_sets
    from synemu.devices.measured.fit import fit_file
    from synemu.devices.measured.presets import preset_csv, preset_files
    from synemu.runtime.mlp import compare_devices
    from synemu.runtime.train import train_onchip
    from synemu.spec.registry import make_device
    rows = {}
    seeds, ops = (1, 2000) if quick else (4, 25_000)
    mlp_seeds = (0,) if quick else (0, 1, 2)
    mlp = dict(epochs=1, max_train=500) if quick else {}
    for name in sorted(preset_files()):
        dev = make_device("measured", preset=name)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            fit = fit_file(preset_csv(name), f"{tmp}/{name}.json", bits=dev.bits)
            rows[f"{name}_fit_seconds"] = time.perf_counter() - t0
        for k, v in fit["errors"].items():
            if k != "realisations":
                rows[f"{name}_fit_{k}"] = v
        rows[f"{name}_d2d_sigma"] = fit["fit"]["d2d_sigma"]
        ls = _lockstep(dev, seeds, ops)
        for k, v in ls.items():
            rows[f"{name}_lockstep_{k}"] = v
        res = compare_devices("digits" if quick else "mnist5k", seeds=mlp_seeds,
                              sets=compare_sets(dev), show_progress=False, **mlp)
        for label, t in res["table"].items():
            key = "measured" if label == dev.label else label
            rows[f"{name}_mlp_{key}_pct"] = t["mean"]
            rows[f"{name}_mlp_{key}_std_pct"] = t["std"]
        r = train_onchip("measured", "digits", device_params={"file": dev.file},
                         epochs=2 if quick else None, show_progress=False)
        rows[f"{name}_onchip_digits_test_pct"] = r["test_accuracy"] * 100
    r = train_onchip("ideal", "digits", device_params={"weight_bits": 6},
                     epochs=2 if quick else None, show_progress=False)
    rows["ideal6_onchip_digits_test_pct"] = r["test_accuracy"] * 100
    return rows


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=1))
