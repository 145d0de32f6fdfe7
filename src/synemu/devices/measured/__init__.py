"""``measured``: a table-driven synapse fitted from measured pulse-response data.

The folder holds the whole device: ``golden`` (NumPy model, bit-exact with the hardware),
``gateware`` (the Amaranth rule, tables in block RAM), ``physics`` (float reference and the
published pulse-response models that generate the example data), ``devicefile`` (the JSON
device file), ``fit`` (CSV pulse trains -> device file), ``presets`` (shipped device files
from published data), ``cli`` (``synemu device fit``, ``synemu measured compare|synth``)
and its tests.
"""

from ...spec.registry import DevicePlugin
from .golden import MeasuredDevice
from .presets import RECIPES, install_presets

__all__ = ["plugin"]

install_presets(MeasuredDevice)

plugin = DevicePlugin(
    name="measured", device=MeasuredDevice, rule="synemu.devices.measured.gateware:MeasuredRule",
    recipes=RECIPES, commands="synemu.devices.measured.cli:register",
    summary="measured device: table-driven synapse fitted from pulse-response data (CSV)")
