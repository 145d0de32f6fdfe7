"""Host-in-the-loop training of a small MLP whose layers are synapse tiles (any device).

Each layer ``l`` (``n_out x n_in``) is a :class:`~synemu.runtime.tile.Tile` of ``n_out`` rows and
``n_in + 1`` columns (the last column is the bias, its input held at 1), padded to the lanes.
A device weight code ``W`` (signed integer) stands for the real weight ``W * scale_l`` with
``scale_l = range_mult * sqrt(6 / fan_in) / 2^(weight_bits - 1)``: the He-uniform
initialisation range uses ``1/range_mult`` of the device's rail.

One training step on a mini-batch (the order of operations of the FeMFET device):

1. read back the tiles' weights (training read-out; with ``qat=True`` the *inference*
   read-out, i.e. M only for the FeMFET, with a straight-through gradient);
2. forward (ReLU hidden layers, softmax output) and back-propagation on the host in NumPy
   (float64), mean cross-entropy gradient ``g``;
3. pulses ``p = stochastic_round(-lr * g / (scale_l * pulse_gain))`` (host NumPy RNG,
   unbiased; ``pulse_gain``: the device's mean weight change per pulse), saturated to
   the device's pulse width, sent as UPDATEs (``Tile.update_matrix``);
4. ``SAMPLE`` on every tile (marks one batch: the periodic transfer of T1 devices runs every
   ``sample_period`` batches), then ``TICK ticks_per_batch`` (leakage), if > 0.

Evaluation uses the inference read-out (``infer_weight``: M only for the FeMFET). The
``float32`` baseline runs the same network, initialisation, batches and learning rate with
float32 weights and no quantisation. All runs with the same ``seed`` see the same data
split, initial weights (before quantisation) and batch order.
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass, replace

import numpy as np

from ..spec.registry import make_device
from ..spec.device import Device
from ..spec.engine import Command, Op
from ..campaign import Task
from .datasets import Dataset, load_dataset
from .report import plt, progress
from .tile import GoldenBackend, Tile

__all__ = ["MLPConfig", "TileLayer", "train_mlp", "compare_devices", "compare_plan", "compare_run",
           "compare_task", "jsonable", "plot_compare", "FLOAT"]

FLOAT = "float32"


@dataclass(frozen=True)
class MLPConfig:
    """Hyper-parameters: ``hidden`` layer sizes, ``epochs``, ``batch`` size, SGD ``lr``,
    ``range_mult`` (device rail / He-init range), ``qat`` (forward through the inference
    read-out while training), ``ticks_per_batch`` (emulated time per batch), ``lanes``
    (hardware lanes per tile), ``max_train`` (use only the first n training samples; 0: all)."""

    hidden: tuple[int, ...] = (128,)
    epochs: int = 8
    batch: int = 32
    lr: float = 0.2
    range_mult: float = 2.0
    qat: bool = False
    ticks_per_batch: int = 0
    lanes: int = 1
    max_train: int = 0

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden layer sizes must be >= 1, not {self.hidden}")
        for name in ("epochs", "batch", "lanes"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, not {v!r}")
        if not self.lr > 0 or not self.range_mult > 0:
            raise ValueError("lr and range_mult must be > 0")
        if self.ticks_per_batch < 0 or self.max_train < 0:
            raise ValueError("ticks_per_batch and max_train must be >= 0")


class TileLayer:
    """One dense layer stored in a tile: ``n_out x (n_in + 1)`` synapses (bias last)."""

    def __init__(self, device: Device, n_in: int, n_out: int, w0: np.ndarray, *,
                 range_mult: float, lanes: int = 1, backend: str = "golden", seed: int = 1):
        self.device, self.n_in, self.n_out = device, n_in, n_out
        cols = n_in + 1
        cols += (-cols) % lanes
        self.cols = cols
        half = 1 << (device.weight_width - 1)
        self.scale = range_mult * np.sqrt(6.0 / n_in) / half
        self.tile = Tile(device, rows=n_out, cols=cols, lanes=lanes, backend=backend, seed=seed)
        self.fast = isinstance(self.tile.backend, GoldenBackend)
        target = np.zeros((n_out, cols), dtype=np.int64)
        target[:, :n_in + 1] = np.clip(np.rint(w0 / self.scale), -half, half - 1)
        self._set_weights(target)

    def _set_weights(self, target):
        dev = self.device
        lo, hi = dev.weight_fmt.min, dev.weight_fmt.max
        target = np.clip(target, lo, hi)
        if hasattr(dev, "state_for_weight"):
            state = dev.state_for_weight(target)
            if self.fast:  # same effect as the WRITE commands below, without the round trips
                e = self.tile.backend.engine
                for k in e.state:
                    e.state[k][...] = state[k]
                return
            words = dev.pack(state)
            self.tile.execute([Command(Op.WRITE, r, c, int(words[r, c]))
                               for r in range(self.n_out) for c in range(self.cols)])
            return
        for _ in range(16):  # generic: pulse from the reset state towards the target
            diff = target - self.weights(train=True)
            if not diff.any():
                return
            self.tile.update_matrix(self.device.pulse_fmt.saturate(diff))
        raise RuntimeError(f"could not program the initial weights of device {dev.name!r}")

    def weights(self, train: bool = True) -> np.ndarray:
        """Signed integer weight codes (n_out, cols)."""
        if self.fast:
            e = self.tile.backend.engine
            f = self.device.train_weight if train else self.device.infer_weight
            return np.asarray(f(e.state, time=e.time), dtype=np.int64)
        return np.asarray(self.tile.weights(inference=not train), dtype=np.int64)

    def real(self, train: bool = True) -> np.ndarray:
        """Real weights (n_out, n_in + 1) including the bias column."""
        return self.weights(train)[:, :self.n_in + 1] * self.scale

    def apply(self, grad: np.ndarray, lr: float, rng: np.random.Generator) -> int:
        """Send ``stochastic_round(-lr * grad / (scale * pulse_gain))`` pulses; returns their
        count."""
        step = -lr * grad / (self.scale * self.device.pulse_gain)
        fl = np.floor(step)
        pulses = (fl + (rng.random(step.shape) < (step - fl))).astype(np.int64)
        pulses = self.device.pulse_fmt.saturate(pulses)
        full = np.zeros((self.n_out, self.cols), dtype=np.int64)
        full[:, :self.n_in + 1] = pulses
        self.tile.update_matrix(full)
        return int(np.abs(full).sum())

    def end_batch(self, ticks: int):
        cmds = [Command(Op.SAMPLE)]
        if ticks and self.device.tick_sweeps:
            step = (1 << self.tile.config.tick_width) - 1
            while ticks > 0:
                cmds.append(Command(Op.TICK, 0, 0, min(ticks, step)))
                ticks -= min(ticks, step)
        self.tile.execute(cmds)

    def close(self):
        self.tile.close()


def _he_init(rng, sizes):
    ws = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        a = np.sqrt(6.0 / n_in)
        w = rng.uniform(-a, a, size=(n_out, n_in + 1))
        w[:, -1] = 0.0
        ws.append(w)
    return ws


def _forward(ws, x):
    acts = [x]
    h = x
    for i, w in enumerate(ws):
        z = h @ w[:, :-1].T + w[:, -1]
        h = np.maximum(z, 0.0) if i < len(ws) - 1 else z
        acts.append(h)
    return acts


def _backward(ws, acts, y):
    z = acts[-1]
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    d = p
    d[np.arange(len(y)), y] -= 1.0
    d /= len(y)
    grads = [None] * len(ws)
    for i in range(len(ws) - 1, -1, -1):
        h = acts[i]
        grads[i] = np.concatenate([d.T @ h, d.sum(axis=0)[:, None]], axis=1)
        if i:
            d = (d @ ws[i][:, :-1]) * (acts[i] > 0)
    return grads


def _accuracy(ws, x, y) -> float:
    return float(np.mean(np.argmax(_forward(ws, x)[-1], axis=1) == y))


def train_mlp(device: str | Device = "ideal", dataset: str | Dataset = "mnist5k", *,
              preset: str | None = None, device_params: dict | None = None,
              config: MLPConfig | None = None, seed: int = 0, backend: str = "golden",
              show_progress: bool = True, **overrides) -> dict:
    """Train an MLP whose layers are tiles of ``device`` (or ``"float32"``); returns a
    JSON-ready dict: ``test_accuracy`` (inference read-out, final), per-epoch
    ``test_accuracy_per_epoch`` and ``test_accuracy_train_readout_per_epoch`` (the same
    network read with the training read-out: M and L), ``pulses``, ``seconds`` and the
    configuration. ``overrides`` replace fields of ``config``."""
    cfg = replace(config or MLPConfig(), **overrides)
    is_float = isinstance(device, str) and device == FLOAT
    dev = None
    if not is_float:   # validate the device before loading any data
        dev = device if isinstance(device, Device) else make_device(device, preset=preset,
                                                                     **(device_params or {}))
    ds = dataset if isinstance(dataset, Dataset) else load_dataset(dataset, seed=0)
    xtr, ytr = ds.x_train, ds.y_train
    if cfg.max_train:
        xtr, ytr = xtr[:cfg.max_train], ytr[:cfg.max_train]
    sizes = [ds.n_features, *cfg.hidden, ds.n_classes]
    w_init = _he_init(np.random.default_rng(seed), sizes)
    order_rng = np.random.default_rng(seed + 1000)
    round_rng = np.random.default_rng(seed + 2000)
    name = FLOAT if is_float else dev.name
    layers = []
    t0 = time.perf_counter()
    hist, hist_train_ro = [], []
    pulses = 0
    try:
        if is_float:
            ws = [w.astype(np.float32) for w in w_init]
        else:
            layers = [TileLayer(dev, n_in, n_out, w, range_mult=cfg.range_mult, lanes=cfg.lanes,
                                backend=backend, seed=seed + 1 + i)
                      for i, (n_in, n_out, w) in enumerate(zip(sizes[:-1], sizes[1:], w_init))]
        n_batches = -(-len(xtr) // cfg.batch)
        bar = progress(total=cfg.epochs * n_batches, desc=f"mlp {name}{'/' + preset if preset else ''}",
                       disable=not show_progress)
        for epoch in range(cfg.epochs):
            order = order_rng.permutation(len(xtr))
            for b in range(n_batches):
                idx = order[b * cfg.batch:(b + 1) * cfg.batch]
                xb, yb = xtr[idx], ytr[idx]
                if is_float:
                    grads = _backward(ws, _forward(ws, xb), yb)
                    for w, g in zip(ws, grads):
                        w -= np.float32(cfg.lr) * g.astype(np.float32)
                else:
                    ws = [l.real(train=not cfg.qat) for l in layers]
                    grads = _backward(ws, _forward(ws, xb), yb)
                    for l, g in zip(layers, grads):
                        pulses += l.apply(g, cfg.lr, round_rng)
                        l.end_batch(cfg.ticks_per_batch)
                bar.update(1)
            if is_float:
                hist.append(_accuracy(ws, ds.x_test, ds.y_test))
                hist_train_ro.append(hist[-1])
            else:
                hist.append(_accuracy([l.real(train=False) for l in layers], ds.x_test, ds.y_test))
                hist_train_ro.append(_accuracy([l.real(train=True) for l in layers],
                                               ds.x_test, ds.y_test))
            bar.set_postfix(epoch=epoch + 1, test=f"{hist[-1]:.3f}")
        bar.close()
        extra = {}
        if layers and "wc" in {f.name for f in dev.fields}:
            wcs = [np.asarray(l.tile.state()["wc"] if not l.fast else l.tile.backend.engine.state["wc"],
                              dtype=np.int64)[:, :l.n_in + 1] for l in layers]
            extra["msb_writes_total"] = int(sum(w.sum() for w in wcs))
            extra["msb_writes_max_per_synapse"] = int(max(w.max() for w in wcs))
    finally:
        for l in layers:
            l.close()
    seconds = time.perf_counter() - t0
    return {
        "device": name, "preset": preset, "device_params": {} if is_float else dev.params(),
        "weight_bits": None if is_float else dev.weight_width,
        "dataset": ds.name, "backend": "numpy" if is_float else backend, "seed": seed,
        "mlp": asdict(cfg), "sizes": sizes,
        "test_accuracy_per_epoch": hist, "test_accuracy_train_readout_per_epoch": hist_train_ro,
        "test_accuracy": hist[-1], "test_accuracy_train_readout": hist_train_ro[-1],
        "pulses": pulses, "seconds": seconds, **extra,
    }


def jsonable(obj):
    """``obj`` as it reads back from JSON (NumPy scalars and arrays to Python, tuples to
    lists): what a campaign task returns, so a result is the same run in this process, on a
    dask worker or loaded from a record."""
    import json

    from .report import _default
    return json.loads(json.dumps(obj, default=_default))


@functools.lru_cache(maxsize=4)
def _dataset(name: str, digest: str | None) -> Dataset:
    return load_dataset(name, seed=0)


def dataset_digest(name: str) -> str | None:
    """SHA-256 of a dataset file (None for a built-in dataset): part of a task's arguments,
    so editing the ``.npz`` redoes the runs that used it."""
    import hashlib
    from pathlib import Path

    from .datasets import DATASETS
    if name in DATASETS or not Path(name).is_file():
        return None
    return hashlib.sha256(Path(name).read_bytes()).hexdigest()


def compare_run(device: str, dataset: str, seed: int, *, preset: str | None = None,
                device_params: dict | None = None, mlp: dict | None = None,
                dataset_sha256: str | None = None) -> dict:
    """One campaign task of :func:`compare_devices` (and the FeMFET sweep): :func:`train_mlp`
    of device ``device`` (a registered name or ``"float32"``) with ``preset`` and
    ``device_params`` on ``dataset`` (its split seed 0) with ``seed``; ``mlp``: the
    :class:`MLPConfig` fields. JSON in, JSON out (:func:`jsonable`)."""
    if dataset_sha256 is not None and dataset_digest(dataset) != dataset_sha256:
        raise ValueError(f"dataset file {dataset!r} differs from the one the campaign was "
                         f"planned with")
    cfg = MLPConfig(**(mlp or {}))
    return jsonable(train_mlp(device, _dataset(dataset, dataset_sha256), preset=preset,
                              device_params=device_params, config=cfg, seed=int(seed),
                              show_progress=False))


def compare_task(device: str, dataset: str, seed: int, *, preset=None, device_params=None,
                 config: MLPConfig, label: str = "") -> Task:
    """The :class:`~synemu.campaign.Task` of one :func:`compare_run`."""
    if not isinstance(device, str):
        raise TypeError(f"campaign runs name their device (a string with preset and params), "
                        f"not a {type(device).__name__} instance: use (dev.name, None, "
                        f"dev.params())")
    return Task("synemu.runtime.mlp:compare_run",
                jsonable({"device": device, "dataset": dataset, "seed": int(seed),
                          "preset": preset, "device_params": dict(device_params or {}),
                          "mlp": asdict(config), "dataset_sha256": dataset_digest(dataset)}),
                label=label or f"{device}{'/' + preset if preset else ''}/seed{seed}")


def unique_tasks(tasks) -> tuple[list[Task], list[int]]:
    """``tasks`` with repeated runs once (a campaign's tasks must differ) and, for each of
    ``tasks``, its position in that list."""
    where: dict[str, int] = {}
    unique, index = [], []
    for t in tasks:
        if t.key not in where:
            where[t.key] = len(unique)
            unique.append(t)
        index.append(where[t.key])
    return unique, index


def check_device(device: str, preset=None, params=None):
    """Build the device once here so a bad name or parameter fails before any run."""
    if device != FLOAT:
        make_device(device, preset=preset, **(params or {}))


def compare_plan(dataset: str = "mnist5k", *, seeds=(0, 1, 2), sets: dict,
                 config: MLPConfig | None = None, **overrides):
    """The campaign of :func:`compare_devices`: ``(tasks, collect)`` -- one task per (set
    label, seed), identical runs once; ``collect(results)`` (the tasks' results in order)
    gives the comparison dict."""
    ds = _dataset(dataset, dataset_digest(dataset))        # fails early on a bad name
    cfg = replace(config or MLPConfig(), **overrides)
    seeds = list(seeds)
    planned = []
    for label, (dev, preset, params) in sets.items():
        if isinstance(dev, Device):          # an instance: its name and its parameters
            dev, params = dev.name, {**dev.params(), **(params or {})}
        check_device(dev, preset, params)
        planned += [compare_task(dev, dataset, s, preset=preset, device_params=params,
                                 config=cfg, label=f"{label}/seed{s}") for s in seeds]
    tasks, index = unique_tasks(planned)

    def collect(results: list) -> dict:
        it = iter(results[i] for i in index)
        runs = {label: [next(it) for _ in seeds] for label in sets}
        return _compare_table(ds.name, seeds, runs, cfg)

    return tasks, collect


def _compare_table(name, seeds, runs, cfg) -> dict:
    table = {}
    for label, rs in runs.items():
        acc = np.array([r["test_accuracy"] for r in rs]) * 100
        tr = np.array([r["test_accuracy_train_readout"] for r in rs]) * 100
        table[label] = {"mean": float(acc.mean()), "std": float(acc.std(ddof=1) if len(acc) > 1 else 0.0),
                        "per_seed": acc.tolist(), "train_readout_mean": float(tr.mean()),
                        "seconds_mean": float(np.mean([r["seconds"] for r in rs]))}
    gaps = {}
    for bits in ("6bit", "8bit"):
        a, b = table.get(f"femfet-{bits}"), table.get(f"ideal-{bits}")
        if a and b:
            d = np.array(b["per_seed"]) - np.array(a["per_seed"])
            gaps[bits] = {"gap_pp": float(d.mean()), "gap_std_pp": float(d.std(ddof=1) if len(d) > 1 else 0.0)}
    return {"dataset": name, "seeds": list(seeds), "table": table, "gaps": gaps,
            "mlp": asdict(cfg),
            "runs": {k: [dict(r) for r in v] for k, v in runs.items()}}


def compare_devices(dataset: str = "mnist5k", *, seeds=(0, 1, 2), sets: dict,
                    config: MLPConfig | None = None, show_progress: bool = True,
                    workers: int = 1, scheduler: str | None = None, out=None,
                    resume: bool = True, **overrides) -> dict:
    """Train every entry of ``sets`` (label -> (device, preset, params); device
    ``"float32"`` is the float reference, e.g. :data:`synemu.devices.femfet.presets.COMPARE_SETS`;
    a Device instance stands for its name and ``params()``) on the same split with each
    seed; returns per-label runs and mean/std of the final test accuracy (inference
    read-out), in percent.

    The runs are a campaign (:mod:`synemu.campaign`, one task per label and seed):
    ``workers`` local processes or the dask ``scheduler``, records under ``out`` (None:
    none; ``resume`` reuses them). The result does not depend on where the runs ran; a
    failed run raises RuntimeError after the others finished."""
    from ..campaign import run_campaign
    tasks, collect = compare_plan(dataset, seeds=seeds, sets=sets, config=config, **overrides)
    res = run_campaign(tasks, out, workers=workers, scheduler=scheduler, resume=resume,
                       desc="compare", show_progress=show_progress)
    res.raise_on_failure()
    return collect(res.results())


def plot_compare(result: dict, path, title: str | None = None):
    """Bar chart (mean ± std over seeds) and mean learning curves; saved as PNG."""
    pyplot = plt()
    fig, (ax1, ax2) = pyplot.subplots(1, 2, figsize=(11, 4))
    labels = list(result["table"])
    means = [result["table"][k]["mean"] for k in labels]
    stds = [result["table"][k]["std"] for k in labels]
    ax1.bar(range(len(labels)), means, yerr=stds, capsize=4,
            color=["0.5" if k == FLOAT else ("C0" if k.startswith("ideal") else "C3") for k in labels])
    ax1.set_xticks(range(len(labels)), labels, rotation=20)
    lo = min(means) - 3 * max(stds + [0.5])
    ax1.set_ylim(max(0, lo), min(100, max(means) + 2))
    ax1.set_ylabel("test accuracy (%)")
    for i, (m, s) in enumerate(zip(means, stds)):
        ax1.text(i, m + s + 0.1, f"{m:.2f}", ha="center", fontsize=8)
    ax1.grid(axis="y", alpha=0.3)
    for k in labels:
        curves = np.array([r["test_accuracy_per_epoch"] for r in result["runs"][k]]) * 100
        ax2.plot(np.arange(1, curves.shape[1] + 1), curves.mean(axis=0), marker="o", label=k)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("test accuracy (%), mean over seeds")
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=8)
    fig.suptitle(title or f"host-in-the-loop MLP on {result['dataset']} "
                 f"({len(result['seeds'])} seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    pyplot.close(fig)
    return path
