"""FeMFET commands: ``synemu femfet compare`` (float32 / ideal / FeMFET accuracy table, host-in-
the-loop MLP) and ``synemu femfet sweep`` (bit split x transfer rule x leak; the runtime is
:mod:`.experiments`); their runs are campaigns (``--workers``, ``--scheduler``, records
under ``--out``/campaign, reused by a rerun). ``verify`` and ``train``
are the generic core commands (``--device femfet --preset 6bit``)."""

from __future__ import annotations

import time

import numpy as np

from ...cli.common import add_campaign_args, add_common, positive_int
from ...runtime.report import emit, file_stem, out_dir, save_json

from .experiments import plot_sweep, sweep_plan

__all__ = ["register", "parse_split", "run_plans", "campaign_line"]


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


# -- campaigns ------------------------------------------------------------------------------
def run_plans(args, plans, desc: str):
    """Run the tasks of several ``(tasks, collect)`` plans as one campaign (the options of
    :func:`~synemu.cli.common.add_campaign_args`; a run shared by two plans runs once);
    returns each plan's collected result and the CampaignResult."""
    from ...cli.common import run_tasks
    from ...runtime.mlp import unique_tasks
    every = [t for tasks, _ in plans for t in tasks]
    tasks, index = unique_tasks(every)
    camp = run_tasks(args, tasks, desc)
    done = camp.results()
    results = [done[i] for i in index]
    out, at = [], 0
    for ts, collect in plans:
        out.append(collect(results[at:at + len(ts)]))
        at += len(ts)
    return out, camp


def campaign_line(camp) -> str:
    """One summary line of a command's campaign."""
    c = camp.summary()
    where = c["scheduler"] or (f"{c['workers']} local workers" if c["workers"] > 1
                               else "this process")
    return (f"  campaign: {c['tasks']} runs ({c['ran']} ran on {where}, {c['skipped']} "
            f"reused), records {c['records']}")


# -- compare --------------------------------------------------------------------------------
def cmd_compare(args):
    from ...runtime.mlp import compare_plan, plot_compare
    from .presets import COMPARE_SETS
    out = out_dir(args.out)
    sets = dict(COMPARE_SETS)
    seeds = tuple(range(args.seeds))
    over = _mlp_overrides(args)
    plans = [compare_plan(args.dataset, seeds=seeds, sets=sets, **over)]
    if args.with_noqat:
        # the no-QAT row differs only in qat: its own plan, one campaign, merged
        plans.append(compare_plan(args.dataset, seeds=seeds,
                                  sets={"femfet-6bit-noqat": ("femfet", "6bit", {})},
                                  **{**over, "qat": False}))
    results, camp = run_plans(args, plans, "compare")
    res = results[0]
    if args.with_noqat:
        extra = results[1]
        res["table"].update(extra["table"])
        res["runs"].update(extra["runs"])
        a, b = extra["table"]["femfet-6bit-noqat"], res["table"]["ideal-6bit"]
        d = np.array(b["per_seed"]) - np.array(a["per_seed"])
        res["gaps"]["6bit-noqat"] = {"gap_pp": float(d.mean()),
                                     "gap_std_pp": float(d.std(ddof=1) if len(d) > 1 else 0.0)}
    png = plot_compare(res, out / f"compare-{file_stem(args.dataset)}.png")
    res.update(command="compare", plot=str(png), campaign=camp.summary())
    save_json(res, out / f"compare-{file_stem(args.dataset)}.json")
    lines = [f"host-in-the-loop MLP {res['runs']['float32'][0]['sizes']} on {res['dataset']}, "
             f"{len(res['seeds'])} seeds, {over['epochs']} epochs "
             f"(test accuracy with the inference read-out, mean ± std)"]
    for k, v in res["table"].items():
        lines.append(f"  {k:18s} {v['mean']:6.2f} ± {v['std']:.2f} %   (training read-out "
                     f"{v['train_readout_mean']:.2f} %)")
    for k, g in res["gaps"].items():
        lines.append(f"  gap ideal - femfet ({k}): {g['gap_pp']:+.2f} ± {g['gap_std_pp']:.2f} pp "
                     f"(paper: 0.4 pp at 6 bit, 0.8 pp at 8 bit)")
    lines.append(campaign_line(camp))
    lines.append(f"  plot: {png}")
    slim = {k: v for k, v in res.items() if k != "runs"}
    emit(slim, "\n".join(lines), args.json)
    return 0


