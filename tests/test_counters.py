"""CounterBank (gateware/counters.py) in the Amaranth simulator: exact values and latency."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from synemu.gateware.counters import CounterBank


def _run(n, width, clocks, seed, p_inc=0.5):
    rng = np.random.default_rng(seed)
    dut = CounterBank(n, width)
    incs = rng.random((clocks, n)) < p_inc
    incs[:, 0] = True                     # one counter steps every clock
    log = []                              # (ack clock, index, value, request clock)

    async def bench(ctx):
        req_at, index = None, 0
        for t in range(clocks):
            ctx.set(dut.inc, int(sum(1 << i for i in range(n) if incs[t, i])))
            if req_at is None and rng.random() < 0.3:
                req_at, index = t, int(rng.integers(n))
            ctx.set(dut.rd_req, req_at is not None)
            ctx.set(dut.rd_index, index)
            await ctx.tick()
            if ctx.get(dut.rd_ack):
                log.append((t + 1, index, ctx.get(dut.rd_value), req_at))
                req_at = None

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return incs, log


@pytest.mark.parametrize("n,width,seed", [(2, 48, 0), (3, 8, 1), (15, 48, 2), (16, 5, 3)])
def test_counter_bank_values_and_latency(n, width, seed):
    """Every answer is the counter's exact count of increments presented up to two clocks
    before the ack (mod 2**width: narrow widths wrap), within n + 2 clocks of the request."""
    incs, log = _run(n, width, 600, seed)
    assert len(log) > 20
    for ack, i, value, req in log:
        # rd_ack is high in clock `ack`: it covers the increments of clocks 0 .. ack - 2
        want = int(incs[:ack - 1, i].sum()) % (1 << width)
        assert value == want, (n, width, ack, i, value, want)
        assert ack - req <= n + 2
    assert width > 8 or any(int(incs[:a - 1, i].sum()) >= 1 << width for a, i, _, _ in log)


def test_counter_bank_rejects_bad_sizes():
    with pytest.raises(ValueError, match="2..256 counters"):
        CounterBank(1)
    with pytest.raises(ValueError, match="1..64 bits"):
        CounterBank(4, 65)
