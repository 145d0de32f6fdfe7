"""Running the array engine on Amaranth's Python simulator (fast unit tests, no build)."""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from ..spec.engine import Command, EngineConfig
from ..gateware.engine import ArrayEngine
from .lockstep import LockstepReport, Snapshot, run_lockstep

__all__ = ["AmaranthStreamDriver", "AmaranthDriver", "simulate", "amaranth_lockstep"]


class AmaranthStreamDriver:
    """Drives a component with ``cmd``/``resp`` streams and ``busy`` from an Amaranth
    testbench context ``ctx``, counting clock cycles."""

    def __init__(self, ctx, dut):
        self.ctx, self.dut, self.cycle = ctx, dut, 0

    async def _tick(self):
        await self.ctx.tick()
        self.cycle += 1

    async def send_payload(self, payload, n_resp: int) -> list[int]:
        """Issue one command payload, collect ``n_resp`` responses, wait until idle."""
        ctx, dut = self.ctx, self.dut
        ctx.set(dut.cmd.payload, payload)
        ctx.set(dut.cmd.valid, 1)
        while True:
            ready = ctx.get(dut.cmd.ready)
            await self._tick()
            if ready:
                break
        ctx.set(dut.cmd.valid, 0)
        out = []
        ctx.set(dut.resp.ready, 1)
        while len(out) < n_resp:
            valid, payload = ctx.get(dut.resp.valid), ctx.get(dut.resp.payload)
            await self._tick()
            if valid:
                out.append(int(payload))
        ctx.set(dut.resp.ready, 0)
        while ctx.get(dut.busy):
            await self._tick()
        return out

    def peek_memories(self, cfg: EngineConfig):
        """Engine state words (depth, lanes) and x (chunks * lanes) through the debug peek
        ports of ``self.dut`` (an engine, or a component that re-exports its peek ports)."""
        ctx, dut = self.ctx, self.dut
        words = np.zeros((cfg.depth, cfg.lanes), dtype=np.uint64)
        for a in range(cfg.depth):
            ctx.set(dut.peek_addr, a)
            words[a] = [int(v) for v in ctx.get(dut.peek_words)]
        x = np.zeros((cfg.chunks, cfg.lanes), dtype=np.int64)
        for k in range(cfg.chunks):
            ctx.set(dut.peek_x_addr, k)
            x[k] = [int(v) for v in ctx.get(dut.peek_x)]
        return words, x.reshape(-1)


class AmaranthDriver(AmaranthStreamDriver):
    """Lockstep driver over an Amaranth testbench context ``ctx`` and a debug engine."""

    async def send(self, cmd: Command, n_resp: int) -> list[int]:
        return await self.send_payload(
            {"op": int(cmd.op), "row": cmd.row, "col": cmd.col, "arg": cmd.arg}, n_resp)

    async def snapshot(self) -> Snapshot:
        ctx, dut = self.ctx, self.dut
        words, x = self.peek_memories(dut.config)
        g = {"time": ctx.get(dut.time_now), "samples": ctx.get(dut.samples),
             "rng": [int(v) for v in ctx.get(dut.rng)]}
        if hasattr(dut, "since"):
            g["since"] = ctx.get(dut.since)
        if hasattr(dut, "dev_rng"):
            g["dev_rng"] = [int(v) for v in ctx.get(dut.dev_rng)]
        return Snapshot(words, x, g, self.cycle)


def simulate(config: EngineConfig, body, *, vcd: str | None = None):
    """Run ``await body(driver)`` against a fresh debug engine; returns its result."""
    dut = ArrayEngine(config, debug=True)
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    result = {}

    async def tb(ctx):
        result["value"] = await body(AmaranthDriver(ctx, dut))

    sim.add_testbench(tb)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return result["value"]


def amaranth_lockstep(config: EngineConfig, commands) -> LockstepReport:
    """Lockstep run of ``commands`` on the Amaranth simulator."""
    return simulate(config, lambda drv: run_lockstep(drv, config, commands))
