"""FeMFET experiments (runtime; no CLI): the bit split x transfer rule x leak sweep of the
host-in-the-loop MLP and its plot."""

from __future__ import annotations

import itertools

import numpy as np

from ...runtime.report import plt

__all__ = ["run_sweep", "sweep_plan", "sweep_params", "plot_sweep"]


def sweep_params(km: int, kl: int, transfer: str, leak, *, period: int = 16,
                 leak_period_log2: int = 7) -> dict:
    """FeMFET device parameters of one sweep point."""
    params = dict(k_m=km, k_l=kl, transfer=transfer)
    if transfer == "periodic":
        params.update(guard_bits=1, transfer_period=period)
    if leak is not None:
        params.update(leak_shift=leak, leak_period_log2=leak_period_log2)
    return params


def sweep_plan(dataset: str, splits, transfers, leaks, *, seeds=(0,), period: int = 16,
               leak_period_log2: int = 7, ticks_per_batch: int = 16, **mlp):
    """The campaign of :func:`run_sweep`: ``(tasks, collect)`` -- one task per (ideal N,
    seed) and per (point, seed) (:func:`synemu.runtime.mlp.compare_run`); ``collect`` turns
    the tasks' results (in order) into the sweep dict."""
    from dataclasses import replace

    from ...runtime.mlp import (MLPConfig, _dataset, check_device, compare_task,
                                 dataset_digest, unique_tasks)
    ds = _dataset(dataset, dataset_digest(dataset))          # fails early on a bad name
    seeds = list(seeds)
    cfg = replace(MLPConfig(), **mlp)
    points = list(itertools.product(splits, transfers, leaks))
    n_ideal = sorted({km + kl for km, kl in splits})
    planned = []
    for n in n_ideal:
        planned += [compare_task("ideal", dataset, s, device_params={"weight_bits": n},
                                 config=cfg, label=f"ideal-{n}bit/seed{s}") for s in seeds]
    for (km, kl), transfer, leak in points:
        params = sweep_params(km, kl, transfer, leak, period=period,
                              leak_period_log2=leak_period_log2)
        check_device("femfet", None, params)
        point_cfg = replace(cfg, ticks_per_batch=ticks_per_batch if leak is not None else 0)
        planned += [compare_task("femfet", dataset, s, device_params=params, config=point_cfg,
                                 label=f"femfet-{km}+{kl}/{transfer}/leak-{leak}/seed{s}")
                    for s in seeds]
    tasks, index = unique_tasks(planned)

    def collect(results: list) -> dict:
        it = iter(results[i] for i in index)
        ideal = {}
        for n in n_ideal:
            ideal[n] = float(np.mean([next(it)["test_accuracy"] * 100 for _ in seeds]))
        rows = []
        for (km, kl), transfer, leak in points:
            rs = [next(it) for _ in seeds]
            accs = [r["test_accuracy"] * 100 for r in rs]
            tr = [r["test_accuracy_train_readout"] * 100 for r in rs]
            writes = [r.get("msb_writes_total", 0) for r in rs]
            rows.append({"split": f"{km}+{kl}", "bits": km + kl, "transfer": transfer,
                         "leak_shift": leak, "accuracy": float(np.mean(accs)),
                         "accuracy_std": float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0,
                         "train_readout_accuracy": float(np.mean(tr)),
                         "ideal_accuracy": ideal[km + kl],
                         "gap_pp": ideal[km + kl] - float(np.mean(accs)),
                         "msb_writes": float(np.mean(writes))})
        return {"dataset": ds.name, "seeds": list(seeds), "rows": rows, "ideal": ideal,
                "transfer_period": period, "leak_period_log2": leak_period_log2,
                "ticks_per_batch": ticks_per_batch, "mlp": mlp}

    return tasks, collect


def run_sweep(dataset: str, splits, transfers, leaks, *, seeds=(0,), period: int = 16,
              leak_period_log2: int = 7, ticks_per_batch: int = 16, show_progress=True,
              workers: int = 1, scheduler: str | None = None, out=None, resume: bool = True,
              **mlp) -> dict:
    """Train the MLP for every (split, transfer, leak) point and its ideal reference (same
    total bits), each with every seed: a campaign (:mod:`synemu.campaign`) on
    ``workers`` local processes or the dask ``scheduler``, records under ``out`` (None:
    none; ``resume`` reuses them). A failed run raises RuntimeError after the others."""
    from ...campaign import run_campaign
    tasks, collect = sweep_plan(dataset, splits, transfers, leaks, seeds=seeds, period=period,
                                leak_period_log2=leak_period_log2,
                                ticks_per_batch=ticks_per_batch, **mlp)
    res = run_campaign(tasks, out, workers=workers, scheduler=scheduler, resume=resume,
                       desc="sweep", show_progress=show_progress)
    res.raise_on_failure()
    return collect(res.results())


def plot_sweep(res: dict, path):
    pyplot = plt()
    rows = res["rows"]
    labels = [f"{r['split']}\n{r['transfer'][:5]}\nleak {r['leak_shift']}" for r in rows]
    fig, ax = pyplot.subplots(figsize=(max(6, 0.9 * len(rows)), 4.2))
    x = np.arange(len(rows))
    ax.bar(x, [r["accuracy"] for r in rows], yerr=[r["accuracy_std"] for r in rows], capsize=3,
           color=["C3" if r["transfer"] == "carry" else "C1" for r in rows], label="FeMFET (M only)")
    ax.plot(x, [r["ideal_accuracy"] for r in rows], "k_", ms=20, mew=2, label="ideal same N")
    ax.plot(x, [r["train_readout_accuracy"] for r in rows], "b.", label="FeMFET training read-out")
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_ylabel("test accuracy (%)")
    lo = min(min(r["accuracy"] for r in rows), min(res["ideal"].values()))
    ax.set_ylim(max(0, lo - 5), 100)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"FeMFET sweep on {res['dataset']}: bit split x transfer x leak")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    pyplot.close(fig)
    return path
