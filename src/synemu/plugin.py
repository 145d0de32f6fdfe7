"""The public plugin API: everything a device package needs to add a synapse to synemu.

A device is three objects and one entry point:

1. a golden model, a frozen dataclass subclassing :class:`Device` (NumPy only): its state
   :class:`Field` s, pulse and weight widths, the integer ``update`` rule and the weight
   read-out, optionally ``tick``/``on_sample`` and named ``PRESETS``;
2. a hardware rule, a :class:`~synemu.gateware.device.DeviceRule` subclass (Amaranth)
   doing the same per synapse, referred to as ``"module:Class"`` so that importing the
   plugin does not import Amaranth;
3. a :class:`DevicePlugin` naming them, with optional training :class:`Recipe` s per dataset
   and a function adding CLI experiments;
4. an entry point in the package's ``pyproject.toml``::

       [project.entry-points."synemu.devices"]
       mydev = "mydev:plugin"

Once the package is installed, ``synemu devices`` lists it and ``synemu verify --device
mydev``, ``train``, ``build``, ``run`` and ``Tile("mydev", ...)`` use it like a built-in
device (the built-in devices register through the same entry points). ``examples/`` holds a
complete third-party device package; ``docs/plugins.md`` walks through it.
"""

from __future__ import annotations

from .spec.device import Device, Field
from .spec.fixed import IntFormat
from .spec.recipe import Recipe
from .spec.registry import (ENTRY_POINT_GROUP, DevicePlugin, device_classes, get_plugin,
                            make_device, plugin_of, plugins)

__all__ = ["Device", "Field", "IntFormat", "DeviceRule", "Recipe", "DevicePlugin",
           "ENTRY_POINT_GROUP", "plugins", "get_plugin", "plugin_of", "make_device",
           "device_classes"]


def __getattr__(name):
    # DeviceRule needs Amaranth: imported only when asked for
    if name == "DeviceRule":
        from .gateware.device import DeviceRule
        return DeviceRule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
