"""Fit a measured device from pulse-train data: CSV in, device file out.

**Input** (CSV, one row per applied pulse, in time order per device): ``device`` (any
label), ``cycle`` (number, non-decreasing per device), ``pulse`` (index within the train,
increasing), ``polarity`` (+1 potentiation, -1 depression), ``conductance_s`` (S, read
after the pulse); optional ``amplitude_v`` / ``width_s`` (several pulse shapes: one code
per shape and polarity). A *train* is a run of rows with the same device, cycle and
polarity. The step of a pulse is its conductance minus the previous row's of the same
device (the first row of each device has none).

**Model** (:mod:`.golden`): ``K = 2^bits`` states on a uniform conductance grid from
``g_min`` to ``g_max`` (the 0.2 / 99.8 percentiles of the data); in state units
``x = (G - g_min) / (g_max - g_min) * (K - 1)``:

1. mean step per pulse ``m_pol(x)``: least-squares polynomial (``degree``) of the steps
   vs the state before the pulse, per polarity (and shape), with every device's steps
   divided by its d2d scale ``a_i`` (least squares of its steps on the pooled curve, both
   polarities, mean 1; iterated); ``d2d_sigma = std(a_i)`` (>= 2 devices);
2. c2c std per pulse ``s_pol(x)``: polynomial (degree 2) of the squared residuals;
3. tables: ``codes = "count"``: code c is c + 1 identical pulses, its mean move from
   state n the iterated mean map, its variance the sum of the per-pulse variances along
   it; ``codes = "shape"``: code c is pulse shape c (sorted by mean step);
   deltas rounded to ``frac_bits``; each std, less the variance ``r (1 - r)`` the
   stochastic rounding of a mean with fraction ``r`` adds, to the nearest binomial noise
   code ``sqrt(z/2) * 2^s``; d2d scales: the normal quantiles of ``1 + d2d_sigma * xi`` at
   ``(i + 0.5) / 2^D``.

**Errors** (the golden model run under the same pulse trains, ``realisations`` times,
each measured device with its nearest d2d code): ``rms_curve_pct`` is the RMS difference
of the mean conductance per (polarity, pulse index), averaged over devices and cycles,
measured vs simulated, in % of ``g_max - g_min``; ``rms_step_mean_pct`` /
``rms_step_std_pct`` the same for the mean and std of the step in 16 conductance bins.
``soft_bounds`` reports the model in aihwkit's terms (a linear fit of the mean steps:
``dG_up = a_up (G_sat_up - G)``, ``dG_down = a_down (G - G_sat_down)``).
"""

from __future__ import annotations

import csv
import datetime as _dt
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .devicefile import save, sha256_file
from .golden import NOISE_S_MAX, SCALE_FRAC, SCALE_MAX, MeasuredDevice

__all__ = ["PulseData", "read_pulse_csv", "fit_device", "evaluate", "plot_fit", "fit_file",
           "MIN_STEPS"]

REQUIRED = ("device", "cycle", "pulse", "polarity", "conductance_s")
OPTIONAL = ("amplitude_v", "width_s")
MIN_STEPS = 20          #: fewest known steps per polarity the fit accepts
MIN_TRAIN = 3           #: shortest train (pulses)
BINS = 16


@dataclass
class PulseData:
    """Validated pulse trains: per row ``dev`` (int), ``cycle``, ``pulse``, ``pol`` (+-1),
    ``g`` (S), ``shape`` (code per polarity, 0 without shape columns), ``g0`` (S before
    the pulse; NaN for a device's first row)."""

    path: str
    devices: list
    dev: np.ndarray
    cycle: np.ndarray
    pulse: np.ndarray
    pol: np.ndarray
    g: np.ndarray
    shape: np.ndarray
    g0: np.ndarray
    shapes: dict          # polarity -> list of (amplitude_v, width_s) by code

    @property
    def known(self) -> np.ndarray:
        return ~np.isnan(self.g0)


