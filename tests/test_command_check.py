"""The hardware command check (:class:`synemu.gateware.check.CommandCheck`) against the
protocol's rule (:func:`synemu.link.protocol.reject_reason`): exhaustive over op, row and col
and every argument boundary, on arrays whose sizes are and are not powers of two."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from amaranth.sim import Simulator

from synemu.gateware.check import CommandCheck
from synemu.link.protocol import Reject, arg_limits, reject_reason
from synemu.spec.engine import OP_WIDTH, Command, EngineConfig, Op
from synemu.spec.registry import make_device

CONFIGS = [
    EngineConfig(device=make_device("ideal", weight_bits=6), rows=3, cols=6, lanes=1),
    EngineConfig(device=make_device("probe"), rows=4, cols=8, lanes=2),
    EngineConfig(device=make_device("mtj"), rows=5, cols=12, lanes=4, tick_width=8),
]


def _cases(cfg):
    rows = range(1 << cfg.row_width)
    cols = range(1 << cfg.col_width)
    amax = (1 << cfg.arg_width) - 1
    args = sorted({0, 1, amax} | {v + d for v in arg_limits(cfg).values() for d in (-1, 0, 1)
                                  if 0 <= v + d <= amax})
    for op in range(1 << OP_WIDTH):
        for row, col in itertools.product(rows, cols):
            yield Command(op, row, col, 0)
        for a in args:
            yield Command(op, 0, 0, a)


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.device.name}-{c.rows}x{c.cols}")
def test_hardware_check_equals_protocol_rule(cfg):
    dut = CommandCheck(cfg)
    cases = list(_cases(cfg))
    want = [reject_reason(cfg, c) for c in cases]
    got = []

    async def bench(ctx):
        for c in cases:
            ctx.set(dut.cmd, {"op": c.op, "row": c.row, "col": c.col, "arg": c.arg})
            got.append(ctx.get(dut.reason))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    assert got == want
    # the rule itself rejects what it must and accepts the rest
    codes = set(want)
    assert {0, Reject.OP, Reject.LABEL, Reject.WORD, Reject.ARG} <= codes
    assert (Reject.ROW in codes) == (cfg.rows < 1 << cfg.row_width)   # else no row aliases
    assert (Reject.COL in codes) == (cfg.cols < 1 << cfg.col_width)
    assert reject_reason(cfg, Command(Op.WRITE, cfg.rows - 1, cfg.cols - 1,
                                      (1 << cfg.device.state_width) - 1)) == 0
    assert reject_reason(cfg, Command(Op.LEARN, 0, 0, cfg.rows)) == Reject.LABEL
    assert np.mean([w == 0 for w in want]) > 0.05
