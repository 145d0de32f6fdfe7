"""``synemu demo``: every seed device learns ``digits`` on the golden model and in Verilator.

Legs (each trained twice, on the golden model and on the generated Verilog in Verilator
through the compiled native driver, with the same seeds and sample order):

``ideal-6bit``   the ideal 6-bit synapse, on-chip delta rule (``train_onchip``), the
                 baseline of
``femfet-6bit``  the FeMFET hybrid 6-bit synapse (2 MSB FeMFET + 4 LSB capacitor), same
                 recipe (``recipe_for("femfet", "digits")``: targets +-4096, eta shift 16);
``fn``           FN-DAM (preset ``board``, ECP5-sized): LEARN then ``TICK`` of
                 ``sample_s`` emulated seconds per training sample, so the device's own
                 aging anneals the learning rate and decays the weights (recipe
                 :data:`~synemu.devices.fn.presets.PAPER_DIGITS` on :data:`FN_LANES` lane);
``mtj``          the unsupervised STDP network on binary STT-MTJ synapses
                 (:func:`~synemu.devices.mtj.experiments.train_snn`, ``neurons`` neurons, Diehl & Cook
                 labelling), the Verilator leg on :class:`~synemu.devices.mtj.network_sim.NativeSNNSession`;
``fn-trajectory`` the FN decay counter against the float physics: free decay of the FN
                 engine from reset along a log time grid up to 2e6 s (golden engine vs
                 ``k2/ln(k1 t + k0)`` of :mod:`~synemu.devices.fn.physics`), and the same
                 TICKs through the FN engine in Verilator (every synapse word compared).

A leg is *identical* when the final state words, every epoch's train and test accuracy and
every test prediction agree (MTJ: final P/AP states, neuron labels, every evaluation spike
count and every prediction; trajectory: every state word after every TICK).

Scheduling (2 cores): one thread builds the Verilator models (cached under
``~/.cache/synemu/verilator``; the STDP network first), one runs the MTJ Verilator leg (the
longest), one the other Verilator legs as their models become ready (the native driver
releases the GIL inside its C calls), and the calling thread runs the golden legs.
:func:`run_demo` returns a JSON-ready dict and writes one PNG with every leg.
"""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from .runtime.report import out_dir, plt, save_json

__all__ = ["LEGS", "DemoSettings", "run_demo", "train_fn_onchip", "fn_trajectory", "plot_demo",
           "summary_table"]

#: leg id -> label in the table and the figure
LEGS = {
    "ideal-6bit": "ideal 6-bit (delta rule)",
    "femfet-6bit": "FeMFET 6-bit (delta rule)",
    "fn": "FN-DAM (delta rule + time)",
    "mtj": "STT-MTJ STDP network",
    "fn-trajectory": "FN trajectory vs physics",
}


class DemoSettings:
    """Validated demo parameters (``ValueError`` names the command-line option)."""

    def __init__(self, *, epochs: int | None = None, seed: int = 0, quick: bool = False,
                 neurons: int = 50, snn_epochs: int = 1, sample_s: float = 10.0,
                 fn_preset: str = "board", points: int | None = None):
        def at_least(name, v, lo):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
                raise ValueError(f"--{name} must be an integer >= {lo}, not {v!r}")
            return int(v)

        self.epochs = None if epochs is None else at_least("epochs", epochs, 1)
        self.seed = at_least("seed", seed, 0)
        if self.seed > 2**31:
            raise ValueError(f"--seed must be at most 2**31, not {seed}")
        self.neurons = at_least("neurons", neurons, 1)
        self.snn_epochs = at_least("snn-epochs", snn_epochs, 1)
        if not isinstance(sample_s, (int, float)) or not 0 <= float(sample_s) <= 3600:
            raise ValueError(f"--sample-s must be 0..3600 emulated seconds, not {sample_s!r}")
        self.sample_s = float(sample_s)
        self.quick = bool(quick)
        self.fn_preset = fn_preset
        self.points = at_least("points", points, 4) if points is not None else (16 if quick else 60)
        if self.quick:
            # same hardware as the full demo (cache hits), a fraction of the work
            self.epochs = self.epochs or 2
            self.n_train, self.n_test = 300, 120
        else:
            self.n_train = self.n_test = None

    def to_dict(self) -> dict:
        return {k: v for k, v in vars(self).items()}


