"""STT-MTJ commands: unsupervised STDP network training, receptive fields, network lockstep.

``synemu snn``               train the on-chip STDP network (golden / verilator) for one or
                             more network sizes and seeds; Diehl & Cook labelling;
                             accuracy mean +- std, receptive-field and accuracy-vs-N plots
``synemu receptive-fields``  plot the learned P/AP maps of a saved ``snn`` run
``synemu snn-verify``        lockstep golden vs hardware network over whole training runs

Verilator runs use the compiled native driver by default (``--driver native``:
:class:`~synemu.sim.cocotb_snn.NativeSNNSession`, whole batches of samples per call, the
vectorised :func:`~synemu.sim.cocotb_snn.native_snn_lockstep`); ``--driver cocotb`` runs the
cocotb conformance testbench instead (identical results).

``synemu verify --device mtj`` goes through the core command; ``synemu train --device mtj``
is registered in ``cli.TRAINERS`` and trains this STDP network (not the generic delta rule).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np

from .report import emit, out_dir, plt, progress, save_json

__all__ = ["register", "SNN_PRESETS", "snn_config", "train_snn", "plot_receptive_fields",
           "plot_accuracy_vs_n"]

#: dataset -> SNNConfig overrides (tuned on the golden model; see README "STT-MTJ synapse")
SNN_PRESETS: dict[str, dict] = {
    "digits": dict(steps=16, theta0=16, max_rate=1.0, leak_shift=3, code=3, init_code=5,
                   theta_plus=32, theta_frac=6, theta_decay=8),
    # 7 epochs with an annealed learning code (pulse amplitude) 4,3,3,2,2,1,1 and strong, slow
    # homeostasis: 83.8 % (1 epoch, theta_plus 128, theta0 128, decay 8) -> 85.9 % over
    # 12 seeds at N = 400 (README "STT-MTJ synapse")
    "mnist5k": dict(steps=16, theta0=64, max_rate=1.0, leak_shift=3, code=3, init_code=5,
                    theta_plus=512, theta_frac=6, theta_decay=10,
                    schedule=(4, 3, 3, 2, 2, 1, 1)),
}


def _single_thread():
    """Limit BLAS to one thread (tiny matmuls; threads only contend on shared cores)."""
    try:
        from threadpoolctl import threadpool_limits
        return threadpool_limits(limits=1)
    except ImportError:  # pragma: no cover
        import contextlib
        return contextlib.nullcontext()


def snn_config(dataset: str, n_inputs: int, n_neurons: int, seed: int = 0, **overrides):
    from ..golden.mtj import MTJDevice
    from ..golden.snn import SNNConfig
    kw = dict(SNN_PRESETS.get(dataset, SNN_PRESETS["mnist5k"]))
    dev = overrides.pop("device", None)
    dev_params = {**kw.pop("device_params", {}), **(overrides.pop("device_params", None) or {})}
    kw.update(overrides)
    if isinstance(kw.get("schedule"), str):   # from the command line: "3,3,2" ("" = none)
        kw["schedule"] = tuple(int(c) for c in kw["schedule"].split(",") if c.strip())
    elif isinstance(kw.get("schedule"), int):
        kw["schedule"] = (kw["schedule"],)
    lanes = kw.pop("lanes", 4 if n_inputs % 4 == 0 else 1)
    return SNNConfig(n_inputs=n_inputs, n_neurons=n_neurons, lanes=lanes, seed=seed + 1,
                     device=dev or MTJDevice(**dev_params), **kw)


class _VerilatorNet:
    """Runs the host command stream of whole samples on a Verilator SNN session
    (``driver``: ``native``, the compiled driver, batches of samples in one call; ``cocotb``,
    the conformance testbench, one socket round trip per sample)."""

    def __init__(self, cfg, driver: str = "native"):
        from ..sim.cocotb_snn import snn_session
        self.cfg = cfg
        self.driver = driver
        self.session = snn_session(cfg, driver)
        self.session.run([(2, 0, 0)])  # INIT
        if driver == "native":
            self.present_batch = self.session.present_batch

    def present(self, R, learn: bool, code: int | None = None) -> np.ndarray:
        from ..sim.cocotb_snn import snn_commands
        cmds = snn_commands(self.cfg, [R], learn, init=False, code=code)
        resps, _ = self.session.run(cmds)
        counts = np.zeros(self.cfg.n_neurons, dtype=np.int64)
        for r in resps:
            if r and r[0]:
                counts[r[0] - 1] += 1
        return counts

    def evaluate(self, Rs) -> np.ndarray:
        if self.driver == "native":
            return self.session.present_batch(Rs, False)
        return np.stack([self.present(R, False) for R in Rs])

    def states(self) -> np.ndarray:
        _, snap = self.session.run([], snapshot=True)
        e = self.cfg.engine_config
        return (np.asarray(snap.words).reshape(e.rows, e.cols) & 1).astype(np.uint8)

    def close(self):
        self.session.close()


def train_snn(dataset: str = "digits", n_neurons: int = 20, *, seed: int = 0,
              epochs: int | None = None,
              backend: str = "golden", n_train: int | None = None, n_test: int | None = None,
              show_progress: bool = True, compare_golden: bool = False,
              driver: str = "native", chunk: int = 256, on_progress=None,
              **overrides) -> dict:
    """Unsupervised STDP training + Diehl & Cook labelling; returns a JSON-ready dict.

    Protocol: INIT, one pass over the train split per epoch (order: a NumPy permutation
    seeded by ``seed``) learning with that epoch's pulse code (``cfg.schedule``, or
    ``cfg.code`` for ``epochs`` epochs, default 1); then, learning off, the train split is presented once to
    label every neuron with the class of its highest mean spike count, and the test split is
    classified by the class whose neurons have the highest mean count.

    ``backend="verilator"``: ``driver`` ``native`` (default; ``chunk`` samples per driver
    call) or ``cocotb``. Besides the accuracies the result holds the test ``predictions``,
    the final P/AP ``states`` and a hash of every evaluation spike count (``counts_sha``),
    so runs on two backends can be compared bit for bit. ``on_progress(done, total)`` is
    called as samples are presented (training and both evaluation passes).
    """
    from ..golden.snn import GoldenSNN, assign_labels, classify, classify_proportion, rate_codes
    from .datasets import load_dataset
    ds = load_dataset(dataset, seed=0)
    xtr, ytr, xte, yte = ds.x_train, ds.y_train, ds.x_test, ds.y_test
    if n_train:
        xtr, ytr = xtr[:n_train], ytr[:n_train]
    if n_test:
        xte, yte = xte[:n_test], yte[:n_test]
    cfg = snn_config(ds.name, xtr.shape[1], n_neurons, seed, **overrides)
    if epochs is not None and cfg.schedule and epochs != len(cfg.schedule):
        raise ValueError(f"snn: {epochs} epoch(s) asked for, but the {ds.name} schedule has "
                         f"{len(cfg.schedule)} codes {list(cfg.schedule)}; drop the epoch "
                         f"count or set schedule= (empty: code {cfg.code} every epoch)")
    codes = cfg.epoch_codes(epochs or 1)
    epochs = len(codes)
    Rtr, Rte = rate_codes(xtr, cfg), rate_codes(xte, cfg)
    order_rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    if backend == "golden":
        net = GoldenSNN(cfg)
        net.init()
    elif backend == "verilator":
        from ..sim.cocotb_snn import DRIVERS
        if driver not in DRIVERS:
            raise ValueError(f"unknown Verilator driver {driver!r}; use one of {', '.join(DRIVERS)}")
        net = _VerilatorNet(cfg, driver)
    else:
        raise ValueError(f"snn backend must be golden or verilator, not {backend!r}")
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, not {chunk}")
    batch = getattr(net, "present_batch", None)
    golden = None
    if compare_golden and backend != "golden":
        golden = GoldenSNN(cfg)
        golden.init()
    spikes = 0
    total = epochs * len(Rtr) + len(Rtr) + len(Rte)
    bar = progress(total=total, desc=f"snn N={n_neurons} {backend}", disable=not show_progress)
    done = 0

    def advance(n):
        nonlocal done
        done += n
        bar.update(n)
        if on_progress is not None:
            on_progress(done, total)

    def evaluate(Rs):
        if batch is None:
            c = net.evaluate(Rs)
            advance(len(Rs))
            return c
        parts = []
        for k in range(0, len(Rs), chunk):
            parts.append(batch(Rs[k:k + chunk], False))
            advance(len(parts[-1]))
        return np.concatenate(parts) if parts else np.zeros((0, cfg.n_neurons), np.int64)

    try:
        with _single_thread():
            for code in codes:
                order = order_rng.permutation(len(Rtr))
                for k in range(0, len(order), chunk if batch is not None else 1):
                    idx = order[k:k + chunk] if batch is not None else order[k:k + 1]
                    if batch is not None:
                        cs = batch(Rtr[idx], True, code)
                    else:
                        cs = net.present(Rtr[idx[0]], True, code)[None, :]
                    if golden is not None:
                        for j, i in enumerate(idx):
                            cg = golden.present(Rtr[i], True, code)
                            if not np.array_equal(cs[j], cg):
                                raise RuntimeError(f"{backend} and golden spike counts differ at "
                                                   f"train sample {i}: {cs[j]} vs {cg}")
                    spikes += int(cs.sum())
                    advance(len(idx))
            t_train = time.perf_counter() - t0
            ctr = evaluate(Rtr)
            cte = evaluate(Rte)
            states = net.states()
            identical = None
            if golden is not None:
                identical = bool(np.array_equal(golden.evaluate(Rtr), ctr) and
                                 np.array_equal(golden.evaluate(Rte), cte) and
                                 np.array_equal(golden.states(), states))
    finally:
        bar.close()
        if backend != "golden":
            net.close()
    seconds = time.perf_counter() - t0
    assigned = assign_labels(ctr, ytr, ds.n_classes)
    pred = classify(cte, assigned, ds.n_classes)
    pred_prop = classify_proportion(cte, ctr, ytr, ds.n_classes)
    n_learn = epochs * len(Rtr)
    import hashlib
    counts_sha = hashlib.sha256(np.ascontiguousarray(ctr, dtype=np.int64).tobytes()
                                + np.ascontiguousarray(cte, dtype=np.int64).tobytes()).hexdigest()[:16]
    return {
        "dataset": ds.name, "backend": backend,
        "driver": driver if backend == "verilator" else None,
        "n_neurons": n_neurons, "seed": seed,
        "epochs": epochs, "epoch_codes": list(codes), "n_train": len(Rtr), "n_test": len(Rte),
        "test_accuracy": float(np.mean(pred == yte)),
        "test_accuracy_proportion": float(np.mean(pred_prop == yte)),
        "silent_test_fraction": float(np.mean(cte.sum(axis=1) == 0)),
        "spikes_per_train_sample": spikes / max(n_learn, 1),
        "classes_covered": int(len(set(assigned.tolist()) - {-1})),
        "p_fraction": float(states.mean()),
        "seconds": seconds, "train_seconds": t_train,
        "train_samples_per_s": n_learn / t_train,
        "synapse_updates_per_s": spikes * cfg.n_inputs / t_train if backend == "golden" else None,
        "identical_to_golden": identical,
        "config": cfg.to_dict(), "neuron_labels": assigned.tolist(),
        "predictions": pred.tolist(), "counts_sha": counts_sha,
        "states_sha": hashlib.sha256(np.ascontiguousarray(states, dtype=np.uint8).tobytes()
                                     ).hexdigest()[:16],
        "states": states, "image_shape": list(ds.image_shape),
    }


def plot_receptive_fields(states: np.ndarray, image_shape, path, labels=None, title=""):
    """One P(white)/AP(black) image per neuron, on a near-square grid; saved as PNG."""
    pyplot = plt()
    states = np.asarray(states)
    n = states.shape[0]
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    fig, axes = pyplot.subplots(rows, cols, figsize=(cols * 0.7 + 0.5, rows * 0.7 + 0.7),
                                squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if k < n:
            ax.imshow(states[k].reshape(image_shape), cmap="gray", vmin=0, vmax=1,
                      interpolation="nearest")
            if labels is not None and labels[k] >= 0:
                ax.set_title(str(labels[k]), fontsize=6, pad=1)
    fig.suptitle(title or f"{n} receptive fields (white = P)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot.close(fig)
    return Path(path)


def plot_accuracy_vs_n(summary: dict, path, title=""):
    """Test accuracy (mean +- std over seeds) vs number of neurons."""
    pyplot = plt()
    ns = sorted(int(k) for k in summary)
    mean = [summary[str(n)]["mean"] if str(n) in summary else summary[n]["mean"] for n in ns]
    std = [summary[str(n)]["std"] if str(n) in summary else summary[n]["std"] for n in ns]
    fig, ax = pyplot.subplots(figsize=(5, 3.6))
    ax.errorbar(ns, mean, yerr=std, marker="o", capsize=3, label="MTJ STDP network (this work)")
    ax.axhline(0.87, ls=":", c="gray", label="Diehl & Cook, 400 neurons (60k MNIST)")
    ax.set_xscale("log")
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.minorticks_off()
    ax.set_xlabel("output neurons N")
    ax.set_ylabel("test accuracy")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    pyplot.close(fig)
    return Path(path)


def cmd_snn(args):
    out = out_dir(args.out)
    neurons = [int(n) for n in args.neurons.split(",")]
    runs, summary = [], {}
    over = dict(args.set or [])
    for n in neurons:
        accs, props = [], []
        for s in range(args.seeds):
            r = train_snn(args.dataset, n, seed=args.seed + s, epochs=args.epochs,
                          backend=args.backend, n_train=args.n_train, n_test=args.n_test,
                          compare_golden=args.compare_golden, driver=args.driver, **over)
            stem = f"snn-{args.dataset}-N{n}-s{args.seed + s}-{args.backend}"
            np.savez_compressed(out / f"{stem}.npz", states=r["states"],
                                labels=np.asarray(r["neuron_labels"]),
                                image_shape=np.asarray(r["image_shape"]))
            png = plot_receptive_fields(r["states"], r["image_shape"], out / f"{stem}-rf.png",
                                        r["neuron_labels"],
                                        f"{args.dataset}, N={n}, seed {args.seed + s}: "
                                        f"test acc {r['test_accuracy']:.3f}")
            r = {k: v for k, v in r.items() if k not in ("states", "predictions")}
            r.update(receptive_fields=str(png), states_file=str(out / f"{stem}.npz"))
            runs.append(r)
            accs.append(r["test_accuracy"])
            props.append(r["test_accuracy_proportion"])
        summary[str(n)] = {"mean": float(np.mean(accs)), "std": float(np.std(accs)),
                           "accuracies": accs, "proportion_mean": float(np.mean(props)),
                           "proportion_std": float(np.std(props)), "proportion_accuracies": props}
    plot = None
    if len(neurons) > 1:
        plot = str(plot_accuracy_vs_n(summary, out / f"snn-{args.dataset}-acc-vs-n.png",
                                      f"{args.dataset}: STDP on binary MTJ synapses"))
    result = {"command": "snn", "dataset": args.dataset, "backend": args.backend,
              "driver": args.driver if args.backend == "verilator" else None,
              "epochs": runs[0]["epochs"], "epoch_codes": runs[0]["epoch_codes"],
              "seeds": args.seeds, "accuracy": summary,
              "accuracy_vs_n_plot": plot, "runs": runs}
    save_json(result, out / f"snn-{args.dataset}-{args.backend}.json")
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
    emit(result, "\n".join(lines), args.json)
    bad = [r for r in runs if r["identical_to_golden"] is False]
    return 1 if bad else 0


def cmd_receptive_fields(args):
    d = np.load(args.states)
    out = Path(args.png or str(Path(args.states).with_suffix("")) + "-rf.png")
    png = plot_receptive_fields(d["states"], tuple(d["image_shape"]), out, d["labels"])
    result = {"command": "receptive-fields", "states": args.states, "plot": str(png),
              "neurons": int(d["states"].shape[0]), "p_fraction": float(d["states"].mean())}
    emit(result, f"receptive fields of {result['neurons']} neurons: {png}", args.json)
    return 0


def cmd_snn_verify(args):
    from ..golden.snn import rate_codes
    from ..sim.cocotb_snn import amaranth_snn_lockstep, snn_commands
    from .datasets import load_dataset
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
            from ..sim.cocotb_snn import native_snn_lockstep
            rep = native_snn_lockstep(cfg, cmds)
        else:
            from ..sim.cocotb_snn import SNNSession, SNNSessionDriver, snn_lockstep
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


#: default network size of ``synemu train --device mtj`` per (dataset, backend)
TRAIN_NEURONS = {("mnist5k", "golden"): 400, ("digits", "golden"): 100,
                 ("digits", "verilator"): 10, ("mnist5k", "verilator"): 10}


def cmd_train_mtj(args):
    """``synemu train --device mtj``: the unsupervised STDP network (not the delta rule).

    ``--param`` keys: ``neurons=N``; SNNConfig fields (``theta_plus=96``, ``steps=24``, ...);
    anything else is an MTJ device parameter (``p_ltd=...``, physics overrides);
    ``--preset`` picks an :class:`~synemu.golden.mtj.MTJDevice` preset."""
    import dataclasses
    from ..golden.mtj import MTJDevice
    from ..golden.snn import SNNConfig
    backend = args.backend
    if backend not in ("golden", "verilator"):
        print(f"train --device mtj: backend {backend!r} not supported for the STDP network "
              f"(golden, or verilator for small networks); `synemu snn-verify --backend amaranth` "
              f"covers Amaranth")
        return 2
    params = dict(args.param or [])
    fields = {f.name for f in dataclasses.fields(SNNConfig)}
    n = int(params.pop("neurons", params.pop("n_neurons", 0)) or
            TRAIN_NEURONS.get((args.dataset, backend), 20))
    over = {k: params.pop(k) for k in list(params) if k in fields}
    if args.preset:
        if args.preset not in MTJDevice.PRESETS:
            print(f"unknown mtj preset {args.preset!r}; available: {', '.join(MTJDevice.PRESETS)}")
            return 2
        params = {**MTJDevice.PRESETS[args.preset], **params}
    if params:
        over["device_params"] = params
    out = out_dir(args.out)
    driver = getattr(args, "driver", None) or "native"
    r = train_snn(args.dataset, n, seed=args.seed, epochs=args.epochs, backend=backend,
                  show_progress=not args.json, driver=driver, **over)
    stem = f"train-mtj-{args.dataset}-N{n}-s{args.seed}-{backend}"
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


DRIVER_HELP = ("Verilator driver of the STDP network: the compiled C++ driver (default) or "
               "the cocotb testbench (identical results)")


def register(sub):
    from .cli import TRAINERS, _param, add_common
    TRAINERS["mtj"] = cmd_train_mtj
    train = sub.choices.get("train")
    if train is not None and "--driver" not in train._option_string_actions:
        # `synemu train --device mtj --backend verilator` runs the STDP network (cmd_train_mtj)
        train.add_argument("--driver", choices=["native", "cocotb"], default=None,
                           help="(--device mtj, --backend verilator) " + DRIVER_HELP)
    p = sub.add_parser("snn", help="unsupervised STDP network on binary MTJ synapses")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--neurons", default="20", help="comma-separated network sizes, e.g. 50,100,400")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--epochs", type=int, default=None,
                   help="training epochs (default: the dataset preset's code schedule, else 1)")
    p.add_argument("--backend", choices=["golden", "verilator"], default="golden")
    p.add_argument("--driver", choices=["native", "cocotb"], default="native", help=DRIVER_HELP)
    p.add_argument("--n-train", type=int, default=None, help="use only the first n train samples")
    p.add_argument("--n-test", type=int, default=None)
    p.add_argument("--compare-golden", action="store_true",
                   help="(verilator) run the golden model alongside and compare everything")
    p.add_argument("--set", type=_param, action="append", metavar="KEY=VALUE",
                   help="SNNConfig override, e.g. --set theta0=32 (repeatable)")
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
    v.add_argument("--seeds", type=int, default=3)
    v.add_argument("--samples", type=int, default=4)
    v.add_argument("--neurons", type=int, default=12)
    v.add_argument("--steps", type=int, default=8)
    v.add_argument("--set", type=_param, action="append", metavar="KEY=VALUE")
    add_common(v, "runs")
    v.set_defaults(func=cmd_snn_verify)
