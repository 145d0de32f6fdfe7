"""The device registry: every installed device plugin, found through the Python entry-point
group ``synemu.devices`` (the built-in devices register the same way as third-party ones).

The public face of this module is :mod:`synemu.plugin`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib import metadata
from typing import Mapping

from .device import Device
from .recipe import DEFAULT_RECIPES, Recipe

__all__ = ["DevicePlugin", "ENTRY_POINT_GROUP", "plugins", "get_plugin", "plugin_of",
           "make_device", "device_classes", "rule_for", "load_object"]

ENTRY_POINT_GROUP = "synemu.devices"
#: the built-in plugins (used as they are when synemu runs from a source tree that was not
#: installed, so its entry points are not in any distribution's metadata)
BUILTIN = {"ideal": "synemu.devices.ideal:plugin", "probe": "synemu.devices.probe:plugin",
           "fn": "synemu.devices.fn:plugin", "femfet": "synemu.devices.femfet:plugin",
           "mtj": "synemu.devices.mtj:plugin", "measured": "synemu.devices.measured:plugin"}


def load_object(ref: str):
    """The object named by ``"package.module:attr"``."""
    mod, _, attr = ref.partition(":")
    if not attr:
        raise ValueError(f"bad object reference {ref!r} (expected 'module:attribute')")
    obj = importlib.import_module(mod)
    for a in attr.split("."):
        obj = getattr(obj, a)
    return obj


@dataclass(frozen=True)
class DevicePlugin:
    """One device as synemu sees it.

    name        the name users type (``--device NAME``); equals ``device.name``
    device      the golden model, a :class:`~synemu.spec.device.Device` subclass whose
                ``PRESETS`` (name -> parameters) are the device's presets
    rule        ``"module:Class"`` of its hardware rule, a
                :class:`~synemu.gateware.device.DeviceRule` subclass taking the golden
                model; imported on first use (so the golden side needs no Amaranth)
    recipes     dataset name -> :class:`~synemu.spec.recipe.Recipe` for on-chip training (or a
                function of the device model returning one, for parameter-dependent recipes)
                (datasets not listed use :data:`~synemu.spec.recipe.DEFAULT_RECIPES`)
    commands    optional ``"module:function"``; ``function(subparsers)`` adds the device's
                own CLI experiments (``synemu <device> <experiment>``); the module may
                define ``LEGACY`` (old top-level command name -> experiment name)
    trainer     optional ``"module:function"``; ``function(args) -> exit code`` handles
                ``synemu train --device NAME`` instead of the on-chip delta rule (the MTJ
                STDP network)
    board_runner  optional ``"module:function"``; ``function(args) -> exit code`` handles
                ``synemu run --device NAME`` (a board whose link core is not the synapse
                engine: the MTJ STDP network)
    summary     one line for ``synemu devices``
    origin      filled in by discovery: the distribution (name and version) it came from
    """

    name: str
    device: type[Device]
    rule: str
    recipes: Mapping[str, Recipe] = field(default_factory=dict)
    commands: str | None = None
    trainer: str | None = None
    board_runner: str | None = None
    summary: str = ""
    origin: str = ""

    def __post_init__(self):
        if not (isinstance(self.device, type) and issubclass(self.device, Device)):
            raise TypeError(f"device plugin {self.name!r}: 'device' must be a Device subclass")
        if self.device.name != self.name:
            raise ValueError(f"device plugin {self.name!r}: its Device class is named "
                             f"{self.device.name!r}")
        if ":" not in self.rule:
            raise ValueError(f"device plugin {self.name!r}: 'rule' must be 'module:Class'")

    @property
    def presets(self) -> dict:
        return dict(getattr(self.device, "PRESETS", {}))

    def load_rule(self) -> type:
        """The hardware rule class (imports Amaranth)."""
        return load_object(self.rule)

    def recipe(self, dataset: str, device=None) -> Recipe:
        """The recipe for ``dataset``; an entry may be a function of the device model
        (``device``: a model of this plugin; None: its default parameters)."""
        r = self.recipes.get(dataset) or DEFAULT_RECIPES.get(dataset) or Recipe()
        if callable(r) and not isinstance(r, Recipe):
            r = r(device if device is not None else self.device())
        return r


_PLUGINS: dict[str, DevicePlugin] | None = None


def _discover() -> dict[str, DevicePlugin]:
    found: dict[str, tuple[str, str]] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        origin = f"{dist.name} {dist.version}" if dist is not None else "entry point"
        if ep.name in found and found[ep.name][0] != ep.value:
            raise RuntimeError(f"two installed packages register the device {ep.name!r}: "
                               f"{found[ep.name][1]} and {origin}")
        found[ep.name] = (ep.value, origin)
    from .. import __version__
    for name, ref in BUILTIN.items():
        found.setdefault(name, (ref, f"synemu {__version__} (source tree)"))
    out = {}
    for name, (ref, origin) in found.items():
        try:
            plug = load_object(ref)
        except Exception as e:   # a broken third-party plugin must not break synemu
            raise RuntimeError(f"device plugin {name!r} ({ref}, from {origin}) failed to "
                               f"load: {type(e).__name__}: {e}") from e
        if not isinstance(plug, DevicePlugin):
            raise TypeError(f"entry point {name!r} ({ref}) is not a synemu.plugin.DevicePlugin")
        if plug.name != name:
            raise ValueError(f"entry point {name!r} ({ref}) holds the plugin {plug.name!r}")
        out[name] = DevicePlugin(**{**plug.__dict__, "origin": origin})
    return out


def plugins() -> dict[str, DevicePlugin]:
    """Name -> plugin of every installed device (discovered once per process)."""
    global _PLUGINS
    if _PLUGINS is None:
        _PLUGINS = _discover()
    return _PLUGINS


def get_plugin(name: str) -> DevicePlugin:
    try:
        return plugins()[name]
    except KeyError:
        raise ValueError(f"unknown device {name!r}; available: "
                         f"{', '.join(sorted(plugins()))}") from None


def plugin_of(device: Device | type) -> DevicePlugin:
    """The plugin whose golden model ``device`` (an instance or class) is."""
    cls = device if isinstance(device, type) else type(device)
    for p in plugins().values():
        if p.device is cls:
            return p
    raise ValueError(f"device model {cls.__name__} is not registered by any installed plugin")


def device_classes() -> dict[str, type[Device]]:
    """Name -> golden model class of every installed device."""
    return {n: p.device for n, p in plugins().items()}


def make_device(name: str, preset: str | None = None, **params) -> Device:
    """Build a device model by name, optionally from one of its named presets
    (``cls.PRESETS``) with ``params`` overriding, e.g. ``make_device("ideal", weight_bits=8)``."""
    cls = get_plugin(name).device
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


def rule_for(device: Device):
    """The hardware rule (an elaboratable) of a golden device model."""
    return plugin_of(device).load_rule()(device)
