"""Amaranth core: fixed point, LFSRs, the device rule contract, the array engine and the serial-link top-level."""
