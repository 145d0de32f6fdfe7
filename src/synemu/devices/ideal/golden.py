"""The ideal quantised synapse: a plain ``weight_width``-bit signed weight.

It is the "ideal same-precision" baseline the device papers compare against. Update:
``w <- saturate(w + pulse, weight_width)``; no time dependence, no randomness.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np

from ...spec.device import Device, Field
from ...spec.fixed import check_int, clamp, dtype_for

__all__ = ["IdealDevice"]


@dataclass(frozen=True)
class IdealDevice(Device):
    """Ideal synapse: ``weight_width`` (2..32) bits, pulses of ``pulse_width`` (2..32) bits."""

    name: ClassVar[str] = "ideal"
    PRESETS: ClassVar[dict] = {"6bit": {"weight_bits": 6}, "8bit": {"weight_bits": 8}}
    weight_bits: int = 8
    pulse_bits: int = 8

    def __post_init__(self):
        check_int("weight_bits", self.weight_bits, 2, 32, "ideal device: ")
        check_int("pulse_bits", self.pulse_bits, 2, 32, "ideal device: ")

    @cached_property
    def fields(self):
        return (Field("w", self.weight_bits, signed=True),)

    @property
    def pulse_width(self):
        return self.pulse_bits

    @property
    def weight_width(self):
        return self.weight_bits

    def update(self, state, pulse, rand=None, *, time=0):
        w = state["w"]
        acc = np.asarray(np.add(w, pulse, dtype=self._wide))   # callers validate pulse range
        clamp(acc, self.weight_fmt.min, self.weight_fmt.max, out=acc)
        return {"w": acc.astype(w.dtype, copy=False)}

    def _update_one(self, values, pulse, rand, time):
        # update() of one synapse on Python ints (no overflow: exact)
        return {"w": min(max(int(values["w"]) + pulse, self.weight_fmt.min), self.weight_fmt.max)}

    @cached_property
    def _wide(self):
        return dtype_for(max(self.weight_bits, self.pulse_bits) + 1, True)

    def train_weight(self, state, *, time=0):
        return state["w"]
