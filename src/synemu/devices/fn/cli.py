"""``synemu fn trajectory`` and ``synemu fn compare``: FN-DAM fidelity and learning.

trajectory     counter emulator vs closed-form physics: free-decay trajectory, error at
               1 h / 1 day / 1e6 s, step-size decay exponent, weight resolution, weight
               free decay (PNG + JSON); ``--backend amaranth|verilator`` also runs the
               free-decay trajectory through the hardware and checks it equals the golden.
compare        on-chip FN-DAM learning (emulated time) vs the same rule on float FN
               physics, float SGD with the matched schedule and constant-eta SGD, mean ±
               std over seeds, with update energy; one campaign task per (seed, model)
               (``--workers``/``--scheduler``, records under ``--out``/campaign).
"""

from __future__ import annotations

import numpy as np

from ...cli.common import (add_campaign_args, add_common, add_device_args, positive_int,
                           run_tasks)
from ...runtime.report import emit, out_dir, plt, save_json

__all__ = ["register", "cmd_fn_trajectory", "cmd_fn_compare"]


def _device(args):
    from ...spec.registry import make_device
    if args.device != "fn":
        raise ValueError(f"this command needs --device fn, not {args.device!r}")
    return make_device("fn", preset=args.preset, **dict(args.param))


def cmd_fn_trajectory(args):
    from . import physics as phys
    from .learning import fidelity, hardware_trajectory
    dev = _device(args)
    out = out_dir(args.out)
    res = fidelity(dev, points=args.points)
    res["command"] = "fn-trajectory"
    tr = res["trajectory"]
    if args.backend != "golden":
        hw = hardware_trajectory(dev, tr["t_s"], args.backend)
        golden_codes = np.rint((np.array(tr["v_emulator_v"]) - dev.v_min_v) / dev.lsb_v).astype(int)
        res["hardware"] = {"backend": args.backend, "identical": hw == golden_codes.tolist()}
    pyplot = plt()
    fig, ax = pyplot.subplots(2, 2, figsize=(11, 8))
    t = np.array(tr["t_s"])
    tt = np.logspace(0, 6.3, 400)
    a = ax[0, 0]
    a.semilogx(tt, phys.voltage_at(tt, dev.physics), "k-", lw=1, label="physics k2/ln(k1 t + k0)")
    a.semilogx(t, tr["v_emulator_v"], "o", ms=3, label="emulator (decay counter)")
    for c in res["checkpoints"].values():
        a.axvline(c["t_s"], color="grey", ls=":", lw=0.8)
    a.set(xlabel="time since programming [s]", ylabel="node voltage [V]",
          title="free decay of one FN node")
    a.legend(fontsize=8)
    a = ax[0, 1]
    a.semilogx(t, (np.array(tr["v_emulator_v"]) - np.array(tr["v_physics_v"])) / dev.lsb_v, ".-")
    a.axhline(1, color="r", ls="--", lw=0.8)
    a.axhline(-1, color="r", ls="--", lw=0.8)
    a.set(xlabel="time [s]", ylabel="emulator - physics [LSB]",
          title=f"error (LSB = {dev.lsb_v * 1e6:.1f} µV)")
    a = ax[1, 0]
    sd = res["step_decay"]
    a.loglog(sd["t_s"], np.array(sd["dv_physics_v"]) * 1e6, "k-",
             label=f"physics, gamma = {sd['gamma_physics']:.3f}")
    a.loglog(sd["t_s"], np.array(sd["dv_emulator_v"]) * 1e6, "o",
             label=f"emulator, gamma = {sd['gamma_emulator']:.3f}")
    a.set(xlabel="node age [s]", ylabel=f"step of a width-{sd['pulse_m']} pulse [µV]",
          title="built-in learning-rate decay")
    a.legend(fontsize=8)
    a = ax[1, 1]
    wd = res["weight_decay"]
    a.semilogx(wd["t_s"], wd["w_physics_codes"], "k-", label="physics")
    a.semilogx(wd["t_s"], wd["w_emulator_codes"], "o", label="emulator")
    a.set(xlabel="time [s]", ylabel="W = V_L - V_R [LSB]",
          title=f"weight free decay (exponent {wd['decay_exponent_emulator']:.3f} vs "
                f"{wd['decay_exponent_physics']:.3f})")
    a.legend(fontsize=8)
    fig.suptitle("FN-DAM: decay-counter emulator vs closed-form physics")
    fig.tight_layout()
    stem = f"fn-trajectory{'-' + args.preset if args.preset else ''}"
    png = out / f"{stem}.png"
    fig.savefig(png, dpi=120)
    pyplot.close(fig)
    res["plot"] = str(png)
    save_json(res, out / f"{stem}.json")
    cps = res["checkpoints"]
    rs = res["resolution"]
    lines = [f"FN-DAM fidelity ({args.preset or 'default'} preset, LSB {dev.lsb_v * 1e6:.2f} µV, "
             f"tick {dev.tick_s:g} s)",
             "  free decay, emulator - closed form: " + ", ".join(
                 f"{k} {c['error_lsb']:+.3f} LSB" for k, c in cps.items()),
             f"  whole trajectory: max |error| {tr['max_abs_error_lsb']:.3f} LSB",
             f"  step-size decay exponent: emulator {sd['gamma_emulator']:.4f}, physics "
             f"{sd['gamma_physics']:.4f} (max step error {100 * sd['max_rel_error']:.2f} %)",
             f"  weight resolution: {rs['readout_bits']}-bit read-out, "
             f"{rs['distinct_weights_unit_pulses']} distinct weights by unit pulses "
             f"({rs['effective_bits']:.2f} bits)",
             f"  weight free decay: max |error| {wd['max_abs_error_lsb']:.2f} LSB, exponent "
             f"{wd['decay_exponent_emulator']:.3f} (physics {wd['decay_exponent_physics']:.3f})"]
    res["meets_targets"] = {"within_1_lsb": res["max_abs_checkpoint_error_lsb"] <= 1,
                            "resolution_14_bits": rs["effective_bits"] >= 14}
    ok = res["meets_targets"]["within_1_lsb"]
    if "hardware" in res:
        ok = ok and res["hardware"]["identical"]
        lines.append(f"  {args.backend} trajectory identical to the golden model: "
                     f"{'YES' if res['hardware']['identical'] else 'NO'}")
    lines.append(f"  plot: {png}")
    emit(res, "\n".join(lines), args.json)
    return 0 if ok else 1


