"""STT-MTJ commands: unsupervised STDP network training, receptive fields, network lockstep.

``synemu mtj snn``               train the on-chip STDP network (golden / verilator) for one or
                             more network sizes and seeds; Diehl & Cook labelling;
                             accuracy mean +- std, receptive-field and accuracy-vs-N plots;
                             one campaign task per (size, seed) (``--workers``,
                             ``--scheduler``; records under ``--out``/campaign)
``synemu mtj receptive-fields``  plot the learned P/AP maps of a saved ``snn`` run
``synemu mtj snn-verify``        lockstep golden vs hardware network over whole training runs

Verilator runs use the compiled native driver by default (``--driver native``:
:class:`~synemu.devices.mtj.network_sim.NativeSNNSession`, whole batches of samples per call, the
vectorised :func:`~synemu.devices.mtj.network_sim.native_snn_lockstep`); ``--driver cocotb`` runs the
cocotb conformance testbench instead (identical results).

``synemu verify --device mtj`` goes through the core command; ``synemu train --device mtj``
trains this STDP network (not the generic delta rule): :func:`cmd_train_mtj` is the plugin's
``trainer``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np

from ...cli.common import (CommandError, add_campaign_args, add_common, parse_param,
                           positive_int, run_tasks)
from ...runtime.report import emit, file_stem, out_dir, progress, save_json

from .experiments import plot_accuracy_vs_n, plot_receptive_fields, snn_config, train_snn
from .presets import TRAIN_NEURONS

__all__ = ["register"]

def _snn_tasks(args, neurons) -> list:
    """One campaign task of :func:`~synemu.devices.mtj.experiments.snn_run` per (network
    size, seed), sizes outer, seeds ``--seed`` .. ``--seed + --seeds - 1`` inner."""
    import dataclasses
    import os

    from ...campaign import Task
    from ...runtime.datasets import DATASETS, load_dataset
    from .network import SNNConfig
    over = dict(args.set or [])
    known = {f.name for f in dataclasses.fields(SNNConfig)} | {"lanes"}
    bad = sorted(set(over) - known)
    if bad:                                  # train_snn's error, before any task runs
        raise ValueError(f"unknown network (SNNConfig) parameter(s) {', '.join(bad)}; known: "
                         f"{', '.join(sorted(known - {'device', 'n_inputs', 'n_neurons'}))}")
    dataset = args.dataset                   # a name, or a path a worker can open
    if dataset not in DATASETS:
        if not os.path.exists(dataset):
            load_dataset(dataset)            # DatasetError naming the choices
        dataset = os.path.abspath(dataset)
    return [Task("synemu.devices.mtj.experiments:snn_run",
                 dict(dataset=dataset, n_neurons=n, seed=args.seed + s, epochs=args.epochs,
                      backend=args.backend, n_train=args.n_train, n_test=args.n_test,
                      compare_golden=args.compare_golden, driver=args.driver, overrides=over),
                 label=f"N={n} seed {args.seed + s}")
            for n in dict.fromkeys(neurons) for s in range(args.seeds)]


def _finished_records(args, tasks) -> list:
    """The records under ``--out``/campaign of ``tasks`` (None where a task has none): what
    an interrupted campaign finished."""
    from ...campaign import RecordStore
    store = RecordStore(Path(args.out) / "campaign")
    return [store.get(t.key) for t in tasks]


def cmd_snn(args):
    from .experiments import unpack_states
    out = out_dir(args.out)
    try:
        neurons = [positive_int(n) for n in args.neurons.split(",")]
    except Exception:
        raise CommandError(f"--neurons wants network sizes >= 1, e.g. 20,50, not "
                           f"{args.neurons!r}") from None
    neurons = list(dict.fromkeys(neurons))
    tasks = _snn_tasks(args, neurons)
    interrupted, camp = False, None
    try:
        camp = run_tasks(args, tasks, "mtj snn")
        results = camp.results()
    except KeyboardInterrupt:
        # Ctrl-C: keep every finished run (recorded under --out/campaign; a rerun resumes);
        # sizes with no finished run are left out
        recs = _finished_records(args, tasks)
        if not any(recs):
            raise
        interrupted = True
        results = [None if r is None else r["result"] for r in recs]
    runs, summary = [], {}
    for n in neurons:
        accs, props = [], []
        for t, r in zip(tasks, results):
            if r is None or t.kwargs["n_neurons"] != n:
                continue
            seed = r["seed"]
            states = unpack_states(r.pop("states_packed"))
            stem = f"snn-{file_stem(args.dataset)}-N{n}-s{seed}-{args.backend}"
            np.savez_compressed(out / f"{stem}.npz", states=states,
                                labels=np.asarray(r["neuron_labels"]),
                                image_shape=np.asarray(r["image_shape"]))
            png = plot_receptive_fields(states, r["image_shape"], out / f"{stem}-rf.png",
                                        r["neuron_labels"],
                                        f"{args.dataset}, N={n}, seed {seed}: "
                                        f"test acc {r['test_accuracy']:.3f}")
            r.update(receptive_fields=str(png), states_file=str(out / f"{stem}.npz"))
            runs.append(r)
            accs.append(r["test_accuracy"])
            props.append(r["test_accuracy_proportion"])
        if accs:
            summary[str(n)] = {"mean": float(np.mean(accs)), "std": float(np.std(accs)),
                               "accuracies": accs, "proportion_mean": float(np.mean(props)),
                               "proportion_std": float(np.std(props)),
                               "proportion_accuracies": props}
    neurons = [n for n in neurons if str(n) in summary]
    plot = None
    if len(neurons) > 1:
        plot = str(plot_accuracy_vs_n(summary, out / f"snn-{file_stem(args.dataset)}-acc-vs-n.png",
                                      f"{args.dataset}: STDP on binary MTJ synapses"))
    result = {"command": "snn", "dataset": args.dataset, "backend": args.backend,
              "driver": args.driver if args.backend == "verilator" else None,
              "epochs": runs[0]["epochs"], "epoch_codes": runs[0]["epoch_codes"],
              "seeds": args.seeds, "accuracy": summary,
              "accuracy_vs_n_plot": plot, "runs": runs, "interrupted": interrupted,
              "campaign": camp.summary() if camp is not None else None}
    save_json(result, out / f"snn-{file_stem(args.dataset)}-{args.backend}.json")
    drv = f" {args.driver} driver" if args.backend == "verilator" else ""
    lines = [f"snn on {args.dataset} ({args.backend}{drv}, {runs[0]['epochs']} epoch(s), codes "
             f"{runs[0]['epoch_codes']}, {args.seeds} seed(s))"]
    for n in neurons:
        s = summary[str(n)]
        lines.append(f"  N={n:4d}: test accuracy {s['mean']:.4f} +- {s['std']:.4f}  {s['accuracies']}"
                     f"  (proportion-weighted read-out {s['proportion_mean']:.4f} +- "
                     f"{s['proportion_std']:.4f})")
    for r in runs:
        extra = "" if r["identical_to_golden"] is None else f", identical to golden: {r['identical_to_golden']}"
        lines.append(f"  N={r['n_neurons']} seed {r['seed']}: {r['train_samples_per_s']:.0f} train samples/s, "
                     f"{r['spikes_per_train_sample']:.2f} spikes/sample, silent test "
                     f"{r['silent_test_fraction']:.3f}{extra}; fields: {r['receptive_fields']}")
    if plot:
        lines.append(f"  accuracy vs N: {plot}")
    if camp is not None:
        c = camp.summary()
        lines.append(f"  campaign: {c['tasks']} task(s), {c['skipped']} from records, "
                     f"{c['scheduler'] or c['workers']} worker(s); "
                     f"records: {c['records']}")
    if interrupted:
        lines.append(f"  interrupted (Ctrl-C) after {len(runs)} run(s); those are saved "
                     f"(rerun to resume)")
    emit(result, "\n".join(lines), args.json)
    bad = [r for r in runs if r["identical_to_golden"] is False]
    return 1 if bad else 130 if interrupted else 0


def cmd_receptive_fields(args):
    d = np.load(args.states)
    out = Path(args.png or str(Path(args.states).with_suffix("")) + "-rf.png")
    png = plot_receptive_fields(d["states"], tuple(d["image_shape"]), out, d["labels"])
    result = {"command": "receptive-fields", "states": args.states, "plot": str(png),
              "neurons": int(d["states"].shape[0]), "p_fraction": float(d["states"].mean())}
    emit(result, f"receptive fields of {result['neurons']} neurons: {png}", args.json)
    return 0


def cmd_snn_verify(args):
    from .network import rate_codes
    from .network_sim import amaranth_snn_lockstep, snn_commands
    from ...runtime.datasets import load_dataset
    ds = load_dataset("digits", seed=0)
    t0 = time.perf_counter()
    over = dict(args.set or [])
    tot = dict(commands=0, steps=0, compared=0, spikes=0)
    failed, first = [], None
    for name in ("seeds", "samples", "neurons", "steps"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be at least 1, not {getattr(args, name)}")
    drv = f" ({args.driver} driver)" if args.backend == "verilator" else ""
    bar = progress(total=args.seeds, desc=f"snn-verify {args.backend}")
    for seed in range(args.seeds):
        cfg = snn_config("digits", 64, args.neurons, seed=seed, steps=args.steps, **over)
        rng = np.random.default_rng(seed)
        idx = rng.choice(len(ds.x_train), args.samples, replace=False)
        Rs = rate_codes(ds.x_train[idx], cfg)
        cmds = snn_commands(cfg, Rs, True) + snn_commands(cfg, Rs[:2], False, init=False)
        if args.backend == "amaranth":
            rep = amaranth_snn_lockstep(cfg, cmds)
        elif args.driver == "native":
            from .network_sim import native_snn_lockstep
            rep = native_snn_lockstep(cfg, cmds)
        else:
            from .network_sim import SNNSession, SNNSessionDriver, snn_lockstep
            with SNNSession(cfg) as s:
                rep = asyncio.run(snn_lockstep(SNNSessionDriver(s), cfg, cmds))
        tot["commands"] += rep.commands
        tot["steps"] += rep.steps
        tot["compared"] += rep.compared
        tot["spikes"] += sum(1 for r in rep.responses if r)
        if not rep.ok:
            failed.append(seed)
            first = first or {"seed": seed, "mismatch": rep.mismatch}
        bar.update(1)
    bar.close()
    secs = time.perf_counter() - t0
    result = {"command": "snn-verify", "backend": args.backend,
              "driver": args.driver if args.backend == "verilator" else None,
              "neurons": args.neurons,
              "inputs": 64, "seeds": args.seeds, "samples": args.samples, **tot,
              "failed_seeds": failed, "first_mismatch": first, "seconds": secs,
              "steps_per_s": tot["steps"] / secs}
    verdict = "PASS: bit-exact" if not failed else f"FAIL on seeds {failed}"
    emit(result, f"snn-verify on {args.backend}{drv}: 64 inputs x {args.neurons} neurons, {args.seeds} "
                 f"seeds x {args.samples} digits samples (train + eval)\n  {tot['steps']} steps, "
                 f"{tot['spikes']} spikes, full state compared {tot['compared']} times "
                 f"(after every STEP/END), {secs:.1f} s\n  {verdict}"
                 + (f"\n  first mismatch: {first}" if first else ""), args.json)
    return 0 if not failed else 1


def cmd_train_mtj(args):
    """``synemu train --device mtj``: the unsupervised STDP network (not the delta rule).

    ``--param`` keys: ``neurons=N``; SNNConfig fields (``theta_plus=96``, ``steps=24``, ...);
    anything else is an MTJ device parameter (``p_ltd=...``, physics overrides);
    ``--preset`` picks an :class:`~synemu.devices.mtj.golden.MTJDevice` preset."""
    import dataclasses

    from .golden import MTJDevice
    from .network import SNNConfig
    backend = args.backend
    if backend not in ("golden", "verilator"):
        raise CommandError(f"backend {backend!r} is not supported for the STDP network "
                           f"(golden, or verilator for small networks); `synemu mtj snn-verify "
                           f"--backend amaranth` covers Amaranth")
    params = dict(args.param or [])
    fields = {f.name for f in dataclasses.fields(SNNConfig)}
    n = params.pop("neurons", params.pop("n_neurons", None))
    if n is None:
        n = TRAIN_NEURONS.get((args.dataset, backend), 20)
    if not isinstance(n, int) or n < 1:
        raise CommandError(f"--param neurons must be an integer >= 1, not {n!r}")
    over = {k: params.pop(k) for k in list(params) if k in fields}
    if args.preset:
        if args.preset not in MTJDevice.PRESETS:
            raise CommandError(f"unknown mtj preset {args.preset!r}; available: "
                               f"{', '.join(MTJDevice.PRESETS)}")
        params = {**MTJDevice.PRESETS[args.preset], **params}
    if params:
        over["device_params"] = params
    out = out_dir(args.out)
    driver = getattr(args, "driver", None) or "native"
    r = train_snn(args.dataset, n, seed=args.seed, epochs=args.epochs, backend=backend,
                  show_progress=not args.json, driver=driver, **over)
    stem = f"train-mtj-{file_stem(args.dataset)}-N{n}-s{args.seed}-{backend}"
    png = plot_receptive_fields(r["states"], r["image_shape"], out / f"{stem}-rf.png",
                                r["neuron_labels"],
                                f"{args.dataset}, N={n}, seed {args.seed}: test acc "
                                f"{r['test_accuracy']:.3f}")
    np.savez_compressed(out / f"{stem}.npz", states=r["states"],
                        labels=np.asarray(r["neuron_labels"]),
                        image_shape=np.asarray(r["image_shape"]))
    res = {k: v for k, v in r.items() if k not in ("states", "predictions")}
    res.update(command="train", device="mtj", preset=args.preset, learning="unsupervised STDP",
               plot=str(png), states_file=str(out / f"{stem}.npz"))
    save_json(res, out / f"{stem}.json")
    drv = f" ({driver} driver)" if backend == "verilator" else ""
    lines = [f"train mtj (unsupervised STDP network, {n} neurons) on {args.dataset} with the "
             f"{backend} backend{drv} ({r['epochs']} epoch(s), codes {r['epoch_codes']}, seed {args.seed}, {r['seconds']:.1f} s, "
             f"{r['train_samples_per_s']:.0f} train samples/s)",
             f"  {r['spikes_per_train_sample']:.2f} spikes/train sample, {r['classes_covered']} "
             f"classes covered, P fraction {r['p_fraction']:.3f}",
             f"  test accuracy {r['test_accuracy']:.4f} (Diehl & Cook labelling; proportion-"
             f"weighted read-out {r['test_accuracy_proportion']:.4f}); "
             f"receptive fields: {png}"]
    emit(res, "\n".join(lines), args.json)
    return 0


def cmd_run_board(args):
    """``synemu run --device mtj``: the STDP network trains on its board (``--port``) or on
    the board's exact top-level in Verilator (or ``--sim model``) through the protected link,
    in stream, resident or host mode (:func:`synemu.devices.mtj.board.run_snn_board`)."""
    from ...link.protocol import LinkError
    from .board import run_snn_board
    refused = [(args.sim == "amaranth", "--sim amaranth (use verilator or model)"),
               (args.driver != "native", "--driver cocotb"), (args.fast_uart, "--fast-uart"),
               (args.ticks, "--ticks (the network has no emulated device time)"),
               (args.order != "lfsr", "--order host (records run in order)"),
               (args.preset or args.param, "--preset/--param (the board's reference network)"),
               (args.lanes, "--lanes (the board's reference network)")]
    bad = [what for cond, what in refused if cond]
    if bad:
        raise CommandError(f"synemu run --device mtj does not take {', '.join(bad)}")
    mode = "auto" if args.mode == "auto" else args.mode
    bar = progress(total=None, desc=f"mtj on {args.board} (training samples)",
                   disable=args.json)
    try:
        r = run_snn_board(args.board, args.dataset, mode=mode, port=args.port, sim=args.sim,
                          limit=args.limit, epochs=args.epochs, seed=args.seed,
                          check=args.check, baud=args.baud, window=args.window,
                          progress=lambda done: bar.update(max(0, done - bar.n)))
    except LinkError as e:
        raise CommandError(str(e), 1) from e
    finally:
        bar.close()
    out = out_dir(args.out)
    res = {"command": "run", "ok": r["identical_to_golden"] is not False, **r}
    save_json(res, out / f"run-mtj-{file_stem(r['dataset'])}.json")

    def rate(v):
        return f"{v:,.0f}" if v else "-"
    lines = [f"run mtj (STDP network {r['n_neurons']} x {r['n_inputs']}) on {r['dataset']} "
             f"({r['mode']} mode) via {r['where']}: {r['samples']} training samples, "
             f"{r['seconds']:.1f} s",
             f"  board {rate(r['board_samples_per_s'])} samples/s of board time (engine bound "
             f"{rate(r['engine_bound_samples_per_s'])}, wire bound "
             f"{rate(r['wire_bound_samples_per_s'])}; link utilisation "
             f"{(r['link_utilisation'] or 0) * 100:.1f} %)",
             f"  test accuracy {r.get('test_accuracy', float('nan')):.3f}; link: "
             f"{r['link']['frames']} frames, {r['link']['retries']} retries, "
             f"{r['link']['busy']} busy"]
    if r["identical_to_golden"] is not None:
        lines.append(f"  identical to the golden model: "
                     f"{'YES' if r['identical_to_golden'] else 'NO'} (golden "
                     f"{rate(r['golden_samples_per_s'])} samples/s)")
    emit(res, "\n".join(lines), args.json)
    return 0 if res["ok"] else 1


DRIVER_HELP = ("Verilator driver of the STDP network: the compiled C++ driver (default) or "
               "the cocotb testbench (identical results)")


#: old flat command names (one release)
LEGACY = {"snn": "snn", "receptive-fields": "receptive-fields", "snn-verify": "snn-verify"}


def register(sub):
    """``synemu mtj snn``, ``synemu mtj receptive-fields``, ``synemu mtj snn-verify``."""
    p = sub.add_parser("snn", help="unsupervised STDP network on binary MTJ synapses")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--neurons", default="20", help="comma-separated network sizes, e.g. 50,100,400")
    p.add_argument("--seeds", type=positive_int, default=1)
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--epochs", type=positive_int, default=None,
                   help="training epochs (default: the dataset preset's code schedule, else 1)")
    p.add_argument("--backend", choices=["golden", "verilator"], default="golden")
    p.add_argument("--driver", choices=["native", "cocotb"], default="native", help=DRIVER_HELP)
    p.add_argument("--n-train", type=positive_int, default=None, help="use only the first n train samples")
    p.add_argument("--n-test", type=positive_int, default=None)
    p.add_argument("--compare-golden", action="store_true",
                   help="(verilator) run the golden model alongside and compare everything")
    p.add_argument("--set", type=parse_param, action="append", metavar="KEY=VALUE",
                   help="SNNConfig override, e.g. --set theta0=32 (repeatable)")
    add_campaign_args(p)
    add_common(p, "runs")
    p.set_defaults(func=cmd_snn)

    r = sub.add_parser("receptive-fields", help="plot learned receptive fields of a saved snn run")
    r.add_argument("states", help=".npz written by `synemu snn`")
    r.add_argument("--png", default=None)
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_receptive_fields)

    v = sub.add_parser("snn-verify", help="lockstep golden vs hardware STDP network (digits)")
    v.add_argument("--backend", choices=["amaranth", "verilator"], default="amaranth")
    v.add_argument("--driver", choices=["native", "cocotb"], default="native",
                   help="(--backend verilator) native: vectorised lockstep on the compiled "
                        "driver (default); cocotb: the cocotb testbench")
    v.add_argument("--seeds", type=positive_int, default=3)
    v.add_argument("--samples", type=positive_int, default=4)
    v.add_argument("--neurons", type=positive_int, default=12)
    v.add_argument("--steps", type=positive_int, default=8)
    v.add_argument("--set", type=parse_param, action="append", metavar="KEY=VALUE")
    add_common(v, "runs")
    v.set_defaults(func=cmd_snn_verify)
