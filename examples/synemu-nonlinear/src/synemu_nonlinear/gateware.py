"""The nonlinear conductance rule in Amaranth (see :mod:`synemu_nonlinear.golden`)."""

from amaranth.hdl import Mux, Signal, signed, unsigned

from synemu.plugin import DeviceRule

from .golden import NonlinearDevice

__all__ = ["NonlinearRule"]


class NonlinearRule(DeviceRule):
    def __init__(self, device: NonlinearDevice):
        if not isinstance(device, NonlinearDevice):
            raise TypeError(f"NonlinearRule needs a NonlinearDevice, not {device!r}")
        super().__init__(device)

    def update(self, m, state, pulse, rand, time):
        d = self.device
        g = state.g
        pos = pulse >= 0
        mag = Signal(unsigned(d.pulse_bits), name="nl_mag")       # |pulse| (fits: -2^(P-1) -> 2^(P-1))
        room = Signal(unsigned(d.bits), name="nl_room")           # distance to the rail
        step = Signal(unsigned(d.pulse_bits + d.bits), name="nl_step")
        m.d.comb += [
            mag.eq(Mux(pos, pulse, -pulse)),
            room.eq(Mux(pos, d.g_max - g, g)),
            step.eq((mag * room) >> d.shift),
        ]
        # the step overshoots the rail iff it exceeds the room left towards it
        new = Mux(step > room, Mux(pos, d.g_max, 0), Mux(pos, g + step, g - step))
        return self.pack(g=new[:d.bits])

    def train_weight(self, m, state, time):
        w = Signal(signed(self.device.bits), name="nl_w")
        m.d.comb += w.eq(state.g - (1 << (self.device.bits - 1)))
        return w
