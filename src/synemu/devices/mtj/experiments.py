"""STT-MTJ experiments (runtime; no CLI): the unsupervised STDP network trained on golden or
Verilator, its configuration from :mod:`.presets`, and its plots.

Verilator runs use the compiled native driver by default (``driver="native"``:
:class:`~synemu.devices.mtj.network_sim.NativeSNNSession`, whole batches of samples per
call); ``driver="cocotb"`` runs the cocotb conformance testbench instead (identical results).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ...runtime.report import plt, progress
from .presets import SNN_PRESETS

__all__ = ["snn_config", "train_snn", "snn_run", "pack_states", "unpack_states",
           "plot_receptive_fields", "plot_accuracy_vs_n"]


def _single_thread():
    """Limit BLAS to one thread (tiny matmuls; threads only contend on shared cores)."""
    try:
        from threadpoolctl import threadpool_limits
        return threadpool_limits(limits=1)
    except ImportError:  # pragma: no cover
        import contextlib
        return contextlib.nullcontext()


def snn_config(dataset: str, n_inputs: int, n_neurons: int, seed: int = 0, **overrides):
    from .golden import MTJDevice
    from .network import SNNConfig
    kw = dict(SNN_PRESETS.get(dataset, SNN_PRESETS["mnist5k"]))
    dev = overrides.pop("device", None)
    dev_params = {**kw.pop("device_params", {}), **(overrides.pop("device_params", None) or {})}
    kw.update(overrides)
    if isinstance(kw.get("schedule"), str):   # from the command line: "3,3,2" ("" = none)
        kw["schedule"] = tuple(int(c) for c in kw["schedule"].split(",") if c.strip())
    elif isinstance(kw.get("schedule"), int):
        kw["schedule"] = (kw["schedule"],)
    lanes = kw.pop("lanes", 4 if n_inputs % 4 == 0 else 1)
    import dataclasses
    for what, cls, keys in (("network (SNNConfig)", SNNConfig, kw), ("MTJ device", MTJDevice,
                                                                     dev_params)):
        names = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(keys) - names)
        if bad:
            raise ValueError(f"unknown {what} parameter(s) {', '.join(bad)}; known: "
                             f"{', '.join(sorted(names - {'device', 'n_inputs', 'n_neurons'}))}")
    return SNNConfig(n_inputs=n_inputs, n_neurons=n_neurons, lanes=lanes, seed=seed + 1,
                     device=dev or MTJDevice(**dev_params), **kw)


class _VerilatorNet:
    """Runs the host command stream of whole samples on a Verilator SNN session
    (``driver``: ``native``, the compiled driver, batches of samples in one call; ``cocotb``,
    the conformance testbench, one socket round trip per sample)."""

    def __init__(self, cfg, driver: str = "native"):
        from .network_sim import snn_session
        self.cfg = cfg
        self.driver = driver
        self.session = snn_session(cfg, driver)
        self.session.run([(2, 0, 0)])  # INIT
        if driver == "native":
            self.present_batch = self.session.present_batch

    def present(self, R, learn: bool, code: int | None = None) -> np.ndarray:
        from .network_sim import snn_commands
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
    from .network import GoldenSNN, assign_labels, classify, classify_proportion, rate_codes
    from ...runtime.datasets import load_dataset
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
        from .network_sim import DRIVERS
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


def pack_states(states: np.ndarray) -> dict:
    """P/AP states (0/1, neurons x inputs) as JSON: shape and base64 of the packed bits."""
    import base64
    states = np.asarray(states, dtype=np.uint8)
    return {"shape": list(states.shape),
            "bits": base64.b64encode(np.packbits(states.ravel()).tobytes()).decode("ascii")}


def unpack_states(packed: dict) -> np.ndarray:
    """Inverse of :func:`pack_states`."""
    import base64
    shape = tuple(packed["shape"])
    bits = np.frombuffer(base64.b64decode(packed["bits"]), dtype=np.uint8)
    return np.unpackbits(bits, count=int(np.prod(shape))).reshape(shape).astype(np.uint8)


def snn_run(dataset: str = "digits", n_neurons: int = 20, seed: int = 0,
            epochs: int | None = None, backend: str = "golden", n_train: int | None = None,
            n_test: int | None = None, compare_golden: bool = False, driver: str = "native",
            overrides: dict | None = None) -> dict:
    """One run of ``synemu mtj snn`` as a campaign task (JSON arguments, JSON result):
    :func:`train_snn` without progress bar, its test ``predictions`` dropped and the final
    ``states`` packed (:func:`pack_states`; :func:`unpack_states` restores them)."""
    import json
    r = train_snn(dataset, int(n_neurons), seed=int(seed), epochs=epochs, backend=backend,
                  n_train=n_train, n_test=n_test, show_progress=False,
                  compare_golden=compare_golden, driver=driver, **(overrides or {}))
    states = r.pop("states")
    r.pop("predictions", None)
    r["states_packed"] = pack_states(states)
    return json.loads(json.dumps(r))        # the same types in process, on workers, on disk


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
