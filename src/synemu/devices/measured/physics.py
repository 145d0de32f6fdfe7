"""Float references of the measured device.

* :class:`PulseModel`: the published pulse-response models (the step models of IBM's
  aihwkit: soft bounds, linear step) in normalised weight units ``w`` in ``[w_min, w_max]``,
  mapped linearly onto a conductance window ``[g_min_s, g_max_s]`` (siemens). It generates
  pulse-train CSVs in the format ``synemu device fit`` reads (:func:`synthesize`), which is
  how the shipped example data and presets are made from a paper's fitted parameters.
* :class:`FittedModel`: the float model a fit produced (mean and std of the step per pulse
  vs state, d2d spread), the physics reference of the integer tables.

Semantics of :class:`PulseModel` (per pulse, device i with its d2d draws)::

    up:   dw = dw_min_i * (1 + up_down) * (1 - gamma_up * w / w_max_ref)
    down: dw = dw_min_i * (1 - up_down) * (1 - gamma_down * w / w_min_ref)
    soft bounds: gamma = 1 and the references are the device's own bounds w_max_i, w_min_i
    linear step: references are the mean bounds (aihwkit ``mean_bound_reference``)
    c2c:  dw += dw_min * dw_min_std * xi (additive) or dw *= 1 + dw_min_std * xi (mult_noise)
    w = clip(w +- dw, w_min_i, w_max_i)

with ``dw_min_i = dw_min * (1 + dw_min_dtod * xi)``, ``w_max_i = w_max * (1 + w_max_dtod * xi)``
and ``w_min_i = w_min * (1 + w_min_dtod * xi)`` drawn once per device (xi ~ N(0, 1)
truncated at +-2).
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["PulseModel", "FittedModel", "synthesize", "write_csv", "CSV_COLUMNS"]

CSV_COLUMNS = ("device", "cycle", "pulse", "polarity", "conductance_s")
KINDS = ("soft_bounds", "linear_step")


@dataclass(frozen=True)
class PulseModel:
    """A published pulse-response model (see the module docstring); ``source`` cites it."""

    kind: str = "soft_bounds"
    dw_min: float = 0.002
    up_down: float = 0.0
    w_min: float = -1.0
    w_max: float = 1.0
    gamma_up: float = 1.0
    gamma_down: float = 1.0
    dw_min_std: float = 0.0
    mult_noise: bool = False
    dw_min_dtod: float = 0.0
    w_max_dtod: float = 0.0
    w_min_dtod: float = 0.0
    g_min_s: float = 1e-6
    g_max_s: float = 10e-6
    source: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"pulse model kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if not (self.w_min < 0 < self.w_max) or not self.dw_min > 0:
            raise ValueError("pulse model needs w_min < 0 < w_max and dw_min > 0")
        if not 0 < self.g_min_s < self.g_max_s:
            raise ValueError("pulse model needs 0 < g_min_s < g_max_s")

    def params(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "source"}

    def conductance(self, w) -> np.ndarray:
        """Siemens of normalised weights ``w`` (nominal bounds map to the window)."""
        u = (np.asarray(w, dtype=float) - self.w_min) / (self.w_max - self.w_min)
        return self.g_min_s + u * (self.g_max_s - self.g_min_s)

    @property
    def g_per_w(self) -> float:
        return (self.g_max_s - self.g_min_s) / (self.w_max - self.w_min)

    def draw_devices(self, n: int, rng: np.random.Generator) -> dict:
        """Per-device parameters (d2d variation)."""
        xi = np.clip(rng.standard_normal((3, n)), -2, 2)      # truncated at 2 sigma
        return {"dw_min": self.dw_min * np.maximum(1 + self.dw_min_dtod * xi[0], 0.05),
                "w_max": self.w_max * np.maximum(1 + self.w_max_dtod * xi[1], 0.1),
                "w_min": self.w_min * np.maximum(1 + self.w_min_dtod * xi[2], 0.1)}

    def mean_step(self, w, sign, dev: dict) -> np.ndarray:
        """Expected |dw| of one pulse of ``sign`` (+1/-1) at ``w`` (before noise)."""
        w = np.asarray(w, dtype=float)
        if self.kind == "soft_bounds":
            ref_max, ref_min = dev["w_max"], dev["w_min"]
        else:
            ref_max, ref_min = self.w_max, self.w_min
        if sign > 0:
            return dev["dw_min"] * (1 + self.up_down) * (1 - self.gamma_up * w / ref_max)
        return dev["dw_min"] * (1 - self.up_down) * (1 - self.gamma_down * w / ref_min)

    def pulse(self, w, sign, dev: dict, rng: np.random.Generator) -> np.ndarray:
        """``w`` after one pulse of ``sign`` (vectorised over devices)."""
        dw = np.maximum(self.mean_step(w, sign, dev), 0.0)
        if self.dw_min_std:
            xi = rng.standard_normal(np.shape(w))
            if self.mult_noise:
                dw = dw * (1 + self.dw_min_std * xi)
            else:
                dw = dw + self.dw_min * self.dw_min_std * xi
        return np.clip(w + sign * dw, dev["w_min"], dev["w_max"])


def synthesize(model: PulseModel, *, devices: int = 3, cycles: int = 3, pulses: int = 400,
               seed: int = 0, start: str = "min") -> list[tuple]:
    """Pulse trains as CSV rows ``(device, cycle, pulse, polarity, conductance_s)``: per
    device and cycle ``pulses`` potentiation pulses then ``pulses`` depression pulses, the
    conductance read after every pulse; devices start at their lower bound (``start="min"``)
    or mid-window (``"mid"``)."""
    rng = np.random.default_rng(seed)
    dev = model.draw_devices(devices, rng)
    w = dev["w_min"].copy() if start == "min" else np.zeros(devices)
    rows = []
    for c in range(cycles):
        for pol in (1, -1):
            for k in range(1, pulses + 1):
                w = model.pulse(w, pol, dev, rng)
                g = model.conductance(w)
                for i in range(devices):
                    rows.append((i, c, k, pol, float(g[i])))
    rows.sort(key=lambda r: (r[0], r[1], -r[3], r[2]))   # device-major, in time order
    return rows


def write_csv(path, rows, header=CSV_COLUMNS) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix == ".gz":
        import gzip
        opener = lambda: gzip.GzipFile(p, "wb", mtime=0)    # reproducible bytes
    else:
        opener = lambda: open(p, "wb")
    import io
    with opener() as raw, io.TextIOWrapper(raw, newline="") as f:
        wr = csv.writer(f)
        wr.writerow(header)
        for r in rows:
            wr.writerow([*r[:-1], f"{r[-1]:.6e}"])
    return p


class FittedModel:
    """The float model of a fit (``doc["fit"]`` of a device file): per polarity and code,
    the mean and std of the step (states per pulse) at each state, and the d2d spread."""

    def __init__(self, fit: dict, states: int):
        self.fit, self.K = fit, states
        self.x = np.arange(states, dtype=float)

    def mean(self, sign: int, code: int = 0) -> np.ndarray:
        return np.asarray(self.fit["up_mean" if sign > 0 else "down_mean"][code], dtype=float)

    def std(self, sign: int, code: int = 0) -> np.ndarray:
        return np.asarray(self.fit["up_std" if sign > 0 else "down_std"][code], dtype=float)

    def pulse(self, x, sign, rng, scale=1.0, code: int = 0) -> np.ndarray:
        """Continuous state after one pulse (linear interpolation between states)."""
        x = np.asarray(x, dtype=float)
        m = np.interp(x, self.x, self.mean(sign, code)) * scale
        s = np.interp(x, self.x, self.std(sign, code))
        return np.clip(x + sign * (m + s * rng.standard_normal(x.shape)), 0, self.K - 1)
