"""Size guard of the simulator backends: an array too large to simulate in reasonable time
and memory is refused up front, with the estimate and the override, instead of elaborating
for minutes (or exhausting memory) first."""

from __future__ import annotations

from ..spec.engine import EngineConfig

__all__ = ["SIM_LIMITS", "check_sim_size"]

#: largest array (synapses) each simulator takes without ``force``; rough costs per synapse:
#: Amaranth's Python simulator holds every memory word as a Python object and elaborates
#: per word (~0.5 kB, ~10 us); Verilator compiles the memories as C++ arrays (8 B) but its
#: build time grows with the design
SIM_LIMITS = {"amaranth": 1 << 16, "verilator": 1 << 22}
_BYTES_PER_SYNAPSE = {"amaranth": 512, "verilator": 8}


def check_sim_size(config: EngineConfig, simulator: str, *, force: bool = False) -> None:
    """Raise ValueError if ``config`` exceeds :data:`SIM_LIMITS` for ``simulator``
    (``force=True`` skips the check)."""
    n = config.rows * config.cols
    limit = SIM_LIMITS.get(simulator)
    if force or limit is None or n <= limit:
        return
    mb = n * _BYTES_PER_SYNAPSE[simulator] / 2**20
    raise ValueError(
        f"a {config.rows}x{config.cols} array is {n:,} synapses, above the {limit:,} the "
        f"{simulator} simulator takes by default (estimated {mb:,.0f} MB of simulator state, "
        f"and elaboration/build time growing with it); use a smaller array, or force it "
        f"(`--force` on the command line, force_size=True in the Tile API)")
