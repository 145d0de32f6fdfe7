"""Float physics of stochastic spin-transfer-torque (STT) switching of a binary MTJ.

Thermal-activation regime (Zhou et al., Commun. Eng., arXiv 2308.11011)::

    P_sw(t_p, I) = 1 - exp(-t_p / tau),    tau = tau0 * exp(Delta * (1 - I / Ic0))

with separate (Delta, Ic0) for the AP->P (potentiation, "LTP") and P->AP (depression,
"LTD") directions. A write pulse of amplitude V drives ``I = V / R`` through the junction,
with ``R`` the resistance of the state *before* switching (R_AP for AP->P, R_P for P->AP).

Pulse codes: code ``k`` (1..n_codes) is a pulse of amplitude ``V_k = v0 + (k-1) * dv``
volts and width ``t_pulse`` seconds; code 0 is "no pulse" (P_sw = 0). The sign of the
pulse picks the direction (see :mod:`synemu.devices.mtj.golden`). Units: SI throughout (s, A, V, Ohm).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["MTJPhysics", "PHYSICS_PRESETS", "p_switch"]


def p_switch(t_p, current, delta, tau0, ic0):
    """Switching probability of one pulse of width ``t_p`` (s) and current ``current`` (A)."""
    t_p = np.asarray(t_p, dtype=float)
    current = np.asarray(current, dtype=float)
    tau = tau0 * np.exp(delta * (1.0 - current / ic0))
    return -np.expm1(-t_p / tau)


@dataclass(frozen=True)
class MTJPhysics:
    """Parameters of one MTJ (SI units); ``provenance`` says where the numbers come from."""

    delta_ap_p: float = 40.0      # thermal stability factor, AP->P
    delta_p_ap: float = 40.0      # thermal stability factor, P->AP
    tau0: float = 1e-9            # attempt time (s)
    ic0_ap_p: float = 100e-6      # critical current AP->P (A)
    ic0_p_ap: float = 210e-6      # critical current P->AP (A)
    r_p: float = 3e3              # parallel-state resistance (Ohm)
    r_ap: float = 6e3             # antiparallel-state resistance (Ohm), TMR = 100 %
    t_pulse: float = 100e-9       # write pulse width (s)
    v0: float = 0.46              # amplitude of pulse code 1 (V)
    dv: float = 0.02              # amplitude step per code (V)
    provenance: str = ""

    def __post_init__(self):
        for k in ("delta_ap_p", "delta_p_ap", "tau0", "ic0_ap_p", "ic0_p_ap", "r_p", "r_ap",
                  "t_pulse", "v0", "dv"):
            v = getattr(self, k)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"MTJ physics: {k} must be a positive finite number, not {v!r}")

    def voltage(self, code: int) -> float:
        """Pulse amplitude (V) of pulse code ``code`` >= 1."""
        return self.v0 + (code - 1) * self.dv

    def current(self, direction: str, v: float) -> float:
        """Current (A) through the junction in the pre-switch state of ``direction``."""
        return v / (self.r_ap if direction == "ap_p" else self.r_p)

    def p_sw(self, direction: str, code: int) -> float:
        """P_sw of pulse code ``code`` (0 -> 0.0) in ``direction`` ('ap_p' or 'p_ap')."""
        if direction not in ("ap_p", "p_ap"):
            raise ValueError(f"direction must be 'ap_p' or 'p_ap', not {direction!r}")
        if code == 0:
            return 0.0
        i = self.current(direction, self.voltage(code))
        if direction == "ap_p":
            return float(p_switch(self.t_pulse, i, self.delta_ap_p, self.tau0, self.ic0_ap_p))
        return float(p_switch(self.t_pulse, i, self.delta_p_ap, self.tau0, self.ic0_p_ap))

    def table(self, direction: str, n_codes: int) -> tuple[float, ...]:
        """P_sw for codes 0..n_codes (length n_codes + 1; entry 0 is 0.0)."""
        return tuple(self.p_sw(direction, k) for k in range(n_codes + 1))

    def params(self) -> dict:
        return asdict(self)


#: named parameter sets with provenance
PHYSICS_PRESETS: dict[str, MTJPhysics] = {
    "illustrative": MTJPhysics(provenance=(
        "illustrative numbers (docs/design.md: Delta=40, tau0=1 ns, Ic0(AP->P)=100 uA, "
        "t_p=100 ns); R_P=3 kOhm, R_AP=6 kOhm (TMR 100 %) and Ic0(P->AP)=210 uA chosen "
        "(not fitted to the paper) so that P->AP is rarer than AP->P at equal |V|, as the "
        "STDP rule wants; amplitudes 0.46 V + 0.02 V per code span P_sw(AP->P) ~0.1..1")),
    "symmetric": MTJPhysics(ic0_p_ap=200e-6, provenance=(
        "as 'illustrative' but Ic0(P->AP) = 2 x Ic0(AP->P) = 200 uA, which with R_AP = 2 R_P "
        "makes both directions equally likely at equal |V|")),
}
