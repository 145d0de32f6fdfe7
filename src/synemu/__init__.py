"""synemu: emulate emerging-device synapse arrays on FPGAs.

Layers, lowest first (each imports only the ones before it; ``tests/test_layers.py`` checks):

* :mod:`synemu.spec`: the golden core in NumPy (fixed point, LFSR, device contract, array
  engine, device registry); no Amaranth.
* :mod:`synemu.link`: the host/board serial protocol, host, board model and transports.
* :mod:`synemu.gateware`: Amaranth core (fixed point, LFSR, device rule contract, array
  engine, link top-level).
* :mod:`synemu.sim`: Amaranth simulator, Verilator builds, cocotb testbenches, the compiled
  driver and the lockstep harnesses.
* :mod:`synemu.boards`: FPGA platforms, board top-level, bitstream builds, flashing, the
  board backend.
* :mod:`synemu.runtime`: the Tile API, datasets, on-chip training, reports.
* :mod:`synemu.devices`: one folder per device (physics, golden model, hardware rule, presets,
  recipes, experiments, CLI commands, tests), registered through :mod:`synemu.plugin`.
* :mod:`synemu.demo` and :mod:`synemu.cli`: the all-device demo and the command line.
"""

__version__ = "0.1.0"
