"""The built-in devices, one folder each; registered through the ``synemu.devices`` entry points (:mod:`synemu.plugin`)."""