# -- the legs ------------------------------------------------------------------------------
def _dataset(st: DemoSettings):
    from .runtime.datasets import load_dataset
    ds = load_dataset("digits", seed=0)
    if st.n_train:
        ds = replace(ds, x_train=ds.x_train[:st.n_train], y_train=ds.y_train[:st.n_train],
                     x_test=ds.x_test[:st.n_test], y_test=ds.y_test[:st.n_test])
    return ds


def _delta_recipe(st: DemoSettings):
    from .runtime.train import recipe_for
    r = recipe_for("femfet", "digits")   # the FeMFET recipe, for the ideal baseline too
    return replace(r, epochs=st.epochs) if st.epochs else r


def _delta_device(leg: str):
    from .devices.femfet.golden import FeMFETDevice
    from .devices.ideal.golden import IdealDevice
    if leg == "ideal-6bit":
        return "ideal", dict(IdealDevice.PRESETS["6bit"])
    return "femfet", dict(FeMFETDevice.PRESETS["6bit"])


def _delta_config(leg: str, st: DemoSettings, ds):
    """The EngineConfig ``train_onchip`` builds for this leg (to build its model early)."""
    from .runtime.tile import Tile
    from .runtime.train import prepare_inputs
    dev, params = _delta_device(leg)
    r = _delta_recipe(st)
    cols = prepare_inputs(ds.x_train[:1], r).shape[1]
    with Tile(dev, rows=ds.n_classes, cols=cols, lanes=r.lanes, backend="golden",
              device_params=params, seed=st.seed + 1, **r.engine_kwargs()) as t:
        return t.config


def run_delta(leg: str, backend: str, st: DemoSettings, ds) -> dict:
    from .runtime.train import train_onchip
    dev, params = _delta_device(leg)
    r = train_onchip(dev, ds, backend=backend, seed=st.seed, recipe=_delta_recipe(st),
                     device_params=params, show_progress=False)
    r["preset"] = "6bit"
    return r


def _fn_device(st: DemoSettings):
    from .spec.registry import make_device
    return make_device("fn", preset=st.fn_preset)


#: lanes of the FN engine: FN learning is deterministic (nearest-even pulses, no device
#: randomness), so the lane count changes the hardware's parallelism, never a number (tested);
#: one lane is the smallest model to compile (cold native build ~2.5x faster than 4 lanes)
FN_LANES = 1


def _fn_recipe(st: DemoSettings):
    from .devices.fn.presets import PAPER_DIGITS
    return replace(PAPER_DIGITS, lanes=FN_LANES, **({"epochs": st.epochs} if st.epochs else {}))


def _fn_config(st: DemoSettings, ds):
    from .spec.engine import EngineConfig
    from .runtime.train import prepare_inputs
    r = _fn_recipe(st)
    cols = prepare_inputs(ds.x_train[:1], r).shape[1]
    return EngineConfig(device=_fn_device(st), rows=ds.n_classes, cols=cols, lanes=r.lanes,
                        seed=st.seed + 1, **r.engine_kwargs())


