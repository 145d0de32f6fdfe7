"""synemu-nonlinear: an example third-party device package for synemu.

The entry point ``nonlinear = "synemu_nonlinear:plugin"`` in this package's pyproject.toml
is all synemu needs to find it.
"""

from synemu.plugin import DevicePlugin, Recipe

from .golden import NonlinearDevice

__all__ = ["plugin", "NonlinearDevice"]

plugin = DevicePlugin(
    name="nonlinear",
    device=NonlinearDevice,
    rule="synemu_nonlinear.gateware:NonlinearRule",
    # the default delta-rule settings (eta 14, targets +-2048) learn digits; fewer epochs: the
    # asymmetric nonlinearity pulls weights back towards mid-range late in training
    recipes={"digits": Recipe(epochs=4)},
    summary="example third-party device: nonlinear asymmetric conductance (RRAM/PCM-like)",
)
