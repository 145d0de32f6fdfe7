"""FN-DAM learning experiments: on-chip delta rule with emulated time vs float SGD baselines.

``train_fn``   the golden engine learns one sample per ``sample_s`` emulated seconds (LEARN
               then TICK): the only learning-rate schedule and weight decay are the device's
               own (pulses shrink as nodes age; W decays as the pair decays).
``train_fn_physics`` the same rule on float64 FN physics (exact pulses, exact decay): how
               far the integer emulation is from the device at the learning level.
``train_float`` the same single-layer delta rule in float64, same quantised inputs, targets,
               error saturation and pulse clipping (pulses ``clip(e*x / 2**eta)``, not
               rounded), with ``dW = eta(t) * pulse`` and weight decay ``lambda(t)``:

               matched   ``eta(t) = s0 * ((t+t0)/t0)**-gamma``, ``lambda(t) = 1/(t+t0)`` [1/s]
               constant  ``eta = s0``, no decay

               ``s0`` = the FN weight change of a unit pulse on a fresh node (read-out units),
               ``t0`` = the node's age at programming (physics), ``gamma`` = 0.8 (paper).

Pulse encoding of the FN synapse (see :mod:`synemu.devices.fn.golden`): the engine's signed pulse
count ``p = saturate(round(e*x >> eta))`` selects the node by its sign (``p > 0`` pulses R,
raising W) and the pulse *width* ``|p| * t_pulse_s`` by its magnitude (amplitude ``vp_v``
fixed). Update energy is accumulated on the host from the physics reference: for every
nonzero pulse ``C |dV| (V+Vp)`` at the pulsed node's voltage before the update.
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace

import numpy as np

from ...spec.registry import make_device
from ...spec.engine import Command, EngineConfig, GoldenEngine, Op
from ...spec.fixed import IntFormat, round_shift
from .golden import FNDevice
from ...runtime.datasets import load_dataset
from ...runtime.report import progress
from ...runtime.train import Recipe, prepare_inputs

__all__ = ["hardware_trajectory", "train_fn", "train_fn_physics", "train_float", "unit_step", "compare", "compare_tasks", "compare_run",
           "compare_results", "MODELS", "summarize", "fidelity"]

from .presets import PAPER_DIGITS


def _device(device) -> FNDevice:
    if isinstance(device, FNDevice):
        return device
    if isinstance(device, str):
        return make_device("fn", preset=device)
    return make_device("fn", **(device or {}))


def unit_step(dev: FNDevice) -> float:
    """Weight change [read-out units] of a unit pulse on a freshly programmed node."""
    from . import physics as phys
    dv = phys.pulse_step_v(dev.v0_v, dev.t_pulse_s, dev.physics)
    return float(dv / dev.lsb_v / (1 << dev.weight_shift))


def _data(dataset, recipe):
    ds = load_dataset(dataset, seed=0) if isinstance(dataset, str) else dataset
    return ds, prepare_inputs(ds.x_train, recipe), prepare_inputs(ds.x_test, recipe)


def train_fn(device="paper", dataset="digits", *, seed: int = 0, recipe: Recipe = PAPER_DIGITS,
             sample_s: float = 10.0, epochs: int | None = None, show_progress: bool = True) -> dict:
    """On-chip learning with FN synapses on the golden engine, ``sample_s`` emulated seconds
    per training sample. Returns accuracies per epoch, update energy and timing."""
    dev = _device(device)
    if recipe.rounding == "stochastic":
        raise ValueError("train_fn accounts energy from host-side pulses: use a deterministic "
                         "rounding (nearest_even or floor)")
    if epochs is not None:
        recipe = replace(recipe, epochs=epochs)
    ds, xtr, xte = _data(dataset, recipe)
    ticks = int(round(sample_s / dev.tick_s))
    if not 0 <= ticks < 1 << 32:
        raise ValueError(f"sample_s={sample_s} is {ticks} ticks; must be 0..2**32-1")
    cfg = EngineConfig(device=dev, rows=ds.n_classes, cols=xtr.shape[1], lanes=recipe.lanes,
                       seed=seed + 1, **recipe.engine_kwargs())
    eng = GoldenEngine(cfg)
    order_rng = np.random.default_rng(seed)
    err_fmt = IntFormat(cfg.err_width)
    energy = 0.0
    updates = 0
    hist_tr, hist_te = [], []
    t0 = time.perf_counter()
    bar = progress(total=recipe.epochs * len(xtr), desc=f"fn learn seed {seed}",
                   disable=not show_progress)
    tick = Command(Op.TICK, 0, 0, ticks)
    for _ in range(recipe.epochs):
        correct = 0
        for i in order_rng.permutation(len(xtr)):
            x, label = xtr[i], int(ds.y_train[i])
            eng.x[:] = x
            # host-side replica of the LEARN pulses (deterministic rounding) for energy
            y = eng.forward_values(train=True)
            t = np.full(cfg.rows, cfg.t_neg, np.int64)
            t[label] = cfg.t_pos
            e = err_fmt.saturate(t - y)
            pulses = dev.pulse_fmt.saturate(round_shift(e[:, None] * x[None, :], cfg.eta,
                                                        cfg.rounding))
            nz = pulses != 0
            if nz.any():
                energy += float(dev.pulse_energy_j(eng.state, pulses).sum())
                updates += int(nz.sum())
            correct += eng.execute(Command(Op.LEARN, 0, 0, label))[0] == label
            if ticks:
                eng.execute(tick)
            bar.update(1)
        w = dev.infer_weight(eng.state).astype(np.int64)
        hist_tr.append(correct / len(xtr))
        hist_te.append(float(np.mean(np.argmax(xte @ w.T, axis=1) == ds.y_test)))
        bar.set_postfix(test=f"{hist_te[-1]:.3f}")
    bar.close()
    vl, vr = dev.node_voltages(eng.state)
    return {
        "model": "fn", "seed": seed, "dataset": ds.name, "sample_s": sample_s,
        "emulated_s": eng.time * dev.tick_s, "recipe": asdict(recipe), "device": dev.params(),
        "train_accuracy_per_epoch": hist_tr, "test_accuracy_per_epoch": hist_te,
        "test_accuracy": hist_te[-1], "energy_fj": energy * 1e15, "updates": updates,
        "energy_per_update_fj": energy * 1e15 / max(updates, 1),
        "floor_fraction": float(np.mean(np.concatenate([eng.state["nl"].ravel(),
                                                          eng.state["nr"].ravel()]) == 0)),
        "v_min_node_v": float(min(vl.min(), vr.min())),
        "seconds": time.perf_counter() - t0,
    }


def train_fn_physics(device="paper", dataset="digits", *, seed: int = 0,
                     recipe: Recipe = PAPER_DIGITS, sample_s: float = 10.0,
                     epochs: int | None = None) -> dict:
    """The same on-chip learning with float64 FN physics instead of counters: node voltages
    move by the exact pulse formula and decay along the exact trajectory between samples;
    y, errors and pulses are computed like the engine (weights in codes of ``lsb_v``).
    Measures how far the integer emulation is from the physics at the learning level."""
    from . import physics as phys
    dev = _device(device)
    p = dev.physics
    if epochs is not None:
        recipe = replace(recipe, epochs=epochs)
    ds, xtr, xte = _data(dataset, recipe)
    rows, cols = ds.n_classes, xtr.shape[1]
    vl = np.full((rows, cols), dev.v0_v)
    vr = np.full((rows, cols), dev.v0_v)
    vmin = dev.v_min_v
    err_fmt = IntFormat(recipe.err_width)
    order_rng = np.random.default_rng(seed)
    scale = 1.0 / (dev.lsb_v * (1 << dev.weight_shift))
    hist_tr, hist_te = [], []
    energy, updates = 0.0, 0
    c0 = time.perf_counter()
    for _ in range(recipe.epochs):
        correct = 0
        for i in order_rng.permutation(len(xtr)):
            x, label = xtr[i], int(ds.y_train[i])
            w = np.floor((vl - vr) * scale)  # read-out like the hardware: floor in codes
            y = w.astype(np.int64) @ x
            correct += int(np.argmax(y)) == label
            t = np.full(rows, recipe.t_neg, np.int64)
            t[label] = recipe.t_pos
            e = err_fmt.saturate(t - y)
            pulses = dev.pulse_fmt.saturate(round_shift(e[:, None] * x[None, :], recipe.eta,
                                                        recipe.rounding))
            m = np.abs(pulses) * dev.t_pulse_s
            right, left = pulses > 0, pulses < 0
            if right.any() or left.any():
                new_r = np.maximum(phys.pulse(vr, np.where(right, m, 0.0), p), vmin)
                new_l = np.maximum(phys.pulse(vl, np.where(left, m, 0.0), p), vmin)
                energy += float(phys.update_energy_j(vr - new_r, vr, p).sum()
                                + phys.update_energy_j(vl - new_l, vl, p).sum())
                updates += int(right.sum() + left.sum())
                vr, vl = new_r, new_l
            if sample_s:
                vl = np.maximum(phys.voltage_at(sample_s, p, v0_v=vl), vmin)
                vr = np.maximum(phys.voltage_at(sample_s, p, v0_v=vr), vmin)
        w = np.floor((vl - vr) * scale)
        hist_tr.append(correct / len(xtr))
        hist_te.append(float(np.mean(np.argmax(xte @ w.T, axis=1) == ds.y_test)))
    return {"model": "fn-physics", "seed": seed, "dataset": ds.name, "sample_s": sample_s,
            "train_accuracy_per_epoch": hist_tr, "test_accuracy_per_epoch": hist_te,
            "test_accuracy": hist_te[-1], "energy_fj": energy * 1e15, "updates": updates,
            "energy_per_update_fj": energy * 1e15 / max(updates, 1),
            "seconds": time.perf_counter() - c0}


def train_float(device="paper", dataset="digits", *, seed: int = 0, schedule: str = "matched",
                recipe: Recipe = PAPER_DIGITS, sample_s: float = 10.0, gamma: float = 0.8,
                epochs: int | None = None, eta0: float | None = None) -> dict:
    """Float64 delta-rule baseline (see module doc); same sample order as :func:`train_fn`."""
    if schedule not in ("matched", "constant"):
        raise ValueError(f"schedule must be 'matched' or 'constant', not {schedule!r}")
    dev = _device(device)
    if epochs is not None:
        recipe = replace(recipe, epochs=epochs)
    ds, xtr, xte = _data(dataset, recipe)
    s0 = unit_step(dev) if eta0 is None else eta0
    t0 = dev.physics.t0_s
    pf = dev.pulse_fmt
    sat = (1 << (recipe.err_width - 1))
    w = np.zeros((ds.n_classes, xtr.shape[1]))
    order_rng = np.random.default_rng(seed)
    t_s = 0.0
    hist_tr, hist_te = [], []
    c0 = time.perf_counter()
    for _ in range(recipe.epochs):
        correct = 0
        for i in order_rng.permutation(len(xtr)):
            x, label = xtr[i].astype(float), int(ds.y_train[i])
            y = w @ x
            correct += int(np.argmax(y)) == label
            tgt = np.full(ds.n_classes, float(recipe.t_neg))
            tgt[label] = recipe.t_pos
            e = np.clip(tgt - y, -sat, sat - 1)
            p = np.clip(np.outer(e, x) / (1 << recipe.eta), pf.min, pf.max)
            if schedule == "matched":
                eta = s0 * ((t_s + t0) / t0) ** -gamma
                w += eta * p
                w *= (t_s + t0) / (t_s + sample_s + t0)  # exact decay with lambda = 1/(t+t0)
            else:
                w += s0 * p
            t_s += sample_s
        hist_tr.append(correct / len(xtr))
        hist_te.append(float(np.mean(np.argmax(xte @ w.T, axis=1) == ds.y_test)))
    return {"model": f"float-{schedule}", "seed": seed, "dataset": ds.name, "eta0": s0,
            "gamma": gamma, "t0_s": t0, "sample_s": sample_s,
            "train_accuracy_per_epoch": hist_tr, "test_accuracy_per_epoch": hist_te,
            "test_accuracy": hist_te[-1], "seconds": time.perf_counter() - c0}


def summarize(runs: list[dict], key: str) -> dict:
    v = np.array([r[key] for r in runs], float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0}


#: the models of :func:`compare`, in its output order
MODELS = ("fn", "fn-physics", "float-matched", "float-constant")


def _run_model(model: str, dev: FNDevice, dataset, seed: int, sample_s: float,
               recipe: Recipe) -> dict:
    if model == "fn":
        return train_fn(dev, dataset, seed=seed, recipe=recipe, sample_s=sample_s,
                        show_progress=False)
    if model == "fn-physics":
        return train_fn_physics(dev, dataset, seed=seed, recipe=recipe, sample_s=sample_s)
    if model in ("float-matched", "float-constant"):
        return train_float(dev, dataset, seed=seed, schedule=model.split("-", 1)[1],
                           recipe=recipe, sample_s=sample_s)
    raise ValueError(f"unknown compare model {model!r}; use one of {', '.join(MODELS)}")


def compare_run(model: str, device: dict, dataset: str, seed: int, sample_s: float,
                recipe: dict, epochs: int | None = None) -> dict:
    """One task of :func:`compare` (a campaign task: JSON arguments, JSON result): ``model``
    (one of :data:`MODELS`) trained on ``dataset`` (a built-in name or a ``.npz`` path) with
    the FN device of parameters ``device`` (:meth:`FNDevice.params`), the recipe of fields
    ``recipe`` (``epochs``, if given, replacing its epoch count), ``seed`` and ``sample_s``."""
    import json
    rec = Recipe(**recipe)
    if epochs is not None:
        rec = replace(rec, epochs=epochs)
    r = _run_model(model, _device(dict(device)), dataset, int(seed), float(sample_s), rec)
    return json.loads(json.dumps(r))        # the same types in process, on workers, on disk


def _dataset_arg(dataset) -> str:
    """A JSON form of ``dataset`` a worker can load: a built-in name, or an absolute path."""
    import os
    from ...runtime.datasets import DATASETS
    if isinstance(dataset, os.PathLike):
        dataset = os.fspath(dataset)
    if not isinstance(dataset, str):
        raise TypeError("a campaign needs the dataset by name or .npz path, not a "
                        f"{type(dataset).__name__}")
    if dataset in DATASETS:
        return dataset
    if os.path.exists(dataset):
        return os.path.abspath(dataset)
    load_dataset(dataset)                    # raises DatasetError naming the choices
    return dataset


def compare_tasks(device="paper", dataset="digits", *, seeds=(0, 1, 2), sample_s: float = 10.0,
                  recipe: Recipe = PAPER_DIGITS, epochs: int | None = None) -> list:
    """The campaign of :func:`compare`: one :class:`~synemu.campaign.Task` of
    :func:`compare_run` per (seed, model), seeds in order (a repeated seed is one task)."""
    from ...campaign import Task
    dev = _device(device)
    if epochs is not None:
        recipe = replace(recipe, epochs=epochs)
    if recipe.rounding == "stochastic":     # train_fn's error, before any task runs
        raise ValueError("train_fn accounts energy from host-side pulses: use a deterministic "
                         "rounding (nearest_even or floor)")
    ds = _dataset_arg(dataset)
    params, rec = dev.params(), asdict(recipe)
    return [Task("synemu.devices.fn.learning:compare_run",
                 dict(model=m, device=params, dataset=ds, seed=int(s), sample_s=float(sample_s),
                      recipe=rec), label=f"{m} seed {s}")
            for s in dict.fromkeys(seeds) for m in MODELS]


def compare_results(tasks, results, seeds, sample_s=None) -> dict:
    """:func:`compare`'s dict from the results of :func:`compare_tasks` (in task order)."""
    by = {(t.kwargs["model"], t.kwargs["seed"]): r for t, r in zip(tasks, results)}
    runs = {m: [by[(m, int(s))] for s in seeds] for m in MODELS}
    return _summary(runs, seeds, runs["fn"][0]["sample_s"] if sample_s is None else sample_s)


