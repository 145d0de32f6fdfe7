"""FeMFET experiments (runtime; no CLI): the bit split x transfer rule x leak sweep of the
host-in-the-loop MLP and its plot."""

from __future__ import annotations

import itertools

import numpy as np

from ...runtime.report import plt, progress

__all__ = ["run_sweep", "plot_sweep"]


def run_sweep(dataset: str, splits, transfers, leaks, *, seeds=(0,), period: int = 16,
              leak_period_log2: int = 7, ticks_per_batch: int = 16, show_progress=True,
              **mlp) -> dict:
    """Train the MLP for every (split, transfer, leak) point and its ideal reference."""
    from .golden import FeMFETDevice
    from ...runtime.datasets import load_dataset
    from ...runtime.mlp import train_mlp
    ds = load_dataset(dataset, seed=0)
    points = list(itertools.product(splits, transfers, leaks))
    n_ideal = sorted({km + kl for km, kl in splits})
    bar = progress(total=(len(points) + len(n_ideal)) * len(seeds), desc="sweep",
                   disable=not show_progress)
    rows = []
    ideal = {}
    for n in n_ideal:
        accs = []
        for s in seeds:
            accs.append(train_mlp("ideal", ds, device_params={"weight_bits": n}, seed=s,
                                  show_progress=False, **mlp)["test_accuracy"] * 100)
            bar.update(1)
        ideal[n] = float(np.mean(accs))
    for (km, kl), transfer, leak in points:
        params = dict(k_m=km, k_l=kl, transfer=transfer)
        if transfer == "periodic":
            params.update(guard_bits=1, transfer_period=period)
        if leak is not None:
            params.update(leak_shift=leak, leak_period_log2=leak_period_log2)
        dev = FeMFETDevice(**params)
        accs, tr, writes = [], [], []
        for s in seeds:
            r = train_mlp(dev, ds, seed=s, show_progress=False,
                          **{**mlp, "ticks_per_batch": ticks_per_batch if leak is not None else 0})
            accs.append(r["test_accuracy"] * 100)
            tr.append(r["test_accuracy_train_readout"] * 100)
            writes.append(r.get("msb_writes_total", 0))
            bar.update(1)
            bar.set_postfix(point=f"{km}+{kl}/{transfer}/{leak}", acc=f"{accs[-1]:.1f}")
        rows.append({"split": f"{km}+{kl}", "bits": km + kl, "transfer": transfer,
                     "leak_shift": leak, "accuracy": float(np.mean(accs)),
                     "accuracy_std": float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0,
                     "train_readout_accuracy": float(np.mean(tr)),
                     "ideal_accuracy": ideal[km + kl], "gap_pp": ideal[km + kl] - float(np.mean(accs)),
                     "msb_writes": float(np.mean(writes))})
    bar.close()
    return {"dataset": ds.name, "seeds": list(seeds), "rows": rows, "ideal": ideal,
            "transfer_period": period, "leak_period_log2": leak_period_log2,
            "ticks_per_batch": ticks_per_batch, "mlp": mlp}


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