def cmd_fn_compare(args):
    from .learning import compare_results, compare_tasks
    from .presets import PAPER_DIGITS
    from dataclasses import replace
    dev = _device(args)
    out = out_dir(args.out)
    recipe = PAPER_DIGITS if args.epochs is None else replace(PAPER_DIGITS, epochs=args.epochs)
    seeds = tuple(range(args.seeds))
    tasks = compare_tasks(dev, args.dataset, seeds=seeds, sample_s=args.sample_s, recipe=recipe)
    camp = run_tasks(args, tasks, "fn compare")
    res = compare_results(tasks, camp.results(), seeds, args.sample_s)
    res["command"] = "fn-compare"
    res["campaign"] = camp.summary()
    pyplot = plt()
    fig, ax = pyplot.subplots(figsize=(6.5, 4.2))
    for k, lab in (("fn", "FN-DAM on-chip (device schedule)"),
                   ("fn-physics", "same rule, float FN physics"),
                   ("float-matched", "float SGD, eta~(t+t0)^-0.8, lambda~1/(t+t0)"),
                   ("float-constant", "float SGD, constant eta")):
        acc = res[k]["test_accuracy_per_epoch"]
        ax.plot(np.arange(1, len(acc) + 1), acc, marker="o", label=lab)
    ax.set(xlabel="epoch", ylabel=f"test accuracy (mean of {args.seeds} seeds)",
           title=f"{res['dataset']}: {args.sample_s:g} emulated s per sample")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    stem = f"fn-compare{'-' + args.preset if args.preset else ''}-{res['dataset']}"
    png = out / f"{stem}.png"
    fig.savefig(png, dpi=120)
    pyplot.close(fig)
    res["plot"] = str(png)
    save_json(res, out / f"{stem}.json")
    f = lambda d: f"{100 * d['mean']:.2f} ± {100 * d['std']:.2f} %"
    fn = res["fn"]
    lines = [f"FN-DAM learning on {res['dataset']} ({len(res['seeds'])} seeds, "
             f"{res['emulated_s']:.3g} emulated s)",
             f"  FN-DAM on-chip      : {f(fn['test_accuracy'])}",
             f"  same, float physics : {f(res['fn-physics']['test_accuracy'])}",
             f"  float, matched sched: {f(res['float-matched']['test_accuracy'])}",
             f"  float, constant eta : {f(res['float-constant']['test_accuracy'])}",
             f"  FN - matched: {res['fn_minus_matched_pp']:+.2f} pp (goal: within 1 pp)",
             f"  update energy: {fn['energy_fj']['mean'] / 1e3:.1f} ± "
             f"{fn['energy_fj']['std'] / 1e3:.1f} pJ total over {fn['updates']['mean']:.0f} "
             f"pulses, {fn['energy_per_update_fj']['mean']:.3f} fJ per update",
             f"  campaign: {res['campaign']['tasks']} task(s), {res['campaign']['skipped']} "
             f"from records, {res['campaign']['scheduler'] or res['campaign']['workers']} "
             f"worker(s); records: {res['campaign']['records']}",
             f"  plot: {png}"]
    emit(res, "\n".join(lines), args.json)
    return 0


#: old flat command names (one release)
LEGACY = {"fn-trajectory": "trajectory", "fn-compare": "compare"}


def register(sub):
    """``synemu fn trajectory`` and ``synemu fn compare``."""
    p = sub.add_parser("trajectory", help="FN-DAM: decay-counter emulator vs physics")
    add_device_args(p, default="fn")
    p.set_defaults(preset="paper")
    p.add_argument("--points", type=positive_int, default=60, help="trajectory points (log-spaced)")
    p.add_argument("--backend", choices=["golden", "amaranth", "verilator"], default="golden",
                   help="also run the trajectory on this hardware backend")
    add_common(p, "runs")
    p.set_defaults(func=cmd_fn_trajectory)

    c = sub.add_parser("compare", help="FN-DAM on-chip learning vs float SGD baselines")
    add_device_args(c, default="fn")
    c.set_defaults(preset="paper")
    c.add_argument("--dataset", default="digits")
    c.add_argument("--seeds", type=positive_int, default=3)
    c.add_argument("--sample-s", type=float, default=10.0,
                   help="emulated seconds per training sample (default %(default)s)")
    c.add_argument("--epochs", type=positive_int, default=None)
    add_campaign_args(c)
    add_common(c, "runs")
    c.set_defaults(func=cmd_fn_compare)