def train_fn_onchip(config, ds, recipe, *, backend: str = "golden", seed: int = 0,
                    sample_s: float = 10.0) -> dict:
    """On-chip FN-DAM learning with emulated time: per training sample LOAD_X x cols,
    LEARN, then TICK ``sample_s`` seconds (the device ages between samples; its pulses
    shrink and its weights decay). ``backend``: ``golden`` (:class:`GoldenEngine`) or
    ``verilator`` (:class:`~synemu.sim.native_engine.NativeEngineSession`, one driver call
    per epoch). Test predictions: argmax of the inference read-out (FORWARD on Verilator).
    Same result keys as :func:`~synemu.runtime.train.train_onchip` (plus ``emulated_s``)."""
    from .spec.engine import Command, GoldenEngine, Op
    from .runtime.train import prepare_inputs
    dev = config.device
    recipe = replace(recipe, lanes=config.lanes)   # padding of the inputs to the config's
    xtr, xte = prepare_inputs(ds.x_train, recipe), prepare_inputs(ds.x_test, recipe)
    if xtr.shape[1] != config.cols:
        raise ValueError(f"the recipe gives {xtr.shape[1]} input columns, the engine has "
                         f"{config.cols}")
    ytr = np.asarray(ds.y_train, dtype=np.int64)
    ticks = int(round(sample_s / dev.tick_s))
    if not 0 <= ticks < 1 << 32:
        raise ValueError(f"sample_s={sample_s} is {ticks} ticks; must be 0..2**32-1")
    order_rng = np.random.default_rng(seed)
    hist_tr, hist_te = [], []
    t0 = time.perf_counter()
    if backend == "golden":
        eng = GoldenEngine(config)
        tick = Command(Op.TICK, 0, 0, ticks)
        for _ in range(recipe.epochs):
            correct = 0
            for i in order_rng.permutation(len(xtr)):
                correct += int(eng.learn_samples(xtr[i:i + 1], ytr[i:i + 1])[0] == ytr[i])
                if ticks:
                    eng.execute(tick)
            w = dev.infer_weight(eng.state, time=eng.time).astype(np.int64)
            pred = np.argmax(xte.astype(np.int64) @ w.T, axis=1)
            hist_tr.append(correct / len(xtr))
            hist_te.append(float(np.mean(pred == ds.y_test)))
        words, t_now = eng.read_words(), eng.time
    elif backend == "verilator":
        from .sim.native_engine import NativeEngineSession
        c = config
        n, C = len(xtr), c.cols
        k = C + 1 + (1 if ticks else 0)
        with NativeEngineSession(config) as s:
            for _ in range(recipe.epochs):
                order = order_rng.permutation(n)
                op = np.full((n, k), int(Op.LOAD_X), dtype=np.uint64)
                op[:, C] = int(Op.LEARN)
                col = np.zeros((n, k), dtype=np.uint64)
                col[:, :C] = np.arange(C, dtype=np.uint64)
                arg = np.zeros((n, k), dtype=np.uint64)
                arg[:, :C] = (xtr[order] & ((1 << c.x_width) - 1)).astype(np.uint64)
                arg[:, C] = ytr[order].astype(np.uint64)
                nr = np.zeros((n, k), dtype=np.int32)
                nr[:, C] = 1
                if ticks:
                    op[:, C + 1] = int(Op.TICK)
                    arg[:, C + 1] = ticks
                resp = s.run_arrays(op.ravel(), np.zeros(op.size, np.uint64), col.ravel(),
                                    arg.ravel(), nr.ravel())
                preds = resp[:, 0].astype(np.int64)
                pred = np.argmax(s.forward_batch(xte), axis=1)
                hist_tr.append(float(np.sum(preds == ytr[order])) / n)
                hist_te.append(float(np.mean(pred == ds.y_test)))
            _, snap = s.run([], [], snapshot=True)
            words = np.asarray(snap.words, dtype=np.uint64).reshape(c.rows, c.cols)
            t_now = int(snap.globals["time"])
    else:
        raise ValueError(f"backend must be golden or verilator, not {backend!r}")
    seconds = time.perf_counter() - t0
    return {
        "device": "fn", "backend": backend, "dataset": ds.name, "seed": seed,
        "epochs": recipe.epochs, "sample_s": sample_s, "ticks_per_sample": ticks,
        "emulated_s": recipe.epochs * len(xtr) * ticks * dev.tick_s,
        "engine": config.to_dict(),
        "train_accuracy_per_epoch": hist_tr, "test_accuracy_per_epoch": hist_te,
        "test_accuracy": hist_te[-1], "predictions": pred.tolist(),
        "weights_sha": hashlib.sha256(np.ascontiguousarray(words).tobytes()).hexdigest()[:16],
        "time_counter": int(t_now),
        "seconds": seconds, "samples_per_s": recipe.epochs * len(xtr) / seconds,
    }


