"""STT-MTJ benchmark rows: golden switching draws/s, golden STDP-network training and
evaluation throughput (samples/s, synapse updates/s = spikes x inputs), and network lockstep
throughput (STEPs/s with the full state compared after every STEP) on Amaranth's simulator
and on Verilator (build excluded, cached by Verilog hash).

``run(quick=True)``: digits-sized network, short runs. ``run()``: mnist5k N=100 and N=400
throughput, plus one full mnist5k N=400 training run (seed 0, preset ``SNN_PRESETS``) for
its test accuracy (Diehl & Cook labelling and the proportion-weighted read-out).
``python benchmarks/bench_mtj.py [--quick]`` prints the rows as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import numpy as np


def _switch_rate() -> dict:
    from synemu.spec.lfsr import LFSRBank
    from synemu.devices.mtj.golden import MTJDevice
    dev = MTJDevice()
    n = 1_000_000
    words = LFSRBank(32, [12345]).draw(n)[:, 0]
    s = np.zeros(n, np.uint8)
    t = time.perf_counter()
    dev.update({"s": s}, np.full(n, 3), words)
    return {"mtj_golden_switch_draws_per_s": n / (time.perf_counter() - t)}


def _train(dataset, n_neurons, n_train, tag) -> dict:
    from synemu.devices.mtj.experiments import _single_thread, snn_config
    from synemu.runtime.datasets import load_dataset
    from synemu.devices.mtj.network import GoldenSNN, rate_codes
    ds = load_dataset(dataset, seed=0)
    cfg = snn_config(ds.name, ds.x_train.shape[1], n_neurons)
    R = rate_codes(ds.x_train[:n_train], cfg)
    g = GoldenSNN(cfg)
    g.init()
    with _single_thread():
        t = time.perf_counter()
        spikes = sum(int(g.present(r, True).sum()) for r in R)
        dt = time.perf_counter() - t
        t = time.perf_counter()
        g.evaluate(R)
        de = time.perf_counter() - t
    return {f"snn_golden_{tag}_train_samples_per_s": n_train / dt,
            f"snn_golden_{tag}_synapse_updates_per_s": spikes * cfg.n_inputs / dt,
            f"snn_golden_{tag}_steps_per_s": n_train * cfg.steps / dt,
            f"snn_golden_{tag}_eval_samples_per_s": n_train / de}


def _accuracy(dataset="mnist5k", n_neurons=400, seed=0) -> dict:
    from synemu.devices.mtj.experiments import train_snn
    r = train_snn(dataset, n_neurons, seed=seed, show_progress=False)
    tag = f"snn_golden_{dataset}_n{n_neurons}_s{seed}"
    return {f"{tag}_test_accuracy": r["test_accuracy"],
            f"{tag}_test_accuracy_proportion": r["test_accuracy_proportion"],
            f"{tag}_run_seconds": r["seconds"]}


def _lockstep(backend: str, samples: int) -> dict:
    from synemu.runtime.datasets import load_dataset
    from synemu.devices.mtj.experiments import snn_config
    from synemu.devices.mtj.network import rate_codes
    from synemu.devices.mtj.network_sim import amaranth_snn_lockstep, snn_commands
    ds = load_dataset("digits", seed=0)
    if backend == "amaranth":
        cfg = snn_config("digits", 16, 4, steps=4, theta0=2)
        Rs = rate_codes(ds.x_train[:samples, :16], cfg)
        cmds = snn_commands(cfg, Rs, True)
        t = time.perf_counter()
        rep = amaranth_snn_lockstep(cfg, cmds)
        dt = time.perf_counter() - t
        key = "snn_lockstep_amaranth_16x4"
    else:
        from synemu.devices.mtj.network_sim import SNNSession, SNNSessionDriver, snn_lockstep
        cfg = snn_config("digits", 64, 12, steps=8)
        Rs = rate_codes(ds.x_train[:samples], cfg)
        cmds = snn_commands(cfg, Rs, True)
        with SNNSession(cfg) as s:
            t = time.perf_counter()
            rep = asyncio.run(snn_lockstep(SNNSessionDriver(s), cfg, cmds))
            dt = time.perf_counter() - t
        key = "snn_lockstep_verilator_64x12"
    assert rep.ok, rep.mismatch
    return {f"{key}_steps_per_s": rep.steps / dt, f"{key}_cycles_per_s": rep.cycles / dt}


def run(quick: bool = False) -> dict:
    rows = {}
    rows.update(_switch_rate())
    rows.update(_train("digits", 20, 400 if quick else 1437, "digits_n20"))
    if not quick:
        rows.update(_train("mnist5k", 100, 500, "mnist5k_n100"))
        rows.update(_train("mnist5k", 400, 300, "mnist5k_n400"))
        rows.update(_accuracy())
    rows.update(_lockstep("amaranth", 2 if quick else 4))
    rows.update(_lockstep("verilator", 2 if quick else 6))
    return rows


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
