"""Which :class:`~synemu.hdl.device.DeviceRule` implements which golden device."""

from ..golden.ideal import IdealDevice
from .device import DeviceRule
from .ideal import IdealRule
from ..golden.probe import ProbeDevice
from .probe import ProbeRule
from ..golden.fn import FNDevice
from .fn import FNRule
from ..golden.femfet import FeMFETDevice
from .femfet import FeMFETRule
from ..golden.mtj import MTJDevice
from .mtj import MTJRule

__all__ = ["RULES", "rule_for"]

#: golden device class -> Amaranth rule class
RULES: dict[type, type[DeviceRule]] = {
    IdealDevice: IdealRule,
    ProbeDevice: ProbeRule,
    FNDevice: FNRule,
    FeMFETDevice: FeMFETRule,
    MTJDevice: MTJRule,
}


def rule_for(device) -> DeviceRule:
    """The hardware rule of a golden device model."""
    try:
        return RULES[type(device)](device)
    except KeyError:
        raise ValueError(f"no hardware rule for device {type(device).__name__}") from None