def run_fn(backend: str, st: DemoSettings, ds) -> dict:
    r = train_fn_onchip(_fn_config(st, ds), ds, _fn_recipe(st), backend=backend, seed=st.seed,
                        sample_s=st.sample_s)
    r["preset"] = st.fn_preset
    return r


def _snn_kwargs(st: DemoSettings) -> dict:
    return dict(seed=st.seed, epochs=st.snn_epochs, n_train=st.n_train, n_test=st.n_test,
                show_progress=False)


def _snn_config(st: DemoSettings):
    from .devices.mtj.experiments import snn_config
    return snn_config("digits", 64, st.neurons, st.seed)


def run_mtj(backend: str, st: DemoSettings, log=None) -> dict:
    from .devices.mtj.experiments import train_snn
    marks = [0.25, 0.5, 0.75]

    def report(done, total):
        while marks and done >= marks[0] * total:
            log(f"{backend} mtj: {100 * marks.pop(0):.0f} % ({done}/{total} sample presentations)")

    return train_snn("digits", st.neurons, backend=backend,
                     on_progress=report if log is not None else None, **_snn_kwargs(st))


def _tick_grid(dev, points: int) -> np.ndarray:
    """TICK lengths of the trajectory's log time grid (as :func:`fidelity` steps it)."""
    t_grid = np.unique(np.round(np.logspace(0, 6.3, points) / dev.tick_s)) * dev.tick_s
    k = np.rint(t_grid / dev.tick_s).astype(np.int64)
    return t_grid, np.diff(np.r_[0, k])


def fn_trajectory(backend: str, st: DemoSettings, ds) -> dict:
    """Free decay of the FN engine of the ``fn`` leg from reset, TICK by TICK along a log
    time grid (1 s .. 2e6 s), every state word recorded after each TICK; ``golden`` also
    compares the decay counter of one node with the float physics ``k2/ln(k1 t + k0)``
    (:mod:`synemu.devices.fn.physics`; ``synemu fn-trajectory`` has the full fidelity report)."""
    from .devices.fn import physics as phys
    from .spec.engine import Command, GoldenEngine, Op
    cfg = _fn_config(st, ds)
    dev = cfg.device
    t_grid, steps = _tick_grid(dev, st.points)
    cmds = [Command(Op.TICK, 0, 0, int(k)) for k in steps]
    t0 = time.perf_counter()
    if backend == "golden":
        eng = GoldenEngine(cfg)
        words = []
        for c in cmds:
            eng.execute(c)
            words.append(eng.read_words().copy())
        words = np.stack(words)
    else:
        from .sim.native_engine import NativeEngineSession
        with NativeEngineSession(cfg) as s:
            _, states = s.run_states(cmds, [0] * len(cmds))
        words = states.words.reshape(len(cmds), cfg.rows, cfg.cols)
    nl = np.asarray(dev.unpack(words[:, 0, 0])["nl"], dtype=np.int64)
    v = dev.code_voltage(nl)
    out = {"backend": backend, "preset": st.fn_preset, "t_s": t_grid.tolist(),
           "codes": [int(c) for c in nl], "v_v": np.asarray(v, dtype=float).tolist(),
           "words_sha": hashlib.sha256(np.ascontiguousarray(words).tobytes()).hexdigest()[:16]}
    if backend == "golden":
        p = dev.physics
        v_phys = phys.voltage_at(t_grid, p)
        err = (np.asarray(v) - v_phys) / dev.lsb_v
        cps = {}
        for name, t in (("1h", 3600.0), ("1day", 86400.0), ("1e6s", 1e6)):
            c = int(dev.fresh_state((), t)["nl"])
            exact = (float(phys.voltage_at(t, p)) - dev.v_min_v) / dev.lsb_v
            cps[name] = {"t_s": t, "code": c, "exact_code": exact, "error_lsb": c - exact}
        out.update(v_physics_v=np.asarray(v_phys, dtype=float).tolist(), lsb_v=dev.lsb_v,
                   max_abs_error_lsb=float(np.max(np.abs(err))), checkpoints=cps,
                   max_abs_checkpoint_error_lsb=max(abs(c["error_lsb"]) for c in cps.values()))
    out["seconds"] = time.perf_counter() - t0
    return out


