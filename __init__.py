"""synemu: emulate emerging-device synapse arrays on FPGAs.

Subpackages: :mod:`synemu.golden` (NumPy golden and physics models), :mod:`synemu.hdl`
(Amaranth components), :mod:`synemu.sim` (Amaranth-simulator and Verilator/cocotb runners),
:mod:`synemu.emu` (user runtime: Tile API, backends, datasets, CLI), :mod:`synemu.boards`
(FPGA platforms and builds).
"""

__version__ = "0.1.0"
