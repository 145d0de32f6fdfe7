"""``ideal``: ideal quantised synapse: a plain signed weight (the same-precision baseline).

The folder holds the whole device: ``golden`` (NumPy model, bit-exact with the
hardware), ``gateware`` (the Amaranth rule) and its tests.
"""

from ...spec.registry import DevicePlugin
from .golden import IdealDevice

__all__ = ["plugin"]

plugin = DevicePlugin(
    name="ideal", device=IdealDevice, rule="synemu.devices.ideal.gateware:IdealRule",
    recipes={},
    summary="ideal quantised synapse: a plain signed weight (the same-precision baseline)")
