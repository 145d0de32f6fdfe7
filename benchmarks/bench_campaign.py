"""Campaign runner: the same campaign (8 FeMFET 6-bit host-in-the-loop MLP runs on
mnist5k, seeds 0..7) serially in process and on a dask LocalCluster of 2 worker processes,
in the same run: wall time of each, the speed-up, and whether every record is identical
(apart from wall-clock fields). Quick mode: 4 runs on digits.

``python benchmarks/bench_campaign.py [--quick]`` prints the rows as JSON.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time


def _tasks(quick: bool):
    from synemu.campaign import Task
    n, ds, epochs = (4, "digits", 2) if quick else (8, "mnist5k", 2)
    return [Task("synemu.runtime.mlp:train_mlp",
                 dict(device="femfet", preset="6bit", dataset=ds, seed=s, epochs=epochs,
                      hidden=[64], show_progress=False), label=f"femfet-6bit/{s}")
            for s in range(n)]


def _science(rec):
    return {k: v for k, v in rec["result"].items() if "second" not in k}


def run(quick: bool = False) -> dict:
    from synemu.campaign import run_campaign
    tasks = _tasks(quick)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        serial = run_campaign(tasks, f"{tmp}/serial", workers=1, show_progress=False)
        t_serial = time.perf_counter() - t0
        t0 = time.perf_counter()
        par = run_campaign(tasks, f"{tmp}/par", workers=2, show_progress=False)
        t_par = time.perf_counter() - t0
        t0 = time.perf_counter()
        resumed = run_campaign(tasks, f"{tmp}/par", workers=2, show_progress=False)
        t_resume = time.perf_counter() - t0
    serial.raise_on_failure()
    par.raise_on_failure()
    same = [_science(r) for r in serial.records] == [_science(r) for r in par.records]
    return {"campaign_tasks": len(tasks),
            "campaign_serial_seconds": t_serial, "campaign_2workers_seconds": t_par,
            "campaign_speedup_2workers": t_serial / t_par,
            "campaign_identical_results": same,
            "campaign_resume_seconds": t_resume, "campaign_resume_skipped": resumed.skipped,
            "campaign_task_seconds_mean": serial.summary()["task_seconds"] / len(tasks),
            "campaign_test_accuracy_mean": sum(r["result"]["test_accuracy"]
                                               for r in serial.records) / len(tasks)}


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=1))
