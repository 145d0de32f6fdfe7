"""``femfet``: FeMFET hybrid: volatile CMOS LSBs + non-volatile FeMFET MSBs with carry/transfer.

The folder holds the whole device: ``golden`` (NumPy model, bit-exact with the
hardware), ``gateware`` (the Amaranth rule), ``physics`` (float reference), ``presets`` (recipes and experiment settings), ``cli`` (its experiments) and its tests.
"""

from ...spec.registry import DevicePlugin
from .golden import FeMFETDevice
from .presets import RECIPES

__all__ = ["plugin"]

plugin = DevicePlugin(
    name="femfet", device=FeMFETDevice, rule="synemu.devices.femfet.gateware:FeMFETRule",
    recipes=RECIPES, commands="synemu.devices.femfet.cli:register",
    summary="FeMFET hybrid: volatile CMOS LSBs + non-volatile FeMFET MSBs with carry/transfer")
