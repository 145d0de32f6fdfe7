"""Float physics reference of the hybrid FeMFET-CMOS synapse (arXiv 2004.00703, ISCAS 2020).

Quantities (SI units): the FeMFET (MSB) has ``2^k_M`` conductance levels evenly spaced in
``[g_min, g_max]`` (siemens); the LSB capacitor ``c_lsb`` (farads) is charged/discharged
by a current ``i_pulse`` (amperes) for ``t_pulse`` seconds per update pulse (250 ps in the
paper), so one pulse moves its voltage by ``dv = i_pulse * t_pulse / c_lsb`` volts; its
``2^k_L`` LSB steps span ``2^k_L * dv`` volts around ``v_mid``. The capacitor leaks towards
``v_rest`` with time constant ``tau_leak`` (seconds): ``V(t) = v_rest + (V0 - v_rest)
exp(-t / tau_leak)``. The weight, in units of one LSB step (the integer model's units), is

    W = level * 2^k_L + 2^(k_L-1) - 2^(N-1) + (V - v_mid) / dv,     N = k_M + k_L.

:meth:`FeMFETPhysics.device` maps this onto the integer :class:`~synemu.devices.femfet.golden.FeMFETDevice`:
the leak per event ``(1 - 2^-s)`` every ``2^p`` ticks approximates ``exp(-2^p t_tick / tau)``;
:meth:`leak_error_bound` states how far the integer leak may stray from the exponential.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .golden import FeMFETDevice

__all__ = ["FeMFETPhysics"]


@dataclass(frozen=True)
class FeMFETPhysics:
    """Physical parameters (defaults: illustrative values at the paper's 1.8 V / 250 ps)."""

    k_m: int = 2
    k_l: int = 4
    g_min: float = 1e-6        # S, lowest FeMFET level
    g_max: float = 10e-6       # S, highest FeMFET level
    c_lsb: float = 100e-15     # F, LSB storage capacitor
    i_pulse: float = 20e-6     # A, charge-pump current during a pulse
    t_pulse: float = 250e-12   # s, update pulse width (paper)
    v_mid: float = 0.9         # V, LSB mid-scale (VDD/2 at 1.8 V)
    v_rest: float | None = None  # V, leak target (None: v_mid)
    tau_leak: float = 1e-3     # s, capacitor leak time constant
    t_tick: float = 1e-6       # s, one emulated tick
    endurance: float = 1e10    # FeMFET program/erase cycles (paper)

    def __post_init__(self):
        for name in ("g_min", "c_lsb", "i_pulse", "t_pulse", "tau_leak", "t_tick"):
            if not getattr(self, name) > 0:
                raise ValueError(f"femfet physics: {name} must be > 0, not {getattr(self, name)!r}")
        if not self.g_max > self.g_min:
            raise ValueError("femfet physics: g_max must exceed g_min")

    @property
    def n_bits(self) -> int:
        return self.k_m + self.k_l

    @property
    def dv(self) -> float:
        """Capacitor voltage step of one pulse (V)."""
        return self.i_pulse * self.t_pulse / self.c_lsb

    @property
    def rest(self) -> float:
        return self.v_mid if self.v_rest is None else self.v_rest

    def conductance(self, level) -> np.ndarray:
        """FeMFET conductance (S) of integer level(s) 0 .. 2^k_M - 1."""
        return self.g_min + np.asarray(level, float) * (self.g_max - self.g_min) / ((1 << self.k_m) - 1)

    def level_of(self, g) -> np.ndarray:
        """Fractional level of a conductance ``g`` (S)."""
        return (np.asarray(g, float) - self.g_min) * ((1 << self.k_m) - 1) / (self.g_max - self.g_min)

    def voltage(self, l_code, guard_bits: int = 0) -> np.ndarray:
        """Capacitor voltage (V) of integer charge code(s) ``l`` (mid-scale 2^(k_L+g-1))."""
        mid = 1 << (self.k_l + guard_bits - 1)
        return self.v_mid + (np.asarray(l_code, float) - mid) * self.dv

    def weight(self, g, v) -> np.ndarray:
        """Training weight in LSB units from conductance ``g`` (S) and voltage ``v`` (V)."""
        return (self.level_of(g) * (1 << self.k_l) + (1 << (self.k_l - 1))
                - (1 << (self.n_bits - 1)) + (np.asarray(v, float) - self.v_mid) / self.dv)

    def inference_weight(self, g) -> np.ndarray:
        """Inference weight (LSB units): the FeMFET alone, LSB capacitor ignored."""
        return self.weight(g, self.v_mid)

    def pulses_for(self, delta_w, lsb: float) -> np.ndarray:
        """Pulse count (float, before rounding) that moves a real weight by ``delta_w``
        when one LSB step is worth ``lsb`` (``p = delta_w / lsb``; the sign is the direction)."""
        return np.asarray(delta_w, float) / lsb

    def leak(self, v, dt) -> np.ndarray:
        """Capacitor voltage after ``dt`` seconds of leakage."""
        return self.rest + (np.asarray(v, float) - self.rest) * np.exp(-np.asarray(dt, float) / self.tau_leak)

    def leak_params(self, max_shift: int = 12) -> tuple[int, int]:
        """``(leak_shift s, leak_period_log2 p)`` whose per-event factor ``1 - 2^-s`` every
        ``2^p`` ticks best matches ``exp(-2^p t_tick / tau)`` (smallest relative error of the
        decay rate, preferring small ``s``)."""
        best = None
        for s in range(1, max_shift + 1):
            # events per second needed so that (1 - 2^-s)^(rate*t) = exp(-t/tau)
            period = -self.tau_leak * math.log1p(-2.0 ** -s) / self.t_tick
            if period < 1:
                continue
            p = int(round(math.log2(period)))
            rate = -math.log1p(-2.0 ** -s) / ((1 << p) * self.t_tick)
            err = abs(rate * self.tau_leak - 1.0)
            if best is None or err < best[0] - 1e-12:
                best = (err, s, p)
        if best is None:
            raise ValueError("femfet physics: tau_leak is shorter than one tick; no leak mapping")
        return best[1], best[2]

    def leak_error_bound(self, leak_shift: int) -> float:
        """Bound (LSB codes) on |integer leak - exact geometric decay (1-2^-s)^k| after any
        number of events: each event's round-to-nearest adds an error of at most 1/2 that
        then decays by (1 - 2^-s) per event, so the accumulated error stays <= 2^(s-1)."""
        return 0.5 * (1 << leak_shift) if leak_shift else 0.0

    def write_time_to_failure(self, writes_per_second: float) -> float:
        """Seconds until a FeMFET written ``writes_per_second`` times reaches its endurance."""
        return self.endurance / writes_per_second if writes_per_second > 0 else math.inf

    def device(self, **overrides) -> FeMFETDevice:
        """The integer device model of these physics (leak mapped via :meth:`leak_params`)."""
        s, p = self.leak_params()
        params = dict(k_m=self.k_m, k_l=self.k_l, leak_shift=s, leak_period_log2=p,
                      endurance=int(self.endurance))
        params.update(overrides)
        if self.v_rest is not None and "leak_rest" not in overrides:
            mid = 1 << (params["k_l"] + params.get("guard_bits", 0) - 1)
            params["leak_rest"] = int(round((self.v_rest - self.v_mid) / self.dv)) + mid
        return FeMFETDevice(**params)