def _open_text(p: Path):
    """A CSV file, gzip-compressed if it ends in ``.gz``."""
    if p.suffix == ".gz":
        import gzip
        return gzip.open(p, "rt", newline="")
    return open(p, newline="")


def _bad(path, msg):
    return ValueError(f"{path}: {msg}")


def read_pulse_csv(path) -> PulseData:
    """Read and validate a pulse-train CSV (see the module docstring); bad data raises a
    ValueError naming the file, the line and the problem."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"pulse data {str(p)!r} does not exist")
    try:
        with _open_text(p) as f:
            rd = csv.reader(f)
            try:
                header = [h.strip() for h in next(rd)]
            except StopIteration:
                raise _bad(p, "empty file (expected a header line with columns "
                              f"{', '.join(REQUIRED)})") from None
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise _bad(p, f"missing column(s) {', '.join(missing)} (the header has "
                              f"{', '.join(header) or 'nothing'}; required: {', '.join(REQUIRED)})")
            shaped = [c for c in OPTIONAL if c in header]
            idx = {c: header.index(c) for c in REQUIRED + tuple(shaped)}
            rows = [r for r in rd if any(v.strip() for v in r)]     # blank lines skipped
    except (UnicodeDecodeError, OSError, csv.Error) as e:
        raise _bad(p, f"not a readable CSV text file ({e})") from None
    if not rows:
        raise _bad(p, "no data rows")
    labels, dev, num = {}, [], {c: [] for c in ("cycle", "pulse", "polarity", "conductance_s", *shaped)}
    for line, r in enumerate(rows, start=2):
        if len(r) < len(header):
            raise _bad(p, f"line {line}: {len(r)} fields, the header has {len(header)}")
        lab = r[idx["device"]].strip()
        if not lab:
            raise _bad(p, f"line {line}: empty device label")
        dev.append(labels.setdefault(lab, len(labels)))
        for c in num:
            try:
                v = float(r[idx[c]])
            except ValueError:
                raise _bad(p, f"line {line}: {c} = {r[idx[c]]!r} is not a number") from None
            if not math.isfinite(v):
                raise _bad(p, f"line {line}: {c} is {r[idx[c]]} (NaN/inf are not data)")
            num[c].append(v)
    dev = np.asarray(dev)
    cyc, pul = np.asarray(num["cycle"]), np.asarray(num["pulse"])
    pol, g = np.asarray(num["polarity"]), np.asarray(num["conductance_s"])
    bad = np.flatnonzero(~np.isin(pol, (1, -1)))
    if bad.size:
        raise _bad(p, f"line {bad[0] + 2}: polarity {pol[bad[0]]:g} (use +1 potentiation, "
                      f"-1 depression)")
    bad = np.flatnonzero(g <= 0)
    if bad.size:
        raise _bad(p, f"line {bad[0] + 2}: conductance_s {g[bad[0]]:g} must be > 0 (siemens)")
    # trains, cycles and pulse order per device
    g0 = np.full(g.shape, np.nan)
    seen = set()
    for d in range(len(labels)):
        rows_d = np.flatnonzero(dev == d)
        g0[rows_d[1:]] = g[rows_d[:-1]]
        dc = np.diff(cyc[rows_d])
        if (dc < 0).any():
            k = rows_d[1:][dc < 0][0]
            raise _bad(p, f"line {k + 2}: cycle {cyc[k]:g} of device {_label(labels, d)!r} "
                          f"comes after cycle {cyc[k - 1] if dev[k - 1] == d else '?'} (cycles "
                          f"must be non-decreasing in time order)")
        start = 0
        for j in range(1, len(rows_d) + 1):
            if j == len(rows_d) or (cyc[rows_d[j]], pol[rows_d[j]]) != (cyc[rows_d[start]], pol[rows_d[start]]):
                tr = rows_d[start:j]
                key = (d, cyc[tr[0]], pol[tr[0]])
                if key in seen:
                    raise _bad(p, f"line {tr[0] + 2}: a second {'+' if key[2] > 0 else '-'} "
                                  f"train in cycle {key[1]:g} of device {_label(labels, d)!r}")
                seen.add(key)
                if (np.diff(pul[tr]) <= 0).any():
                    k = tr[1:][np.diff(pul[tr]) <= 0][0]
                    raise _bad(p, f"line {k + 2}: pulse index {pul[k]:g} does not increase "
                                  f"within its train")
                if len(tr) < MIN_TRAIN:
                    raise _bad(p, f"line {tr[0] + 2}: a train of {len(tr)} pulse(s) (need >= "
                                  f"{MIN_TRAIN})")
                start = j
    known = ~np.isnan(g0)
    for s, name in ((1, "potentiation (+1)"), (-1, "depression (-1)")):
        n = int(np.count_nonzero(known & (pol == s)))
        if n == 0:
            other = "depression" if s > 0 else "potentiation"
            raise _bad(p, f"no {name} pulses: the fit needs both polarities (only {other} found)")
        if n < MIN_STEPS:
            raise _bad(p, f"only {n} {name} steps (need >= {MIN_STEPS})")
    shape = np.zeros(len(g), dtype=np.int64)
    shapes = {1: [(None, None)], -1: [(None, None)]}
    if shaped:
        amp = np.asarray(num.get("amplitude_v", np.zeros(len(g))))
        wid = np.asarray(num.get("width_s", np.zeros(len(g))))
        for s in (1, -1):
            sel = pol == s
            combos = sorted(set(zip(amp[sel], wid[sel])))
            shapes[s] = combos
            lookup = {c: i for i, c in enumerate(combos)}
            shape[sel] = [lookup[c] for c in zip(amp[sel], wid[sel])]
    return PulseData(str(p), list(labels), dev, cyc, pul, pol.astype(np.int64), g, shape, g0, shapes)


def _label(labels: dict, d: int) -> str:
    return next(k for k, v in labels.items() if v == d)


# -- fitting -----------------------------------------------------------------------------
def _poly(x, y, deg, w=None):
    from numpy.polynomial import Polynomial
    deg = max(0, min(deg, len(np.unique(x)) - 1))
    return Polynomial.fit(x, y, deg, w=w)


def _noise_code(sigma_q: float, z_max: int) -> tuple[int, float]:
    """Binomial noise code ``z + 32 s`` whose std ``sqrt(z/2) * 2^s`` is nearest ``sigma_q``
    (units of 2^-f states); returns (code, its std)."""
    best = (0, 0.0, sigma_q)
    if sigma_q <= 0 or z_max == 0:
        return 0, 0.0
    for s in range(NOISE_S_MAX + 1):
        for z in range(1, z_max + 1):
            sd = math.sqrt(z / 2) * (1 << s)
            if abs(sd - sigma_q) < best[2]:
                best = (z + 32 * s, sd, abs(sd - sigma_q))
    return best[0], best[1]


def fit_device(data: PulseData, *, bits: int = 6, pulse_bits: int = 4, frac_bits: int = 8,
               noise_bits: int = 16, d2d_bits: int | None = None, degree: int = 3,
               label: str | None = None) -> dict:
    """Fit the tables; returns the device-file body (``device``, ``grid``, ``fit``)
    without errors or provenance (see :func:`fit_file`)."""
    from scipy.stats import norm
    K, C = 1 << bits, 1 << (pulse_bits - 1)
    if not 2 <= bits <= 10:
        raise ValueError(f"--bits must be in 2..10, not {bits}")
    lo, hi = np.percentile(data.g, [0.2, 99.8])
    if not hi > lo:
        raise ValueError(f"{data.path}: the conductance does not change (all {lo:g} S)")
    to_x = (K - 1) / (hi - lo)
    known = data.known
    x0 = (data.g0[known] - lo) * to_x
    dx = (data.g[known] - data.g0[known]) * to_x * data.pol[known]      # signed along polarity
    pol, dev, shp = data.pol[known], data.dev[known], data.shape[known]
    xc = x0     # unclipped: the 0.4 % of reads outside the grid still inform the curves
    n_dev = len(data.devices)
    shaped = max(len(v) for v in data.shapes.values()) > 1
    if shaped:
        n_shapes = max(len(data.shapes[1]), len(data.shapes[-1]))
        if n_shapes > C:
            raise ValueError(f"{data.path}: {n_shapes} pulse shapes need pulse_bits >= "
                             f"{1 + math.ceil(math.log2(n_shapes))}")
    keys = [(s, c) for s in (1, -1) for c in range(len(data.shapes[s]))]
    scale_dev = np.ones(n_dev)
    for _ in range(4):
        a = scale_dev[dev]
        curves = {}
        for s, c in keys:
            sel = (pol == s) & (shp == c)
            if np.count_nonzero(sel) < 2:
                raise ValueError(f"{data.path}: too few steps for polarity {s:+d} shape {c}")
            curves[s, c] = _poly(xc[sel], dx[sel] / a[sel], degree)
        pred = np.empty_like(dx)
        for s, c in keys:
            sel = (pol == s) & (shp == c)
            pred[sel] = curves[s, c](xc[sel])
        if n_dev < 2:
            break
        for d in range(n_dev):
            sel = dev == d
            den = float(np.dot(pred[sel], pred[sel]))
            scale_dev[d] = float(np.dot(dx[sel], pred[sel]) / den) if den > 0 else 1.0
        scale_dev = np.maximum(scale_dev, 1e-3)
        scale_dev /= scale_dev.mean()
    resid = dx - scale_dev[dev] * pred
    var_curves = {}
    for s, c in keys:
        sel = (pol == s) & (shp == c)
        var_curves[s, c] = _poly(xc[sel], resid[sel] ** 2, 2)
    d2d_sigma = float(np.std(scale_dev, ddof=1)) if n_dev >= 2 else 0.0
    if d2d_bits is None:
        d2d_bits = 3 if (n_dev >= 2 and d2d_sigma > 0.01) else 0
    xs = np.arange(K, dtype=float)
    mean = {k: np.maximum(curves[k](xs), 0.0) for k in keys}
    std = {k: np.sqrt(np.maximum(var_curves[k](xs), 0.0)) for k in keys}
    # tables
    f = 1 << frac_bits
    dmax = (1 << (bits + frac_bits)) - 1
    tab = {s: (np.zeros((K, C), dtype=np.int64), np.zeros((K, C), dtype=np.int64)) for s in (1, -1)}
    tab_float = {s: (np.zeros((K, C)), np.zeros((K, C))) for s in (1, -1)}
    for s in (1, -1):
        for c in range(C):
            if shaped:
                k = (s, min(c, len(data.shapes[s]) - 1))
                mv, sd = mean[k], std[k]
            else:
                x = xs.copy()
                var = np.zeros(K)
                for _ in range(c + 1):
                    var += np.interp(x, xs, std[s, 0]) ** 2
                    x = np.clip(x + s * np.interp(x, xs, mean[s, 0]), 0, K - 1)
                mv, sd = np.abs(x - xs), np.sqrt(var)
            tab_float[s][0][:, c], tab_float[s][1][:, c] = mv, sd
            tab[s][0][:, c] = np.clip(np.rint(mv * f), 0, dmax)
            # stochastic rounding of the mean already adds r(1-r) states^2 (r its fraction)
            r = mv - np.floor(mv)
            sd_t = np.sqrt(np.maximum(sd ** 2 - r * (1 - r), 0.0))
            tab[s][1][:, c] = [_noise_code(v * f, noise_bits)[0] for v in sd_t]
    q = (np.arange(1 << d2d_bits) + 0.5) / (1 << d2d_bits)
    scale = np.clip(np.rint((1 + d2d_sigma * norm.ppf(q)) * (1 << SCALE_FRAC)), 0, SCALE_MAX)
    params = dict(bits=bits, pulse_bits=pulse_bits, frac_bits=frac_bits, noise_bits=noise_bits,
                  d2d_bits=d2d_bits, delta_up=tab[1][0].tolist(), delta_down=tab[-1][0].tolist(),
                  noise_up=tab[1][1].tolist(), noise_down=tab[-1][1].tolist(),
                  scale=[int(v) for v in scale], codes="shape" if shaped else "count",
                  label=label or Path(data.path).name.split(".")[0])
    MeasuredDevice(**params)          # validates
    g_per_x = 1.0 / to_x
    sb = {}
    for s, name in ((1, "up"), (-1, "down")):
        sel = (pol == s) & (shp == 0)
        G = lo + xc[sel] * g_per_x
        dG = dx[sel] * g_per_x / scale_dev[dev[sel]]
        slope, icpt = np.polyfit(G, dG, 1)        # dG = icpt + slope * G
        a = -slope if s > 0 else slope
        sat = icpt / a if a else float("nan")
        sat = sat if s > 0 else -sat
        sb[name] = {"rate_per_pulse": float(a), "g_sat_s": float(sat),
                    "c2c_std_s": float(np.sqrt(np.mean(resid[sel] ** 2)) * g_per_x)}
    fit = {"up_mean": [mean[1, c].tolist() for c in range(len(data.shapes[1]))],
           "up_std": [std[1, c].tolist() for c in range(len(data.shapes[1]))],
           "down_mean": [mean[-1, c].tolist() for c in range(len(data.shapes[-1]))],
           "down_std": [std[-1, c].tolist() for c in range(len(data.shapes[-1]))],
           "units": "states per pulse",
           "d2d_sigma": d2d_sigma, "device_scales": scale_dev.tolist(),
           "degree": degree, "soft_bounds": sb,
           "shapes": {"+1": data.shapes[1], "-1": data.shapes[-1]} if shaped else None,
           "table_float": {"up_mean": tab_float[1][0].tolist(), "up_std": tab_float[1][1].tolist(),
                           "down_mean": tab_float[-1][0].tolist(), "down_std": tab_float[-1][1].tolist()}}
    grid = {"g_min_s": float(lo), "g_max_s": float(hi), "states": K}
    return {"label": params["label"], "device": params, "grid": grid, "fit": fit}


# -- evaluation --------------------------------------------------------------------------
def _simulate(device: MeasuredDevice, data: PulseData, grid: dict, scales, realisations, seed):
    """Golden model under the measured trains: conductance (S) after every row, shape
    (realisations, rows), and the state before each row."""
    K = device.n_states
    lo, hi = grid["g_min_s"], grid["g_max_s"]
    gof = lambda n: lo + device.conductance(n) / (K - 1) * (hi - lo)   # uniform grid units
    rng = np.random.default_rng(seed)
    out = np.empty((realisations, len(data.g)))
    D = device.d2d_bits
    codes = np.asarray(device.scale) / (1 << SCALE_FRAC)
    for d in range(len(data.devices)):
        rows = np.flatnonzero(data.dev == d)
        first = data.g[rows[0]] if np.isnan(data.g0[rows[0]]) else data.g0[rows[0]]
        n0 = int(np.clip(round((first - lo) / (hi - lo) * (K - 1)), 0, K - 1))
        st = {f.name: np.full(realisations, f.init, dtype=f.fmt.dtype) for f in device.fields}
        st["n"][:] = n0
        if D:
            st["d"][:] = int(np.abs(codes - scales[d]).argmin())
            st["v"][:] = 1
        pulses = data.pol[rows] * (data.shape[rows] + 1)
        for j, r in enumerate(rows):
            if j == 0 and np.isnan(data.g0[r]):
                out[:, r] = gof(st["n"])         # the first read: no pulse before it
                continue
            words = rng.integers(0, 1 << 63, realisations, dtype=np.uint64) * np.uint64(2) \
                + rng.integers(0, 2, realisations, dtype=np.uint64)
            st = device.update(st, np.full(realisations, pulses[j]), words)
            out[:, r] = gof(st["n"])
    return out


def _curves(data: PulseData, g: np.ndarray) -> dict:
    """Mean conductance per (polarity, pulse index) over devices and cycles; ``g`` has the
    rows in its last axis (any leading axes are averaged too)."""
    out = {}
    for s in (1, -1):
        sel = data.pol == s
        idx = data.pulse[sel]
        vals = g[..., sel].reshape(-1, np.count_nonzero(sel))
        u, inv = np.unique(idx, return_inverse=True)
        sums = np.zeros(len(u))
        np.add.at(sums, inv, vals.mean(0))
        out[s] = (u, sums / np.bincount(inv))
    return out


def _step_stats(g0, g, pol, edges):
    out = {}
    for s in (1, -1):
        sel = (pol == s) & ~np.isnan(g0)
        b = np.clip(np.digitize(g0[sel], edges) - 1, 0, len(edges) - 2)
        dG = (g - g0)[sel]
        cnt = np.bincount(b, minlength=len(edges) - 1)
        m = np.bincount(b, dG, minlength=len(edges) - 1) / np.maximum(cnt, 1)
        v = np.bincount(b, dG ** 2, minlength=len(edges) - 1) / np.maximum(cnt, 1) - m ** 2
        out[s] = (cnt, m, np.sqrt(np.maximum(v, 0)))
    return out


def evaluate(device: MeasuredDevice, data: PulseData, doc: dict, *, realisations: int = 16,
             seed: int = 0) -> dict:
    """Fit errors (see the module docstring) and the curves :func:`plot_fit` draws."""
    if device.differential:
        raise ValueError("evaluate() compares single devices; fit a non-differential device")
    grid = doc["grid"]
    rng_scale = grid["g_max_s"] - grid["g_min_s"]
    scales = doc["fit"].get("device_scales") or [1.0] * len(data.devices)
    sim = _simulate(device, data, grid, scales, realisations, seed)
    cm, cs = _curves(data, data.g), _curves(data, sim)
    err = np.concatenate([cm[s][1] - cs[s][1] for s in (1, -1)])
    edges = np.linspace(grid["g_min_s"], grid["g_max_s"], BINS + 1)
    sm = _step_stats(data.g0, data.g, data.pol, edges)
    # simulated steps: the previous simulated read of the same device, per realisation
    g0s = np.full(sim.shape, np.nan)
    for d in range(len(data.devices)):
        rows = np.flatnonzero(data.dev == d)
        g0s[:, rows[1:]] = sim[:, rows[:-1]]
    ss = _step_stats(g0s.ravel(), sim.ravel(), np.tile(data.pol, realisations), edges)
    dm, dsd = [], []
    for s in (1, -1):
        ok = (sm[s][0] >= 5) & (ss[s][0] >= 5)
        dm.append((sm[s][1] - ss[s][1])[ok])
        dsd.append((sm[s][2] - ss[s][2])[ok])
    dm, dsd = np.concatenate(dm), np.concatenate(dsd)
    pct = lambda e: float(np.sqrt(np.mean(e ** 2)) / rng_scale * 100) if e.size else float("nan")
    return {"rms_curve_pct": pct(err), "rms_step_mean_pct": pct(dm), "rms_step_std_pct": pct(dsd),
            "realisations": realisations,
            "_plot": {"sim": sim, "curves": (cm, cs), "steps": (edges, sm, ss)}}


def plot_fit(data: PulseData, doc: dict, ev: dict, path) -> Path:
    """Measured vs golden: the first device's conductance over all its pulses, the mean
    curves per polarity, and the step mean / std vs conductance."""
    from ...runtime.report import plt
    pyplot = plt()
    fig, ax = pyplot.subplots(2, 2, figsize=(11, 7.5))
    sim = ev["_plot"]["sim"]
    rows = np.flatnonzero(data.dev == 0)
    us = 1e6
    a = ax[0, 0]
    a.plot(data.g[rows] * us, ".", ms=2, color="k", label=f"measured ({data.devices[0]})")
    a.plot(sim[0, rows] * us, "-", lw=0.8, color="C1", alpha=0.8, label="golden (one run)")
    a.plot(sim[:, rows].mean(0) * us, "-", lw=1.2, color="C0", label="golden (mean)")
    a.set_xlabel("pulse number"); a.set_ylabel("conductance (µS)"); a.legend(fontsize=8)
    a.set_title("pulse trains, first device")
    cm, cs = ev["_plot"]["curves"]
    a = ax[0, 1]
    for s, col in ((1, "C3"), (-1, "C2")):
        a.plot(cm[s][0], cm[s][1] * us, ".", ms=3, color=col,
               label=f"measured {'+' if s > 0 else '-'} (mean)")
        a.plot(cs[s][0], cs[s][1] * us, "-", color=col, lw=1.2,
               label=f"golden {'+' if s > 0 else '-'} (mean)")
    a.set_xlabel("pulse index within train"); a.set_ylabel("conductance (µS)")
    a.set_title(f"mean curves: RMS error {ev['rms_curve_pct']:.2f} % of range")
    a.legend(fontsize=8)
    edges, sm, ss = ev["_plot"]["steps"]
    mid = (edges[:-1] + edges[1:]) / 2 * us
    for j, (what, title) in enumerate(((1, "mean"), (2, "std"))):
        a = ax[1, j]
        for s, col in ((1, "C3"), (-1, "C2")):
            ok = sm[s][0] >= 5
            a.plot(mid[ok], sm[s][what][ok] * us * 1e3, "o", ms=4, color=col,
                   label=f"measured {'+' if s > 0 else '-'}")
            ok = ss[s][0] >= 5
            a.plot(mid[ok], ss[s][what][ok] * us * 1e3, "-", color=col,
                   label=f"golden {'+' if s > 0 else '-'}")
        key = "rms_step_mean_pct" if what == 1 else "rms_step_std_pct"
        a.set_xlabel("conductance before the pulse (µS)"); a.set_ylabel(f"{title} dG (nS)")
        a.set_title(f"step {title} vs G: RMS error {ev[key]:.3f} % of range")
        a.legend(fontsize=8)
    fig.suptitle(f"{doc['label']}: {doc['device']['bits']}-bit table device fitted to "
                 f"{Path(data.path).name}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot.close(fig)
    return Path(path)


def fit_file(csv_path, out_path, *, plot: str | Path | None = None, source: dict | None = None,
             realisations: int = 16, seed: int = 0, command: str | None = None,
             **options) -> dict:
    """Read, fit, evaluate, plot and write the device file; returns its body (with
    ``errors`` and ``provenance``) plus ``plot`` and ``file`` paths."""
    from ... import __version__
    data = read_pulse_csv(csv_path)
    doc = fit_device(data, **options)
    device = MeasuredDevice(**doc["device"])
    ev = evaluate(device, data, doc, realisations=realisations, seed=seed)
    doc["errors"] = {k: v for k, v in ev.items() if not k.startswith("_")}
    doc["provenance"] = {
        "source": source or {"data": "user measurement"},
        "csv": {"name": Path(csv_path).name, "sha256": sha256_file(csv_path),
                "rows": int(len(data.g)), "devices": data.devices},
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "synemu": __version__, "command": command,
    }
    out = save(out_path, doc)
    png = plot_fit(data, doc, ev, Path(plot) if plot else out.with_suffix(".png"))
    return {**doc, "file": str(out), "plot": str(png)}
