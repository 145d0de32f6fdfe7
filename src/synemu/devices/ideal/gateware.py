"""Ideal quantised synapse in hardware: ``w <- saturate(w + pulse)``."""

from .golden import IdealDevice
from ...gateware.device import DeviceRule
from ...gateware.fixed import saturate

__all__ = ["IdealRule"]


class IdealRule(DeviceRule):
    def __init__(self, device: IdealDevice):
        if not isinstance(device, IdealDevice):
            raise TypeError(f"IdealRule needs an IdealDevice, not {device!r}")
        super().__init__(device)

    def update(self, m, state, pulse, rand, time):
        return self.pack(w=saturate(state.w + pulse, self.device.weight_width))

    def train_weight(self, m, state, time):
        return state.w
