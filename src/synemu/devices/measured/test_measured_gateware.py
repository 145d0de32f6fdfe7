"""Measured device, hardware rule: lockstep golden vs Amaranth simulator and vs Verilator over
synthetic tables (plain, noise, d2d, differential, conductance ROM, drift with and without
time wrap, pulse_bits 2..5, frac_bits 0..12, 64-bit device LFSR words) and the shipped
presets, random and directed streams; mutants of the rule (one clock late, one table entry
off) must fail."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
from amaranth.sim import Simulator

from synemu.devices.measured.gateware import MeasuredRule
from synemu.devices.measured.golden import NOISE_S_MAX, MeasuredDevice
from synemu.devices.measured.presets import synthetic_params
from synemu.devices.ideal.golden import IdealDevice
from synemu.gateware.engine import ArrayEngine
from synemu.sim.amaranth_sim import AmaranthDriver, amaranth_lockstep
from synemu.sim.lockstep import random_commands, run_lockstep
from synemu.spec.engine import Command, EngineConfig, Op
from synemu.spec.registry import make_device as make_registered


def _rails(p: dict) -> dict:
    """Table rails on top of synthetic tables: the largest delta at the top of the up table
    and the bottom of the down table, whole-state steps at mid, the largest noise code
    (z = noise_bits, s = 7) at both ends of both tables, scales 0 and 255."""
    p = dict(p)
    K, C, N = 1 << p["bits"], 1 << (p["pulse_bits"] - 1), p["noise_bits"]
    dmax = (1 << (p["bits"] + p["frac_bits"])) - 1
    up, down = np.array(p["delta_up"]), np.array(p["delta_down"])
    nu, nd = np.array(p["noise_up"]), np.array(p["noise_down"])
    up[K - 1, C - 1] = down[0, 0] = dmax
    up[K // 2, :] = np.minimum((1 << p["frac_bits"]) * np.arange(1, C + 1), dmax)  # whole steps
    for t in (nu, nd):
        t[0, 0] = t[K - 1, C - 1] = N + 32 * NOISE_S_MAX
        t[K // 2, 0] = N                                          # s = 0, widest popcount
    sc = list(p["scale"])
    if len(sc) > 1:
        sc[0], sc[-1] = 0, 255
    p.update(delta_up=up.tolist(), delta_down=down.tolist(), noise_up=nu.tolist(),
             noise_down=nd.tolist(), scale=sc)
    return p


#: name -> (synthetic_params kwargs, extra device params, engine params, rails?)
CONFIGS = {
    "plain": (dict(bits=4, pulse_bits=3, frac_bits=4, noise_bits=0, d2d_bits=0), {}, {}, False),
    "noise": (dict(bits=4, pulse_bits=3, frac_bits=4, noise_bits=3, d2d_bits=0, seed=1), {},
              {}, True),
    "d2d": (dict(bits=4, pulse_bits=3, frac_bits=4, noise_bits=0, d2d_bits=2, seed=2), {},
            dict(lanes=1, cols=2), True),
    "full-p4": (dict(bits=4, pulse_bits=4, frac_bits=4, noise_bits=3, d2d_bits=2, seed=3),
                dict(init=5), {}, True),
    "p2-f0": (dict(bits=3, pulse_bits=2, frac_bits=0, noise_bits=2, d2d_bits=1, seed=4), {},
              dict(lanes=1, cols=3), True),
    "bits2": (dict(bits=2, pulse_bits=2, frac_bits=1, noise_bits=1, d2d_bits=1, seed=5), {},
              {}, True),
    "levels": (dict(bits=5, pulse_bits=3, frac_bits=3, noise_bits=2, d2d_bits=2, seed=6,
                    levels=True), dict(level_ref=17), {}, True),
    "drift": (dict(bits=4, pulse_bits=3, frac_bits=2, noise_bits=1, d2d_bits=1, seed=7,
                   drift=2), dict(drift_rest=3), {}, True),
    # emulated time wraps at 2^8: retention events across the wrap (P = 3) ...
    "drift-wrap": (dict(bits=3, pulse_bits=3, frac_bits=0, noise_bits=0, d2d_bits=0, seed=8,
                        drift=3), dict(drift_rest=0), dict(time_width=8), False),
    # ... and with P = time_width (one-bit event count)
    "drift-P8": (dict(bits=4, pulse_bits=2, frac_bits=3, noise_bits=0, d2d_bits=0, seed=9,
                      drift=8), dict(drift_rest=15), dict(time_width=8), False),
    "diff": (dict(bits=4, pulse_bits=3, frac_bits=4, noise_bits=3, d2d_bits=2, seed=10,
                  differential=True), {}, {}, True),
    "diff-levels-drift": (dict(bits=3, pulse_bits=4, frac_bits=0, noise_bits=2, d2d_bits=0,
                               seed=11, differential=True, levels=True, drift=0),
                          dict(drift_rest=2), dict(lanes=1, cols=2), True),
    # 64-bit LFSR words: f + 2N + D = 12 + 48 + 4
    "wide": (dict(bits=8, pulse_bits=5, frac_bits=12, noise_bits=24, d2d_bits=4, seed=12),
             {}, dict(lanes=1, cols=2), True),
    # differential: 8 + 48 + 2*4 = 64
    "diff-wide": (dict(bits=6, pulse_bits=4, frac_bits=8, noise_bits=24, d2d_bits=4, seed=13,
                       differential=True, levels=True), {}, dict(lanes=1, cols=2), True),
}


def make_device(name) -> MeasuredDevice:
    if name in MeasuredDevice.PRESETS:
        return make_registered("measured", preset=name)
    syn, extra, _, rails = CONFIGS[name]
    p = synthetic_params(**syn)
    if rails:
        p = _rails(p)
    return MeasuredDevice(**{**p, **extra})


def engine_config(name, seed=11) -> EngineConfig:
    eng = dict(rows=2, cols=4, lanes=2, rounding="stochastic", eta=4, rng_width=8,
               tick_width=8, t_pos=48, t_neg=-48, seed=seed)
    eng.update(CONFIGS[name][2] if name in CONFIGS else {})
    return EngineConfig(device=make_device(name), **eng)


def _word(d: MeasuredDevice, /, **kw) -> int:
    st = {f.name: np.array(kw.get(f.name, f.init), dtype=np.int64) for f in d.fields}
    return int(d.pack(st))


def directed_commands(cfg: EngineConfig) -> list[Command]:
    """Every index rail (0, 1, K-2, K-1, mid; both devices of a pair) x d/v combination x
    pulses max, min, +-1, 0 (WRITE, then two UPDATEs: the second sees the drawn code); rows of
    different states pulsed slot after slot (HEBB_ROW with mixed x, UPD_ROW, UPD_COL, LEARN),
    and TICKs over rail states."""
    d = cfg.device
    K, D = d.n_states, d.d2d_bits
    idx = sorted({0, 1, K - 2, K - 1, K // 2})
    pf = d.pulse_fmt
    pulses = [pf.max, pf.min, 1, -1, 0]
    top = (1 << D) - 1
    if not D:
        codes = [{}]
    elif d.differential:
        codes = [dict(v=v, d_p=a, d_m=b) for v in (0, 1) for a, b in ((0, top), (top, 0))]
    else:
        codes = [dict(v=v, d=c) for v in (0, 1) for c in (0, top)]
    combos = [dict(zip(d.index_names, ns)) for ns in itertools.product(idx, repeat=d.n_devices)]
    r, c = cfg.rows - 1, cfg.cols - 1
    cmds = []
    for ns, cd, p in itertools.product(combos, codes, pulses):
        cmds += [Command(Op.WRITE, r, c, _word(d, **ns, **cd)),
                 Command(Op.UPDATE, r, c, p), Command(Op.UPDATE, r, c, p)]
    # whole-array states from the rails, then slot-after-slot updates with varying pulses
    states = [_word(d, **ns, **cd) for ns in combos for cd in codes]
    slots = list(itertools.product(range(cfg.rows), range(cfg.cols)))
    xs = [0, 7, -1, 15, -16, 1, 0, 3]
    for k in range(0, len(states), len(slots)):
        for (rr, cc), w in zip(slots, itertools.cycle(states[k:k + len(slots)])):
            cmds.append(Command(Op.WRITE, rr, cc, w))
        for cc in range(cfg.cols):
            cmds.append(Command(Op.LOAD_X, 0, cc, xs[(cc + k) % len(xs)]))
        cmds += [Command(Op.HEBB_ROW, k % cfg.rows, 0, pf.max),
                 Command(Op.HEBB_ROW, (k + 1) % cfg.rows, 0, pf.min),
                 Command(Op.LEARN, 0, 0, k % cfg.rows), Command(Op.UPD_ROW, 0, 0, -1),
                 Command(Op.UPD_COL, 0, k % cfg.cols, pf.min), Command(Op.LEARN, 0, 0, 0),
                 Command(Op.FORWARD)]
    # drift over rail states: short, event-boundary and maximal ticks
    big = (1 << cfg.tick_width) - 1
    for k in range(0, len(states), len(slots)):
        for (rr, cc), w in zip(slots, itertools.cycle(states[k:k + len(slots)])):
            cmds.append(Command(Op.WRITE, rr, cc, w))
        for n in (0, 1, 2, 3, 4, 5, 8, 1, big, 7, big):
            cmds.append(Command(Op.TICK, 0, 0, n))
    return cmds


def test_rule_basics():
    with pytest.raises(TypeError, match="MeasuredRule needs a MeasuredDevice"):
        MeasuredRule(IdealDevice(weight_bits=4))
    rule = MeasuredRule(make_device("full-p4"))
    assert rule.latency == 3
    assert rule.init_word == _word(rule.device)
    assert make_device("wide").rand_width == 64 and make_device("diff-wide").rand_width == 64


def test_directed_stream_covers_rails():
    """The directed stream reaches every rail index with every pulse rail, in both tables
    (golden only: a sanity check of the stimulus)."""
    from synemu.spec.engine import GoldenEngine
    for name in ("noise", "diff"):
        cfg = engine_config(name)
        d = cfg.device
        g = GoldenEngine(cfg)
        seen = set()
        for cmd in directed_commands(cfg):
            if cmd.op == Op.UPDATE:
                w = g.read_words()[cmd.row, cmd.col]
                st = d.unpack(np.uint64(w))
                seen.add((tuple(int(st[n]) for n in d.index_names), cmd.arg))
            g.execute(cmd)
        K = d.n_states
        for n in (0, K - 1):
            for p in (d.pulse_fmt.max, d.pulse_fmt.min, 0):
                assert any(s[0][0] == n and s[1] == p for s in seen)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_amaranth_lockstep_directed_and_random(name):
    cfg = engine_config(name)
    cmds = directed_commands(cfg) + random_commands(cfg, 5, 300)
    rep = amaranth_lockstep(cfg, cmds)
    assert rep.ok, rep.mismatches[0]
    assert rep.commands == len(cmds)


@pytest.mark.parametrize("preset", sorted(MeasuredDevice.PRESETS))
def test_amaranth_lockstep_presets(preset):
    """The shipped device files (tables fitted from published data)."""
    cfg = engine_config(preset)
    cmds = random_commands(cfg, 7, 200)
    rep = amaranth_lockstep(cfg, cmds)
    assert rep.ok, rep.mismatches[0]


def _lockstep_with_rule(cfg: EngineConfig, rule, commands):
    """amaranth_lockstep with an explicit (mutant) rule in the engine."""
    dut = ArrayEngine(cfg, rule=rule, debug=True)
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    out = {}

    async def tb(ctx):
        out["rep"] = await run_lockstep(AmaranthDriver(ctx, dut), cfg, commands)

    sim.add_testbench(tb)
    sim.run()
    return out["rep"]


class _LateRule(MeasuredRule):
    """Claims one clock more than its arithmetic takes (the state and flags are delayed by
    one more clock than the sum)."""
    latency = MeasuredRule.latency + 1


def _mutant_device(d: MeasuredDevice, **changes) -> MeasuredDevice:
    p = d.params()
    p.update(changes)
    return MeasuredDevice(**p)


def _one_entry(table, n, c, value):
    t = [list(r) for r in table]
    t[n][c] = value
    return t


@pytest.mark.parametrize("mutant", ["late", "delta_down", "noise_up", "scale", "levels",
                                    "drift_rest"])
def test_mutants_fail(mutant):
    """The lockstep catches a rule that is off by one clock or by one table entry."""
    name = {"levels": "levels", "drift_rest": "drift", "scale": "d2d"}.get(mutant, "full-p4")
    cfg = engine_config(name)
    d = cfg.device
    K, C = d.n_states, d.n_codes
    if mutant == "late":
        rule = _LateRule(d)
    elif mutant == "delta_down":        # K-1 with the min pulse: the down table's last code
        old = d.delta_down[K - 1][C - 1]
        rule = MeasuredRule(_mutant_device(
            d, delta_down=_one_entry(d.delta_down, K - 1, C - 1, 0 if old else 1 << d.frac_bits)))
    elif mutant == "noise_up":          # rail code -> z = 0: no noise at (0, 0)
        rule = MeasuredRule(_mutant_device(d, noise_up=_one_entry(d.noise_up, 0, 0, 32 * NOISE_S_MAX)))
    elif mutant == "scale":
        sc = list(d.scale)
        sc[-1] = 128
        rule = MeasuredRule(_mutant_device(d, scale=sc))
    elif mutant == "levels":
        lv = list(d.levels)
        lv[K - 1] += 1
        rule = MeasuredRule(_mutant_device(d, levels=lv))
    else:
        rule = MeasuredRule(_mutant_device(d, drift_rest=d.drift_rest + 1))
    rep = _lockstep_with_rule(cfg, rule, directed_commands(cfg) + random_commands(cfg, 5, 300))
    assert not rep.ok


# ------------------------------------------------------------------------------ Verilator

#: random commands per stream seed in the Verilator suite: 14 synthetic configs x 4 seeds x
#: 500 = 28,000 random commands (+ ~8,000 directed, + the shipped presets), every state word
#: compared after each; SYNEMU_MEASURED_OPS changes it
VL_OPS = int(os.environ.get("SYNEMU_MEASURED_OPS", "500"))
VL_SEEDS = (0, 1, 2, 3)


@pytest.mark.verilator
@pytest.mark.parametrize("name", list(CONFIGS) + sorted(MeasuredDevice.PRESETS))
def test_verilator_lockstep(name):
    from synemu.sim.lockstep import verilator_lockstep
    cfg = engine_config(name, seed=23)
    # directed stream first (fresh hardware = fresh golden), then random streams, each
    # continuing from the state the previous one left (golden carried along)
    streams = [directed_commands(cfg)] + [random_commands(cfg, 100 + s, VL_OPS) for s in VL_SEEDS]
    reps = verilator_lockstep(cfg, streams, driver="native")
    for rep in reps:
        assert rep.ok, rep.mismatches[0]
    assert [r.commands for r in reps] == [len(s) for s in streams]


@pytest.mark.verilator
@pytest.mark.parametrize("name", ["fefet-jerry2017", "full-p4", "diff-wide"])
def test_verilator_lockstep_eight_lanes(name):
    """8 lanes: four copies of the pulse ROM (two read ports each), every lane checked."""
    import dataclasses

    from synemu.sim.lockstep import verilator_lockstep
    base = engine_config(name, seed=29)
    cfg = dataclasses.replace(base, lanes=8, cols=16)
    streams = [random_commands(cfg, 200 + s, VL_OPS) for s in VL_SEEDS]
    reps = verilator_lockstep(cfg, streams, driver="native")
    for rep in reps:
        assert rep.ok, rep.mismatches[0]
    assert sum(r.commands for r in reps) == len(VL_SEEDS) * VL_OPS
