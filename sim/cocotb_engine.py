"""cocotb test module: serve a Verilator-simulated ``ArrayEngine(debug=True)`` to the host.

Started by :class:`synemu.sim.remote.VerilatorSession` (env ``SYNEMU_REMOTE`` = socket path,
``SYNEMU_ENGINE`` = JSON engine config). The clock runs in the simulator (cocotb ``Clock``);
Python wakes only on transaction boundaries: it drives and samples at falling clock edges
and waits for ``busy``/``resp.valid`` edges rather than counting clocks.
"""

import json
import os
import socket

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge, Timer
from cocotb.utils import get_sim_time

from synemu.golden.engine import OP_WIDTH, EngineConfig
from synemu.sim.lockstep import Snapshot
from synemu.sim.remote import recv_msg, send_msg

PERIOD_NS = 10


def _uint(sig) -> int:
    """Unsigned value of a signal (1-bit signals read as ``Logic``, wider as ``LogicArray``)."""
    v = sig.value
    return v.to_unsigned() if hasattr(v, "to_unsigned") else int(v)


class CocotbDriver:
    def __init__(self, dut, config: EngineConfig):
        self.dut, self.cfg = dut, config
        c = config
        self.sh_row = OP_WIDTH
        self.sh_col = OP_WIDTH + c.row_width
        self.sh_arg = OP_WIDTH + c.row_width + c.col_width

    @property
    def cycle(self) -> int:
        return int(get_sim_time("ns")) // PERIOD_NS

    async def start(self):
        dut = self.dut
        cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
        dut.rst.value = 1
        dut.cmd__valid.value = 0
        dut.resp__ready.value = 1
        dut.peek_addr.value = 0
        dut.peek_x_addr.value = 0
        await ClockCycles(dut.clk, 2)
        dut.rst.value = 0
        await FallingEdge(dut.clk)

    async def send(self, cmd, n_resp: int) -> list[int]:
        dut = self.dut
        op, row, col, arg = (int(v) for v in cmd)
        dut.cmd__payload.value = op | (row << self.sh_row) | (col << self.sh_col) | (arg << self.sh_arg)
        dut.cmd__valid.value = 1
        await FallingEdge(dut.clk)          # accepted at the rising edge (engine was idle)
        dut.cmd__valid.value = 0
        out = []
        while len(out) < n_resp:
            if not int(dut.resp__valid.value):
                await RisingEdge(dut.resp__valid)
                await FallingEdge(dut.clk)
            out.append(_uint(dut.resp__payload))
            await FallingEdge(dut.clk)      # consumed at the rising edge (ready is held high)
        while int(dut.busy.value):
            await FallingEdge(dut.busy)
            await FallingEdge(dut.clk)
        return out

    async def snapshot(self) -> Snapshot:
        dut, cfg = self.dut, self.cfg
        sw = cfg.device.state_width
        words = np.zeros((cfg.depth, cfg.lanes), dtype=np.uint64)
        for a in range(cfg.depth):
            dut.peek_addr.value = a
            await Timer(1, "step")
            v = _uint(dut.peek_words)
            words[a] = [(v >> (l * sw)) & ((1 << sw) - 1) for l in range(cfg.lanes)]
        xs = np.zeros((cfg.chunks, cfg.lanes), dtype=np.int64)
        xw = cfg.x_width
        for k in range(cfg.chunks):
            dut.peek_x_addr.value = k
            await Timer(1, "step")
            v = _uint(dut.peek_x)
            xs[k] = [int(cfg.x_fmt.from_bits((v >> (l * xw)) & ((1 << xw) - 1)))
                     for l in range(cfg.lanes)]

        def lanes(sig, width):
            v = _uint(sig)
            return [(v >> (l * width)) & ((1 << width) - 1) for l in range(cfg.lanes)]

        g = {"time": _uint(dut.time_now), "samples": _uint(dut.samples),
             "rng": lanes(dut.rng, cfg.rng_width)}
        if cfg.device.sample_period:
            g["since"] = _uint(dut.since)
        if cfg.device.rand_width:
            g["dev_rng"] = lanes(dut.dev_rng, cfg.device.rand_width)
        snap = Snapshot(words, xs.reshape(-1), g, self.cycle)
        await FallingEdge(dut.clk)
        return snap


@cocotb.test()
async def serve(dut):
    cfg = EngineConfig.from_dict(json.loads(os.environ["SYNEMU_ENGINE"]))
    drv = CocotbDriver(dut, cfg)
    await drv.start()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(os.environ["SYNEMU_REMOTE"])
    try:
        while True:
            msg = recv_msg(sock)
            if msg[0] == "quit":
                break
            _, cmds, n_resps, want_snap = msg
            try:
                resps = [await drv.send(c, n) for c, n in zip(cmds, n_resps)]
                snap = await drv.snapshot() if want_snap else None
            except Exception as e:  # report, then keep serving
                send_msg(sock, ("error", f"{type(e).__name__}: {e}"))
                continue
            send_msg(sock, ("ok", resps, snap, drv.cycle))
    finally:
        sock.close()
