"""Lockstep of the STDP network controller (:class:`synemu.devices.mtj.network_gateware.SNNController`) against
:class:`synemu.devices.mtj.network.GoldenSNN` on Amaranth's simulator and on Verilator.

Host-side helpers: :func:`snn_commands` (the host command stream of a training/evaluation
run), :func:`snn_lockstep` (drive a driver and the golden model, compare the synapse states,
engine x, device-LFSR words, membranes, thresholds, rate memory and input LFSR after every
STEP/END/INIT), :func:`amaranth_snn_lockstep`, :class:`SNNSession` (a Verilator simulation
served over a Unix socket like :mod:`synemu.sim.remote`). The cocotb test :func:`serve_snn`
is the simulator side (env ``SYNEMU_REMOTE`` socket path, ``SYNEMU_SNN`` JSON config); it
stays the conformance testbench.

Native driver (default for the CLI): :class:`NativeSNNSession` runs the same controller
through the compiled Verilator driver (:mod:`synemu.sim.native`) with the interface of
:class:`SNNSession` and identical responses, cycle counts and snapshots; it adds whole-batch
paths without Python per command (:meth:`NativeSNNSession.run_states`: the whole network
state after chosen commands as arrays; :meth:`NativeSNNSession.present_batch`: spike counts
of many samples in one call). :func:`native_snn_lockstep` is the vectorised lockstep on it
(golden per command, hardware per batch, same comparisons and report as
:func:`snn_lockstep`). :func:`snn_session` picks a driver by name.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

import cocotb

from .network import SOP_WIDTH, GoldenSNN, SNNConfig, SOp
from ...sim import verilator
from ...sim.amaranth_sim import AmaranthStreamDriver
from ...sim.remote import CocotbSession

__all__ = ["SNNSnapshot", "snn_commands", "snn_lockstep", "amaranth_snn_lockstep",
           "SNNSession", "SNNSessionDriver", "NativeSNNSession", "SNNStates",
           "native_snn_lockstep", "snn_native_build", "snn_session", "golden_snapshot",
           "diff_snn", "DRIVERS", "TOPLEVEL"]

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


def golden_snapshot(g: GoldenSNN, cycle: int = 0) -> SNNSnapshot:
    """The golden network's state in the form of a hardware :class:`SNNSnapshot`."""
    eng = g.engine
    regs = {"dev_rng": [int(s) for s in eng.dev_rng.state], "in_rng": int(g.in_state[0]),
            "v": g.v.tolist(), "theta": g.theta.tolist(), "R": g.R.tolist()}
    return SNNSnapshot(eng.lane_words().copy(), eng.x.astype(np.int64).copy(), regs, cycle)


def diff_snn(exp: SNNSnapshot, got: SNNSnapshot, cols: int) -> str | None:
    """First difference of two network states (synapse words in (depth, lanes) hardware
    order, x, then dev_rng, in_rng, v, theta, R) as a message, or None; ``cols`` = inputs
    per neuron (to name the synapse)."""
    ew = np.asarray(exp.words, dtype=np.uint64)
    gw = np.asarray(got.words, dtype=np.uint64).reshape(ew.shape)
    bad = np.argwhere(ew != gw)
    if bad.size:
        a, l = (int(v) for v in bad[0])
        lanes = ew.shape[1]
        chunks = cols // lanes
        r, c = divmod(a, chunks)
        return f"synapse row {r} col {c * lanes + l}: expected {ew[a, l]}, got {gw[a, l]}"
    ex, gx = np.asarray(exp.x, dtype=np.int64), np.asarray(got.x, dtype=np.int64)
    if not np.array_equal(ex, gx):
        c = int(np.flatnonzero(ex != gx)[0])
        return f"x[{c}]: expected {ex[c]}, got {gx[c]}"
    for k in ("dev_rng", "in_rng", "v", "theta", "R"):
        ev = [int(a) for a in np.atleast_1d(exp.regs[k])]
        av = [int(a) for a in np.atleast_1d(got.regs[k])]
        if ev != av:
            i = next((i for i, (e, a) in enumerate(zip(ev, av)) if e != a), min(len(ev), len(av)))
            e = ev[i] if i < len(ev) else None
            a = av[i] if i < len(av) else None
            return f"{k}[{i}]: expected {e}, got {a}"
    return None


