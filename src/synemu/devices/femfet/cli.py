"""FeMFET commands: ``synemu femfet-compare`` (float32 / ideal / FeMFET accuracy table, host-in-
the-loop MLP) and ``synemu sweep`` = ``femfet-sweep`` (bit split x transfer rule x leak; plain
``sweep`` is registered only if no other extension took the name). ``verify`` and ``train``
are the generic core commands (``--device femfet --preset 6bit``)."""

from __future__ import annotations

import itertools
import time

import numpy as np

from ...cli.main import add_common, device_from_args
from ...runtime.report import emit, out_dir, plt, progress, save_json

__all__ = ["register", "parse_split", "run_sweep"]


def parse_split(text: str) -> tuple[int, int]:
    """``"2+4"`` -> (k_m, k_l) = (2, 4)."""
    try:
        a, b = text.split("+")
        km, kl = int(a), int(b)
    except ValueError:
        raise ValueError(f"bit split must look like MSB+LSB, e.g. 2+4, not {text!r}") from None
    if km < 1 or kl < 1:
        raise ValueError(f"bit split {text!r}: both parts must be >= 1")
    return km, kl


def _leak(text: str):
    return None if text in ("none", "off", "") else int(text)


def _mlp_overrides(args) -> dict:
    o = dict(epochs=args.epochs, batch=args.batch, lr=args.lr, range_mult=args.range_mult,
             qat=not args.no_qat)
    if args.hidden is not None:
        o["hidden"] = tuple(int(h) for h in args.hidden.split(",") if h)
    return o


# -- compare --------------------------------------------------------------------------------
def cmd_compare(args):
    from ...runtime.mlp import compare_devices, plot_compare
    from .presets import COMPARE_SETS
    out = out_dir(args.out)
    sets = dict(COMPARE_SETS)
    if args.with_noqat:
        sets["femfet-6bit-noqat"] = ("femfet", "6bit", {})
    over = _mlp_overrides(args)
    if args.with_noqat:
        # the no-QAT row differs only in qat: run it separately and merge
        res = compare_devices(args.dataset, seeds=tuple(range(args.seeds)),
                              sets={k: v for k, v in sets.items() if k != "femfet-6bit-noqat"},
                              **over)
        extra = compare_devices(args.dataset, seeds=tuple(range(args.seeds)),
                                sets={"femfet-6bit-noqat": sets["femfet-6bit-noqat"]},
                                **{**over, "qat": False})
        res["table"].update(extra["table"])
        res["runs"].update(extra["runs"])
        a, b = extra["table"]["femfet-6bit-noqat"], res["table"]["ideal-6bit"]
        d = np.array(b["per_seed"]) - np.array(a["per_seed"])
        res["gaps"]["6bit-noqat"] = {"gap_pp": float(d.mean()),
                                     "gap_std_pp": float(d.std(ddof=1) if len(d) > 1 else 0.0)}
    else:
        res = compare_devices(args.dataset, seeds=tuple(range(args.seeds)), sets=sets, **over)
    png = plot_compare(res, out / f"compare-{args.dataset}.png")
    res.update(command="compare", plot=str(png))
    save_json(res, out / f"compare-{args.dataset}.json")
    lines = [f"host-in-the-loop MLP {res['runs']['float32'][0]['sizes']} on {res['dataset']}, "
             f"{len(res['seeds'])} seeds, {over['epochs']} epochs "
             f"(test accuracy with the inference read-out, mean ± std)"]
    for k, v in res["table"].items():
        lines.append(f"  {k:18s} {v['mean']:6.2f} ± {v['std']:.2f} %   (training read-out "
                     f"{v['train_readout_mean']:.2f} %)")
    for k, g in res["gaps"].items():
        lines.append(f"  gap ideal - femfet ({k}): {g['gap_pp']:+.2f} ± {g['gap_std_pp']:.2f} pp "
                     f"(paper: 0.4 pp at 6 bit, 0.8 pp at 8 bit)")
    lines.append(f"  plot: {png}")
    slim = {k: v for k, v in res.items() if k != "runs"}
    emit(slim, "\n".join(lines), args.json)
    return 0