# -- identity --------------------------------------------------------------------------------
def _identical(leg: str, g: dict, v: dict) -> tuple[bool, list[str]]:
    if leg == "mtj":
        keys = ("states_sha", "counts_sha", "neuron_labels", "predictions", "test_accuracy",
                "test_accuracy_proportion", "spikes_per_train_sample")
    elif leg == "fn-trajectory":
        keys = ("codes", "words_sha")
    else:
        keys = ("weights_sha", "predictions", "train_accuracy_per_epoch",
                "test_accuracy_per_epoch") + (("time_counter",) if leg == "fn" else ())
    diff = [k for k in keys if g.get(k) != v.get(k)]
    return not diff, diff


# -- runner ----------------------------------------------------------------------------------
class _Log:
    def __init__(self, stream=None, quiet: bool = False):
        self.t0 = time.perf_counter()
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.lock = threading.Lock()

    def __call__(self, msg: str):
        if self.quiet:
            return
        with self.lock:
            print(f"[{time.perf_counter() - self.t0:6.1f} s] {msg}", file=self.stream, flush=True)


def _brief(leg: str, r: dict) -> str:
    if leg == "fn-trajectory":
        if "max_abs_error_lsb" in r:
            return f"max |counter - physics| {r['max_abs_error_lsb']:.2f} LSB"
        return f"{len(r['codes'])} TICKs"
    return f"test accuracy {r['test_accuracy']:.4f}"


