"""Lockstep of the STDP network controller (:class:`synemu.hdl.snn.SNNController`) against
:class:`synemu.golden.snn.GoldenSNN` on Amaranth's simulator and on Verilator.

Host-side helpers: :func:`snn_commands` (the host command stream of a training/evaluation
run), :func:`snn_lockstep` (drive a driver and the golden model, compare the synapse states,
engine x, device-LFSR words, membranes, thresholds, rate memory and input LFSR after every
STEP/END/INIT), :func:`amaranth_snn_lockstep`, :class:`SNNSession` (a Verilator simulation
served over a Unix socket like :mod:`synemu.sim.remote`). The cocotb test :func:`serve_snn`
is the simulator side (env ``SYNEMU_REMOTE`` socket path, ``SYNEMU_SNN`` JSON config).
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import cocotb

from ..golden.snn import SOP_WIDTH, GoldenSNN, SNNConfig, SOp
from . import verilator
from .remote import recv_msg, send_msg

__all__ = ["SNNSnapshot", "snn_commands", "snn_lockstep", "amaranth_snn_lockstep",
           "SNNSession", "SNNSessionDriver", "TOPLEVEL"]

TOPLEVEL = "synemu_snn"
PERIOD_NS = 10


@dataclass
class SNNSnapshot:
    words: np.ndarray        # (depth, lanes) synapse state words
    x: np.ndarray            # (cols,) engine inputs
    regs: dict               # dev_rng, in_rng, v, theta, R
    cycle: int = 0


@dataclass
class SNNReport:
    commands: int = 0
    steps: int = 0
    compared: int = 0
    cycles: int = 0
    responses: list = field(default_factory=list)
    mismatch: str | None = None

    @property
    def ok(self) -> bool:
        return self.mismatch is None


def snn_commands(cfg: SNNConfig, Rs, learn: bool, *, init: bool = True) -> list[tuple]:
    """Host command stream: [INIT], then per sample PIX x C, STEP x steps, END."""
    cmds = [(SOp.INIT, 0, 0)] if init else []
    for R in np.asarray(Rs, dtype=np.int64):
        cmds += [(SOp.PIX, c, int(r)) for c, r in enumerate(R)]
        cmds += [(SOp.STEP, 0, int(learn))] * cfg.steps
        cmds.append((SOp.END, 0, int(learn)))
    return cmds


def n_resp(op) -> int:
    return 1 if SOp(op) is SOp.STEP else 0


def compare_snn(g: GoldenSNN, snap: SNNSnapshot) -> str | None:
    eng = g.engine
    exp = eng.lane_words()
    got = np.asarray(snap.words, dtype=np.uint64).reshape(exp.shape)
    bad = np.argwhere(exp != got)
    if bad.size:
        a, l = (int(v) for v in bad[0])
        r, c = divmod(a, eng.config.chunks)
        return f"synapse row {r} col {c * eng.config.lanes + l}: expected {exp[a, l]}, got {got[a, l]}"
    if not np.array_equal(eng.x, np.asarray(snap.x, dtype=np.int64)):
        c = int(np.flatnonzero(eng.x != snap.x)[0])
        return f"x[{c}]: expected {eng.x[c]}, got {snap.x[c]}"
    ref = {"dev_rng": [int(s) for s in eng.dev_rng.state], "in_rng": [int(g.in_state[0])],
           "v": g.v.tolist(), "theta": g.theta.tolist(), "R": g.R.tolist()}
    for k, ev in ref.items():
        av = [int(a) for a in np.atleast_1d(snap.regs[k])]
        if ev != av:
            i = next(i for i, (e, a) in enumerate(zip(ev, av)) if e != a)
            return f"{k}[{i}]: expected {ev[i]}, got {av[i]}"
    return None


async def snn_lockstep(driver, cfg: SNNConfig, cmds, *, golden: GoldenSNN | None = None,
                       every: bool = True) -> SNNReport:
    """Run ``cmds`` on ``driver`` and the golden model; compare after every non-PIX command
    (``every=False``: only after END) and every STEP response."""
    g = golden or GoldenSNN(cfg)
    rep = SNNReport()
    for i, (op, col, arg) in enumerate(cmds):
        exp = g.execute(op, col, arg)
        got = await driver.send((op, col, arg), len(exp))
        rep.commands += 1
        if [int(v) for v in got] != exp:
            rep.mismatch = f"command #{i} {SOp(op).name}: response expected {exp}, got {got}"
            return rep
        if exp:
            rep.responses.append(exp[0])
        if SOp(op) is SOp.STEP:
            rep.steps += 1
        if SOp(op) is SOp.PIX or (not every and SOp(op) is not SOp.END):
            continue
        snap = await driver.snapshot()
        rep.cycles = snap.cycle
        rep.compared += 1
        msg = compare_snn(g, snap)
        if msg:
            rep.mismatch = f"after command #{i} {SOp(op).name} (cycle {snap.cycle}): {msg}"
            return rep
    return rep


# -- Amaranth simulator -----------------------------------------------------------------
class AmaranthSNNDriver:
    def __init__(self, ctx, dut):
        self.ctx, self.dut, self.cycle = ctx, dut, 0

    async def _tick(self):
        await self.ctx.tick()
        self.cycle += 1

    async def send(self, cmd, n: int) -> list[int]:
        ctx, dut = self.ctx, self.dut
        op, col, arg = cmd
        ctx.set(dut.cmd.payload, {"op": int(op), "col": int(col), "arg": int(arg)})
        ctx.set(dut.cmd.valid, 1)
        while True:
            ready = ctx.get(dut.cmd.ready)
            await self._tick()
            if ready:
                break
        ctx.set(dut.cmd.valid, 0)
        out = []
        ctx.set(dut.resp.ready, 1)
        while len(out) < n:
            valid, payload = ctx.get(dut.resp.valid), ctx.get(dut.resp.payload)
            await self._tick()
            if valid:
                out.append(int(payload))
        ctx.set(dut.resp.ready, 0)
        while ctx.get(dut.busy):
            await self._tick()
        return out

    async def snapshot(self) -> SNNSnapshot:
        ctx, dut = self.ctx, self.dut
        ecfg = dut.config.engine_config
        words = np.zeros((ecfg.depth, ecfg.lanes), dtype=np.uint64)
        for a in range(ecfg.depth):
            ctx.set(dut.peek_addr, a)
            words[a] = [int(v) for v in ctx.get(dut.peek_words)]
        x = np.zeros((ecfg.chunks, ecfg.lanes), dtype=np.int64)
        for k in range(ecfg.chunks):
            ctx.set(dut.peek_x_addr, k)
            x[k] = [int(v) for v in ctx.get(dut.peek_x)]
        R = []
        for c in range(dut.config.n_inputs):
            ctx.set(dut.peek_r_addr, c)
            R.append(int(ctx.get(dut.peek_r)))
        regs = {"dev_rng": [int(v) for v in ctx.get(dut.dev_rng)], "in_rng": int(ctx.get(dut.in_rng)),
                "v": [int(v) for v in ctx.get(dut.v)], "theta": [int(v) for v in ctx.get(dut.theta)],
                "R": R}
        return SNNSnapshot(words, x.reshape(-1), regs, self.cycle)


def amaranth_snn_lockstep(cfg: SNNConfig, cmds, **kw) -> SNNReport:
    from amaranth.sim import Simulator
    from ..hdl.snn import SNNController
    dut = SNNController(cfg, debug=True)
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    out = {}

    async def tb(ctx):
        out["rep"] = await snn_lockstep(AmaranthSNNDriver(ctx, dut), cfg, cmds, **kw)

    sim.add_testbench(tb)
    sim.run()
    return out["rep"]


# -- Verilator ------------------------------------------------------------------------------
def snn_build(cfg: SNNConfig):
    from ..hdl.snn import SNNController
    text = verilator.verilog_of(SNNController(cfg, debug=True), name=TOPLEVEL)
    return verilator.build(text, TOPLEVEL)


class SNNSession:
    """A Verilator simulation of ``SNNController(cfg, debug=True)``, driven in batches:
    ``run(cmds, snapshot)`` -> (responses per command, snapshot or None)."""

    def __init__(self, cfg: SNNConfig, connect_timeout: float = 900):
        self.config = cfg
        self.build = snn_build(cfg)
        self._tmp = tempfile.TemporaryDirectory(prefix="synemu-snn-")
        path = str(Path(self._tmp.name) / "snn.sock")
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(path)
        self._server.listen(1)
        self._server.settimeout(1.0)
        self._error = None
        env = {"SYNEMU_REMOTE": path, "SYNEMU_SNN": json.dumps(cfg.to_dict())}

        def target():
            try:
                verilator.run(self.build, "synemu.sim.cocotb_snn", testcase="serve_snn", env=env)
            except BaseException as e:
                self._error = e

        self._thread = threading.Thread(target=target, name="verilator-snn", daemon=True)
        self._thread.start()
        waited = 0.0
        while True:
            try:
                self._sock, _ = self._server.accept()
                break
            except socket.timeout:
                waited += 1.0
                if not self._thread.is_alive() or waited > connect_timeout:
                    self.close()
                    raise RuntimeError(f"Verilator SNN simulation did not connect: {self._error}")
        self._sock.settimeout(None)

    def run(self, cmds, snapshot: bool = False):
        send_msg(self._sock, ("run", [tuple(int(v) for v in c) for c in cmds], bool(snapshot)))
        try:
            reply = recv_msg(self._sock)
        except ConnectionError:
            self._thread.join(timeout=30)
            raise RuntimeError(f"Verilator SNN simulation died: {self._error}") from None
        if reply[0] != "ok":
            raise RuntimeError(f"Verilator SNN simulation error: {reply[1]}")
        return reply[1], reply[2]

    def close(self):
        if getattr(self, "_sock", None) is not None:
            try:
                send_msg(self._sock, ("quit",))
            except OSError:
                pass
            self._sock.close()
            self._sock = None
            self._thread.join(timeout=60)
        self._server.close()
        self._tmp.cleanup()
        if self._error is not None:
            err, self._error = self._error, None
            raise RuntimeError(f"Verilator SNN simulation failed: {err}") from err

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SNNSessionDriver:
    """:func:`snn_lockstep` driver over an :class:`SNNSession` (one command per round trip)."""

    def __init__(self, session: SNNSession):
        self.session, self._snap = session, None

    async def send(self, cmd, n: int) -> list[int]:
        resps, self._snap = self.session.run([cmd], snapshot=SOp(cmd[0]) is not SOp.PIX)
        return resps[0]

    async def snapshot(self) -> SNNSnapshot:
        return self._snap


# -- simulator side (cocotb) ------------------------------------------------------------------
class _CocotbSNN:
    def __init__(self, dut, cfg: SNNConfig):
        from ..golden.fixed import clog2
        self.dut, self.cfg = dut, cfg
        self.sh_col = SOP_WIDTH
        self.sh_arg = SOP_WIDTH + clog2(cfg.n_inputs)

    @property
    def cycle(self) -> int:
        from cocotb.utils import get_sim_time
        return int(get_sim_time("ns")) // PERIOD_NS

    async def start(self):
        from cocotb.clock import Clock
        from cocotb.triggers import ClockCycles, FallingEdge
        dut = self.dut
        cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
        dut.rst.value = 1
        dut.cmd__valid.value = 0
        dut.resp__ready.value = 1
        dut.peek_addr.value = 0
        dut.peek_x_addr.value = 0
        dut.peek_r_addr.value = 0
        await ClockCycles(dut.clk, 2)
        dut.rst.value = 0
        await FallingEdge(dut.clk)

    async def send(self, cmd, n: int) -> list[int]:
        from cocotb.triggers import FallingEdge, RisingEdge
        dut = self.dut
        op, col, arg = (int(v) for v in cmd)
        dut.cmd__payload.value = op | (col << self.sh_col) | (arg << self.sh_arg)
        dut.cmd__valid.value = 1
        await FallingEdge(dut.clk)
        dut.cmd__valid.value = 0
        out = []
        while len(out) < n:
            if not int(dut.resp__valid.value):
                await RisingEdge(dut.resp__valid)
                await FallingEdge(dut.clk)
            out.append(dut.resp__payload.value.to_unsigned())
            await FallingEdge(dut.clk)
        while int(dut.busy.value):
            await FallingEdge(dut.busy)
            await FallingEdge(dut.clk)
        return out

    async def snapshot(self) -> SNNSnapshot:
        from cocotb.triggers import FallingEdge, Timer
        dut, cfg = self.dut, self.cfg
        ecfg, dev = cfg.engine_config, cfg.device
        L = ecfg.lanes

        def split(v, width, n, signed=False):
            out = []
            for i in range(n):
                w = (v >> (i * width)) & ((1 << width) - 1)
                if signed and w >> (width - 1):
                    w -= 1 << width
                out.append(w)
            return out

        words = np.zeros((ecfg.depth, L), dtype=np.uint64)
        for a in range(ecfg.depth):
            dut.peek_addr.value = a
            await Timer(1, "step")
            words[a] = split(dut.peek_words.value.to_unsigned(), dev.state_width, L)
        xs = []
        for k in range(ecfg.chunks):
            dut.peek_x_addr.value = k
            await Timer(1, "step")
            xs += split(dut.peek_x.value.to_unsigned(), ecfg.x_width, L, True)
        R = []
        for c in range(cfg.n_inputs):
            dut.peek_r_addr.value = c
            await Timer(1, "step")
            R.append(dut.peek_r.value.to_unsigned())
        regs = {"dev_rng": split(dut.dev_rng.value.to_unsigned(), dev.rand_width, L),
                "in_rng": dut.in_rng.value.to_unsigned(),
                "v": split(dut.v.value.to_unsigned(), cfg.v_width, cfg.n_neurons, True),
                "theta": split(dut.theta.value.to_unsigned(), cfg.theta_width, cfg.n_neurons),
                "R": R}
        snap = SNNSnapshot(words, np.array(xs, dtype=np.int64), regs, self.cycle)
        await FallingEdge(dut.clk)
        return snap


@cocotb.test()
async def serve_snn(dut):
    cfg = SNNConfig.from_dict(json.loads(os.environ["SYNEMU_SNN"]))
    drv = _CocotbSNN(dut, cfg)
    await drv.start()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(os.environ["SYNEMU_REMOTE"])
    try:
        while True:
            msg = recv_msg(sock)
            if msg[0] == "quit":
                break
            _, cmds, want = msg
            try:
                resps = [await drv.send(c, n_resp(c[0])) for c in cmds]
                snap = await drv.snapshot() if want else None
            except Exception as e:
                send_msg(sock, ("error", f"{type(e).__name__}: {e}"))
                continue
            send_msg(sock, ("ok", resps, snap))
    finally:
        sock.close()
