"""``fn``: FN-DAM: differential Fowler-Nordheim decay counters (learning rate and weight decay from tunnelling physics).

The folder holds the whole device: ``golden`` (NumPy model, bit-exact with the
hardware), ``gateware`` (the Amaranth rule), ``physics`` (float reference), ``presets`` (recipes and experiment settings), ``cli`` (its experiments) and its tests.
"""

from ...spec.registry import DevicePlugin
from .golden import FNDevice
from .presets import RECIPES

__all__ = ["plugin"]

plugin = DevicePlugin(
    name="fn", device=FNDevice, rule="synemu.devices.fn.gateware:FNRule",
    recipes=RECIPES, commands="synemu.devices.fn.cli:register",
    summary="FN-DAM: differential Fowler-Nordheim decay counters (learning rate and weight decay from tunnelling physics)")
