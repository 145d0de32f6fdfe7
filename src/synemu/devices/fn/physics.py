"""Float64 physics reference of the Fowler–Nordheim dynamic analog memory (FN-DAM).

Source: Mehta, Rahman, Aono, Chakrabartty, "An adaptive synaptic array using
Fowler–Nordheim dynamic analog memory", Nat. Commun. 13, 1670 (2022); arXiv 2104.05926.
Equations (exact for a constant floating-gate capacitance, oxide field E = V / t_ox):

* FN current density ``J = alpha * E**2 * exp(-beta / E)``  [A/m^2]
* node voltage (free decay) ``V(t) = k2 / ln(k1*t + k0)``  [V], with
  ``k2 = beta*t_ox`` [V], ``k1 = A*alpha*beta / (C*t_ox)`` [1/s], ``k0 = exp(k2/V0)``.
  Hidden linear clock: ``tau = exp(k2/V)`` grows at exactly ``d tau/dt = k1``.
* programming pulse (tunnelling junction raised by ``Vp`` for ``Tp`` seconds):
  ``V_new = k2 / ln(exp(k2/(V+Vp)) + k1*Tp) - Vp`` (exact); the step shrinks as the node
  ages, about like ``(t+t0)**-gamma`` (fitted gamma ≈ 0.8 over 1e3..1e6 s for the
  preset's Vp = 1.15 V; the leading-order exponent is V/(V+Vp)).
* differential synapse ``W = kappa * (V_L - V_R)``; a positive update pulses R.
* energy of an update ``C * |dV| * (V + Vp)`` [J] (tunnelling charge x junction voltage).

Everything is vectorised NumPy: parameters may be arrays (device mismatch) broadcasting
against times/voltages. Units are in the names (``_s`` seconds, ``_v`` volts, ...).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

__all__ = ["FNParams", "PRESETS", "fn_current_density", "k_constants", "voltage_at",
           "tau_of", "time_of", "pulse", "pulse_step_v", "update_energy_j", "weight",
           "Mismatch", "sample_mismatch", "readout_noise", "decay_rate_v_per_s", "params_with"]


@dataclass(frozen=True)
class FNParams:
    """Physical parameters of one FN node (SI-ish units in the names).

    area_um2   tunnelling-junction area [µm²]; t_ox_nm oxide thickness [nm];
    c_pf       floating-gate capacitance [pF]; alpha_a_per_v2 FN pre-factor [A/V²];
    beta_v_per_m FN exponent [V/m]; v0_v programmed (initial) voltage [V];
    vp_v       pulse amplitude added to the junction during programming [V];
    kappa_per_v weight per volt of V_L - V_R [1/V].
    """

    area_um2: float = 1.0
    t_ox_nm: float = 12.0
    c_pf: float = 1.0
    alpha_a_per_v2: float = 1.1369e-6
    beta_v_per_m: float = 2.53333e10
    v0_v: float = 8.0
    vp_v: float = 1.15
    kappa_per_v: float = 1.0

    def __post_init__(self):
        for k, v in asdict(self).items():
            if not np.all(np.asarray(v, float) > 0):
                raise ValueError(f"FN parameter {k} must be positive, not {v!r}")

    @property
    def k2_v(self) -> float:
        return self.beta_v_per_m * self.t_ox_nm * 1e-9

    @property
    def k1_per_s(self) -> float:
        return (self.area_um2 * 1e-12 * self.alpha_a_per_v2 * self.beta_v_per_m
                / (self.c_pf * 1e-12 * self.t_ox_nm * 1e-9))

    @property
    def c_f(self) -> float:
        return self.c_pf * 1e-12

    @property
    def t0_s(self) -> float:
        """Age of a freshly programmed node, ``k0/k1`` [s]."""
        return np.exp(self.k2_v / self.v0_v) / self.k1_per_s


#: named parameter sets and where they come from
PRESETS: dict[str, dict] = {
    "illustrative": dict(
        params=FNParams(),
        provenance=("illustrative preset (docs/design.md; physically self-consistent placeholder, "
                    "not a fit): A = 1 µm², t_ox = 12 nm, C = 1 pF, V0 = 8 V; beta chosen so "
                    "k2 = beta*t_ox ≈ 304 V, alpha so k1 ≈ 2.4e12 1/s, hence t0 ≈ 1.3e4 s, "
                    "V(1 h) ≈ 7.950 V, V(1 day) ≈ 7.597 V, V(1e6 s) ≈ 7.181 V. Vp = 1.15 V "
                    "(our choice) gives the ≈ (t+t0)^-0.8 step-size decay of Mehta et al. "
                    "2022 (fitted exponent over 1e3..1e6 s).")),
}


def k_constants(p: FNParams) -> tuple[float, float, float]:
    """``(k1 [1/s], k2 [V], k0 [1])`` of the closed-form trajectory."""
    return p.k1_per_s, p.k2_v, float(np.exp(p.k2_v / p.v0_v))


def fn_current_density(e_v_per_m, p: FNParams):
    """FN tunnelling current density ``alpha E² exp(-beta/E)`` [A/m²] at field E [V/m]."""
    e = np.asarray(e_v_per_m, float)
    return p.alpha_a_per_v2 * e ** 2 * np.exp(-p.beta_v_per_m / e)


def tau_of(v_v, k2_v):
    """Hidden clock ``exp(k2/V)`` (dimensionless)."""
    return np.exp(np.asarray(k2_v, float) / np.asarray(v_v, float))


def voltage_at(t_s, p: FNParams, *, k1_per_s=None, k2_v=None, v0_v=None):
    """Free-decay node voltage [V] at time ``t_s`` [s] after programming to ``v0_v``.

    ``k1_per_s``/``k2_v`` override the preset (arrays for device mismatch)."""
    k1 = p.k1_per_s if k1_per_s is None else np.asarray(k1_per_s, float)
    k2 = p.k2_v if k2_v is None else np.asarray(k2_v, float)
    v0 = p.v0_v if v0_v is None else np.asarray(v0_v, float)
    # ln(k1 t + k0) = k2/v0 + log1p(k1 t / k0): no overflow or cancellation
    return k2 / (k2 / v0 + np.log1p(k1 * np.asarray(t_s, float) * np.exp(-k2 / v0)))


def time_of(v_v, p: FNParams, *, v0_v=None):
    """Time [s] for a node programmed to ``v0_v`` to decay freely to ``v_v`` (inverse of
    :func:`voltage_at`)."""
    k1, k2 = p.k1_per_s, p.k2_v
    v0 = p.v0_v if v0_v is None else v0_v
    a = k2 / np.asarray(v_v, float) - k2 / v0
    return np.exp(k2 / v0) * np.expm1(a) / k1


def decay_rate_v_per_s(v_v, p: FNParams):
    """Free-decay slope ``dV/dt = -k1 V² exp(-k2/V) / k2`` [V/s] (= -V²/(k2 (t+t0)))."""
    v = np.asarray(v_v, float)
    return -p.k1_per_s * v ** 2 * np.exp(-p.k2_v / v) / p.k2_v


def pulse(v_v, tp_s, p: FNParams, *, vp_v=None, k1_per_s=None, k2_v=None):
    """Exact node voltage [V] after a programming pulse of ``vp_v`` [V] for ``tp_s`` [s]:
    ``k2 / ln(exp(k2/(V+Vp)) + k1 Tp) - Vp``. Pulses compose: two of Tp equal one of 2 Tp."""
    v = np.asarray(v_v, float)
    vp = p.vp_v if vp_v is None else np.asarray(vp_v, float)
    k1 = p.k1_per_s if k1_per_s is None else np.asarray(k1_per_s, float)
    k2 = p.k2_v if k2_v is None else np.asarray(k2_v, float)
    a = k2 / (v + vp)
    # ln(exp(a) + k1 Tp) = a + log1p(k1 Tp exp(-a))
    return k2 / (a + np.log1p(k1 * np.asarray(tp_s, float) * np.exp(-a))) - vp


def pulse_step_v(v_v, tp_s, p: FNParams, **kw):
    """Voltage drop ``V - V_new`` [V] (positive) caused by a pulse (see :func:`pulse`)."""
    return np.asarray(v_v, float) - pulse(v_v, tp_s, p, **kw)


def update_energy_j(dv_v, v_v, p: FNParams, *, vp_v=None):
    """Energy [J] of an update moving a node by ``dv_v`` from ``v_v``: ``C |dV| (V+Vp)``."""
    vp = p.vp_v if vp_v is None else vp_v
    return p.c_f * np.abs(np.asarray(dv_v, float)) * (np.asarray(v_v, float) + vp)


def weight(v_left_v, v_right_v, p: FNParams):
    """Differential synapse ``kappa (V_L - V_R)`` (dimensionless)."""
    return p.kappa_per_v * (np.asarray(v_left_v, float) - np.asarray(v_right_v, float))


@dataclass(frozen=True)
class Mismatch:
    """Per-node device mismatch: ``k1 *= lognormal(0, k1_sigma)``, ``k2 *= 1 + N(0, k2_rel)``."""

    k1_sigma: float = 0.2
    k2_rel: float = 0.002


def sample_mismatch(shape, p: FNParams, mm: Mismatch = Mismatch(), seed: int = 0):
    """Per-node ``(k1 [1/s], k2 [V])`` arrays of ``shape`` with mismatch ``mm``."""
    rng = np.random.default_rng(seed)
    k1 = p.k1_per_s * rng.lognormal(0.0, mm.k1_sigma, shape)
    k2 = p.k2_v * (1.0 + mm.k2_rel * rng.standard_normal(shape))
    return k1, k2


def readout_noise(w, sigma, seed: int = 0):
    """``w`` plus Gaussian read-out noise of standard deviation ``sigma`` (weight units)."""
    rng = np.random.default_rng(seed)
    w = np.asarray(w, float)
    return w + sigma * rng.standard_normal(w.shape)


def params_with(p: FNParams, **kw) -> FNParams:
    """Copy of ``p`` with fields replaced."""
    return replace(p, **kw)
