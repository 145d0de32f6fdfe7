"""The device plug-in contract, golden side.

A synapse device is a frozen dataclass holding its parameters (bit widths, physics-derived
constants and tables) that also implements, vectorised over any array shape, the integer
rules the hardware runs per synapse:

``update(state, pulse, rand, time=)``  apply a signed pulse count;
``tick(state, n, time, rand)``  advance emulated time by ``n`` ticks (only if ``tick_sweeps``);
``on_sample(state, samples, rand)``  every ``sample_period`` learned samples (if > 0);
``train_weight(state, time=)`` / ``infer_weight(state, time=)``  signed weight read-outs.

``time`` is the engine's emulated-time counter (ticks) before the command, for devices
whose state is kept relative to a shared clock.

``state`` is a dict of NumPy integer arrays, one per :class:`Field`. In hardware the fields
are packed LSB-first, in declaration order, into one memory word (``pack``/``unpack``).
``rand`` holds the device's per-lane LFSR words (``rand_width`` bits, 0 = device uses none).
The Amaranth half is :class:`synemu.hdl.device.DeviceRule`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .fixed import IntFormat

__all__ = ["Field", "Device"]


@dataclass(frozen=True)
class Field:
    """One register of a synapse's state: ``width`` bits, two's complement if ``signed``;
    ``init`` is its reset value."""

    name: str
    width: int
    signed: bool = False
    init: int = 0

    @property
    def fmt(self) -> IntFormat:
        return IntFormat(self.width, self.signed)


@dataclass(frozen=True)
class Device:
    """Base class of device models (see module docstring)."""

    name: ClassVar[str] = "device"
    #: width of the device's per-lane LFSR (0: the device draws no random numbers)
    rand_width: ClassVar[int] = 0
    #: True if TICK must visit every synapse (False: only the global time advances)
    tick_sweeps: ClassVar[bool] = False

    # -- to be provided by subclasses -------------------------------------------------
    @property
    def fields(self) -> tuple[Field, ...]:
        raise NotImplementedError

    @property
    def pulse_width(self) -> int:
        """Width (bits, signed) of the pulse count an update takes."""
        raise NotImplementedError

    @property
    def weight_width(self) -> int:
        """Width (bits, signed) of the weight read-out."""
        raise NotImplementedError

    @property
    def sample_period(self) -> int:
        """Run ``on_sample`` over the array every this many learned samples (0: never)."""
        return 0

    def update(self, state: dict, pulse: np.ndarray, rand: np.ndarray | None, *, time: int = 0) -> dict:
        raise NotImplementedError

    def tick(self, state: dict, n: int, time: int, rand: np.ndarray | None) -> dict:
        return state

    def on_sample(self, state: dict, samples: int, rand: np.ndarray | None) -> dict:
        return state

    def train_weight(self, state: dict, *, time: int = 0) -> np.ndarray:
        raise NotImplementedError

    def infer_weight(self, state: dict, *, time: int = 0) -> np.ndarray:
        return self.train_weight(state, time=time)

    # -- shared machinery --------------------------------------------------------------
    @property
    def state_width(self) -> int:
        return sum(f.width for f in self.fields)

    @property
    def pulse_fmt(self) -> IntFormat:
        return IntFormat(self.pulse_width, True)

    @property
    def weight_fmt(self) -> IntFormat:
        return IntFormat(self.weight_width, True)

    def params(self) -> dict:
        """Constructor parameters (JSON-serialisable)."""
        return dataclasses.asdict(self)

    def reset_state(self, shape) -> dict:
        return {f.name: np.full(shape, f.init, dtype=f.fmt.dtype) for f in self.fields}

    def check_state(self, state: dict, what: str = "state"):
        for f in self.fields:
            if f.name not in state:
                raise ValueError(f"{what} lacks field {f.name!r}")
            f.fmt.check(state[f.name], f"{what} field {f.name!r}")

    def pack(self, state: dict) -> np.ndarray:
        """Pack a state dict into uint64 words (LSB-first, declaration order)."""
        if self.state_width > 64:
            raise ValueError(f"state of {self.state_width} bits does not pack into 64-bit words")
        word = None
        offset = 0
        for f in self.fields:
            bits = f.fmt.to_bits(state[f.name]) << np.uint64(offset)
            word = bits if word is None else word | bits
            offset += f.width
        return word

    def unpack(self, words) -> dict:
        """Inverse of :meth:`pack`."""
        words = np.asarray(words, dtype=np.uint64)
        state = {}
        offset = 0
        for f in self.fields:
            state[f.name] = f.fmt.from_bits(words >> np.uint64(offset)).astype(f.fmt.dtype)
            offset += f.width
        return state

    def check_word(self, word: int) -> int:
        """Validate a packed state word (range of every field); returns it as int."""
        word = int(word)
        if not 0 <= word < (1 << self.state_width):
            raise ValueError(f"state word {word:#x} does not fit {self.state_width} bits")
        self.check_state(self.unpack(np.uint64(word)), "state word")
        return word