def _summary(runs: dict, seeds, sample_s) -> dict:
    out = {"dataset": runs["fn"][0]["dataset"], "seeds": list(seeds), "sample_s": sample_s,
           "recipe": runs["fn"][0]["recipe"], "device": runs["fn"][0]["device"],
           "emulated_s": runs["fn"][0]["emulated_s"]}
    for k, rs in runs.items():
        out[k] = {"test_accuracy": summarize(rs, "test_accuracy"),
                  "test_accuracy_per_epoch": np.mean([r["test_accuracy_per_epoch"] for r in rs],
                                                     axis=0).tolist()}
    for k in ("energy_fj", "updates", "energy_per_update_fj", "floor_fraction"):
        out["fn"][k] = summarize(runs["fn"], k)
    out["fn_minus_matched_pp"] = 100 * (out["fn"]["test_accuracy"]["mean"]
                                        - out["float-matched"]["test_accuracy"]["mean"])
    out["runs"] = {k: [{kk: vv for kk, vv in r.items() if kk not in ("recipe", "device")}
                       for r in rs] for k, rs in runs.items()}
    return out


def compare(device="paper", dataset="digits", *, seeds=(0, 1, 2), sample_s: float = 10.0,
            recipe: Recipe = PAPER_DIGITS, epochs: int | None = None,
            show_progress: bool = True, workers: int = 1, scheduler: str | None = None,
            out=None, resume: bool = True) -> dict:
    """FN-DAM on-chip (counters) vs the same learning with float FN physics vs float SGD
    (matched schedule) vs constant-eta SGD, over ``seeds``.

    The (seed, model) runs are a campaign (:func:`compare_tasks`,
    :func:`synemu.campaign.run_campaign`): ``workers`` local processes or the dask
    cluster at ``scheduler``; ``out``: the records directory (rerunning skips the runs
    recorded there unless ``resume`` is false). The dict is the same whatever the number of
    workers; a failed run raises RuntimeError after the others finished. A ``dataset``
    given as a :class:`~synemu.runtime.datasets.Dataset` object (not a name or path) runs in
    this process only, without records."""
    import os
    if not isinstance(dataset, (str, os.PathLike)):
        if workers != 1 or scheduler is not None or out is not None:
            raise ValueError("compare: a Dataset object runs in process only; pass its name or "
                             ".npz path to use workers, a scheduler or records")
        dev = _device(device)
        if epochs is not None:
            recipe = replace(recipe, epochs=epochs)
        runs = {m: [_run_model(m, dev, dataset, s, sample_s, recipe) for s in seeds]
                for m in MODELS}
        return _summary(runs, seeds, sample_s)
    from ...campaign import run_campaign
    tasks = compare_tasks(device, dataset, seeds=seeds, sample_s=sample_s, recipe=recipe,
                          epochs=epochs)
    res = run_campaign(tasks, out, workers=workers, scheduler=scheduler, resume=resume,
                       desc="fn compare", show_progress=show_progress)
    res.raise_on_failure()
    return compare_results(tasks, res.results(), seeds, sample_s)


