"""The device plug-in contract, Amaranth side.

A :class:`DeviceRule` turns a golden :class:`~synemu.spec.device.Device` into per-synapse
logic that the array engine instantiates once per lane. Each method receives the module
``m`` to add helper signals to, the current state as a :class:`~amaranth.lib.data.View` of
:attr:`DeviceRule.layout`, and returns the new state as a value of ``state_width`` bits
(build it with :meth:`DeviceRule.pack`). ``time`` is the engine's emulated-time register,
``rand`` the lane's device-LFSR word.

**Latency.** A rule with :attr:`DeviceRule.latency` ``L > 0`` is pipelined: ``update``,
``tick`` and ``on_sample`` may use ``m.d.sync`` (unconditional registers: the sweep
pipeline never stalls) and return, every clock, the result for the inputs presented ``L``
clocks earlier -- the same ``L`` for all three (pad shorter paths with :meth:`delay`). The
engine delays the write-back by ``L``. ``train_weight``/``infer_weight`` stay
combinational.
"""

from amaranth.hdl import Cat, Signal, Value, signed, unsigned
from amaranth.lib import data
from amaranth.lib.memory import Memory

from ..spec.device import Device

__all__ = ["DeviceRule"]


class DeviceRule:
    """Base class; subclasses implement :meth:`update` and :meth:`train_weight`."""

    #: clocks from a method's inputs to its result (0: combinational)
    latency: int = 0

    def __init__(self, device: Device):
        if not isinstance(device, Device):
            raise TypeError(f"expected a synemu Device, not {device!r}")
        self.device = device
        self.layout = data.StructLayout({
            f.name: signed(f.width) if f.signed else unsigned(f.width) for f in device.fields})
        self._delay_lines = (None, {})   # (module, {id(value): (value, [stages])})

    def delay(self, m, value, cycles: int) -> Value:
        """``value`` as it was ``cycles`` clocks ago (a chain of ``m.d.sync`` registers).
        Chains are shared per module and value object, so delaying the same state or
        ``n`` in several methods or lanes costs one chain."""
        if self._delay_lines[0] is not m:
            self._delay_lines = (m, {})
        lines = self._delay_lines[1]
        value = Value.cast(value)
        entry = lines.get(id(value))
        if entry is None or entry[0] is not value:
            entry = lines[id(value)] = (value, [value])
        chain = entry[1]
        while len(chain) <= cycles:
            reg = Signal(value.shape(), name=f"dly{len(lines)}_{len(chain)}", reset_less=True)
            m.d.sync += reg.eq(chain[-1])
            chain.append(reg)
        return chain[cycles]

    #: ROMs of at least this many words are marked ``rom_style = "block"`` (yosys maps
    #: 64..128-word ROMs to logic otherwise: more LUTs on ECP5 and iCE40)
    block_rom_min = 64

    def _name(self, what: str) -> str:
        """Name of a helper signal (subclasses number theirs)."""
        return what

    def rom(self, m, shape, init, what: str) -> Memory:
        """A ROM (``amaranth.lib.memory.Memory``) added to ``m``; block RAM from
        :attr:`block_rom_min` words. Read it with :meth:`sync_read`."""
        attrs = {"rom_style": "block"} if len(init) >= self.block_rom_min else None
        mem = Memory(shape=shape, depth=len(init), init=init, attrs=attrs)
        m.submodules[self._name(what)] = mem
        return mem

    def sync_read(self, m, mem, addr, what: str) -> Signal:
        """A new synchronous read port of ``mem``: the word at ``addr`` one clock later."""
        port = mem.read_port()
        data_ = Signal.like(port.data, name=self._name(what))
        m.d.comb += [port.addr.eq(addr), data_.eq(port.data)]
        return data_

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

    # -- per-synapse logic (result after ``latency`` clocks) --------------------------------
    def update(self, m, state, pulse, rand, time) -> Value:
        """New state after a signed pulse count ``pulse`` (``pulse_width`` bits)."""
        raise NotImplementedError

    def tick(self, m, state, n, time, rand) -> Value:
        """New state after ``n`` ticks starting at global time ``time``."""
        return self.delay(m, state, self.latency)

    def on_sample(self, m, state, samples, rand) -> Value:
        """New state at a sample-period boundary (``samples`` = new sample count)."""
        return self.delay(m, state, self.latency)

    def train_weight(self, m, state, time) -> Value:
        """Signed weight (``weight_width`` bits) used while learning (combinational)."""
        raise NotImplementedError

    def infer_weight(self, m, state, time) -> Value:
        """Signed weight used by FORWARD (inference; combinational)."""
        return self.train_weight(m, state, time)
