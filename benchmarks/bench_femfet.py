"""FeMFET benchmark rows: golden update throughput on a 1024x1024 array, lockstep throughput
(golden vs Amaranth simulator and vs Verilator), and the float32 / ideal / FeMFET accuracy
table of the host-in-the-loop MLP (mnist5k, 3 seeds; quick mode: digits, 1 seed).

``python benchmarks/bench_femfet.py [--quick]`` prints the rows as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import numpy as np


def _golden_updates_per_s(params: dict, reps: int) -> float:
    from synemu.spec.registry import make_device
    from synemu.spec.lfsr import LFSRBank, lane_seeds
    dev = make_device("femfet", **params)
    rng = np.random.default_rng(0)
    st = dev.state_for_weight(rng.integers(-20, 20, (1024, 1024)))
    pulses = rng.integers(-8, 9, (1024, 1024))
    rand = None
    if dev.rand_width:
        rand = LFSRBank(dev.rand_width, lane_seeds(1, 1024, dev.rand_width)).draw(1024)
    t0 = time.perf_counter()
    for _ in range(reps):
        st = dev.update(st, pulses, rand)
    return reps * pulses.size / (time.perf_counter() - t0)


def _lockstep_ops_per_s(backend: str, ops: int) -> float:
    from synemu.spec.registry import make_device
    from synemu.spec.engine import EngineConfig
    from synemu.sim.lockstep import random_commands, run_lockstep
    dev = make_device("femfet", preset="6bit", guard_bits=1, transfer="periodic",
                      transfer_period=3, leak_shift=1, leak_period_log2=2, prog_error=0.25,
                      c2c_bits=2, frac_bits=2)
    cfg = EngineConfig(device=dev, rows=4, cols=8, lanes=2, rounding="stochastic", eta=3,
                       tick_width=8, seed=1)
    cmds = random_commands(cfg, 0, ops)
    if backend == "amaranth":
        from synemu.sim.amaranth_sim import amaranth_lockstep
        t0 = time.perf_counter()
        rep = amaranth_lockstep(cfg, cmds)
    else:
        from synemu.sim.remote import SessionDriver, VerilatorSession
        with VerilatorSession(cfg) as s:     # build (cached) outside the timed part
            t0 = time.perf_counter()
            rep = asyncio.run(run_lockstep(SessionDriver(s), cfg, cmds))
    secs = time.perf_counter() - t0
    if not rep.ok:
        raise RuntimeError(f"lockstep mismatch: {rep.mismatches[0]}")
    return rep.commands / secs


def run(quick: bool = False) -> dict:
    from synemu.runtime.mlp import compare_devices
    rows = {
        "femfet 6bit golden updates/s (1024x1024)": _golden_updates_per_s({"k_m": 2, "k_l": 4}, 2 if quick else 5),
        "femfet 8bit+noise golden updates/s (1024x1024)": _golden_updates_per_s(
            {"k_m": 3, "k_l": 5, "prog_error": 0.05, "c2c_bits": 2, "frac_bits": 2}, 2 if quick else 5),
        "femfet lockstep Amaranth-sim ops/s (4x8, 2 lanes)": _lockstep_ops_per_s("amaranth", 200 if quick else 1000),
    }
    if not quick:
        rows["femfet lockstep Verilator ops/s (4x8, 2 lanes)"] = _lockstep_ops_per_s("verilator", 3000)
    res = compare_devices("digits" if quick else "mnist5k", seeds=(0,) if quick else (0, 1, 2),
                          show_progress=False,
                          **({"epochs": 2, "hidden": (32,), "qat": True} if quick else {"qat": True}))
    for label, v in res["table"].items():
        rows[f"MLP {res['dataset']} test acc % {label} (mean)"] = round(v["mean"], 3)
        rows[f"MLP {res['dataset']} test acc % {label} (std)"] = round(v["std"], 3)
    for bits, g in res["gaps"].items():
        rows[f"MLP {res['dataset']} gap ideal-femfet {bits} (pp)"] = round(g["gap_pp"], 3)
    return rows


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