def run_demo(settings: DemoSettings | None = None, *, out="runs", log=None, **kw) -> dict:
    """Run every leg on both backends; write ``<out>/demo.png`` and ``<out>/demo.json``.
    ``log(msg)`` receives progress lines (default: stderr with elapsed time)."""
    st = settings or DemoSettings(**kw)
    log = log or _Log()
    out = out_dir(out)
    ds = _dataset(st)
    t_start = time.perf_counter()
    order = ["mtj", "ideal-6bit", "femfet-6bit", "fn"]          # Verilator run order

    def builder():
        """Model builds in the order the Verilator legs need them: leg -> seconds."""
        from .devices.mtj.network_sim import snn_native_build
        from .sim.native_engine import engine_native_build
        done = {}
        for leg in order:
            if ready[leg].done():           # the demo was aborted
                break
            t = time.perf_counter()
            if leg == "mtj":
                b = snn_native_build(_snn_config(st))
            elif leg == "fn":
                b = engine_native_build(_fn_config(st, ds))
            else:
                b = engine_native_build(_delta_config(leg, st, ds))
            done[leg] = time.perf_counter() - t
            log(f"Verilator model of {leg} {'found in the cache' if b.cached else 'built'} "
                f"({done[leg]:.1f} s)")
            try:
                ready[leg].set_result(done[leg])
            except InvalidStateError:       # the demo was aborted meanwhile
                break
        return done

    def hardware(legs):
        res = {}
        for leg in legs:
            ready[leg].result()
            log(f"verilator {leg}: training ...")
            res[leg] = _run_leg(leg, "verilator")
            log(f"verilator {leg}: {_brief(leg, res[leg])} ({res[leg]['seconds']:.1f} s)")
            if leg == "fn":
                res["fn-trajectory"] = _run_leg("fn-trajectory", "verilator")
                log(f"verilator fn-trajectory: {_brief('fn-trajectory', res['fn-trajectory'])}")
        return res

    def _run_leg(leg, backend):
        if leg in ("ideal-6bit", "femfet-6bit"):
            return run_delta(leg, backend, st, ds)
        if leg == "fn":
            return run_fn(backend, st, ds)
        if leg == "mtj":
            return run_mtj(backend, st, log if backend == "verilator" else None)
        return fn_trajectory(backend, st, ds)

    ready = {leg: Future() for leg in order}
    for f in ready.values():
        f.set_running_or_notify_cancel()
    log(f"demo: {', '.join(LEGS)}; golden model and Verilator side by side"
        + (" (quick)" if st.quick else ""))
    golden = {}
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="synemu-demo") as pool:
        fb = pool.submit(builder)

        def failed_build(f):
            if f.exception() is not None:
                for r in ready.values():
                    if not r.done():
                        r.set_exception(f.exception())
        fb.add_done_callback(failed_build)
        # the MTJ network is the longest Verilator leg: its own thread, next to the others
        fh = [pool.submit(hardware, ["mtj"]), pool.submit(hardware, order[1:])]
        try:
            for leg in ("ideal-6bit", "femfet-6bit", "fn", "mtj", "fn-trajectory"):
                log(f"golden {leg}: training ..." if leg != "fn-trajectory"
                    else "golden fn-trajectory: counter vs physics ...")
                golden[leg] = _run_leg(leg, "golden")
                log(f"golden {leg}: {_brief(leg, golden[leg])} ({golden[leg]['seconds']:.1f} s)")
        except BaseException:
            for r in ready.values():       # let the hardware thread stop early
                if not r.done():
                    r.set_exception(RuntimeError("demo aborted"))
            raise
        builds = fb.result()
        hw = {**fh[0].result(), **fh[1].result()}
    devices = {}
    for leg in LEGS:
        g, v = golden[leg], hw[leg]
        ok, diff = _identical(leg, g, v)
        d = {"label": LEGS[leg], "identical": ok, "differences": diff,
             "golden_seconds": g["seconds"], "verilator_seconds": v["seconds"],
             "build_seconds": builds.get(leg)}
        if leg == "fn-trajectory":
            d.update({k: g[k] for k in ("preset", "max_abs_error_lsb",
                                        "max_abs_checkpoint_error_lsb", "checkpoints", "lsb_v")})
            d["ticks"] = len(g["codes"])
            d["golden"] = {k: g[k] for k in ("t_s", "codes", "v_v", "v_physics_v", "words_sha")}
            d["verilator"] = {k: v[k] for k in ("codes", "v_v", "words_sha")}
        else:
            d["test_accuracy"] = g["test_accuracy"]
            d["verilator_test_accuracy"] = v["test_accuracy"]
            keep = ("test_accuracy_per_epoch", "train_accuracy_per_epoch", "weights_sha",
                    "test_accuracy", "states_sha", "counts_sha", "seconds",
                    "test_accuracy_proportion", "classes_covered", "spikes_per_train_sample",
                    "time_counter", "emulated_s")
            d["golden"] = {k: g[k] for k in keep if k in g}
            d["verilator"] = {k: v[k] for k in keep if k in v}
            d["epochs"] = g["epochs"]
            if leg == "mtj":
                d.update(n_neurons=g["n_neurons"], epoch_codes=g["epoch_codes"],
                         p_fraction=g["p_fraction"])
            if leg == "fn":
                d.update(preset=g["preset"], sample_s=g["sample_s"], emulated_s=g["emulated_s"])
        devices[leg] = d
    png = plot_demo(golden, hw, devices, out / "demo.png", st, ds)
    seconds = time.perf_counter() - t_start
    result = {"command": "demo", "identical": all(d["identical"] for d in devices.values()),
              "devices": devices, "plot": str(png), "seconds": seconds,
              "settings": st.to_dict(), "dataset": {"name": ds.name, "n_train": len(ds.x_train),
                                                    "n_test": len(ds.x_test)}}
    save_json(result, out / "demo.json")
    result["json"] = str(out / "demo.json")
    log(f"demo done in {seconds:.1f} s")
    return result


