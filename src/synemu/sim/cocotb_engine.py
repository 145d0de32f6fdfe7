"""cocotb test module: serve a simulated ``ArrayEngine(debug=True)`` to the host (the
conformance testbench; the same module on Verilator and Icarus).

Started by :class:`synemu.sim.remote.VerilatorSession` (env ``SYNEMU_REMOTE`` = socket path,
``SYNEMU_ENGINE`` = JSON engine config). Requests: ``("run", cmds, n_resps, snapshot)``; a
batch of commands is served in one wake-up of the host. Commands go through
:class:`~synemu.sim.cocotb_stream.StreamDriver` (clock edges only); the snapshot reads the
registered globals at the falling edge where the last command ended and the debug peek
ports one time step after setting their address (clear of any clock edge).
"""

import json
import os

import cocotb
import numpy as np

from synemu.spec.engine import OP_WIDTH, EngineConfig
from synemu.sim.cocotb_stream import StreamDriver, serve, split, uint
from synemu.sim.lockstep import Snapshot


class EngineDriver(StreamDriver):
    def __init__(self, dut, config: EngineConfig):
        super().__init__(dut)
        self.cfg = c = config
        self.sh_row = OP_WIDTH
        self.sh_col = OP_WIDTH + c.row_width
        self.sh_arg = OP_WIDTH + c.row_width + c.col_width

    async def send_cmd(self, cmd, n_resp: int) -> list[int]:
        op, row, col, arg = (int(v) for v in cmd)
        return await self.send(op | (row << self.sh_row) | (col << self.sh_col)
                               | (arg << self.sh_arg), n_resp)

    async def snapshot(self) -> Snapshot:
        dut, cfg = self.dut, self.cfg
        sw, P = cfg.device.state_width, cfg.lanes
        words = np.zeros((cfg.depth, P), dtype=np.uint64)
        for a in range(cfg.depth):
            words[a] = split(await self.peek(dut.peek_addr, dut.peek_words, a), sw, P)
        xs = []
        for k in range(cfg.chunks):
            xs += split(await self.peek(dut.peek_x_addr, dut.peek_x, k), cfg.x_width, P, True)
        g = {"time": uint(dut.time_now), "samples": uint(dut.samples),
             "rng": split(uint(dut.rng), cfg.rng_width, P)}
        if cfg.device.sample_period:
            g["since"] = uint(dut.since)
        if cfg.device.rand_width:
            g["dev_rng"] = split(uint(dut.dev_rng), cfg.device.rand_width, P)
        snap = Snapshot(words, np.array(xs, dtype=np.int64), g, self.cycle)
        await self.settle()
        return snap


@cocotb.test()
async def serve_engine(dut):
    drv = EngineDriver(dut, EngineConfig.from_dict(json.loads(os.environ["SYNEMU_ENGINE"])))
    await drv.start("peek_addr", "peek_x_addr")

    async def handle(msg):
        _, cmds, n_resps, want_snap = msg
        resps = [await drv.send_cmd(c, n) for c, n in zip(cmds, n_resps)]
        snap = await drv.snapshot() if want_snap else None
        return ("ok", resps, snap, drv.cycle)

    await serve(handle)
