"""``probe``: synthetic device exercising every hook of the engine contract (verification only).

The folder holds the whole device: ``golden`` (NumPy model, bit-exact with the
hardware), ``gateware`` (the Amaranth rule) and its tests.
"""

from ...spec.registry import DevicePlugin
from .golden import ProbeDevice

__all__ = ["plugin"]

plugin = DevicePlugin(
    name="probe", device=ProbeDevice, rule="synemu.devices.probe.gateware:ProbeRule",
    recipes={},
    summary="synthetic device exercising every hook of the engine contract (verification only)")