# -- figure and table ------------------------------------------------------------------------
def _mosaic(states: np.ndarray, shape, cols: int | None = None) -> np.ndarray:
    n = states.shape[0]
    h, w = shape
    cols = cols or int(np.ceil(np.sqrt(n * 2)))
    rows = int(np.ceil(n / cols))
    img = np.full((rows * (h + 1) + 1, cols * (w + 1) + 1), 0.5)
    for k in range(n):
        r, c = divmod(k, cols)
        img[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + c * (w + 1):1 + c * (w + 1) + w] = \
            states[k].reshape(h, w)
    return img


def plot_demo(golden: dict, hw: dict, devices: dict, path, st: DemoSettings, ds) -> Path:
    pyplot = plt()
    fig, ax = pyplot.subplots(2, 3, figsize=(15, 8.6))
    gs = dict(marker="o", ms=9, lw=3, alpha=0.4)
    vs = dict(marker="x", ms=7, lw=1.1)
    # learning curves, delta rule
    a = ax[0, 0]
    for i, leg in enumerate(("ideal-6bit", "femfet-6bit")):
        for r, sty, tag in ((golden[leg], gs, "golden"), (hw[leg], vs, "Verilator")):
            e = np.arange(1, len(r["test_accuracy_per_epoch"]) + 1)
            a.plot(e, r["test_accuracy_per_epoch"], color=f"C{i}", **sty,
                   label=f"{LEGS[leg].split(' (')[0]} / {tag}")
    a.set(xlabel="epoch", ylabel="test accuracy", title="on-chip delta rule, 6-bit: ideal vs FeMFET")
    a.xaxis.get_major_locator().set_params(integer=True)
    a.grid(alpha=0.3)
    a.legend(fontsize=7)
    # FN learning curves
    a = ax[0, 1]
    for r, sty, tag in ((golden["fn"], gs, "golden"), (hw["fn"], vs, "Verilator")):
        e = np.arange(1, len(r["test_accuracy_per_epoch"]) + 1)
        a.plot(e, r["test_accuracy_per_epoch"], color="C2", **sty, label=f"test / {tag}")
        a.plot(e, r["train_accuracy_per_epoch"], color="C3", ls="--", **sty, label=f"train / {tag}")
    g = golden["fn"]
    a.xaxis.get_major_locator().set_params(integer=True)
    a.set(xlabel="epoch", ylabel="accuracy",
          title=f"FN-DAM ({g['preset']}), {g['sample_s']:g} s emulated per sample "
                f"({g['emulated_s'] / 3600:.1f} h)")
    a.grid(alpha=0.3)
    a.legend(fontsize=7)
    # MTJ receptive fields
    a = ax[0, 2]
    m = golden["mtj"]
    a.imshow(_mosaic(np.asarray(hw["mtj"]["states"]), ds.image_shape), cmap="gray", vmin=0,
             vmax=1, interpolation="nearest")
    a.axis("off")
    a.set_title(f"STT-MTJ STDP, {m['n_neurons']} neurons: receptive fields (Verilator; white = P)\n"
                f"test accuracy {m['test_accuracy']:.3f}, identical to golden: "
                f"{'yes' if devices['mtj']['identical'] else 'NO'}", fontsize=9)
    # FN trajectory vs physics
    tg, tv = golden["fn-trajectory"], hw["fn-trajectory"]
    t = np.array(tg["t_s"])
    a = ax[1, 0]
    from .devices.fn import physics as phys
    tt = np.logspace(0, np.log10(t[-1]), 300)
    a.semilogx(tt, phys.voltage_at(tt, _fn_device(st).physics), "k-", lw=1,
               label="physics k2/ln(k1 t + k0)")
    a.semilogx(t, tg["v_v"], "o", ms=7, alpha=0.4, label="decay counter, golden")
    a.semilogx(t, tv["v_v"], "x", ms=5, label="decay counter, Verilator")
    a.set(xlabel="time since programming [s]", ylabel="node voltage [V]",
          title=f"FN-DAM ({tg['preset']}): free decay of a node")
    a.legend(fontsize=7)
    a = ax[1, 1]
    err = (np.array(tg["v_v"]) - np.array(tg["v_physics_v"])) / devices["fn-trajectory"]["lsb_v"]
    a.semilogx(t, err, ".-", label="golden counter - physics")
    errv = (np.array(tv["v_v"]) - np.array(tg["v_physics_v"])) / devices["fn-trajectory"]["lsb_v"]
    a.semilogx(t, errv, "x", ms=5, label="Verilator counter - physics")
    for y in (-1, 1):
        a.axhline(y, color="r", ls="--", lw=0.8)
    a.set(xlabel="time [s]", ylabel="error [LSB]",
          title=f"counter vs physics: max |error| {tg['max_abs_error_lsb']:.2f} LSB")
    a.legend(fontsize=7)
    # accuracy per device, golden vs Verilator
    a = ax[1, 2]
    legs = ["ideal-6bit", "femfet-6bit", "fn", "mtj"]
    x = np.arange(len(legs))
    ga = [golden[l]["test_accuracy"] for l in legs]
    va = [hw[l]["test_accuracy"] for l in legs]
    a.bar(x - 0.2, ga, 0.4, label="golden", alpha=0.6)
    a.bar(x + 0.2, va, 0.4, label="Verilator", alpha=0.9)
    for i, l in enumerate(legs):
        a.text(i, max(ga[i], va[i]) + 0.01, "identical" if devices[l]["identical"] else "DIFFERENT",
               ha="center", fontsize=7, color="g" if devices[l]["identical"] else "r")
    a.set_xticks(x, ["ideal 6b", "FeMFET 6b", "FN-DAM", f"MTJ N={m['n_neurons']}"])
    a.set(ylim=(0, 1.08), ylabel="test accuracy", title="digits test accuracy per device")
    a.legend(fontsize=7, loc="lower right")
    a.grid(alpha=0.3, axis="y")
    n = f"{len(ds.x_train)} train / {len(ds.x_test)} test"
    fig.suptitle(f"synemu demo: emerging synapses on digits ({n}), golden model vs generated "
                 f"hardware in Verilator — all bit-identical: "
                 f"{'YES' if all(d['identical'] for d in devices.values()) else 'NO'}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot.close(fig)
    return Path(path)


def summary_table(result: dict) -> str:
    """The printed table: device, test accuracy, golden s, Verilator s, identical."""
    rows = [("device", "test accuracy", "golden s", "Verilator s", "identical")]
    for leg, d in result["devices"].items():
        if leg == "fn-trajectory":
            acc = f"max err {d['max_abs_error_lsb']:.2f} LSB"
        else:
            acc = f"{d['test_accuracy']:.4f}"
        label = d["label"]
        if leg == "mtj":
            label += f" N={d['n_neurons']}"
        if leg == "fn":
            label += f" [{d['preset']}]"
        rows.append((label, acc, f"{d['golden_seconds']:.1f}", f"{d['verilator_seconds']:.1f}",
                     "yes" if d["identical"] else "NO"))
    w = [max(len(r[i]) for r in rows) for i in range(5)]
    fmt = lambda r: "  " + "  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i])
                                     for i, c in enumerate(r))
    lines = [fmt(rows[0]), "  " + "-" * (sum(w) + 8)] + [fmt(r) for r in rows[1:]]
    return "\n".join(lines)
