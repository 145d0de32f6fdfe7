"""Golden model of the nonlinear conductance synapse (NumPy, bit-exact with ``gateware``).

State: one unsigned conductance code ``g`` of ``bits`` bits (0 .. G = 2**bits - 1).
Weight read-out (signed, ``bits`` bits): ``w = g - 2**(bits-1)``.
Update by a signed pulse count ``p`` (``pulse_bits`` bits)::

    p >= 0:  g <- min(g + ((p * (G - g)) >> shift), G)     # potentiation slows near G
    p <  0:  g <- max(g - ((-p * g) >> shift), 0)           # depression slows near 0

(``>>`` is a floor shift of a non-negative product), the usual first-order model of an
RRAM/PCM cell whose conductance step is proportional to the distance to the rail.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np

from synemu.plugin import Device, Field

__all__ = ["NonlinearDevice"]


@dataclass(frozen=True)
class NonlinearDevice(Device):
    """``bits`` (3..16) conductance bits, ``pulse_bits`` (2..12), step ``shift`` (0..16)."""

    name: ClassVar[str] = "nonlinear"
    PRESETS: ClassVar[dict] = {"6bit": {"bits": 6, "shift": 4}, "8bit": {"bits": 8, "shift": 5}}
    bits: int = 8
    pulse_bits: int = 8
    shift: int = 5

    def __post_init__(self):
        for name, lo, hi in (("bits", 3, 16), ("pulse_bits", 2, 12), ("shift", 0, 16)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise ValueError(f"nonlinear device: {name} must be an integer in "
                                 f"[{lo}, {hi}], not {v!r}")

    @cached_property
    def fields(self):
        return (Field("g", self.bits, signed=False, init=1 << (self.bits - 1)),)

    @property
    def pulse_width(self):
        return self.pulse_bits

    @property
    def weight_width(self):
        return self.bits

    @property
    def g_max(self) -> int:
        return (1 << self.bits) - 1

    def update(self, state, pulse, rand=None, *, time=0):
        g = np.asarray(state["g"], dtype=np.int64)
        p = np.asarray(pulse, dtype=np.int64)
        up = g + ((p * (self.g_max - g)) >> self.shift)
        down = g - (((-p) * g) >> self.shift)
        new = np.where(p >= 0, np.minimum(up, self.g_max), np.maximum(down, 0))
        return {"g": new.astype(state["g"].dtype, copy=False)}

    def train_weight(self, state, *, time=0):
        return np.asarray(state["g"], dtype=np.int64) - (1 << (self.bits - 1))