# -- sweep ----------------------------------------------------------------------------------
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


def cmd_sweep(args):
    out = out_dir(args.out)
    splits = [parse_split(s) for s in args.splits.split(",")]
    transfers = args.transfers.split(",")
    for t in transfers:
        if t not in ("carry", "periodic"):
            raise ValueError(f"unknown transfer rule {t!r}; use carry and/or periodic")
    leaks = [_leak(v) for v in args.leaks.split(",")]
    t0 = time.perf_counter()
    res = run_sweep(args.dataset, splits, transfers, leaks, seeds=tuple(range(args.seeds)),
                    period=args.period, leak_period_log2=args.leak_period_log2,
                    ticks_per_batch=args.ticks, **_mlp_overrides(args))
    png = plot_sweep(res, out / f"sweep-femfet-{args.dataset}.png")
    res.update(command="sweep", plot=str(png), seconds=time.perf_counter() - t0)
    save_json(res, out / f"sweep-femfet-{args.dataset}.json")
    lines = [f"FeMFET sweep on {res['dataset']} ({len(res['seeds'])} seed(s), "
             f"{res['seconds']:.0f} s); accuracy = inference (M only), %",
             f"  {'split':6s} {'transfer':9s} {'leak':5s} {'acc':>7s} {'train-ro':>8s} "
             f"{'ideal':>6s} {'gap pp':>7s} {'MSB writes':>10s}"]
    for r in res["rows"]:
        lines.append(f"  {r['split']:6s} {r['transfer']:9s} {str(r['leak_shift']):5s} "
                     f"{r['accuracy']:7.2f} {r['train_readout_accuracy']:8.2f} "
                     f"{r['ideal_accuracy']:6.2f} {r['gap_pp']:+7.2f} {r['msb_writes']:10.0f}")
    lines.append(f"  plot: {png}")
    emit(res, "\n".join(lines), args.json)
    return 0


def _mlp_args(p, epochs, hidden):
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.2)
    p.add_argument("--range-mult", type=float, default=2.0)
    p.add_argument("--hidden", default=hidden, help="hidden sizes, comma separated")
    p.add_argument("--no-qat", action="store_true",
                   help="forward through the training read-out (M and L) instead of the "
                        "inference read-out while training")


def register(sub):
    c = sub.add_parser("femfet-compare", help="float32 vs ideal vs FeMFET (6/8 bit) MLP accuracy table")
    c.add_argument("--dataset", default="mnist5k")
    c.add_argument("--seeds", type=int, default=3)
    c.add_argument("--with-noqat", action="store_true",
                   help="add a FeMFET 6-bit row trained without QAT (shows the M-only gap)")
    _mlp_args(c, 8, "128")
    add_common(c, "runs")
    c.set_defaults(func=cmd_compare)

    # ``sweep`` is the name; the prefixed name always exists (no clash with others)
    aliases = [] if "sweep" in sub.choices else ["sweep"]
    s = sub.add_parser("femfet-sweep", aliases=aliases,
                       help="FeMFET bit split x transfer rule x leak sweep (MLP)")
    s.add_argument("--dataset", default="digits")
    s.add_argument("--splits", default="1+5,2+4,3+3", help="MSB+LSB splits, comma separated")
    s.add_argument("--transfers", default="carry,periodic")
    s.add_argument("--leaks", default="none,1", help="leak shifts (or none), comma separated")
    s.add_argument("--period", type=int, default=16, help="periodic transfer every N batches")
    s.add_argument("--leak-period-log2", type=int, default=7,
                   help="one leak event every 2^N ticks (default: every 8 batches, i.e. between periodic transfers)")
    s.add_argument("--ticks", type=int, default=16, help="emulated ticks per batch")
    s.add_argument("--seeds", type=int, default=1)
    _mlp_args(s, 8, "64")
    add_common(s, "runs")
    s.set_defaults(func=cmd_sweep)