# -- fidelity of the counter emulation vs the closed-form physics ---------------------------
def fidelity(device="paper", *, points: int = 60) -> dict:
    """Counter emulator vs closed-form physics (golden model; the hardware is bit-identical).

    ``checkpoints``: free-decay code vs exact at 1 h, 1 day, 1e6 s (error in LSB);
    ``trajectory``: the same on a log time grid, advanced TICK by TICK (composition);
    ``step_decay``: drop of the continuous position of a node aged t by a width-``m`` pulse
    vs physics, and both fitted exponents over 1e3..1e6 s;
    ``resolution``: distinct weights visited by unit pulses from V0 to the floor (log2) and
    the read-out width; ``weight_decay``: W(t) of a programmed pair, emulator vs physics.
    """
    from . import physics as phys
    dev = _device(device)
    p = dev.physics
    exact_code = lambda v: (np.asarray(v) - dev.v_min_v) / dev.lsb_v
    # 1. checkpoints and trajectory
    cps = {}
    for name, t in (("1h", 3600.0), ("1day", 86400.0), ("1e6s", 1e6)):
        c = int(dev.fresh_state((), t)["nl"])
        cps[name] = {"t_s": t, "code": c, "exact_code": float(exact_code(phys.voltage_at(t, p))),
                     "error_lsb": float(c - exact_code(phys.voltage_at(t, p)))}
    t_grid = np.unique(np.round(np.logspace(0, 6.3, points) / dev.tick_s)) * dev.tick_s
    st = dev.reset_state(())
    codes, prev = [], 0.0
    for t in t_grid:
        st = dev.tick(st, int(round((t - prev) / dev.tick_s)), 0)
        prev = t
        codes.append(int(st["nl"]))
    v_emu = dev.code_voltage(np.array(codes))
    v_phys = phys.voltage_at(t_grid, p)
    traj_err = (v_emu - v_phys) / dev.lsb_v
    # 2. step-size decay with age (drop of the node's continuous position)
    m = 1 << dev.mag_bits
    ages = np.logspace(3, 6, 13)
    drops, phys_drops = [], []
    for t in ages:
        s = dev.fresh_state((1,), t)
        s2 = dev.update(s, np.full(1, -m))
        drops.append(float(dev.position(s, "l")[0] - dev.position(s2, "l")[0]) * dev.lsb_v)
        phys_drops.append(float(phys.pulse_step_v(phys.voltage_at(t, p), m * dev.t_pulse_s, p)))
    lt = np.log(ages + p.t0_s)
    gamma_emu = -float(np.polyfit(lt, np.log(drops), 1)[0])
    gamma_phys = -float(np.polyfit(lt, np.log(phys_drops), 1)[0])
    # 3. resolution: unit pulses on R from V0 to the floor (pulse_node on Python ints)
    nl = dev.n_codes - 1
    nr, cr = nl, dev.init_counter
    seen = {0}
    pulses_to_floor = 0
    while nr > 0 and pulses_to_floor < 1 << 22:
        nr, cr = dev.pulse_node(nr, cr, 1)
        seen.add((nl - nr) >> dev.weight_shift)
        pulses_to_floor += 1
    # 4. free decay of a programmed weight
    s = dev.reset_state(())
    for _ in range(200):
        s = dev.update(s, np.int64(m - 1))
    v_r0 = float(dev.code_voltage(s["nr"]))
    w0 = int(s["nl"]) - int(s["nr"])
    w_t = np.logspace(2, 6, 17)
    w_emu, prev = [], 0.0
    for t in w_t:
        s = dev.tick(s, int(round((t - prev) / dev.tick_s)), 0)
        prev = int(round(t / dev.tick_s)) * dev.tick_s
        w_emu.append(int(s["nl"]) - int(s["nr"]))
    w_emu = np.array(w_emu, float)
    # physics: both nodes decay freely from the programmed codes' voltages at t = 0
    w_phys0 = (phys.voltage_at(w_t, p, v0_v=float(dev.code_voltage(dev.n_codes - 1)))
               - phys.voltage_at(w_t, p, v0_v=v_r0)) / dev.lsb_v
    late = w_t >= 1e4
    return {
        "device": dev.params(), "lsb_v": dev.lsb_v, "tick_s": dev.tick_s,
        "checkpoints": cps,
        "max_abs_checkpoint_error_lsb": max(abs(c["error_lsb"]) for c in cps.values()),
        "trajectory": {"t_s": t_grid.tolist(), "v_emulator_v": v_emu.tolist(),
                       "v_physics_v": v_phys.tolist(),
                       "max_abs_error_lsb": float(np.max(np.abs(traj_err)))},
        "step_decay": {"pulse_m": m, "t_s": ages.tolist(), "dv_emulator_v": drops,
                       "dv_physics_v": phys_drops, "gamma_emulator": gamma_emu,
                       "gamma_physics": gamma_phys,
                       "max_rel_error": float(np.max(np.abs(np.array(drops) / phys_drops - 1)))},
        "resolution": {"readout_bits": dev.weight_width,
                       "node_code_bits": dev.code_bits,
                       "distinct_weights_unit_pulses": len(seen),
                       "effective_bits": float(np.log2(len(seen))),
                       "unit_pulses_to_floor": pulses_to_floor,
                       "min_step_of_range": 1 / (dev.n_codes - 1)},
        "weight_decay": {"t_s": w_t.tolist(), "w0_codes": w0,
                         "w_emulator_codes": w_emu.tolist(), "w_physics_codes": w_phys0.tolist(),
                         "max_abs_error_lsb": float(np.max(np.abs(w_emu - w_phys0))),
                         "decay_exponent_emulator": -float(np.polyfit(
                             np.log(w_t[late] + p.t0_s), np.log(np.maximum(w_emu[late], 1e-9)), 1)[0]),
                         "decay_exponent_physics": -float(np.polyfit(
                             np.log(w_t[late] + p.t0_s), np.log(w_phys0[late]), 1)[0])},
    }


def hardware_trajectory(dev, t_grid, backend):
    """Free-decay codes of one synapse through a hardware backend, TICK by TICK."""
    from ...runtime.tile import Tile
    codes, prev = [], 0
    with Tile(dev, rows=1, cols=1, lanes=1, backend=backend) as tile:
        for t in t_grid:
            k = int(round(t / dev.tick_s))
            tile.tick(k - prev)
            prev = k
            codes.append(int(tile.read(0, 0)["nl"]))
    return codes
