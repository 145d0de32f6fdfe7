"""FN-DAM benchmarks: golden-model throughput including emulated time, real-time factor.

``run(quick)`` returns name -> value rows (units in the names):

* golden LEARN+TICK: a 10 x 68 digits layer (paper preset, 4 lanes) learning one sample
  and advancing ``sample_s`` = 10 emulated seconds per sample (TICK sweep of every synapse);
  synapse updates/s count both the LEARN update and the TICK sweep of every synapse;
* golden TICK sweeps: TICK of 1 tick (1/64 s) over the array; real-time factor = emulated
  seconds per wall second at that tick;
* hardware (derived, not measured): a TICK sweep costs depth + 1 clocks, so at f_clk the
  real-time factor with 1-tick TICKs is ``tick_s * f_clk / (depth + 1)``;
* fidelity numbers of the paper preset (closed-form error, step-decay exponent, resolution).
"""

from __future__ import annotations

import time

import numpy as np


def run(quick: bool = False) -> dict:
    from synemu.devices.fn.learning import fidelity
    from synemu.devices.fn.presets import PAPER_DIGITS
    from synemu.runtime.train import prepare_inputs
    from synemu.runtime.datasets import load_dataset
    from synemu.spec.registry import make_device
    from synemu.spec.engine import Command, EngineConfig, GoldenEngine, Op

    dev = make_device("fn", preset="paper")
    ds = load_dataset("digits", seed=0)
    xs = prepare_inputs(ds.x_train, PAPER_DIGITS)
    cfg = EngineConfig(device=dev, rows=10, cols=xs.shape[1], lanes=PAPER_DIGITS.lanes,
                       **PAPER_DIGITS.engine_kwargs())
    eng = GoldenEngine(cfg)
    n = 200 if quick else 1500
    sample_ticks = int(round(10.0 / dev.tick_s))
    tick = Command(Op.TICK, 0, 0, sample_ticks)
    t0 = time.perf_counter()
    for i in range(n):
        eng.learn_samples(xs[i % len(xs)][None, :], ds.y_train[i % len(xs)][None])
        eng.execute(tick)
    dt = time.perf_counter() - t0
    syn = cfg.rows * cfg.cols
    rows = {
        "fn golden LEARN+TICK samples/s (10x68, paper)": n / dt,
        "fn golden synapse updates/s incl. ticks (10x68, paper)": 2 * syn * n / dt,
        "fn golden real-time factor at 10 s/sample (emulated s / wall s)": 10.0 * n / dt,
    }
    m = 300 if quick else 3000
    one = Command(Op.TICK, 0, 0, 1)
    t0 = time.perf_counter()
    for _ in range(m):
        eng.execute(one)
    dt = time.perf_counter() - t0
    rows["fn golden TICK sweeps/s (10x68)"] = m / dt
    rows["fn golden synapse ticks/s (10x68)"] = m * syn / dt
    rows["fn golden real-time factor at 1-tick TICKs (emulated s / wall s)"] = m * dev.tick_s / dt
    rows["fn hardware real-time factor at 1-tick TICKs, 50 MHz, 4 lanes (derived)"] = (
        dev.tick_s * 50e6 / (cfg.depth + 1))
    fid = fidelity(dev, points=20 if quick else 60)
    rows["fn max |counter - closed form| at 1h/1day/1e6s (LSB)"] = fid["max_abs_checkpoint_error_lsb"]
    rows["fn step-decay exponent emulator"] = fid["step_decay"]["gamma_emulator"]
    rows["fn step-decay exponent physics"] = fid["step_decay"]["gamma_physics"]
    rows["fn effective weight resolution (bits)"] = fid["resolution"]["effective_bits"]
    return {k: float(np.round(v, 6)) for k, v in rows.items()}


if __name__ == "__main__":
    import json
    import sys
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
