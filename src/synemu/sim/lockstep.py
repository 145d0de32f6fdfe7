"""Lockstep verification: one command stream into hardware and golden model, every state word
compared after every command.

The harness is simulator-agnostic: a *driver* (Amaranth simulator, cocotb on Verilator or
Icarus, or a board) exposes two coroutines,

``await driver.send(cmd, n_resp) -> list[int]``  issue one encoded command, collect its
                                                 ``n_resp`` responses, wait until idle;
``await driver.snapshot() -> Snapshot``          every state word, input and global register;

and :func:`run_lockstep` compares them with :class:`~synemu.spec.engine.GoldenEngine`,
stopping at the first :class:`Mismatch` (command index, cycle, synapse, field, expected,
actual).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..spec.engine import Command, EngineConfig, GoldenEngine, Op

__all__ = ["Snapshot", "Mismatch", "LockstepReport", "random_commands", "directed_commands",
           "learn_edge_commands",
           "n_responses",
           "compare", "run_lockstep", "verilator_lockstep", "cocotb_lockstep"]


@dataclass
class Snapshot:
    """Hardware state: ``words`` (depth, lanes) packed synapse words, ``x`` (cols,) input
    codes, ``globals`` dict (time, samples, since, rng, dev_rng), ``cycle`` clock count."""

    words: np.ndarray
    x: np.ndarray
    globals: dict
    cycle: int = 0


@dataclass
class Mismatch:
    index: int          # command index in the stream
    cycle: int          # hardware clock cycle when it was seen
    command: str
    what: str           # "response", "synapse", "x", or a global register name
    where: str          # e.g. "row 3 col 5 field 'w'"
    expected: int
    actual: int

    def __str__(self):
        return (f"mismatch after command #{self.index} ({self.command}) at cycle {self.cycle}: "
                f"{self.what} {self.where}: expected {self.expected}, got {self.actual}")


@dataclass
class LockstepReport:
    commands: int = 0
    compared_words: int = 0
    cycles: int = 0
    mismatches: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mismatches"] = [asdict(m) for m in self.mismatches]
        return d


def n_responses(config: EngineConfig, op: Op) -> int:
    """How many responses a command produces."""
    return {Op.READ: 1, Op.FORWARD: config.rows, Op.LEARN: 1}.get(Op(op), 0)


def _fmt_cmd(cmd: Command) -> str:
    return f"{Op(cmd.op).name} row={cmd.row} col={cmd.col} arg={cmd.arg}"


def random_commands(config: EngineConfig, seed: int, n: int, *, weights=None) -> list[Command]:
    """A seeded random command stream biased towards edge values.

    Pulses, written state words, inputs and tick counts are drawn half the time from the
    rails (min, max, 0, +-1) so saturation is exercised; LEARN and FORWARD are included.
    """
    rng = np.random.default_rng(seed)
    dev = config.device
    pf, xf = dev.pulse_fmt, config.x_fmt
    ops = list(Op)
    w = np.array([weights.get(o, 1.0) if weights else
                  {Op.WRITE: 1, Op.READ: 1, Op.UPDATE: 3, Op.UPD_ROW: 2, Op.UPD_COL: 2,
                   Op.TICK: 1, Op.LOAD_X: 3, Op.FORWARD: 1, Op.LEARN: 2, Op.SAMPLE: 1,
                   Op.HEBB_ROW: 1}[o] for o in ops], float)
    w /= w.sum()

    def edgy(fmt):
        if rng.random() < 0.5:
            return int(rng.choice([fmt.min, fmt.max, 0, 1, -1 if fmt.signed else 1]))
        return int(rng.integers(fmt.min, fmt.max + 1))

    def state_word():
        st = {}
        for f in dev.fields:
            st[f.name] = np.array(edgy(f.fmt), dtype=np.int64)
        return int(dev.pack(st))

    out = []
    for op in rng.choice(ops, size=n, p=w):
        op = Op(op)
        r = int(rng.integers(config.rows))
        c = int(rng.integers(config.cols))
        if op is Op.WRITE:
            out.append(Command(op, r, c, state_word()))
        elif op in (Op.UPDATE, Op.UPD_ROW, Op.UPD_COL, Op.HEBB_ROW):
            out.append(Command(op, r, c, edgy(pf)))
        elif op is Op.TICK:
            # mostly short ticks (devices with time-dependent state stay in their
            # interesting range), sometimes long ones, rarely the maximum
            big = (1 << config.tick_width) - 1
            kind = rng.random()
            n_ticks = (int(rng.integers(0, 4)) if kind < 0.4 else
                       int(rng.integers(0, 1 << min(10, config.tick_width))) if kind < 0.8 else
                       int(rng.integers(0, 1 << min(20, config.tick_width))) if kind < 0.95 else big)
            out.append(Command(op, 0, 0, n_ticks))
        elif op is Op.LOAD_X:
            out.append(Command(op, 0, c, edgy(xf)))
        elif op is Op.LEARN:
            out.append(Command(op, 0, 0, int(rng.integers(config.rows))))
        else:
            out.append(Command(op, r, c, 0))
    return out


def _solve_inputs(cfg: EngineConfig, w: np.ndarray, rng, n: int, pool: np.ndarray):
    """Up to ``n`` input vectors built so one synapse's ``e * x`` lands in a rail window:
    a random row r, label, column c with a small x_c, and a target product; the other
    inputs from ``pool`` rows, then one column c2 solved so ``y_r = t_r - e``."""
    xf, pf = cfg.x_fmt, cfg.device.pulse_fmt
    out = []
    for _ in range(4 * n):
        if len(out) >= n:
            break
        r, lab = int(rng.integers(cfg.rows)), int(rng.integers(cfg.rows))
        c, c2 = (int(v) for v in rng.choice(cfg.cols, size=2, replace=False)) \
            if cfg.cols > 1 else (0, 0)
        if c == c2 or w[r, c2] == 0:
            continue
        q = int(rng.choice([pf.min - 2, pf.min - 1, pf.min, pf.min + 1,
                            pf.max - 2, pf.max - 1, pf.max, pf.max + 1]))
        prod = (q << cfg.eta) + int(rng.integers(1 << cfg.eta))
        xc = int(rng.integers(1, 9)) * (1 if prod >= 0 else -1) * int(rng.choice([1, -1]))
        if not xf.min <= xc <= xf.max or prod % xc:
            continue
        e = prod // xc
        t = cfg.t_pos if r == lab else cfg.t_neg
        x = pool[int(rng.integers(len(pool)))].copy()
        x[c] = xc
        rest = int(w[r] @ x) - int(w[r, c2]) * int(x[c2])
        need = t - e - rest
        if need % int(w[r, c2]):
            continue
        x2 = need // int(w[r, c2])
        if xf.min <= x2 <= xf.max:
            x[c2] = x2
            out.append(x)
    return np.array(out, dtype=np.int64).reshape(-1, cfg.cols)


def learn_edge_commands(config: EngineConfig, seed: int = 0, n: int = 6000, *,
                        candidates: int = 256) -> list[Command]:
    """LEARNs whose pulses land next to the pulse rails, where LEARN's rounding decides
    whether the clamp fires: per sample, ``candidates`` input vectors (small values, rails,
    uniform draws) and every label are scored on the golden state by how many synapses get
    ``(e * x) >> eta`` in ``pulse_min - 2 .. pulse_min + 1`` or ``pulse_max - 2 .. pulse_max + 1``,
    and the best is sent (LOAD_X of every column, LEARN). Every 16th sample also WRITEs a
    random synapse with a random state word and sends a SAMPLE, so the weights keep moving.
    Random streams put a pulse exactly there with the rounding bit set only rarely."""
    rng = np.random.default_rng(seed)
    cfg, dev = config, config.device
    g = GoldenEngine(cfg)
    xf, pf = cfg.x_fmt, dev.pulse_fmt
    lo = np.array([pf.min - 2, pf.max - 2]) << cfg.eta        # windows of e * x
    hi = np.array([pf.min + 2, pf.max + 2]) << cfg.eta
    small = np.arange(max(xf.min, -9), min(xf.max, 9) + 1)
    rails = np.array(sorted({xf.min, xf.max, xf.min + 1, xf.max - 1, 0, 1}
                            | ({-1} if xf.signed else set())))
    out: list[Command] = []
    k = 0
    while len(out) < n:
        kind = rng.integers(3, size=(candidates, cfg.cols))
        xs = np.where(kind == 0, rng.choice(small, size=kind.shape),
                      np.where(kind == 1, rng.choice(rails, size=kind.shape),
                               rng.integers(xf.min, xf.max + 1, size=kind.shape)))
        w = np.asarray(dev.train_weight(g.state, time=g.time), dtype=np.int64)
        xs = np.concatenate([xs, _solve_inputs(cfg, w, rng, candidates // 4, xs)])
        y = xs @ w.T                                           # (candidates, rows)
        best, score = None, -1
        for lab in range(cfg.rows):
            t = np.full(cfg.rows, cfg.t_neg, dtype=np.int64)
            t[lab] = cfg.t_pos
            e = cfg._err_fmt.saturate(t[None, :] - y)
            prod = e[:, :, None] * xs[:, None, :]
            hit = ((prod[..., None] >= lo) & (prod[..., None] < hi)).any(-1).sum(axis=(1, 2))
            j = int(np.argmax(hit))
            if hit[j] > score:
                best, score = (xs[j], lab), int(hit[j])
        x, lab = best
        cmds = [Command(Op.LOAD_X, 0, c, int(v)) for c, v in enumerate(x)]
        cmds.append(Command(Op.LEARN, 0, 0, lab))
        k += 1
        if k % 16 == 0:
            st = {f.name: np.array(int(rng.integers(f.fmt.min, f.fmt.max + 1)), dtype=np.int64)
                  for f in dev.fields}
            cmds += [Command(Op.WRITE, int(rng.integers(cfg.rows)), int(rng.integers(cfg.cols)),
                             int(dev.pack(st))), Command(Op.SAMPLE)]
        for c in cmds:
            g.execute(c)
        out += cmds
    return out[:n]


def directed_commands(config: EngineConfig, seed: int = 0) -> list[Command]:
    """A deterministic edge-value stream touching every op and every synapse.

    Per round, every synapse is written with a rail state word (each field at min, max,
    0, +1 or -1, rotated over the synapses) and read back; then UPDATE of each synapse
    and UPD_ROW / UPD_COL / HEBB_ROW of each row / column with every rail pulse (min, max,
    0, +1, -1, min+1, max-1); inputs at their rails (LOAD_X of every column), FORWARD,
    LEARN of every label, SAMPLE, and TICKs of 0, 1, 2, 3, 255, 2**16-1 and the maximum.
    Then: junk in every field an op ignores; each state field alone at the device's
    integer parameters -2..+1 (thresholds such as an endurance count), written and pulsed
    both ways in every lane; extreme inputs on large weights. ``seed`` only permutes which rail word goes to which synapse (seed 0: a fixed
    rotation), so a few seeds give different rail combinations."""
    rng = np.random.default_rng(seed)
    dev = config.device
    pf, xf = dev.pulse_fmt, config.x_fmt

    def rails(fmt):
        v = [fmt.min, fmt.max, 0, 1, fmt.min + 1, fmt.max - 1] + ([-1] if fmt.signed else [])
        return [int(a) for a in dict.fromkeys(min(max(a, fmt.min), fmt.max) for a in v)]

    pulses = rails(pf)
    xs = rails(xf)
    # state fields also take the device's integer parameters -1/0/+1 (thresholds such as
    # an endurance count) where they fit the field
    params = [v for v in dev.params().values() if isinstance(v, int) and not isinstance(v, bool)]

    def field_rails_of(fmt):
        extra = [p + d for p in params for d in (-2, -1, 0, 1) if fmt.min <= p + d <= fmt.max]
        return list(dict.fromkeys(rails(fmt) + extra))

    field_rails = [field_rails_of(f.fmt) for f in dev.fields]
    n_words = max(len(r) for r in field_rails) if field_rails else 1

    def word(k):
        st = {f.name: np.array(r[(k * (i + 1) + i) % len(r)], dtype=np.int64)
              for i, (f, r) in enumerate(zip(dev.fields, field_rails))}
        return int(dev.pack(st))

    big = (1 << config.tick_width) - 1
    ticks = [t for t in dict.fromkeys([0, 1, 2, 3, 255, 65535, big]) if t <= big]
    syn = [(r, c) for r in range(config.rows) for c in range(config.cols)]
    out = []
    for rnd in range(n_words + 1):
        perm = rng.permutation(len(syn)) if seed else np.arange(len(syn))
        for k, (r, c) in enumerate(syn):                      # rail states, read back
            out.append(Command(Op.WRITE, r, c, word(rnd + int(perm[k]))))
        for r, c in syn:
            out.append(Command(Op.READ, r, c, 0))
        p = pulses[rnd % len(pulses)]
        for k, (r, c) in enumerate(syn):                      # single-synapse pulses
            out.append(Command(Op.UPDATE, r, c, pulses[(rnd + k) % len(pulses)]))
        for r in range(config.rows):
            out.append(Command(Op.UPD_ROW, r, 0, p))
        for c in range(config.cols):
            out.append(Command(Op.UPD_COL, 0, c, pulses[(rnd + c + 1) % len(pulses)]))
        for c in range(config.cols):                          # inputs at the rails
            out.append(Command(Op.LOAD_X, 0, c, xs[(rnd + c) % len(xs)] if rnd % 3 else
                               (0 if c % 2 else xs[rnd % len(xs)])))
        for r in range(config.rows):
            out.append(Command(Op.HEBB_ROW, r, 0, pulses[(rnd + r + 2) % len(pulses)]))
        out.append(Command(Op.FORWARD))
        for lab in range(config.rows):
            out.append(Command(Op.LEARN, 0, 0, (lab + rnd) % config.rows))
        out.append(Command(Op.SAMPLE))
        out.append(Command(Op.TICK, 0, 0, ticks[rnd % len(ticks)]))
    for t in ticks:                                           # every tick length once
        out.append(Command(Op.TICK, 0, 0, t))
    # junk in the fields an op ignores (READ/FORWARD/SAMPLE arg, LOAD_X/UPD_ROW/UPD_COL/
    # TICK/LEARN row or col at their field maxima): the hardware must ignore them too
    rmax, cmax = (1 << config.row_width) - 1, (1 << config.col_width) - 1
    amax = (1 << config.arg_width) - 1
    junk = [amax, amax >> 1, 1, 1 << (config.arg_width - 1)]
    for k, (r, c) in enumerate(syn[:max(1, min(len(syn), 8))]):
        j = junk[k % len(junk)]
        out += [Command(Op.READ, r, c, j), Command(Op.SAMPLE, rmax, cmax, j),
                Command(Op.LOAD_X, rmax, c, xs[k % len(xs)]),
                Command(Op.UPD_ROW, r, cmax, pulses[k % len(pulses)]),
                Command(Op.UPD_COL, rmax, c, pulses[(k + 1) % len(pulses)]),
                Command(Op.HEBB_ROW, r, cmax, pulses[(k + 2) % len(pulses)]),
                Command(Op.TICK, rmax, cmax, ticks[k % len(ticks)]),
                Command(Op.FORWARD, rmax, cmax, j),
                Command(Op.LEARN, rmax, cmax, k % config.rows)]
    # each field alone at a parameter threshold (-1/0/+1), the others at their initial
    # value, then pulsed both ways (a counter crossing a device threshold, e.g. endurance)
    init = {f.name: f.init for f in dev.fields}
    for i, f in enumerate(dev.fields):
        extra = [v for v in field_rails[i] if v not in rails(f.fmt)]
        for k, v in enumerate(extra):
            st = {g.name: np.array(v if g.name == f.name else init[g.name], dtype=np.int64)
                  for g in dev.fields}
            for c in range(config.lanes):                     # in every lane
                r = k % config.rows
                for p in (pf.max, pf.min, 1, -1):
                    out += [Command(Op.WRITE, r, c, int(dev.pack(st))),
                            Command(Op.UPDATE, r, c, p)]
                out += [Command(Op.WRITE, r, c, int(dev.pack(st))), Command(Op.TICK, 0, 0, 1),
                        Command(Op.SAMPLE)]
    for v in (xf.max, xf.min):                                # extreme inputs, big weights
        for c in range(config.cols):
            out.append(Command(Op.LOAD_X, 0, c, v))
        for k, (r, c) in enumerate(syn):
            out.append(Command(Op.WRITE, r, c, word(k)))
        out.append(Command(Op.FORWARD))
        for lab in range(config.rows):
            out.append(Command(Op.LEARN, 0, 0, lab))
            out.append(Command(Op.SAMPLE))
    return out


def compare(golden: GoldenEngine, snap: Snapshot, index: int, cmd: Command) -> Mismatch | None:
    """First difference between golden state and a hardware snapshot, or None."""
    cfg, dev = golden.config, golden.device
    exp = golden.lane_words()
    got = np.asarray(snap.words, dtype=np.uint64).reshape(exp.shape)
    bad = np.argwhere(exp != got)
    if bad.size:
        addr, lane = (int(v) for v in bad[0])
        r, c = divmod(addr, cfg.chunks)
        c = c * cfg.lanes + lane
        es, gs = dev.unpack(exp[addr, lane]), dev.unpack(got[addr, lane])
        for f in dev.fields:
            if int(es[f.name]) != int(gs[f.name]):
                return Mismatch(index, snap.cycle, _fmt_cmd(cmd), "synapse",
                                f"row {r} col {c} field {f.name!r}", int(es[f.name]), int(gs[f.name]))
    gx = np.asarray(snap.x, dtype=np.int64)
    bad = np.flatnonzero(golden.x != gx)
    if bad.size:
        c = int(bad[0])
        return Mismatch(index, snap.cycle, _fmt_cmd(cmd), "x", f"col {c}", int(golden.x[c]), int(gx[c]))
    for name, ev in golden.globals().items():
        if name == "x" or name not in snap.globals:
            continue
        av = snap.globals[name]
        if isinstance(ev, list):
            for i, (e, a) in enumerate(zip(ev, av)):
                if int(e) != int(a):
                    return Mismatch(index, snap.cycle, _fmt_cmd(cmd), name, f"lane {i}", int(e), int(a))
        elif int(ev) != int(av):
            return Mismatch(index, snap.cycle, _fmt_cmd(cmd), name, "", int(ev), int(av))
    return None


async def run_lockstep(driver, config: EngineConfig, commands, *, golden=None,
                       progress=None) -> LockstepReport:
    """Drive ``commands`` into ``driver`` and the golden model; compare after each one."""
    golden = golden or GoldenEngine(config)
    report = LockstepReport()
    for i, cmd in enumerate(commands):
        exp = golden.execute(cmd)
        got = await driver.send(config.encode(cmd), len(exp))
        snap = await driver.snapshot()
        report.commands += 1
        report.cycles = snap.cycle
        if [int(v) for v in got] != exp:
            k = next(j for j, (e, a) in enumerate(zip(exp, got)) if int(e) != int(a)) \
                if len(got) == len(exp) else 0
            report.mismatches.append(Mismatch(i, snap.cycle, _fmt_cmd(cmd), "response",
                                              f"#{k}", exp[k] if exp else -1,
                                              int(got[k]) if got else -1))
            break
        m = compare(golden, snap, i, cmd)
        report.compared_words += config.rows * config.cols
        if m is not None:
            report.mismatches.append(m)
            break
        if progress is not None:
            progress(1)
    return report


def verilator_lockstep(config: EngineConfig, streams, *, driver: str = "native",
                       waves: bool | str = False, progress=None) -> list[LockstepReport]:
    """Lockstep of one or more command streams on one Verilator simulation of
    ``ArrayEngine(config, debug=True)`` (the twin of
    :func:`synemu.sim.amaranth_sim.amaranth_lockstep`): each stream continues from the state
    the previous one left, the golden engine carried along, so one build checks many
    streams. ``streams``: a list of command lists (or one list). ``driver``: ``"native"``
    (the compiled driver, vectorised compare) or ``"cocotb"`` (the conformance testbench).
    Returns one report per stream."""
    if streams and isinstance(streams[0], Command):
        streams = [streams]
    golden = GoldenEngine(config)
    reports = []
    if driver == "native":
        from .native_engine import NativeEngineSession, native_lockstep
        with NativeEngineSession(config, waves=waves) as s:
            for cmds in streams:
                reports.append(native_lockstep(config, cmds, session=s, golden=golden,
                                               progress=progress))
        return reports
    if driver != "cocotb":
        raise ValueError(f"unknown Verilator driver {driver!r}; use native or cocotb")
    return cocotb_lockstep(config, streams, simulator="verilator", waves=waves,
                           progress=progress, golden=golden)


def cocotb_lockstep(config: EngineConfig, streams, *, simulator: str = "verilator",
                    waves: bool | str = False, progress=None, golden=None) -> list[LockstepReport]:
    """Lockstep of one or more command streams through the cocotb conformance testbench
    (:mod:`synemu.sim.cocotb_engine`) on one simulation of ``ArrayEngine(config, debug=True)``
    in ``simulator`` (``"verilator"`` or ``"icarus"``): the same session, driver, streams and
    comparisons (every state register after every command) on either simulator. Streams
    continue from each other as in :func:`verilator_lockstep`; one report per stream."""
    if streams and isinstance(streams[0], Command):
        streams = [streams]
    golden = golden or GoldenEngine(config)
    import asyncio

    from .remote import SessionDriver, VerilatorSession
    with VerilatorSession(config, waves=bool(waves), simulator=simulator) as s:
        drv = SessionDriver(s)

        async def go():
            return [await run_lockstep(drv, config, cmds, golden=golden, progress=progress)
                    for cmds in streams]

        reports = asyncio.run(go())
    return reports
