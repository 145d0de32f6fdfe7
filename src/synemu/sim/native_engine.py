"""The array engine on the compiled Verilator driver (:mod:`synemu.sim.native`).

:class:`NativeEngineSession` has the interface of :class:`synemu.sim.remote.VerilatorSession`
(``run(cmds, n_resps, snapshot)``, ``cycle``, context manager) and gives the same
responses, cycle counts and states; :meth:`NativeEngineSession.run_states` runs a batch with
the whole state recorded after every command, as arrays. :func:`native_lockstep` is the
vectorised lockstep harness built on it (every state word, input and register compared after
every command; the first mismatch reported like :func:`synemu.sim.lockstep.run_lockstep`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from ..spec.engine import OP_WIDTH, Command, EngineConfig, GoldenEngine, Op
from . import verilator
from .lockstep import LockstepReport, Mismatch, Snapshot, _fmt_cmd, compare
from .native import NativeModel, pack_fields, split_lanes, words_to_ints

__all__ = ["lockstep_seeds", "engine_native_build", "NativeEngineSession", "EngineStates", "native_lockstep",
           "max_command_cycles"]

TOPLEVEL = "synemu_engine"

#: ops that never change a synapse word
_READ_ONLY = frozenset([Op.READ, Op.LOAD_X, Op.FORWARD])     # (IntEnum: ints match too)


def engine_native_build(config: EngineConfig, *, waves: bool | str = False) -> verilator.Build:
    """Native driver library of ``ArrayEngine(config, debug=True)`` (cached by Verilog)."""
    from ..gateware.engine import ArrayEngine
    return verilator.build_design(
        ["ArrayEngine", "debug", config.to_dict()],
        lambda: verilator.verilog_of(ArrayEngine(config, debug=True), name=TOPLEVEL),
        TOPLEVEL, waves=waves, target="native")


def max_command_cycles(config: EngineConfig) -> int:
    """Generous bound on the clocks of one command (a hang is reported, not waited out)."""
    lat = 64  # pipeline + rule latency allowance per sweep
    return 4 * (config.depth * 3 + config.rows * (2 * config.chunks + 2 * lat)) + 10_000


@dataclass
class EngineStates:
    """Whole engine state after each command of a batch (n = commands).

    ``words`` (n, depth, lanes) uint64, ``x`` (n, cols) int64, ``regs`` name -> (n, k)
    int64/uint64 (time, samples, rng, and since/dev_rng where the design has them),
    ``cycles`` (n,) clock count when each state was taken."""

    words: np.ndarray
    x: np.ndarray
    regs: dict
    cycles: np.ndarray

    def snapshot(self, i: int) -> Snapshot:
        g = {}
        for k, v in self.regs.items():
            g[k] = [int(a) for a in v[i]] if k in ("rng", "dev_rng") else int(v[i, 0])
        return Snapshot(self.words[i].copy(), self.x[i].copy(), g, int(self.cycles[i]))


class NativeEngineSession:
    """``ArrayEngine(config, debug=True)`` in Verilator through the compiled driver.

    ``waves``: build with tracing; then :meth:`trace_window` picks the commands dumped.
    """

    what = "native Verilator engine simulation"

    def __init__(self, config: EngineConfig, *, waves: bool | str = False, build=None,
                 pins: dict | None = None):
        self.config = c = config
        #: ``build``: another native build of the same engine interface (e.g. the mutant
        #: schema of :mod:`synemu.sim.mutate`); ``pins``: extra input ports set to these
        #: values after every reset (the reset itself runs with every input at 0)
        self.build = build if build is not None else engine_native_build(config, waves=waves)
        self.pins = dict(pins or {})
        self.model = None
        self.restart()
        self._sh_row = OP_WIDTH
        self._sh_col = OP_WIDTH + c.row_width
        self._sh_arg = OP_WIDTH + c.row_width + c.col_width
        self._width = self.model.ports["cmd__payload"].width
        self._max_cycles = max_command_cycles(c)

    def restart(self):
        """A fresh simulation of the same build (memories at their initial contents, reset
        state, cycle 1); any wave file is closed."""
        if self.model is not None:
            self.model.close()
        c, dev = self.config, self.config.device
        self.model = m = NativeModel(self.build)
        m.reset()
        direct = ["time_now", "samples", "rng"]
        if dev.sample_period:
            direct.append("since")
        if dev.rand_width:
            direct.append("dev_rng")
        m.snap_config([("peek_addr", "peek_words", c.depth), ("peek_x_addr", "peek_x", c.chunks)],
                      direct)
        for name, value in self.pins.items():
            m.set(name, value)
        self.wave_path: Path | None = None
        self._commands = 0
        self._window: tuple[int, int | None] | None = None

    @property
    def cycle(self) -> int:
        return self.model.cycle

    # -- waves ---------------------------------------------------------------------------
    def trace_window(self, path, start: int = 0, stop: int | None = None) -> Path:
        """Dump waves to ``path`` for commands ``start <= i < stop`` (counted from the
        session's first command; ``stop=None``: to the end)."""
        self.wave_path = self.model.trace_open(path)
        self._window = (int(start), stop if stop is None else int(stop))
        self.model.trace(self._in_window(self._commands))
        return self.wave_path

    def _in_window(self, i: int) -> bool:
        if self._window is None:
            return False
        a, b = self._window
        return i >= a and (b is None or i < b)

    def _segments(self, n: int):
        """Split a batch of n commands at the wave window's edges: (start, stop, tracing)."""
        if self._window is None:
            yield 0, n, False
            return
        edges = {0, n}
        for e in self._window:
            if e is not None and 0 < e - self._commands < n:
                edges.add(e - self._commands)
        edges = sorted(edges)
        for a, b in zip(edges, edges[1:]):
            yield a, b, self._in_window(self._commands + a)

    # -- commands ------------------------------------------------------------------------
    def encode(self, cmds) -> np.ndarray:
        """(n, words) uint32 payloads of already-encoded commands (``EngineConfig.encode``)."""
        c = self.config
        a = np.array([(int(x.op), int(x.row), int(x.col)) for x in cmds], dtype=np.uint64
                     ).reshape(-1, 3)
        arg = np.array([int(x.arg) for x in cmds], dtype=np.uint64)
        return pack_fields([(a[:, 0], 0, OP_WIDTH), (a[:, 1], self._sh_row, c.row_width),
                            (a[:, 2], self._sh_col, c.col_width),
                            (arg, self._sh_arg, c.arg_width)], len(cmds), self._width)

    def run_arrays(self, op, row, col, arg, n_resp) -> np.ndarray:
        """Run commands given as field arrays (already encoded: ``arg`` unsigned, < 2**64);
        returns every response's uint32 words, (sum n_resp, words). No Python per command."""
        c = self.config
        op = np.asarray(op, dtype=np.uint64)
        n = len(op)
        payloads = pack_fields([(op, 0, OP_WIDTH), (row, self._sh_row, c.row_width),
                                (col, self._sh_col, c.col_width), (arg, self._sh_arg, c.arg_width)],
                               n, self._width)
        nr = np.asarray(n_resp, dtype=np.int32).reshape(n)
        parts = []
        for a, b, tracing in self._segments(n):
            self.model.trace(tracing)
            parts.append(self.model.stream_run(payloads[a:b], nr[a:b],
                                               max_cycles=self._max_cycles)[0])
        self._commands += n
        self.model.trace(self._in_window(self._commands))
        return np.concatenate(parts)

    def _x_fields(self, xs):
        c = self.config
        xs = c.x_fmt.check(np.asarray(xs, dtype=np.int64), "input x")
        n = len(xs)
        col = np.tile(np.arange(c.cols + 1, dtype=np.uint64), n)
        col[c.cols::c.cols + 1] = 0
        arg = np.zeros((n, c.cols + 1), dtype=np.uint64)
        arg[:, :c.cols] = (xs & ((1 << c.x_width) - 1)).astype(np.uint64)
        return n, col, arg

    def learn_batch(self, xs, labels) -> np.ndarray:
        """LOAD_X of every column then LEARN, for each (x, label); returns the predictions."""
        from ..spec.engine import Op
        c = self.config
        labels = np.asarray(labels, dtype=np.int64)
        n, col, arg = self._x_fields(xs)
        if len(labels) != n:
            raise ValueError(f"learn_batch got {n} inputs and {len(labels)} labels")
        if n and (labels.min() < 0 or labels.max() >= c.rows):
            raise ValueError(f"labels must be in 0..{c.rows - 1}")
        arg[:, c.cols] = labels.astype(np.uint64)
        op = np.full((n, c.cols + 1), int(Op.LOAD_X), dtype=np.uint64)
        op[:, c.cols] = int(Op.LEARN)
        nr = np.zeros((n, c.cols + 1), dtype=np.int32)
        nr[:, c.cols] = 1
        resp = self.run_arrays(op.ravel(), np.zeros(op.size, np.uint64), col, arg.ravel(), nr.ravel())
        return resp[:, 0].astype(np.int64)

    def forward_batch(self, xs) -> np.ndarray:
        """LOAD_X of every column then FORWARD, for each x: y (n, rows) int64."""
        from ..spec.engine import Op
        c = self.config
        n, col, arg = self._x_fields(xs)
        op = np.full((n, c.cols + 1), int(Op.LOAD_X), dtype=np.uint64)
        op[:, c.cols] = int(Op.FORWARD)
        nr = np.zeros((n, c.cols + 1), dtype=np.int32)
        nr[:, c.cols] = c.rows
        resp = self.run_arrays(op.ravel(), np.zeros(op.size, np.uint64), col, arg.ravel(), nr.ravel())
        bits = split_lanes(resp, c.resp_width, 1)[:, 0]
        return c.acc_fmt.from_bits(bits & np.uint64((1 << c.acc_width) - 1)).reshape(n, c.rows)

    def wire_fields(self, cmds):
        """(op, row, col, arg) uint64 arrays of commands that ``EngineConfig.encode``
        accepts (e.g. already executed by the golden model): signed pulse and input
        arguments become their unsigned field values, as ``encode`` makes them."""
        masks = self._arg_masks
        a = np.array([(x.op, x.row, x.col, x.arg & masks[x.op]) for x in cmds],
                     dtype=np.uint64).reshape(-1, 4)
        return a[:, 0], a[:, 1], a[:, 2], a[:, 3]

    @cached_property
    def _arg_masks(self) -> dict:
        """op -> mask making ``arg`` its unsigned field value (two's complement for the
        signed pulse and input arguments; the whole field otherwise)."""
        from ..spec.engine import PULSE_OPS
        c, dev = self.config, self.config.device
        m = {op: (1 << 64) - 1 for op in Op}        # keyed by IntEnum: int ops look up too
        for op in PULSE_OPS:
            m[op] = (1 << dev.pulse_width) - 1
        m[Op.LOAD_X] = (1 << c.x_width) - 1
        return m

    def _run(self, cmds, n_resps, snapshots: bool, raw: bool = False):
        n = len(cmds)
        if raw:
            op, row, col, arg = self.wire_fields(cmds)
            c = self.config
            payloads = pack_fields([(op, 0, OP_WIDTH), (row, self._sh_row, c.row_width),
                                    (col, self._sh_col, c.col_width),
                                    (arg, self._sh_arg, c.arg_width)], n, self._width)
        else:
            payloads = self.encode(cmds) if n else np.zeros((0, 1), np.uint32)
        nr = np.asarray(n_resps, dtype=np.int32).reshape(n)
        resp_parts, rec_parts, cyc_parts = [], [], []
        for a, b, tracing in self._segments(n):
            self.model.trace(tracing)
            r, rec, cyc = self.model.stream_run(payloads[a:b], nr[a:b], snapshots=snapshots,
                                                max_cycles=self._max_cycles)
            resp_parts.append(r)
            if snapshots:
                rec_parts.append(rec)
                cyc_parts.append(cyc)
        self._commands += n
        self.model.trace(self._in_window(self._commands))
        resp = np.concatenate(resp_parts) if resp_parts else np.zeros((0, 1), np.uint32)
        ints = words_to_ints(resp) if len(resp) else []
        out, k = [], 0
        for cnt in nr:
            out.append(ints[k:k + cnt])
            k += cnt
        if snapshots:
            return out, np.concatenate(rec_parts), np.concatenate(cyc_parts)
        return out, None, None

    def states(self, records: np.ndarray, cycles: np.ndarray) -> EngineStates:
        """Decode snapshot records into arrays."""
        c, dev, m = self.config, self.config.device, self.model
        parts = m.split_record(records)
        n = len(records)
        pw = parts["peek_words"]
        words = split_lanes(pw.reshape(n * c.depth, -1), dev.state_width, c.lanes
                            ).reshape(n, c.depth, c.lanes)
        px = parts["peek_x"]
        x = split_lanes(px.reshape(n * c.chunks, -1), c.x_width, c.lanes, signed=True
                        ).reshape(n, c.cols)
        regs = {"time": split_lanes(parts["time_now"][:, 0], c.time_width, 1),
                "samples": split_lanes(parts["samples"][:, 0], c.sample_width, 1),
                "rng": split_lanes(parts["rng"][:, 0], c.rng_width, c.lanes)}
        if "since" in parts:
            w = m.ports["since"].width
            regs["since"] = split_lanes(parts["since"][:, 0], w, 1)
        if "dev_rng" in parts:
            regs["dev_rng"] = split_lanes(parts["dev_rng"][:, 0], dev.rand_width, c.lanes)
        return EngineStates(words, x, regs, np.asarray(cycles, dtype=np.int64))

    def run(self, cmds: list[Command], n_resps: list[int], snapshot: bool = False):
        """Like :meth:`VerilatorSession.run`: responses per command, and a
        :class:`Snapshot` after the batch if asked."""
        out, _, _ = self._run(list(cmds), n_resps, False)
        snap = None
        if snapshot:
            cyc = self.model.cycle
            rec = self.model.snapshot()[None, :]
            snap = self.states(rec, np.array([cyc])).snapshot(0)
        return out, snap

    def run_states(self, cmds: list[Command], n_resps: list[int], *, raw: bool = False):
        """Responses per command and the :class:`EngineStates` after every command.
        ``raw``: the commands are as given to the golden model (signed pulses and inputs),
        not yet encoded (see :meth:`wire_fields`)."""
        out, rec, cyc = self._run(list(cmds), n_resps, True, raw)
        return out, self.states(rec, cyc)

    def close(self):
        self.model.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# -- lockstep ------------------------------------------------------------------------------
def native_lockstep(config: EngineConfig, commands, *, session: NativeEngineSession | None = None,
                    golden: GoldenEngine | None = None, batch: int | None = None,
                    progress=None) -> LockstepReport:
    """Lockstep of ``commands`` on the native driver: responses, every synapse word, x,
    time, samples, since and both LFSR banks compared after every command (vectorised per
    batch). Stops at the first mismatch (command, cycle, synapse, field, expected, actual).
    ``progress(n)`` is called after each batch with its command count."""
    own = session is None
    s = session or NativeEngineSession(config)
    g = golden or GoldenEngine(config)
    cfg = config
    if batch is None:
        per_cmd = cfg.depth * cfg.lanes * 8 + cfg.cols * 8 + 256
        batch = int(max(1, min(20_000, (64 << 20) // per_cmd)))
    report = LockstepReport()
    commands = list(commands)
    dev_bank = g.dev_rng is not None
    try:
        for b0 in range(0, len(commands), batch):
            chunk = commands[b0:b0 + batch]
            start = copy.deepcopy(g)
            n = len(chunk)
            exp_words = np.empty((n, cfg.rows, cfg.cols), dtype=np.uint64)
            exp_x = np.empty((n, cfg.cols), dtype=np.int64)
            cnt, rng, devr = [], [], []                           # time, samples, since; LFSRs
            exp_resp = []
            pack, execute = cfg.device.pack, g.execute
            words = pack(g.state)
            for i, cmd in enumerate(chunk):
                exp_resp.append(execute(cmd))       # validates the command (ValueError)
                if cmd.op not in _READ_ONLY:        # (READ, LOAD_X, FORWARD keep the words)
                    words = pack(g.state)
                exp_words[i] = words
                exp_x[i] = g.x
                cnt.append((g.time, g.samples, g.since))
                rng.append(g.rng.state)
                if dev_bank:
                    devr.append(g.dev_rng.state)
            exp_words = exp_words.reshape(n, cfg.depth, cfg.lanes)   # hardware order
            exp_cnt = np.array(cnt, dtype=np.uint64).reshape(n, 3)
            exp_rng = np.array(rng, dtype=np.uint64).reshape(n, cfg.lanes)
            exp_dev = np.array(devr, dtype=np.uint64).reshape(n, cfg.lanes) if dev_bank else None
            got_resp, st = s.run_states(chunk, [len(r) for r in exp_resp], raw=True)
            bad = np.any(exp_words != st.words, axis=(1, 2))
            bad |= np.any(exp_x != st.x, axis=1)
            exp_regs = {"time": exp_cnt[:, 0:1], "samples": exp_cnt[:, 1:2],
                        "since": exp_cnt[:, 2:3], "rng": exp_rng, "dev_rng": exp_dev}
            for name, got in st.regs.items():
                bad |= np.any(exp_regs[name] != got.astype(np.uint64), axis=1)
            bad |= np.fromiter((a != e for a, e in zip(got_resp, exp_resp)), dtype=bool, count=n)
            first = int(np.argmax(bad)) if bad.any() else n
            report.commands += first if first < n else n
            report.compared_words += (first if first < n else n) * cfg.rows * cfg.cols
            if first < n:
                i = b0 + first
                cmd = commands[i]
                snap = st.snapshot(first)
                if [int(v) for v in got_resp[first]] != exp_resp[first]:
                    exp, got = exp_resp[first], got_resp[first]
                    k = next((j for j, (e, a) in enumerate(zip(exp, got)) if int(e) != int(a)),
                             0) if len(got) == len(exp) else 0
                    report.commands += 1
                    report.mismatches.append(Mismatch(i, snap.cycle, _fmt_cmd(cmd), "response",
                                                      f"#{k}", exp[k] if exp else -1,
                                                      int(got[k]) if got else -1))
                else:
                    replay = start
                    for c in chunk[:first + 1]:
                        replay.execute(c)
                    report.commands += 1
                    report.compared_words += cfg.rows * cfg.cols
                    m = compare(replay, snap, i, cmd)
                    report.mismatches.append(m or Mismatch(i, snap.cycle, _fmt_cmd(cmd), "state",
                                                           "(replay disagrees)", 0, 0))
                report.cycles = snap.cycle
                break
            report.cycles = int(st.cycles[-1])
            if progress is not None:
                progress(n)
    finally:
        if own:
            s.close()
    return report


def lockstep_seeds(config: dict, seeds, ops: int) -> dict:
    """Native lockstep of ``random_commands(config, seed, ops)`` for each seed, each from a
    fresh simulation (``config`` as ``EngineConfig.to_dict()``, so it pickles to worker
    processes). Returns commands, cycles, mismatching seeds and the first mismatch."""
    from .lockstep import random_commands
    cfg = EngineConfig.from_dict(config)
    out = {"commands": 0, "cycles": 0, "mismatches": 0, "failed_seeds": [], "first": None}
    with NativeEngineSession(cfg) as s:
        for seed in seeds:
            s.restart()
            rep = native_lockstep(cfg, random_commands(cfg, seed, ops), session=s)
            out["commands"] += rep.commands
            out["cycles"] += rep.cycles
            if not rep.ok:
                out["mismatches"] += 1
                out["failed_seeds"].append(seed)
                out["first"] = out["first"] or str(rep.mismatches[0])
    return out