def compare_snn(g: GoldenSNN, snap: SNNSnapshot) -> str | None:
    return diff_snn(golden_snapshot(g), snap, g.engine.config.cols)


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
        def peek(addr, port, n):
            out = []
            for a in range(n):
                ctx.set(addr, a)
                out.append(int(ctx.get(port)))
            return out

        N = dut.config.n_neurons
        regs = {"dev_rng": [int(v) for v in ctx.get(dut.dev_rng)], "in_rng": int(ctx.get(dut.in_rng)),
                "v": peek(dut.peek_v_addr, dut.peek_v, N),
                "theta": peek(dut.peek_theta_addr, dut.peek_theta, N),
                "R": peek(dut.peek_r_addr, dut.peek_r, dut.config.n_inputs)}
        return SNNSnapshot(words, x, regs, self.cycle)


def amaranth_snn_lockstep(cfg: SNNConfig, cmds, *, banks: int | None = None, draws: int = 1,
                          **kw) -> SNNReport:
    """:func:`snn_lockstep` on Amaranth's simulator of ``SNNController(cfg, banks=banks,
    draws=draws, debug=True)``."""
    from amaranth.sim import Simulator
    from .network_gateware import SNNController
    dut = SNNController(cfg, banks=banks, draws=draws, debug=True)
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    out = {}

    async def tb(ctx):
        out["rep"] = await snn_lockstep(AmaranthSNNDriver(ctx, dut), cfg, cmds, **kw)

    sim.add_testbench(tb)
    sim.run()
    return out["rep"]


# -- Verilator ------------------------------------------------------------------------------
def snn_build(cfg: SNNConfig, banks: int | None = None, draws: int = 1):
    from .network_gateware import SNNController
    text = verilator.verilog_of(SNNController(cfg, banks=banks, draws=draws, debug=True),
                                name=TOPLEVEL)
    return verilator.build(text, TOPLEVEL)


