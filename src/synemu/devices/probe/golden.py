"""``probe``: a synthetic device that exercises every hook of the engine contract.

Not a physical model: it exists so the engine's generic paths (device LFSR bank, TICK
sweeps, sample-period sweeps, time-dependent rules, separate training/inference read-outs)
are verified in lockstep independently of any real device. Fields: ``w`` (signed 6 bits),
``t`` (4 bits), ``r`` (5 bits).

update:     w <- sat(w + pulse); t <- time mod 16; r <- rand mod 32
tick(n):    t <- (t + n) mod 16; r <- r xor (rand mod 32)
on_sample:  w <- w >> 1 (every 3 samples); r <- samples mod 32
weights:    training w; inference w with its LSB cleared
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np

from ...spec.device import Device, Field

__all__ = ["ProbeDevice"]


@dataclass(frozen=True)
class ProbeDevice(Device):
    name: ClassVar[str] = "probe"
    rand_width: ClassVar[int] = 7
    tick_sweeps: ClassVar[bool] = True
    pulse_bits: int = 4

    @cached_property
    def fields(self):
        return (Field("w", 6, signed=True), Field("t", 4), Field("r", 5))

    @property
    def pulse_width(self):
        return self.pulse_bits

    @property
    def weight_width(self):
        return 6

    @property
    def sample_period(self):
        return 3

    def update(self, state, pulse, rand=None, *, time=0):
        w = self.weight_fmt.saturate(np.asarray(state["w"], np.int64) + pulse)
        shape = np.shape(w)
        r = np.asarray(rand, np.int64)
        if r.shape != shape:
            r = np.broadcast_to(r, shape)
        return {"w": w.astype(np.int8),
                "t": np.full(shape, time % 16, np.uint8),
                "r": (r % 32).astype(np.uint8)}

    def _update_one(self, values, pulse, rand, time):
        if rand is None:                      # (update raises)
            return super()._update_one(values, pulse, rand, time)
        # update() of one synapse on Python ints
        fmt = self.weight_fmt
        return {"w": min(max(int(values["w"]) + pulse, fmt.min), fmt.max), "t": time % 16,
                "r": rand % 32}

    def tick(self, state, n, time, rand=None):
        return {"w": state["w"], "t": ((state["t"].astype(np.int64) + n) % 16).astype(np.uint8),
                "r": (state["r"] ^ (np.asarray(rand, np.int64) % 32)).astype(np.uint8)}

    def on_sample(self, state, samples, rand=None):
        return {"w": (state["w"] >> 1).astype(np.int8), "t": state["t"],
                "r": np.full(np.shape(state["r"]), samples % 32, np.uint8)}

    def train_weight(self, state, *, time=0):
        return state["w"]

    def infer_weight(self, state, *, time=0):
        return state["w"] & ~1
