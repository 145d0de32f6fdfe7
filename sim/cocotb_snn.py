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
from dataclasses import dataclass, field

import numpy as np

import cocotb

from ..golden.snn import SOP_WIDTH, GoldenSNN, SNNConfig, SOp
from . import verilator
from .amaranth_sim import AmaranthStreamDriver
from .remote import CocotbSession

__all__ = ["SNNSnapshot", "snn_commands", "snn_lockstep", "amaranth_snn_lockstep",
           "SNNSession", "SNNSessionDriver", "TOPLEVEL"]

TOPLEVEL = "synemu_snn"


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


def snn_commands(cfg: SNNConfig, Rs, learn: bool, *, init: bool = True,
                 code: int | None = None) -> list[tuple]:
    """Host command stream: [INIT], then per sample PIX x C, STEP x steps (arg: learning
    code, ``code`` or ``cfg.code``; 0 when not learning), END."""
    step = (cfg.code if code is None else int(code)) if learn else 0
    cmds = [(SOp.INIT, 0, 0)] if init else []
    for R in np.asarray(Rs, dtype=np.int64):
        cmds += [(SOp.PIX, c, int(r)) for c, r in enumerate(R)]
        cmds += [(SOp.STEP, 0, step)] * cfg.steps
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
class AmaranthSNNDriver(AmaranthStreamDriver):
    async def send(self, cmd, n: int) -> list[int]:
        op, col, arg = cmd
        return await self.send_payload({"op": int(op), "col": int(col), "arg": int(arg)}, n)

    async def snapshot(self) -> SNNSnapshot:
        ctx, dut = self.ctx, self.dut
        words, x = self.peek_memories(dut.config.engine_config)
        R = []
        for c in range(dut.config.n_inputs):
            ctx.set(dut.peek_r_addr, c)
            R.append(int(ctx.get(dut.peek_r)))
        regs = {"dev_rng": [int(v) for v in ctx.get(dut.dev_rng)], "in_rng": int(ctx.get(dut.in_rng)),
                "v": [int(v) for v in ctx.get(dut.v)], "theta": [int(v) for v in ctx.get(dut.theta)],
                "R": R}
        return SNNSnapshot(words, x, regs, self.cycle)


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


class SNNSession(CocotbSession):
    """A Verilator simulation of ``SNNController(cfg, debug=True)``, driven in batches:
    ``run(cmds, snapshot)`` -> (responses per command, snapshot or None)."""

    what = "Verilator SNN simulation"

    def __init__(self, cfg: SNNConfig, connect_timeout: float = 900):
        self.config = cfg
        super().__init__(snn_build(cfg), "synemu.sim.cocotb_snn", "serve_snn",
                         {"SYNEMU_SNN": json.dumps(cfg.to_dict())},
                         connect_timeout=connect_timeout)

    def run(self, cmds, snapshot: bool = False):
        reply = self.request(("run", [tuple(int(v) for v in c) for c in cmds], bool(snapshot)))
        return reply[1], reply[2]


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
        from .cocotb_stream import StreamDriver
        self.dut, self.cfg = dut, cfg
        self.stream = StreamDriver(dut)
        self.sh_col = SOP_WIDTH
        self.sh_arg = SOP_WIDTH + clog2(cfg.n_inputs)

    @property
    def cycle(self) -> int:
        return self.stream.cycle

    async def start(self):
        await self.stream.start("peek_addr", "peek_x_addr", "peek_r_addr")

    async def send(self, cmd, n: int) -> list[int]:
        op, col, arg = (int(v) for v in cmd)
        return await self.stream.send(op | (col << self.sh_col) | (arg << self.sh_arg), n)

    async def snapshot(self) -> SNNSnapshot:
        from .cocotb_stream import split, uint
        dut, cfg, st = self.dut, self.cfg, self.stream
        ecfg, dev = cfg.engine_config, cfg.device
        L = ecfg.lanes
        words = np.zeros((ecfg.depth, L), dtype=np.uint64)
        for a in range(ecfg.depth):
            words[a] = split(await st.peek(dut.peek_addr, dut.peek_words, a), dev.state_width, L)
        xs = []
        for k in range(ecfg.chunks):
            xs += split(await st.peek(dut.peek_x_addr, dut.peek_x, k), ecfg.x_width, L, True)
        R = [await st.peek(dut.peek_r_addr, dut.peek_r, c) for c in range(cfg.n_inputs)]
        regs = {"dev_rng": split(uint(dut.dev_rng), dev.rand_width, L),
                "in_rng": uint(dut.in_rng),
                "v": split(uint(dut.v), cfg.v_width, cfg.n_neurons, True),
                "theta": split(uint(dut.theta), cfg.theta_width, cfg.n_neurons),
                "R": R}
        snap = SNNSnapshot(words, np.array(xs, dtype=np.int64), regs, self.cycle)
        await st.settle()
        return snap


@cocotb.test()
async def serve_snn(dut):
    from .cocotb_stream import serve
    cfg = SNNConfig.from_dict(json.loads(os.environ["SYNEMU_SNN"]))
    drv = _CocotbSNN(dut, cfg)
    await drv.start()

    async def handle(msg):
        _, cmds, want = msg
        resps = [await drv.send(c, n_resp(c[0])) for c in cmds]
        return ("ok", resps, await drv.snapshot() if want else None)

    await serve(handle)