class SNNSession(CocotbSession):
    """A Verilator simulation of ``SNNController(cfg, banks=banks, draws=draws, debug=True)``,
    driven in batches: ``run(cmds, snapshot)`` -> (responses per command, snapshot or None)."""

    what = "Verilator SNN simulation"

    def __init__(self, cfg: SNNConfig, connect_timeout: float = 900, *,
                 banks: int | None = None, draws: int = 1):
        self.config = cfg
        super().__init__(snn_build(cfg, banks, draws), "synemu.devices.mtj.network_sim", "serve_snn",
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


# -- Verilator, native driver -------------------------------------------------------------
DRIVERS = ("native", "cocotb")


#: extra Verilator arguments of the native SNN build: wide designs (many banks) become deeply
#: nested C++ functions that g++ -O2 compiles slowly; split into functions of <= 2000
#: statements they compile several times faster, at the same simulation speed
SNN_BUILD_ARGS = ("--output-split-cfuncs", "2000")


def snn_native_build(cfg: SNNConfig, *, waves: bool | str = False, banks: int | None = None,
                     draws: int = 1) -> verilator.Build:
    """Native driver library of ``SNNController(cfg, banks=banks, draws=draws, debug=True)``
    (cached by design and sources)."""
    from .network_gateware import SNNController, default_banks
    banks = default_banks(cfg) if banks is None else banks
    return verilator.build_design(
        ["SNNController", "debug", cfg.to_dict(), {"banks": banks, "draws": draws}],
        lambda: verilator.verilog_of(SNNController(cfg, banks=banks, draws=draws, debug=True),
                                     name=TOPLEVEL),
        TOPLEVEL, waves=waves, target="native", build_args=SNN_BUILD_ARGS)


def max_snn_command_cycles(cfg: SNNConfig) -> int:
    """Generous bound on the clocks of one controller command (a hang is reported): INIT's
    sweep of N*C synapses, or a STEP with one bank and one draw per clock."""
    K = cfg.n_inputs // cfg.lanes
    return 4 * (cfg.n_neurons * K + cfg.n_inputs + cfg.n_neurons * max(K, 1) + K) + 10_000


@dataclass
class SNNStates:
    """Network state after each of n commands, as arrays: ``words`` (n, depth, lanes)
    uint64, ``x`` (n, cols) int64, ``dev_rng`` (n, lanes) uint64, ``in_rng`` (n,) uint64,
    ``v`` (n, N) int64, ``theta`` (n, N) int64, ``R`` (n, C) int64, ``cycles`` (n,) int64
    (clock count when each state was taken)."""

    words: np.ndarray
    x: np.ndarray
    dev_rng: np.ndarray
    in_rng: np.ndarray
    v: np.ndarray
    theta: np.ndarray
    R: np.ndarray
    cycles: np.ndarray

    def __len__(self):
        return len(self.cycles)

    def snapshot(self, i: int) -> SNNSnapshot:
        regs = {"dev_rng": [int(a) for a in self.dev_rng[i]], "in_rng": int(self.in_rng[i]),
                "v": [int(a) for a in self.v[i]], "theta": [int(a) for a in self.theta[i]],
                "R": [int(a) for a in self.R[i]]}
        return SNNSnapshot(self.words[i].copy(), self.x[i].copy(), regs, int(self.cycles[i]))


class NativeSNNSession:
    """``SNNController(cfg, debug=True)`` in Verilator through the compiled driver.

    Same interface and results as :class:`SNNSession` (``run(cmds, snapshot)`` -> (responses
    per command, :class:`SNNSnapshot` or None), ``cycle``, context manager), plus the batch
    paths :meth:`run_states`, :meth:`run_arrays` and :meth:`present_batch`.
    ``waves``: build with tracing; :meth:`trace_open` then starts a wave file (dumping on).
    """

    what = "native Verilator SNN simulation"

    def __init__(self, cfg: SNNConfig, *, waves: bool | str = False, banks: int | None = None,
                 draws: int = 1):
        from ...spec.fixed import clog2
        self.config = cfg
        self.build = snn_native_build(cfg, waves=waves, banks=banks, draws=draws)
        self.model = None
        self._sh_col = SOP_WIDTH
        self._col_width = clog2(cfg.n_inputs)
        self._sh_arg = SOP_WIDTH + self._col_width
        self._max_cycles = max_snn_command_cycles(cfg)
        self.restart()
        self._width = self.model.ports["cmd__payload"].width

    def restart(self):
        """A fresh simulation of the same build (reset state, cycle 1)."""
        from ...sim.native import NativeModel
        if self.model is not None:
            self.model.close()
        cfg, e = self.config, self.config.engine_config
        self.model = m = NativeModel(self.build)
        m.reset()
        N = cfg.n_neurons
        m.snap_config([("peek_addr", "peek_words", e.depth), ("peek_x_addr", "peek_x", e.chunks),
                       ("peek_r_addr", "peek_r", cfg.n_inputs), ("peek_v_addr", "peek_v", N),
                       ("peek_theta_addr", "peek_theta", N)],
                      ["dev_rng", "in_rng"])

    @property
    def cycle(self) -> int:
        return self.model.cycle

    def trace_open(self, path):
        """Dump waves of everything from now on into ``path`` (build with ``waves``)."""
        p = self.model.trace_open(path)
        self.model.trace(True)
        return p

    # -- encoding ------------------------------------------------------------------------
    def payloads(self, op, col, arg) -> np.ndarray:
        """(n, words) uint32 command payloads of field arrays."""
        from ...sim.native import pack_fields
        cfg = self.config
        op = np.asarray(op, dtype=np.int64).ravel()
        col = np.asarray(col, dtype=np.int64).ravel()
        arg = np.asarray(arg, dtype=np.int64).ravel()
        n = len(op)
        if n and (op.min() < 1 or op.max() > max(SOp)):
            raise ValueError(f"snn: unknown command op {int(op[(op < 1) | (op > max(SOp))][0])}")
        if n and (col.min() < 0 or col.max() >= cfg.n_inputs):
            raise ValueError(f"snn: command col must be in 0..{cfg.n_inputs - 1}")
        if n and (arg.min() < 0 or arg.max() >= 1 << cfg.arg_width):
            raise ValueError(f"snn: command arg must be in 0..{(1 << cfg.arg_width) - 1}")
        return pack_fields([(op.astype(np.uint64), 0, SOP_WIDTH),
                            (col.astype(np.uint64), self._sh_col, self._col_width),
                            (arg.astype(np.uint64), self._sh_arg, cfg.arg_width)], n, self._width)

    @staticmethod
    def fields(cmds):
        a = np.array([tuple(int(v) for v in c) for c in cmds], dtype=np.int64).reshape(-1, 3)
        return a[:, 0], a[:, 1], a[:, 2]

    # -- running -------------------------------------------------------------------------
    def run_arrays(self, op, col, arg, snap=None):
        """Run commands given as field arrays. ``snap`` (bool per command, or True for all):
        take the whole state after those commands (one clock each, as the cocotb snapshot
        costs). Returns (responses: (n,) int64, the STEP responses ``winner + 1`` and -1 for
        the other commands; :class:`SNNStates` of the snapshotted commands, or None).
        Python runs per stretch of equal ``snap`` flags, never per command."""
        op = np.asarray(op, dtype=np.int64).ravel()
        n = len(op)
        payloads = self.payloads(op, col, arg)
        nr = (op == int(SOp.STEP)).astype(np.int32)
        if snap is None or snap is False:
            mask = np.zeros(n, dtype=bool)
        elif snap is True:
            mask = np.ones(n, dtype=bool)
        else:
            mask = np.asarray(snap, dtype=bool).ravel()
            if len(mask) != n:
                raise ValueError(f"snap has {len(mask)} flags for {n} commands")
        edges = np.flatnonzero(np.diff(mask.astype(np.int8))) + 1
        bounds = [0, *edges.tolist(), n] if n else [0]
        resp_parts, rec_parts, cyc_parts = [], [], []
        for a, b in zip(bounds, bounds[1:]):
            r, rec, cyc = self.model.stream_run(payloads[a:b], nr[a:b], snapshots=bool(mask[a]),
                                                max_cycles=self._max_cycles)
            resp_parts.append(r[:, 0].astype(np.int64) if len(r) else np.zeros(0, np.int64))
            if mask[a]:
                rec_parts.append(rec)
                cyc_parts.append(cyc)
        resp = np.full(n, -1, dtype=np.int64)
        if n:
            resp[nr == 1] = np.concatenate(resp_parts)
        states = None
        if rec_parts:
            states = self.states(np.concatenate(rec_parts), np.concatenate(cyc_parts))
        return resp, states

    def run(self, cmds, snapshot: bool = False):
        """Like :meth:`SNNSession.run`: responses per command ([] or [winner + 1]) and the
        :class:`SNNSnapshot` after the batch if asked."""
        cmds = list(cmds)
        out = []
        if cmds:
            op, col, arg = self.fields(cmds)
            resp, _ = self.run_arrays(op, col, arg)
            out = [[int(r)] if o == int(SOp.STEP) else [] for o, r in zip(op, resp)]
        snap = None
        if snapshot:
            cyc = self.model.cycle
            snap = self.states(self.model.snapshot()[None, :], np.array([cyc])).snapshot(0)
        return out, snap

    def run_states(self, cmds, snap=True):
        """Responses per command and the :class:`SNNStates` after every command with a true
        ``snap`` flag (default: after every command)."""
        cmds = list(cmds)
        op, col, arg = self.fields(cmds)
        resp, st = self.run_arrays(op, col, arg, snap)
        return [[int(r)] if o == int(SOp.STEP) else [] for o, r in zip(op, resp)], st

    def sample_fields(self, Rs, learn: bool, code: int | None = None):
        """Field arrays of the host stream of whole samples (as :func:`snn_commands` without
        INIT): per sample PIX x C, STEP x steps, END. Returns (op, col, arg) of shape
        (samples, C + steps + 1)."""
        cfg = self.config
        Rs = np.asarray(Rs, dtype=np.int64).reshape(-1, cfg.n_inputs)
        n, C, T = len(Rs), cfg.n_inputs, cfg.steps
        step = (cfg.code if code is None else int(code)) if learn else 0
        op = np.empty((n, C + T + 1), dtype=np.int64)
        op[:, :C], op[:, C:C + T], op[:, C + T] = int(SOp.PIX), int(SOp.STEP), int(SOp.END)
        col = np.zeros_like(op)
        col[:, :C] = np.arange(C)
        arg = np.empty_like(op)
        arg[:, :C], arg[:, C:C + T], arg[:, C + T] = Rs, step, int(learn)
        return op, col, arg

    def present_batch(self, Rs, learn: bool, code: int | None = None) -> np.ndarray:
        """Present samples one after the other (PIX, STEPs, END each) in one driver call;
        returns the spike counts per sample and neuron, (samples, N) int64."""
        cfg = self.config
        op, col, arg = self.sample_fields(Rs, learn, code)
        n, C, T = op.shape[0], cfg.n_inputs, cfg.steps
        if n == 0:
            return np.zeros((0, cfg.n_neurons), dtype=np.int64)
        resp, _ = self.run_arrays(op, col, arg)
        win = resp.reshape(op.shape)[:, C:C + T]
        counts = np.zeros((n, cfg.n_neurons + 1), dtype=np.int64)
        np.add.at(counts, (np.repeat(np.arange(n), T), win.ravel()), 1)
        return counts[:, 1:]

    def states(self, records: np.ndarray, cycles) -> SNNStates:
        """Decode snapshot records into arrays."""
        from ...sim.native import split_lanes
        cfg, e, dev = self.config, self.config.engine_config, self.config.device
        parts = self.model.split_record(records)
        n = len(records)
        words = split_lanes(parts["peek_words"].reshape(n * e.depth, -1), dev.state_width,
                            e.lanes).reshape(n, e.depth, e.lanes)
        x = split_lanes(parts["peek_x"].reshape(n * e.chunks, -1), e.x_width, e.lanes,
                        signed=True).reshape(n, e.cols)
        R = split_lanes(parts["peek_r"].reshape(n * cfg.n_inputs, -1), cfg.rate_bits + 1, 1
                        ).reshape(n, cfg.n_inputs).astype(np.int64)
        dev_rng = split_lanes(parts["dev_rng"][:, 0], dev.rand_width, e.lanes)
        in_rng = split_lanes(parts["in_rng"][:, 0], cfg.in_rand_bits, 1)[:, 0]
        N = cfg.n_neurons
        v = split_lanes(parts["peek_v"].reshape(n * N, -1), cfg.v_width, 1, signed=True
                        ).reshape(n, N).astype(np.int64)
        theta = split_lanes(parts["peek_theta"].reshape(n * N, -1), cfg.theta_width, 1
                            ).reshape(n, N).astype(np.int64)
        return SNNStates(words, x, dev_rng, in_rng, v, theta, R,
                         np.asarray(cycles, dtype=np.int64).reshape(n))

    def snapshot(self) -> SNNSnapshot:
        """The state now (costs one clock, like the cocotb snapshot)."""
        return self.run([], snapshot=True)[1]

    def close(self):
        if self.model is not None:
            self.model.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def snn_session(cfg: SNNConfig, driver: str = "native"):
    """A Verilator SNN session on ``driver`` (``native``: compiled driver, ``cocotb``: the
    cocotb conformance testbench over a socket); both give identical results."""
    if driver == "native":
        return NativeSNNSession(cfg)
    if driver == "cocotb":
        return SNNSession(cfg)
    raise ValueError(f"unknown Verilator driver {driver!r}; use one of {', '.join(DRIVERS)}")


def native_snn_lockstep(cfg: SNNConfig, cmds, *, session: NativeSNNSession | None = None,
                        golden: GoldenSNN | None = None, every: bool = True,
                        batch: int | None = None, progress=None) -> SNNReport:
    """:func:`snn_lockstep` on the native driver, vectorised: per batch the golden model
    executes each command (recording its state after every compared one), the hardware runs
    the whole batch in one driver call per stretch of compared / uncompared commands, and
    the states are compared as arrays. Compares after every non-PIX command (``every=False``:
    only after END) and every STEP response; same report (first mismatch: command, cycle,
    what, expected, got). ``progress(n)`` is called after each batch."""
    own = session is None
    s = session or NativeSNNSession(cfg)
    g = golden or GoldenSNN(cfg)
    e = cfg.engine_config
    rep = SNNReport()
    cmds = [tuple(int(v) for v in c) for c in cmds]
    if batch is None:
        per_cmd = 8 * (e.depth * e.lanes + e.cols + e.lanes + 2 * cfg.n_neurons + cfg.n_inputs) + 512
        batch = int(max(16, min(20_000, (64 << 20) // per_cmd)))
    try:
        for b0 in range(0, len(cmds), batch):
            chunk = cmds[b0:b0 + batch]
            n = len(chunk)
            op = np.array([c[0] for c in chunk], dtype=np.int64)
            snap = op != int(SOp.PIX) if every else op == int(SOp.END)
            k = int(snap.sum())
            exp_words = np.empty((k, e.depth, e.lanes), dtype=np.uint64)
            exp_x = np.empty((k, e.cols), dtype=np.int64)
            exp_dev = np.empty((k, e.lanes), dtype=np.uint64)
            exp_in = np.empty(k, dtype=np.uint64)
            exp_v = np.empty((k, cfg.n_neurons), dtype=np.int64)
            exp_th = np.empty((k, cfg.n_neurons), dtype=np.int64)
            exp_R = np.empty((k, cfg.n_inputs), dtype=np.int64)
            exp_resp = np.full(n, -1, dtype=np.int64)
            j = 0
            for i, (o, c, a) in enumerate(chunk):
                r = g.execute(o, c, a)          # validates the command (ValueError)
                if r:
                    exp_resp[i] = r[0]
                if snap[i]:
                    exp_words[j] = g.engine.lane_words()
                    exp_x[j] = g.engine.x
                    exp_dev[j] = g.engine.dev_rng.state
                    exp_in[j] = g.in_state[0]
                    exp_v[j], exp_th[j], exp_R[j] = g.v, g.theta, g.R
                    j += 1
            got_resp, st = s.run_arrays(op, [c[1] for c in chunk], [c[2] for c in chunk], snap)
            if k:
                bad_state = (np.any(exp_words != st.words, axis=(1, 2))
                             | np.any(exp_x != st.x, axis=1)
                             | np.any(exp_dev != st.dev_rng, axis=1) | (exp_in != st.in_rng)
                             | np.any(exp_v != st.v, axis=1) | np.any(exp_th != st.theta, axis=1)
                             | np.any(exp_R != st.R, axis=1))
            else:
                bad_state = np.zeros(0, dtype=bool)
            bad = got_resp != exp_resp
            pos = np.flatnonzero(snap)              # command index of each state record
            bad_cmd = bad.copy()
            bad_cmd[pos[bad_state]] = True
            first = int(np.argmax(bad_cmd)) if bad_cmd.any() else n
            done = first if first < n else n
            rep.commands += done
            rep.steps += int(np.sum(op[:done] == int(SOp.STEP)))
            rep.responses += [int(v) for v in exp_resp[:done] if v >= 0]
            nrec = int(np.sum(snap[:done]))
            rep.compared += nrec
            if nrec:
                rep.cycles = int(st.cycles[nrec - 1])
            if first < n:
                i = b0 + first
                name = SOp(chunk[first][0]).name
                rep.commands += 1
                if bad[first]:
                    rep.mismatch = (f"command #{i} {name}: response expected "
                                    f"{[int(exp_resp[first])]}, got {[int(got_resp[first])]}")
                    return rep
                if exp_resp[first] >= 0:
                    rep.responses.append(int(exp_resp[first]))
                if op[first] == int(SOp.STEP):
                    rep.steps += 1
                rep.compared += 1
                r = nrec                             # this command's state record
                exp = SNNSnapshot(exp_words[r], exp_x[r],
                                  {"dev_rng": exp_dev[r], "in_rng": int(exp_in[r]), "v": exp_v[r],
                                   "theta": exp_th[r], "R": exp_R[r]})
                got = st.snapshot(r)
                rep.cycles = got.cycle
                msg = diff_snn(exp, got, cfg.n_inputs) or "(state arrays differ)"
                rep.mismatch = f"after command #{i} {name} (cycle {got.cycle}): {msg}"
                return rep
            if progress is not None:
                progress(n)
    finally:
        if own:
            s.close()
    return rep


# -- simulator side (cocotb) ------------------------------------------------------------------
class _CocotbSNN:
    def __init__(self, dut, cfg: SNNConfig):
        from ...spec.fixed import clog2
        from ...sim.cocotb_stream import StreamDriver
        self.dut, self.cfg = dut, cfg
        self.stream = StreamDriver(dut)
        self.sh_col = SOP_WIDTH
        self.sh_arg = SOP_WIDTH + clog2(cfg.n_inputs)

    @property
    def cycle(self) -> int:
        return self.stream.cycle

    async def start(self):
        await self.stream.start("peek_addr", "peek_x_addr", "peek_r_addr", "peek_v_addr",
                                "peek_theta_addr")

    async def send(self, cmd, n: int) -> list[int]:
        op, col, arg = (int(v) for v in cmd)
        return await self.stream.send(op | (col << self.sh_col) | (arg << self.sh_arg), n)

    async def snapshot(self) -> SNNSnapshot:
        from ...sim.cocotb_stream import split, uint
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
        v = [split(await st.peek(dut.peek_v_addr, dut.peek_v, r), cfg.v_width, 1, True)[0]
             for r in range(cfg.n_neurons)]
        theta = [await st.peek(dut.peek_theta_addr, dut.peek_theta, r)
                 for r in range(cfg.n_neurons)]
        regs = {"dev_rng": split(uint(dut.dev_rng), dev.rand_width, L),
                "in_rng": uint(dut.in_rng), "v": v, "theta": theta, "R": R}
        snap = SNNSnapshot(words, np.array(xs, dtype=np.int64), regs, self.cycle)
        await st.settle()
        return snap


@cocotb.test()
async def serve_snn(dut):
    from ...sim.cocotb_stream import serve
    cfg = SNNConfig.from_dict(json.loads(os.environ["SYNEMU_SNN"]))
    drv = _CocotbSNN(dut, cfg)
    await drv.start()

    async def handle(msg):
        _, cmds, want = msg
        resps = [await drv.send(c, n_resp(c[0])) for c in cmds]
        return ("ok", resps, await drv.snapshot() if want else None)

    await serve(handle)
