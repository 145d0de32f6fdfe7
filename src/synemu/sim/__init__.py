"""Simulation: the Amaranth simulator, Verilator builds (cocotb and the compiled native driver) and the lockstep harnesses."""
