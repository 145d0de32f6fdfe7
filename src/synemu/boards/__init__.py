"""FPGA boards: platforms, the board top-level, bitstream builds, flashing and the board backend."""
