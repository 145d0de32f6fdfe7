"""Hardware of the synthetic ``probe`` device (see :mod:`synemu.devices.probe.golden`)."""

from amaranth.hdl import Cat, Const

from .golden import ProbeDevice
from ...gateware.device import DeviceRule
from ...gateware.fixed import saturate

__all__ = ["ProbeRule"]


class ProbeRule(DeviceRule):
    def __init__(self, device: ProbeDevice):
        if not isinstance(device, ProbeDevice):
            raise TypeError(f"ProbeRule needs a ProbeDevice, not {device!r}")
        super().__init__(device)

    def update(self, m, state, pulse, rand, time):
        return self.pack(w=saturate(state.w + pulse, 6), t=time[:4], r=rand[:5])

    def tick(self, m, state, n, time, rand):
        return self.pack(w=state.w, t=(state.t + n)[:4], r=state.r ^ rand[:5])

    def on_sample(self, m, state, samples, rand):
        return self.pack(w=state.w >> 1, t=state.t, r=samples[:5])

    def train_weight(self, m, state, time):
        return state.w

    def infer_weight(self, m, state, time):
        return Cat(Const(0, 1), state.w[1:]).as_signed()
