"""``mtj``: STT-MTJ: binary synapses with LFSR-driven stochastic switching (STDP network).

The folder holds the whole device: ``golden`` (NumPy model, bit-exact with the
hardware), ``gateware`` (the Amaranth rule), ``physics`` (float reference), ``presets`` (recipes and experiment settings), ``cli`` (its experiments) and its tests.
"""

from ...spec.registry import DevicePlugin
from .golden import MTJDevice

__all__ = ["plugin"]

plugin = DevicePlugin(
    name="mtj", device=MTJDevice, rule="synemu.devices.mtj.gateware:MTJRule",
    recipes={}, commands="synemu.devices.mtj.cli:register",
    trainer="synemu.devices.mtj.cli:cmd_train_mtj",
    board_runner="synemu.devices.mtj.cli:cmd_run_board",
    summary="STT-MTJ: binary synapses with LFSR-driven stochastic switching (STDP network)")
