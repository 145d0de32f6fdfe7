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
    recipes={"digits": Recipe(x_bits=4, t_pos=1024, t_neg=-1024, eta=10, epochs=6)},
    summary="example third-party device: nonlinear asymmetric conductance (RRAM/PCM-like)",
)