# -- sweep ----------------------------------------------------------------------------------
def cmd_sweep(args):
    out = out_dir(args.out)
    splits = [parse_split(s) for s in args.splits.split(",")]
    transfers = args.transfers.split(",")
    for t in transfers:
        if t not in ("carry", "periodic"):
            raise ValueError(f"unknown transfer rule {t!r}; use carry and/or periodic")
    leaks = [_leak(v) for v in args.leaks.split(",")]
    t0 = time.perf_counter()
    (res,), camp = run_plans(args, [sweep_plan(
        args.dataset, splits, transfers, leaks, seeds=tuple(range(args.seeds)),
        period=args.period, leak_period_log2=args.leak_period_log2, ticks_per_batch=args.ticks,
        **_mlp_overrides(args))], "sweep")
    png = plot_sweep(res, out / f"sweep-femfet-{file_stem(args.dataset)}.png")
    res.update(command="sweep", plot=str(png), seconds=time.perf_counter() - t0,
               campaign=camp.summary())
    save_json(res, out / f"sweep-femfet-{file_stem(args.dataset)}.json")
    lines = [f"FeMFET sweep on {res['dataset']} ({len(res['seeds'])} seed(s), "
             f"{res['seconds']:.0f} s); accuracy = inference (M only), %",
             f"  {'split':6s} {'transfer':9s} {'leak':5s} {'acc':>7s} {'train-ro':>8s} "
             f"{'ideal':>6s} {'gap pp':>7s} {'MSB writes':>10s}"]
    for r in res["rows"]:
        lines.append(f"  {r['split']:6s} {r['transfer']:9s} {str(r['leak_shift']):5s} "
                     f"{r['accuracy']:7.2f} {r['train_readout_accuracy']:8.2f} "
                     f"{r['ideal_accuracy']:6.2f} {r['gap_pp']:+7.2f} {r['msb_writes']:10.0f}")
    lines.append(campaign_line(camp))
    lines.append(f"  plot: {png}")
    emit(res, "\n".join(lines), args.json)
    return 0


def _mlp_args(p, epochs, hidden):
    p.add_argument("--epochs", type=positive_int, default=epochs)
    p.add_argument("--batch", type=positive_int, default=32)
    p.add_argument("--lr", type=float, default=0.2)
    p.add_argument("--range-mult", type=float, default=2.0)
    p.add_argument("--hidden", default=hidden, help="hidden sizes, comma separated")
    p.add_argument("--no-qat", action="store_true",
                   help="forward through the training read-out (M and L) instead of the "
                        "inference read-out while training")


#: old flat command names (one release)
LEGACY = {"femfet-compare": "compare", "femfet-sweep": "sweep", "sweep": "sweep"}


def register(sub):
    """``synemu femfet compare`` and ``synemu femfet sweep``."""
    c = sub.add_parser("compare", help="float32 vs ideal vs FeMFET (6/8 bit) MLP accuracy table")
    c.add_argument("--dataset", default="mnist5k")
    c.add_argument("--seeds", type=positive_int, default=3)
    c.add_argument("--with-noqat", action="store_true",
                   help="add a FeMFET 6-bit row trained without QAT (shows the M-only gap)")
    _mlp_args(c, 8, "128")
    add_common(c, "runs")
    add_campaign_args(c)
    c.set_defaults(func=cmd_compare)

    s = sub.add_parser("sweep", help="FeMFET bit split x transfer rule x leak sweep (MLP)")
    s.add_argument("--dataset", default="digits")
    s.add_argument("--splits", default="1+5,2+4,3+3", help="MSB+LSB splits, comma separated")
    s.add_argument("--transfers", default="carry,periodic")
    s.add_argument("--leaks", default="none,1", help="leak shifts (or none), comma separated")
    s.add_argument("--period", type=positive_int, default=16, help="periodic transfer every N batches")
    s.add_argument("--leak-period-log2", type=int, default=7,
                   help="one leak event every 2^N ticks (default: every 8 batches, i.e. between periodic transfers)")
    s.add_argument("--ticks", type=int, default=16, help="emulated ticks per batch")
    s.add_argument("--seeds", type=positive_int, default=1)
    _mlp_args(s, 8, "64")
    add_common(s, "runs")
    add_campaign_args(s)
    s.set_defaults(func=cmd_sweep)
