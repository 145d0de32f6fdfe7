"""Campaign runner, serial in process vs a dask LocalCluster of 2 worker processes, in the
same run (the parallel time includes starting the cluster and the workers' imports), with
the speed-up and whether every record is identical (apart from wall-clock fields):

* ``train``: 16 on-chip delta-rule trainings of the FeMFET 6-bit device (golden, digits,
  40 epochs, seeds 0..15; single-threaded NumPy);
* ``lockstep``: 8 seeds of ``synemu verify`` (FeMFET 6-bit, 4x8 array, 2 lanes, Verilator
  native driver, 300,000 random commands each, every state word compared after every
  command); the model is built once before timing.

Quick mode: 4 tasks of each, smaller. Both task kinds are single-threaded (process time =
wall time). A BLAS-heavy task (the MLP runs of ``compare``) already uses both cores when
run serially (NumPy's threads) while dask's workers run one BLAS thread each: there the
campaign gains little on one 2-core machine and its value is many machines.

``python benchmarks/bench_campaign.py [--quick]`` prints the rows as JSON.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time


def _lockstep_tasks(quick: bool, seeds=None):
    from synemu.campaign import Task
    n, ops = (4, 20_000) if quick else (8, 300_000)
    spec = dict(device="femfet", preset="6bit", params={},
                engine=dict(rows=4, cols=8, lanes=2, rounding="stochastic", eta=4, seed=1),
                backend="verilator", driver="native", ops=ops)
    return [Task("synemu.cli.main:verify_seed", {**spec, "seed": s}, label=f"seed {s}")
            for s in (range(n) if seeds is None else seeds)]


def _train_tasks(quick: bool):
    from synemu.campaign import Task
    n, epochs = (4, 4) if quick else (16, 40)
    return [Task("synemu.runtime.train:train_onchip",
                 dict(device="femfet", dataset="digits", device_params={"k_m": 2, "k_l": 4},
                      epochs=epochs, seed=s, show_progress=False), label=f"seed {s}")
            for s in range(n)]


def _science(rec):
    """A record's result without its wall-clock fields (seconds, rates)."""
    return {k: v for k, v in rec["result"].items()
            if "second" not in k and not k.endswith("_per_s")}


def _compare(name: str, tasks, tmp: str) -> dict:
    from synemu.campaign import run_campaign
    t0 = time.perf_counter()
    serial = run_campaign(tasks, f"{tmp}/{name}-serial", workers=1, show_progress=False)
    t_serial = time.perf_counter() - t0
    t0 = time.perf_counter()
    par = run_campaign(tasks, f"{tmp}/{name}-par", workers=2, show_progress=False)
    t_par = time.perf_counter() - t0
    t0 = time.perf_counter()
    resumed = run_campaign(tasks, f"{tmp}/{name}-par", workers=2, show_progress=False)
    t_resume = time.perf_counter() - t0
    serial.raise_on_failure()
    par.raise_on_failure()
    same = [_science(r) for r in serial.records] == [_science(r) for r in par.records]
    p = f"campaign_{name}"
    return {f"{p}_tasks": len(tasks), f"{p}_serial_seconds": t_serial,
            f"{p}_2workers_seconds": t_par, f"{p}_speedup_2workers": t_serial / t_par,
            f"{p}_identical_results": same, f"{p}_resume_seconds": t_resume,
            f"{p}_resume_skipped": resumed.skipped,
            f"{p}_task_seconds_serial_mean": sum(r["seconds"] for r in serial.records) / len(tasks),
            f"{p}_task_seconds_2workers_mean": sum(r["seconds"] for r in par.records) / len(tasks)}


def run(quick: bool = False) -> dict:
    from synemu.campaign import run_campaign
    run_campaign(_lockstep_tasks(True, seeds=[99]), show_progress=False).raise_on_failure()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        rows.update(_compare("train", _train_tasks(quick), tmp))
        rows.update(_compare("lockstep", _lockstep_tasks(quick), tmp))
    return rows


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=1))
