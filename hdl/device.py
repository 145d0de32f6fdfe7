"""The device plug-in contract, Amaranth side.

A :class:`DeviceRule` turns a golden :class:`~synemu.golden.device.Device` into
combinational per-synapse logic that the array engine instantiates once per lane. Each
method receives the module ``m`` to add helper signals to, the current state as a
:class:`~amaranth.lib.data.View` of :attr:`DeviceRule.layout`, and returns the new state
as a value of ``state_width`` bits (build it with :meth:`DeviceRule.pack`). ``time`` is
the engine's emulated-time register, ``rand`` the lane's device-LFSR word.
"""

from amaranth.hdl import Cat, Value, signed, unsigned
from amaranth.lib import data

from ..golden.device import Device

__all__ = ["DeviceRule"]


class DeviceRule:
    """Base class; subclasses implement :meth:`update` and :meth:`train_weight`."""

    def __init__(self, device: Device):
        if not isinstance(device, Device):
            raise TypeError(f"expected a synemu Device, not {device!r}")
        self.device = device
        self.layout = data.StructLayout({
            f.name: signed(f.width) if f.signed else unsigned(f.width) for f in device.fields})

    @property
    def init_word(self) -> int:
        """Packed reset value of one synapse."""
        word, offset = 0, 0
        for f in self.device.fields:
            word |= (f.init & ((1 << f.width) - 1)) << offset
            offset += f.width
        return word

    def pack(self, **fields) -> Value:
        """Concatenate field values (truncated to their widths) into a state word."""
        missing = [f.name for f in self.device.fields if f.name not in fields]
        if missing:
            raise ValueError(f"pack() is missing fields {missing}")
        return Cat(*(Value.cast(fields[f.name])[:f.width] for f in self.device.fields))

    # -- per-synapse logic (combinational) ------------------------------------------------
    def update(self, m, state, pulse, rand, time) -> Value:
        """New state after a signed pulse count ``pulse`` (``pulse_width`` bits)."""
        raise NotImplementedError

    def tick(self, m, state, n, time, rand) -> Value:
        """New state after ``n`` ticks starting at global time ``time``."""
        return state.as_value()

    def on_sample(self, m, state, samples, rand) -> Value:
        """New state at a sample-period boundary (``samples`` = new sample count)."""
        return state.as_value()

    def train_weight(self, m, state, time) -> Value:
        """Signed weight (``weight_width`` bits) used while learning."""
        raise NotImplementedError

    def infer_weight(self, m, state, time) -> Value:
        """Signed weight used by FORWARD (inference)."""
        return self.train_weight(m, state, time)
