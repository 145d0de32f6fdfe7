"""The golden core: NumPy models of the fixed point, LFSRs, the device contract and the array engine (no Amaranth)."""
