"""Foundation benchmarks: golden-model throughput, lockstep co-simulation, free-running Verilator.

Rows (units in the names):

* ``golden_update_matrix_updates_per_s``: a 1024x1024 ideal 8-bit array, every synapse
  updated by a (nonzero) pulse through ``GoldenEngine.update_matrix`` (= one UPDATE command
  per synapse, same semantics); ``..._vs_numpy_int16_add`` is the time of that update divided
  by one in-place ``np.add`` of two int16 1024x1024 arrays (the floor for any update);
* ``golden_upd_row_updates_per_s``: 1024 UPD_ROW commands over the same array;
* ``golden_learn_updates_per_s``: LEARN (delta rule over the whole array) on 1024x1024;
* ``lockstep_{amaranth,verilator}_ops_per_s``: random commands with every state word
  compared after each (4x8 array, 2 lanes);
* ``verilator_free_running_cycles_per_s``: clock cycles per second while Verilator runs
  long LEARN sweeps with Python idle (64x256 array, 1 lane).
"""

from __future__ import annotations

import asyncio
import time

import numpy as np


def _best(fn, repeat=5):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run(quick: bool = False) -> dict:
    from synemu.spec.engine import Command, EngineConfig, GoldenEngine, Op
    from synemu.devices.ideal.golden import IdealDevice
    from synemu.sim.amaranth_sim import amaranth_lockstep
    from synemu.sim.lockstep import random_commands, run_lockstep
    from synemu.sim.remote import SessionDriver, VerilatorSession

    rows = {}
    n = 1024
    cfg = EngineConfig(device=IdealDevice(weight_bits=8, pulse_bits=8), rows=n, cols=n, lanes=8,
                       x_width=4, eta=12)
    eng = GoldenEngine(cfg)
    rng = np.random.default_rng(0)
    pulses = (rng.integers(1, 4, (n, n)) * rng.choice([-1, 1], (n, n))).astype(np.int8)
    t_upd = _best(lambda: eng.update_matrix(pulses), 3)
    a = rng.integers(-100, 100, (n, n)).astype(np.int16)
    b = pulses.astype(np.int16)
    t_add = _best(lambda: np.add(a, b, out=a), 20)
    rows["golden_update_matrix_updates_per_s"] = n * n / t_upd
    rows["numpy_int16_add_elements_per_s"] = n * n / t_add
    rows["golden_update_matrix_vs_numpy_int16_add"] = t_upd / t_add

    def upd_rows():
        for r in range(n):
            eng.execute(Command(Op.UPD_ROW, r, 0, 1 if r % 2 else -1))
    rows["golden_upd_row_updates_per_s"] = n * n / _best(upd_rows, 3)

    x = rng.integers(0, 8, n)
    eng.x[:] = x
    k = 3 if quick else 10
    t_learn = _best(lambda: [eng.execute(Command(Op.LEARN, 0, 0, int(i % n))) for i in range(k)], 2)
    rows["golden_learn_updates_per_s"] = k * n * n / t_learn

    small = EngineConfig(device=IdealDevice(), rows=4, cols=8, lanes=2, rounding="stochastic", eta=3)
    ops = 200 if quick else 1000
    t0 = time.perf_counter()
    rep = amaranth_lockstep(small, random_commands(small, 0, ops // 2))
    rows["lockstep_amaranth_ops_per_s"] = rep.commands / (time.perf_counter() - t0)
    with VerilatorSession(small) as s:
        t0 = time.perf_counter()
        rep = asyncio.run(run_lockstep(SessionDriver(s), small, random_commands(small, 1, ops)))
        rows["lockstep_verilator_ops_per_s"] = rep.commands / (time.perf_counter() - t0)
        assert rep.ok, rep.mismatches

    big = EngineConfig(device=IdealDevice(), rows=64, cols=256, lanes=1, x_width=4, eta=12)
    with VerilatorSession(big) as s:
        s.run([big.encode(Command(Op.LOAD_X, 0, c, 3)) for c in range(256)], [0] * 256)
        c0, t0 = s.cycle, time.perf_counter()
        learns = 5 if quick else 30
        s.run([big.encode(Command(Op.LEARN, 0, 0, i % 64)) for i in range(learns)], [1] * learns)
        rows["verilator_free_running_cycles_per_s"] = (s.cycle - c0) / (time.perf_counter() - t0)
    return rows


if __name__ == "__main__":
    import json
    print(json.dumps(run(quick=True), indent=2))
