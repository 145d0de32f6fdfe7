"""Measured-device commands: ``synemu device fit`` (also ``synemu measured fit``: CSV pulse
trains -> device file + plot), ``synemu measured synth`` (pulse trains from a published model
or a preset's source, to try the fit) and ``synemu measured compare`` (float32 / ideal same
precision / measured device, host-in-the-loop MLP). ``verify``, ``train``, ``build`` and
``run`` are the generic commands (``--device measured --preset NAME`` or
``--param file=DEVICE.json``)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ...cli.common import (add_campaign_args, add_common, add_device_args, parse_param,
                           positive_int)
from ...runtime.report import emit, file_stem, out_dir, save_json

__all__ = ["register", "register_tools", "cmd_fit"]


# -- fit ----------------------------------------------------------------------------------
def cmd_fit(args):
    from .fit import fit_file
    if args.bits is not None and not 2 <= args.bits <= 10:
        raise ValueError(f"--bits must be in 2..10, not {args.bits}")
    out = Path(args.out)
    if out.suffix != ".json":
        raise ValueError(f"--out names the device file and must end in .json, not {str(out)!r}")
    opts = {k: getattr(args, k) for k in ("bits", "pulse_bits", "frac_bits", "noise_bits",
                                          "d2d_bits", "degree") if getattr(args, k) is not None}
    res = fit_file(args.data, out, plot=args.plot, label=args.label,
                   realisations=args.realisations, seed=args.seed,
                   command="synemu " + " ".join(sys.argv[1:]), **opts)
    e, dev, sb = res["errors"], res["device"], res["fit"]["soft_bounds"]
    us = 1e6
    lines = [f"fitted {res['label']!r} from {Path(args.data).name} "
             f"({res['provenance']['csv']['rows']} pulses, {len(res['provenance']['csv']['devices'])} "
             f"device(s)): {dev['bits']}-bit states, {1 << (dev['pulse_bits'] - 1)} pulse codes "
             f"({dev['codes']}), d2d {dev['d2d_bits']} bits",
             f"  grid {res['grid']['g_min_s'] * us:.3f} .. {res['grid']['g_max_s'] * us:.3f} uS; "
             f"d2d step spread {res['fit']['d2d_sigma'] * 100:.1f} %",
             f"  soft-bounds view: up {sb['up']['rate_per_pulse']:.4g}/pulse towards "
             f"{sb['up']['g_sat_s'] * us:.3f} uS, down {sb['down']['rate_per_pulse']:.4g}/pulse "
             f"towards {sb['down']['g_sat_s'] * us:.3f} uS, c2c std "
             f"{sb['up']['c2c_std_s'] * 1e9:.2f} / {sb['down']['c2c_std_s'] * 1e9:.2f} nS",
             f"  fit error (golden model under the same pulse trains, {e['realisations']} runs): "
             f"mean curves {e['rms_curve_pct']:.2f} %, step mean {e['rms_step_mean_pct']:.3f} %, "
             f"step std {e['rms_step_std_pct']:.3f} % of the range",
             f"  device file: {res['file']}   plot: {res['plot']}",
             f"  use it: synemu verify --device measured --param file={res['file']}"]
    slim = {"command": "device fit", "ok": True, "file": res["file"], "plot": res["plot"],
            "label": res["label"], "errors": e, "grid": res["grid"],
            "soft_bounds": sb, "d2d_sigma": res["fit"]["d2d_sigma"],
            "device": {k: v for k, v in dev.items() if not isinstance(v, list)},
            "provenance": res["provenance"]}
    emit(slim, "\n".join(lines), args.json)
    return 0


def _fit_args(p):
    p.add_argument("data", help="CSV of pulse trains (columns device, cycle, pulse, polarity, "
                                "conductance_s [, amplitude_v, width_s]; .csv.gz too)")
    p.add_argument("--out", required=True, help="device file to write (.json)")
    p.add_argument("--bits", type=int, default=None, help="state index bits k (2..10; default 6)")
    p.add_argument("--pulse-bits", type=int, default=None,
                   help="signed pulse width (codes = 2^(bits-1); default 4)")
    p.add_argument("--frac-bits", type=int, default=None, help="delta fraction bits (default 8)")
    p.add_argument("--noise-bits", type=int, default=None,
                   help="largest binomial noise half-width (default 16)")
    p.add_argument("--d2d-bits", type=int, default=None,
                   help="d2d step-scale code bits (default: 3 with >= 2 devices, else 0)")
    p.add_argument("--degree", type=int, default=None, help="polynomial degree of the mean step")
    p.add_argument("--label", default=None, help="device name (default: the CSV's stem)")
    p.add_argument("--plot", default=None, help="PNG of measured vs golden (default: next to --out)")
    p.add_argument("--realisations", type=positive_int, default=16,
                   help="golden runs per measured device for the fit error")
    p.add_argument("--seed", type=int, default=0)
    add_common(p, out=None)
    p.set_defaults(func=cmd_fit)


# -- synth --------------------------------------------------------------------------------
def cmd_synth(args):
    from .physics import PulseModel, synthesize, write_csv
    from .presets import _sources
    if args.source:
        src = _sources()
        if args.source not in src:
            raise ValueError(f"no preset source {args.source!r}; available: {', '.join(src)}")
        model, synth, _ = src[args.source]
        params = {**model.params(), **dict(args.param)}
    else:
        params, synth = dict(args.param), {}
    try:
        model = PulseModel(**params)
    except TypeError as e:
        raise ValueError(f"bad pulse-model parameter: {e}") from None
    kw = {**synth, **{k: getattr(args, k) for k in ("devices", "cycles", "pulses", "seed")
                      if getattr(args, k) is not None}}
    rows = synthesize(model, **kw)
    path = write_csv(args.out, rows)
    lines = [f"{len(rows)} pulses ({kw}) of a {model.kind} model -> {path}",
             f"  fit it: synemu device fit {path} --out {Path(path).stem.split('.')[0]}.json"]
    emit({"command": "measured synth", "ok": True, "file": str(path), "rows": len(rows),
          "model": model.params(), "synthesis": kw}, "\n".join(lines), args.json)
    return 0


# -- compare ------------------------------------------------------------------------------
def compare_sets(device) -> dict:
    """float32 / ideal at the measured device's weight precision / the measured device (by
    name and parameters -- its tables --, so every set is a JSON campaign task)."""
    label = device.label or "measured"
    return {"float32": ("float32", None, {}),
            f"ideal-{device.weight_width}bit": ("ideal", None, {"weight_bits": device.weight_width}),
            label: ("measured", None, device.params())}


def cmd_compare(args):
    from ...cli.common import device_from_args, run_tasks
    from ...runtime.mlp import compare_plan, plot_compare
    if args.device != "measured":
        raise ValueError("measured compare takes --preset NAME or --param file=DEVICE.json "
                         "(the device is always measured)")
    dev = device_from_args(args)
    out = out_dir(args.out)
    over = dict(epochs=args.epochs, batch=args.batch, lr=args.lr, range_mult=args.range_mult)
    if args.hidden is not None:
        over["hidden"] = tuple(int(h) for h in args.hidden.split(",") if h)
    tasks, collect = compare_plan(args.dataset, seeds=tuple(range(args.seeds)),
                                  sets=compare_sets(dev), **over)
    camp = run_tasks(args, tasks, "compare")
    res = collect(camp.results())
    stem = f"compare-measured-{file_stem(dev.label or 'device')}-{file_stem(args.dataset)}"
    png = plot_compare(res, out / f"{stem}.png",
                       title=f"{dev.label}: host-in-the-loop MLP on {res['dataset']} "
                             f"({len(res['seeds'])} seeds)")
    ideal = f"ideal-{dev.weight_width}bit"
    a, b = res["table"][dev.label or "measured"], res["table"][ideal]
    d = np.array(b["per_seed"]) - np.array(a["per_seed"])
    res["gaps"] = {"ideal_minus_measured_pp": float(d.mean()),
                   "std_pp": float(d.std(ddof=1)) if len(d) > 1 else 0.0}
    res.update(command="measured compare", plot=str(png), device=dev.label,
               campaign=camp.summary())
    save_json(res, out / f"{stem}.json")
    lines = [f"host-in-the-loop MLP on {res['dataset']}, {len(res['seeds'])} seeds, "
             f"{over['epochs']} epochs (test accuracy, mean ± std)"]
    for k, v in res["table"].items():
        lines.append(f"  {k:22s} {v['mean']:6.2f} ± {v['std']:.2f} %")
    g = res["gaps"]
    lines.append(f"  gap {ideal} - {dev.label}: {g['ideal_minus_measured_pp']:+.2f} ± "
                 f"{g['std_pp']:.2f} pp")
    c = camp.summary()
    where = c["scheduler"] or (f"{c['workers']} local workers" if c["workers"] > 1
                               else "this process")
    lines.append(f"  campaign: {c['tasks']} runs ({c['ran']} ran on {where}, {c['skipped']} "
                 f"reused), records {c['records']}")
    lines.append(f"  plot: {png}")
    emit({k: v for k, v in res.items() if k != "runs"}, "\n".join(lines), args.json)
    return 0


#: old flat command names (one release): none for this device
LEGACY: dict = {}


def register_tools(sub):
    """``synemu device fit`` (the device-independent home of the fit)."""
    _fit_args(sub.add_parser("fit", help="fit a measured device from CSV pulse trains"))


def register(sub):
    """``synemu measured fit|synth|compare``."""
    _fit_args(sub.add_parser("fit", help="fit a measured device from CSV pulse trains "
                                         "(same as `synemu device fit`)"))
    s = sub.add_parser("synth", help="pulse-train CSV from a published pulse-response model")
    s.add_argument("--source", default=None,
                   help="a preset's published model (reram-gong2018, ecram-tang2018, "
                        "fefet-jerry2017); --param overrides its parameters")
    s.add_argument("--param", type=parse_param, action="append", default=[], metavar="KEY=VALUE",
                   help="pulse-model parameter (kind, dw_min, w_min, w_max, gamma_up, "
                        "gamma_down, dw_min_std, mult_noise, dw_min_dtod, ..., g_min_s, g_max_s)")
    s.add_argument("--devices", type=positive_int, default=None)
    s.add_argument("--cycles", type=positive_int, default=None)
    s.add_argument("--pulses", type=positive_int, default=None, help="pulses per train")
    s.add_argument("--seed", type=int, default=None)
    s.add_argument("--out", required=True, help="CSV to write (.csv or .csv.gz)")
    add_common(s, out=None)
    s.set_defaults(func=cmd_synth)

    c = sub.add_parser("compare", help="float32 vs ideal same precision vs the measured "
                                       "device (MLP accuracy)")
    add_device_args(c, default="measured")
    c.add_argument("--dataset", default="mnist5k")
    c.add_argument("--seeds", type=positive_int, default=3)
    c.add_argument("--epochs", type=positive_int, default=8)
    c.add_argument("--batch", type=positive_int, default=32)
    c.add_argument("--lr", type=float, default=0.2)
    c.add_argument("--range-mult", type=float, default=2.0)
    c.add_argument("--hidden", default="128", help="hidden sizes, comma separated")
    add_common(c, "runs")
    add_campaign_args(c)
    c.set_defaults(func=cmd_compare)
