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
The Amaranth half is :class:`synemu.gateware.device.DeviceRule`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np

from .fixed import IntFormat

__all__ = ["Field", "Device"]

#: states of up to this many synapses (and more than two fields) pack as one field stack
_SMALL_PACK = 4096


@dataclass(frozen=True)
class Field:
    """One register of a synapse's state: ``width`` bits, two's complement if ``signed``;
    ``init`` is its reset value."""

    name: str
    width: int
    signed: bool = False
    init: int = 0

    @cached_property
    def fmt(self) -> IntFormat:
        return IntFormat(self.width, self.signed)


@dataclass(frozen=True)
class Device:
    """Base class of device models (see module docstring).

    Device models are immutable, so derived values (``fields``, widths, formats) may be
    cached on the instance with :func:`functools.cached_property`; equality, hashing and
    :meth:`params` only see the dataclass fields.
    """

    name: ClassVar[str] = "device"

    # -- may be overridden, by a property (when parameters decide) or a class attribute --
    @property
    def rand_width(self) -> int:
        """Width (bits) of the device's per-lane LFSR (0: the device draws no random numbers)."""
        return 0

    @property
    def pulse_gain(self) -> float:
        """Mean weight change (weight units) of one unit of pulse count: host trainers send
        ``step / pulse_gain`` pulses for a weight step (1.0: a pulse count is a weight step)."""
        return 1.0

    @property
    def tick_sweeps(self) -> bool:
        """True if TICK must visit every synapse (False: only the global time advances)."""
        return False

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

    def _update_one(self, values: dict, pulse: int, rand: int | None, time: int) -> dict:
        """``update`` of one synapse (the engine's UPDATE): ``values`` holds the field values
        (NumPy scalars), ``pulse`` and ``rand`` (None: no device LFSR) are Python ints.
        Returns the new field values (NumPy or Python integers). Subclasses may override it
        with the same rule on Python ints, which avoids NumPy's per-call overhead."""
        return self.update(values, np.array(pulse, dtype=np.int64),
                           None if rand is None else np.uint64(rand), time=time)

    def on_sample(self, state: dict, samples: int, rand: np.ndarray | None) -> dict:
        return state

    def train_weight(self, state: dict, *, time: int = 0) -> np.ndarray:
        raise NotImplementedError

    def edge_commands(self, config, seed: int = 0, n: int = 4000) -> list:
        """About ``n`` engine commands (:class:`~synemu.spec.engine.Command`) that put the
        device's own decision boundaries under test (e.g. a switching draw landing exactly
        on its threshold), for ``config`` from reset; ``seed`` varies them. The mutation
        campaign (:mod:`synemu.sim.mutate`) adds them to its stimulus. Default: none."""
        return []

    def edge_streams(self, config, n: int = 4000) -> list:
        """``(name, commands)`` streams of the mutation campaign's device stimulus, ``n``
        setting their length; by default one, :meth:`edge_commands` of ``n`` commands
        (none when it is empty). A device overrides this for boundaries that need a
        longer or differently aimed stream of their own."""
        cmds = self.edge_commands(config, 0, n)
        return [("edge stream", cmds)] if cmds else []

    def infer_weight(self, state: dict, *, time: int = 0) -> np.ndarray:
        return self.train_weight(state, time=time)

    # -- shared machinery --------------------------------------------------------------
    @cached_property
    def state_width(self) -> int:
        return sum(f.width for f in self.fields)

    @cached_property
    def pulse_fmt(self) -> IntFormat:
        return IntFormat(self.pulse_width, True)

    @cached_property
    def weight_fmt(self) -> IntFormat:
        return IntFormat(self.weight_width, True)

    @cached_property
    def _layout(self) -> tuple:
        """``(name, fmt, offset)`` of every field, LSB-first (the packing of a word)."""
        out, offset = [], 0
        for f in self.fields:
            out.append((f.name, f.fmt, offset))
            offset += f.width
        return tuple(out)

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
        layout = self._layout
        if len(layout) > 2:
            first = state[layout[0][0]]
            if type(first) is np.ndarray and first.ndim and first.size <= _SMALL_PACK:
                word = self._pack_small(state, first.shape)
                if word is not None:
                    return word
        word = None
        for name, fmt, offset in layout:
            v = state[name]
            if type(v) is np.ndarray and v.dtype.kind in "iu":
                # integer casts are modular: the same bits as fmt.to_bits (via int64)
                bits = v.astype(np.uint64) & fmt._mask64
            else:
                bits = fmt.to_bits(v)
            if offset:
                bits = bits << np.uint64(offset)
            word = bits if word is None else word | bits
        return word

    def _pack_small(self, state: dict, shape: tuple):
        """:meth:`pack` of a small state whose fields are integer arrays of one shape, with
        a few whole-stack operations instead of four per field (None: not such a state)."""
        values = [state[name] for name, _, _ in self._layout]
        for v in values:
            if type(v) is not np.ndarray or v.shape != shape or v.dtype.kind not in "iu":
                return None
        # one field per row, cast to uint64 (modular, as in to_bits)
        flat = np.array(values, dtype=np.uint64).reshape(len(values), -1)
        masks, scales = self._pack_consts(flat.shape[1])
        flat &= masks
        # the masked fields occupy disjoint bits: sum of field << offset == OR (exact in uint64)
        return np.dot(scales, flat).reshape(shape)

    def _pack_consts(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Field masks, shape (fields, n), and ``2**offset`` scales (uint64) for
        :meth:`_pack_small` (full-size masks: an ``&`` without broadcasting is faster)."""
        cache = self._pack_consts_cache
        consts = cache.get(n)
        if consts is None:
            if len(cache) >= 8:
                cache.clear()
            masks = np.array([[(1 << fmt.width) - 1] for _, fmt, _ in self._layout], dtype=np.uint64)
            scales = np.array([1 << offset for _, _, offset in self._layout], dtype=np.uint64)
            consts = cache[n] = (np.repeat(masks, n, axis=1), scales)
        return consts

    @cached_property
    def _pack_consts_cache(self) -> dict:
        return {}

    def unpack(self, words) -> dict:
        """Inverse of :meth:`pack`."""
        words = np.asarray(words, dtype=np.uint64)
        return {name: fmt.from_bits(words >> np.uint64(offset)).astype(fmt.dtype)
                for name, fmt, offset in self._layout}

    def _unpack_int(self, word: int) -> dict:
        """:meth:`unpack` of one word given as a Python int, as Python ints (same values)."""
        return {name: fmt.int_from_bits(word >> offset) for name, fmt, offset in self._layout}

    def check_word(self, word: int) -> int:
        """Validate a packed state word (range of every field); returns it as int."""
        word = int(word)
        if not 0 <= word < (1 << self.state_width):
            raise ValueError(f"state word {word:#x} does not fit {self.state_width} bits")
        if not self._words_always_valid:
            self.check_state(self.unpack(np.uint64(word)), "state word")
        return word

    @cached_property
    def _words_always_valid(self) -> bool:
        """True if every in-range word passes ``check_state(unpack(word))``: the base class
        rules, distinct field names and words of <= 64 bits (then each unpacked field lies in
        its format's range)."""
        return (type(self).unpack is Device.unpack and type(self).check_state is Device.check_state
                and len({f.name for f in self.fields}) == len(self.fields)
                and self.state_width <= 64)
