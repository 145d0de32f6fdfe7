"""Registry of golden device models by name (``synemu verify --device NAME``)."""

from __future__ import annotations

from .device import Device
from .fn import FNDevice
from .ideal import IdealDevice
from .probe import ProbeDevice
from .femfet import FeMFETDevice
from .mtj import MTJDevice

__all__ = ["DEVICES", "make_device"]

#: device name -> golden model class
DEVICES: dict[str, type[Device]] = {
    IdealDevice.name: IdealDevice,
    ProbeDevice.name: ProbeDevice,
    FNDevice.name: FNDevice,
    FeMFETDevice.name: FeMFETDevice,
    MTJDevice.name: MTJDevice,
}


def make_device(name: str, preset: str | None = None, **params) -> Device:
    """Build a device model by name, optionally from one of its named presets
    (``cls.PRESETS``) with ``params`` overriding, e.g. ``make_device("ideal", weight_bits=8)``."""
    try:
        cls = DEVICES[name]
    except KeyError:
        raise ValueError(f"unknown device {name!r}; available: {', '.join(sorted(DEVICES))}") from None
    if preset is not None:
        presets = getattr(cls, "PRESETS", {})
        if preset not in presets:
            raise ValueError(f"device {name!r} has no preset {preset!r}; "
                             f"available: {', '.join(sorted(presets)) or 'none'}")
        params = {**presets[preset], **params}
    try:
        return cls(**params)
    except TypeError as e:
        raise ValueError(f"bad parameters for device {name!r}: {e}") from None
