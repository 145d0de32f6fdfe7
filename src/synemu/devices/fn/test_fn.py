"""FN-DAM synapse: physics reference, integer golden model, hardware lockstep."""

from __future__ import annotations


import numpy as np
import pytest

from synemu.devices.fn import physics as phys
from synemu.spec.registry import make_device
from synemu.spec.engine import Command, EngineConfig, GoldenEngine, Op
from synemu.devices.fn.golden import FNDevice
from synemu.sim.amaranth_sim import amaranth_lockstep, simulate
from synemu.sim.lockstep import random_commands, run_lockstep

#: small ROMs for fast hardware tests (256 codes of 3.9 mV, 4 s ticks, pulses of 0..15 codes)
TINY = dict(code_bits=8, lsb_exp=8, tick_s=4.0, rom_shift=1, t_pulse_s=3.0)
WEIGHTS = {Op.WRITE: 2, Op.READ: 1, Op.UPDATE: 3, Op.UPD_ROW: 2, Op.UPD_COL: 2, Op.TICK: 4,
           Op.LOAD_X: 2, Op.FORWARD: 1, Op.LEARN: 2, Op.SAMPLE: 1, Op.HEBB_ROW: 1}
P = phys.FNParams()


def fn_commands(cfg: EngineConfig, seed: int, n: int) -> list[Command]:
    """:func:`random_commands` with FN-aware TICK counts (0, 1, log-uniform up to the whole
    code range, rarely 2**32-1) and half of the WRITEs consistent states."""
    d = cfg.device
    rng = np.random.default_rng(seed + 7919)
    e = d.enter_rom
    out = []
    for c in random_commands(cfg, seed, n, weights=WEIGHTS):
        if c.op == Op.TICK:
            r = rng.random()
            k = (0 if r < 0.1 else 1 if r < 0.2 else (1 << 32) - 1 if r < 0.23
                 else int(np.exp(rng.uniform(0, np.log(e[0])))))
            c = Command(Op.TICK, 0, 0, k)
        elif c.op == Op.WRITE and rng.random() < 0.5:
            st = {}
            for node in "lr":
                code = int(rng.integers(1, d.n_codes))
                st["n" + node] = np.array(code)
                st["c" + node] = np.array(int(rng.integers(1, e[code - 1] - e[code] + 1)))
            c = Command(Op.WRITE, c.row, c.col, int(d.pack(st)))
        out.append(c)
    return out


def tiny_config(seed=1, **kw):
    return EngineConfig(device=FNDevice(**{**TINY, **kw}), rows=2, cols=4, lanes=2,
                        rounding="stochastic", eta=3, seed=seed)


# -- physics reference ---------------------------------------------------------------------
def test_physics_preset_numbers():
    assert P.k2_v == pytest.approx(304.0, rel=1e-3)
    assert P.k1_per_s == pytest.approx(2.4e12, rel=1e-3)
    assert P.t0_s == pytest.approx(1.3e4, rel=0.03)
    v = phys.voltage_at([3600, 86400, 1e6], P)
    np.testing.assert_allclose(v, [7.950, 7.597, 7.181], atol=2e-3)
    # inverse, hidden linear clock, and the ODE dV/dt = -V^2/(k2 (t+t0))
    t = np.logspace(0, 7, 15)
    np.testing.assert_allclose(phys.time_of(phys.voltage_at(t, P), P), t, rtol=1e-9)
    tau = phys.tau_of(phys.voltage_at(t, P), P.k2_v)
    np.testing.assert_allclose(np.diff(tau) / np.diff(t), P.k1_per_s, rtol=1e-6)
    v = phys.voltage_at(t, P)
    np.testing.assert_allclose(phys.decay_rate_v_per_s(v, P), -v ** 2 / (P.k2_v * (t + P.t0_s)),
                               rtol=1e-9)
    # FN current: J(E) with E = V/t_ox gives dV/dt = -A J / C
    e = v / (P.t_ox_nm * 1e-9)
    dvdt = -P.area_um2 * 1e-12 * phys.fn_current_density(e, P) / P.c_f
    np.testing.assert_allclose(dvdt, phys.decay_rate_v_per_s(v, P), rtol=1e-9)


def test_physics_pulse_composes_and_anneals():
    v = phys.voltage_at(np.array([0.0, 1e4, 1e5, 1e6]), P)
    once = phys.pulse(v, 2e-3, P)
    twice = phys.pulse(phys.pulse(v, 1e-3, P), 1e-3, P)
    np.testing.assert_allclose(once, twice, rtol=1e-12)
    step = phys.pulse_step_v(v, 1e-3, P)
    assert np.all(step > 0) and np.all(np.diff(step) < 0)
    t = np.logspace(3, 6, 31)
    slope = np.polyfit(np.log(t + P.t0_s),
                       np.log(phys.pulse_step_v(phys.voltage_at(t, P), 1e-3, P)), 1)[0]
    assert slope == pytest.approx(-0.8, abs=0.03)
    e = phys.update_energy_j(step, v, P)
    np.testing.assert_allclose(e, P.c_f * step * (v + P.vp_v))


def test_physics_mismatch_and_noise():
    k1, k2 = phys.sample_mismatch((1000,), P, phys.Mismatch(0.3, 0.001), seed=3)
    assert np.std(np.log(k1 / P.k1_per_s)) == pytest.approx(0.3, rel=0.1)
    v = phys.voltage_at(3600.0, P, k1_per_s=k1, k2_v=k2)
    assert v.shape == (1000,) and np.std(v) > 0
    w = phys.readout_noise(np.zeros(5000), 0.01, seed=1)
    assert np.std(w) == pytest.approx(0.01, rel=0.05)
    with pytest.raises(ValueError, match="positive"):
        phys.FNParams(c_pf=0)


# -- golden integer model -----------------------------------------------------------------
def test_device_validation_errors():
    with pytest.raises(ValueError, match="code_bits \\+ counter_bits"):
        FNDevice(code_bits=16, counter_bits=20)
    with pytest.raises(ValueError, match="too coarse"):
        FNDevice(tick_s=1000.0)
    with pytest.raises(ValueError, match="counter_bits"):
        FNDevice(counter_bits=8)
    with pytest.raises(ValueError, match="below 0 V"):
        FNDevice(code_bits=14, lsb_exp=10, counter_bits=18)
    with pytest.raises(ValueError, match="no preset"):
        make_device("fn", preset="nope")
    d = make_device("fn", preset="paper")
    assert d.code_bits == 16 and d.state_width <= 64


@pytest.mark.parametrize("preset", ["small", "paper", "board", "ice40"])
def test_counter_tracks_closed_form_within_one_lsb(preset):
    d = make_device("fn", preset=preset)
    ts = np.array([3600.0, 86400.0, 1e6])
    floor_s = d.enter_rom[0] * d.tick_s          # the ice40 preset's 0.5 V end after 42 h
    assert all(int(d.fresh_state((1,), t)["nl"][0]) == 0 for t in ts[ts >= floor_s])
    ts = ts[ts < floor_s]
    assert len(ts) >= 2
    codes = np.array([int(d.fresh_state((1,), t)["nl"][0]) for t in ts])
    exact = (phys.voltage_at(ts, d.physics) - d.v_min_v) / d.lsb_v
    assert np.all(np.abs(codes - exact) <= 1.0)
    # nearest-code convention: within half an LSB plus half a tick of decay
    slack = 0.5 + np.abs(phys.decay_rate_v_per_s(d.code_voltage(codes), d.physics)) * d.tick_s / d.lsb_v
    assert np.all(np.abs(codes - exact) <= slack)


def test_ticks_compose_exactly():
    d = FNDevice(**TINY)
    rng = np.random.default_rng(0)
    st = d.fresh_state((64,), 0.0)
    st = d.update(st, rng.integers(-8, 8, 64))
    ks = rng.integers(0, 50_000, 12)
    a = st
    for k in ks:
        a = d.tick(a, int(k), 0)
    b = d.tick(st, int(ks.sum()), 0)
    for f in ("nl", "cl", "nr", "cr"):
        np.testing.assert_array_equal(a[f], b[f])


def test_directed_golden_edges():
    d = FNDevice(**TINY)
    e, top = d.enter_rom, d.n_codes - 1
    one = lambda n, c: {"nl": np.array([n]), "cl": np.array([c]), "nr": np.array([n]), "cr": np.array([c])}
    # counter reaching exactly zero reloads with the next dwell
    s = d.tick(one(100, 7), 7, 0)
    assert (int(s["nl"][0]), int(s["cl"][0])) == (99, int(e[98] - e[99]))
    s = d.tick(one(100, 7), 6, 0)
    assert (int(s["nl"][0]), int(s["cl"][0])) == (100, 1)
    # counter 0 (as written) expires on the first tick, even a zero tick
    s = d.tick(one(100, 0), 0, 0)
    assert int(s["nl"][0]) == 99
    # very long tick reaches the floor, which holds
    s = d.tick(one(top, d.init_counter), (1 << 32) - 1, 0)
    assert (int(s["nl"][0]), int(s["cl"][0])) == (0, 0)
    s = d.tick(one(0, 5), 1000, 0)
    assert (int(s["nl"][0]), int(s["cl"][0])) == (0, 5)
    # pulses at and across the floor
    s = d.update(one(0, 3), np.array([7]))
    assert int(s["nr"][0]) == 0 and int(s["cr"][0]) == 0 and int(s["nl"][0]) == 0
    s = d.update(one(1, 3), np.array([-8]))
    assert (int(s["nl"][0]), int(s["cl"][0]), int(s["nr"][0]), int(s["cr"][0])) == (0, 0, 1, 3)
    # sign selects the node; zero pulse changes nothing
    s = d.update(one(200, 3), np.array([5]))
    assert int(s["nl"][0]) == 200 and (int(s["nr"][0]), int(s["cr"][0])) != (200, 3)
    s = d.update(one(200, 3), np.array([0]))
    assert int(s["nl"][0]) == int(s["nr"][0]) == 200 and int(s["cr"][0]) == 3
    # the fraction of a pulse is taken from the counter; a whole dwell more steps a code
    dw = lambda n: int(e[n - 1] - e[n])
    q = int(d.pulse_codes(150, 1))
    k, f = q >> d.frac_bits, q & ((1 << d.frac_bits) - 1)
    s = d.update(one(150, dw(150)), np.array([1]))
    c1 = dw(150) - ((f * dw(150 - k)) >> d.frac_bits)
    exp = (150 - k, c1) if c1 > 0 else (149 - k, c1 + dw(149 - k))
    assert (int(s["nr"][0]), int(s["cr"][0])) == exp
    s = d.update(one(150, 1), np.array([1]))
    assert (int(s["nr"][0]), int(s["cr"][0])) == (149 - k, max(1 - ((f * dw(150 - k)) >> d.frac_bits) + dw(149 - k), 0))
    # weight read-out
    st = {"nl": np.array([10, 3]), "nr": np.array([3, 10]), "cl": np.array([0, 0]), "cr": np.array([0, 0])}
    np.testing.assert_array_equal(d.train_weight(st), [7, -7])
    assert FNDevice(**TINY, weight_shift=2).train_weight(st).tolist() == [1, -2]


def test_sub_lsb_pulses_accumulate_like_physics():
    d = make_device("fn", preset="paper")
    st = d.fresh_state((1,), 1e5)
    v0 = d.code_voltage(d.position(st, "r")[0])
    for _ in range(50):
        st = d.update(st, np.array([1]))
    v_emu = d.code_voltage(d.position(st, "r")[0])
    v_phys = phys.pulse(v0, 50 * d.t_pulse_s, d.physics)
    step = phys.pulse_step_v(v0, d.t_pulse_s, d.physics) / d.lsb_v
    assert step < 1  # each pulse is below one LSB ...
    assert abs(v_emu - v_phys) / d.lsb_v < 1.0  # ... yet 50 of them land within one LSB


def test_energy_helper_matches_physics():
    d = make_device("fn", preset="paper")
    st = d.reset_state((3,))
    e = d.pulse_energy_j(st, np.array([0, 1, -8]))
    assert e[0] == 0
    dv = phys.pulse_step_v(d.v0_v, np.array([1, 8]) * d.t_pulse_s, d.physics)
    np.testing.assert_allclose(e[1:], d.physics.c_f * dv * (d.v0_v + d.vp_v))
    assert 1e-16 < e[2] < 1e-14  # fJ scale


# -- hardware lockstep ----------------------------------------------------------------------
def directed_commands(cfg: EngineConfig) -> list[Command]:
    d = cfg.device
    top = d.n_codes - 1
    w = lambda nl, cl, nr, cr: int(d.pack({"nl": np.array(nl), "cl": np.array(cl),
                                            "nr": np.array(nr), "cr": np.array(cr)}))
    cmax = (1 << d.counter_bits) - 1
    e = d.enter_rom
    cmds = [
        Command(Op.WRITE, 0, 0, w(100, 1, 100, 2)),      # reload at zero on TICK 1 / next
        Command(Op.WRITE, 0, 1, w(1, 1, 0, 0)),           # one step from the floor; floor
        Command(Op.WRITE, 0, 2, w(0, cmax, top, 0)),      # floor with a full counter
        Command(Op.WRITE, 0, 3, w(top, cmax, 5, int(e[4] - e[5]))),
        Command(Op.WRITE, 1, 0, w(0, 0, 1, 0)),
        Command(Op.TICK, 0, 0, 0), Command(Op.TICK, 0, 0, 1), Command(Op.TICK, 0, 0, 1),
        Command(Op.UPDATE, 0, 1, -8), Command(Op.UPDATE, 0, 1, 7),   # pulses at the floor
        Command(Op.UPDATE, 1, 0, 7), Command(Op.UPDATE, 1, 0, -8),
        Command(Op.UPD_ROW, 0, 0, -8), Command(Op.UPD_COL, 0, 3, 7),
        Command(Op.TICK, 0, 0, int(e[0]) // 2), Command(Op.TICK, 0, 0, (1 << 32) - 1),
        Command(Op.TICK, 0, 0, (1 << 32) - 1), Command(Op.WRITE, 1, 3, w(top, 0, top, cmax)),
        Command(Op.TICK, 0, 0, 123_456_789),
    ]
    for c in range(cfg.cols):
        cmds.append(Command(Op.LOAD_X, 0, c, [15, -16, 7, 1][c % 4]))
    cmds += [Command(Op.FORWARD), Command(Op.LEARN, 0, 0, 1), Command(Op.HEBB_ROW, 1, 0, -3)]
    return cmds


def test_directed_lockstep_amaranth():
    cfg = tiny_config()
    rep = amaranth_lockstep(cfg, directed_commands(cfg))
    assert rep.ok, rep.mismatches
    g = GoldenEngine(cfg)
    for c in directed_commands(cfg):
        g.execute(c)
    assert int(g.state["nl"][1, 3]) < cfg.device.n_codes - 1  # the long tick did decay it


def deep_search_commands(cfg: EngineConfig) -> list[Command]:
    """TICKs whose expiring nodes land exactly on (``age = enter_rom[i]``) and one tick short
    of (``enter_rom[i] - 1``) every code boundary ``i``, so every entry of every binary-search
    level decides a tie both ways, plus ages at and past ``enter_rom[0]`` (saturation, floor);
    then every pulse width of both signs at codes near the floor and near the top."""
    d = cfg.device
    e, top = [int(v) for v in d.enter_rom], d.n_codes - 1
    dwell = lambda n: e[n - 1] - e[n]
    w = lambda nl, cl, nr, cr: int(d.pack({"nl": np.array(nl), "cl": np.array(cl),
                                            "nr": np.array(nr), "cr": np.array(cr)}))
    slots = [(r, c) for r in range(cfg.rows) for c in range(cfg.cols)]
    # a node (n, c) expiring under TICK k has age e[n-1] + k - c: target age a from code n
    # with d = a - e[n-1] >= 0 and c = k - d, where k = the group's largest d
    nodes = [(i + 1, 0) for i in range(top)] + [(i + 2, dwell(i + 1) - 1) for i in range(top - 1)]
    nodes += [(1, 0), (1, 1), (2, dwell(1)), (top, e[0] - e[top - 1])]  # ages e[0], e[0]+1, ...
    cmds = []
    for g in range(0, len(nodes), 2 * len(slots)):
        grp = nodes[g:g + 2 * len(slots)]
        grp += [grp[-1]] * (2 * len(slots) - len(grp))
        k = max(dd for _, dd in grp)
        for s, (r, c) in enumerate(slots):
            (nl, dl), (nr, dr) = grp[2 * s], grp[2 * s + 1]
            cmds.append(Command(Op.WRITE, r, c, w(nl, k - dl, nr, k - dr)))
        cmds.append(Command(Op.TICK, 0, 0, k))
    for s, (r, c) in enumerate(slots):     # far past the floor: age saturates
        cmds.append(Command(Op.WRITE, r, c, w(top - s, s, 1 + s, dwell(1 + s))))
    cmds.append(Command(Op.TICK, 0, 0, (1 << 32) - 1))
    rng = np.random.default_rng(3)
    for codes in ((1, 2), (3, top), (top - 1, top - 2), (top, 1)):
        for p in range(1, (1 << d.mag_bits) + 1):   # widths 1..2**mb (+2**mb does not fit)
            for r, c in slots[:4]:
                cmds.append(Command(Op.WRITE, r, c, w(codes[0], int(rng.integers(1, dwell(codes[0]) + 1)),
                                                      codes[1], int(rng.integers(1, dwell(codes[1]) + 1)))))
            pos = min(p, (1 << d.mag_bits) - 1)
            cmds += [Command(Op.UPDATE, 0, 0, pos), Command(Op.UPDATE, 0, 1, -p),
                     Command(Op.UPD_ROW, 1, 0, pos if p % 2 else -p)]
    return cmds


@pytest.mark.parametrize("preset", ["tiny", "board", "ice40"])
def test_deep_search_and_pulse_edges_lockstep_amaranth(preset):
    """Bit-exact with the pipelined rule (latency = code_bits + 1 clocks) on TICKs that end at,
    just before and just after code boundaries at every search level, and on pulses of
    every width at the floor and the top."""
    dev = FNDevice(**TINY) if preset == "tiny" else make_device("fn", preset=preset)
    cfg = EngineConfig(device=dev, rows=2, cols=4, lanes=2, eta=3, seed=2)
    from synemu.spec.registry import rule_for
    assert rule_for(dev).latency == dev.code_bits + 1
    cmds = deep_search_commands(cfg)
    rep = amaranth_lockstep(cfg, cmds)
    assert rep.ok, rep.mismatches[:3]
    assert rep.commands == len(cmds) > 300


@pytest.mark.parametrize("extra", [{}, dict(code_bits=6, lsb_exp=6, tick_s=16.0, rom_shift=0,
                                            pulse_bits=3, frac_bits=5, weight_shift=2,
                                            t_pulse_s=30.0)])
def test_random_lockstep_amaranth(extra):
    cfg = tiny_config(**extra)

    async def body(drv):
        golden = GoldenEngine(cfg)
        reports, codes = [], []
        for seed in range(4):
            reports.append(await run_lockstep(drv, cfg, fn_commands(cfg, seed, 80), golden=golden))
            codes.append(np.concatenate([golden.state["nl"].ravel(), golden.state["nr"].ravel()]))
        return reports, codes

    reps, codes = simulate(cfg, body)
    assert all(r.ok for r in reps), [r.mismatches for r in reps]
    assert sum(r.commands for r in reps) == 320
    # the streams exercise live nodes, not only the floor
    codes = np.concatenate(codes)
    assert np.mean(codes > 0) > 0.3 and len(np.unique(codes)) > 8


@pytest.mark.verilator
def test_lockstep_verilator_many_seeds():
    from synemu.sim.lockstep import verilator_lockstep
    cfg = tiny_config()
    streams = [directed_commands(cfg), deep_search_commands(cfg)]
    streams += [fn_commands(cfg, 100 + seed, 120) for seed in range(10)]
    reps = verilator_lockstep(cfg, streams, driver="cocotb")
    assert all(r.ok for r in reps), [r.mismatches for r in reps if not r.ok]
    assert sum(r.commands for r in reps) == (len(directed_commands(cfg)) + 1200
                                              + len(deep_search_commands(cfg)))


# -- fidelity, learning, CLI ------------------------------------------------------------------
def test_fidelity_paper_preset():
    from synemu.devices.fn.learning import fidelity
    r = fidelity("paper", points=20)
    assert r["max_abs_checkpoint_error_lsb"] <= 1.0
    assert r["trajectory"]["max_abs_error_lsb"] <= 1.0
    sd = r["step_decay"]
    assert sd["gamma_physics"] == pytest.approx(0.8, abs=0.03)
    assert sd["gamma_emulator"] == pytest.approx(sd["gamma_physics"], abs=0.01)
    assert r["resolution"]["effective_bits"] >= 14
    wd = r["weight_decay"]
    assert wd["max_abs_error_lsb"] <= 2.0
    assert wd["decay_exponent_emulator"] == pytest.approx(wd["decay_exponent_physics"], abs=0.02)


def _pulse_node_reference(d: FNDevice, code: int, cnt: int, pulse: int) -> tuple[int, int]:
    """The pulse rule of the golden module doc, written independently from ``enter_rom``."""
    e, g = d.enter_rom.tolist(), d.frac_bits
    if pulse == 0:
        return code, cnt
    q = int(d.pulse_codes(code, pulse))
    n1 = code - (q >> g)
    if n1 <= 0:
        return 0, 0
    e1, e0, em = e[n1], e[n1 - 1], e[max(n1 - 2, 0)]
    c1 = cnt - (((q & ((1 << g) - 1)) * (e0 - e1)) >> g)
    if c1 > 0:
        return n1, c1
    if n1 == 1:
        return 0, 0
    return n1 - 1, max(c1 + em - e0, 0)


def test_pulse_node_scalar_and_vector_match_update():
    d = FNDevice(**TINY)
    rng = np.random.default_rng(5)
    codes, cnts, ps, exp = [], [], [], []
    for _ in range(300):
        code = int(rng.integers(0, d.n_codes))
        cnt = int(rng.integers(0, 1 << d.counter_bits))
        p = int(rng.integers(-8, 8))
        s = d.update({"nl": np.array(code), "cl": np.array(cnt), "nr": np.array(code),
                      "cr": np.array(cnt)}, np.array(p))
        node = "r" if p > 0 else "l"
        ref = _pulse_node_reference(d, code, cnt, p)
        assert ref == (int(s["n" + node]), int(s["c" + node]))
        got = d.pulse_node(code, cnt, p)                  # scalar path: Python ints
        assert got == ref and all(type(v) is int for v in got)
        codes.append(code), cnts.append(cnt), ps.append(p), exp.append(ref)
    # vectorised path: elementwise the same, int64, broadcast shape
    n, c = d.pulse_node(np.array(codes), np.array(cnts), np.array(ps))
    assert n.dtype == c.dtype == np.int64 and n.shape == c.shape == (300,)
    assert list(zip(n.tolist(), c.tolist())) == exp
    n, c = d.pulse_node(np.array(codes)[:, None], np.array(cnts)[:, None], np.arange(-8, 8))
    assert n.shape == c.shape == (300, 16)
    for i in range(300):
        assert [(int(n[i, k]), int(c[i, k])) for k in range(16)] == [
            _pulse_node_reference(d, codes[i], cnts[i], p) for p in range(-8, 8)]


def test_hardware_trajectory_matches_golden():
    from synemu.devices.fn.learning import hardware_trajectory
    d = FNDevice(**TINY)
    t = [4.0, 400.0, 4e4, 4e5, 4e6]
    st, golden, prev = d.reset_state(()), [], 0
    for s in t:
        k = int(round(s / d.tick_s))
        st = d.tick(st, k - prev, 0)
        prev = k
        golden.append(int(st["nl"]))
    assert hardware_trajectory(d, t, "amaranth") == golden
    assert golden[0] == d.n_codes - 1 and golden[-1] < golden[2]


def test_learning_fn_and_baselines_short():
    from dataclasses import replace
    from synemu.devices.fn.learning import train_float, train_fn
    from synemu.devices.fn.presets import PAPER_DIGITS
    r = train_fn("paper", epochs=1, show_progress=False)
    assert r["test_accuracy"] > 0.8
    assert r["updates"] > 0 and 0.01 < r["energy_per_update_fj"] < 10
    assert r["emulated_s"] == pytest.approx(10.0 * 1437)
    f = train_float("paper", epochs=1, schedule="matched")
    assert f["test_accuracy"] > 0.8
    with pytest.raises(ValueError, match="deterministic"):
        train_fn("paper", recipe=replace(PAPER_DIGITS, rounding="stochastic"))
    with pytest.raises(ValueError, match="schedule"):
        train_float("paper", schedule="cosine")


def test_cli_fn_trajectory_json(tmp_path, capsys):
    import json
    from synemu.cli.main import main
    assert main(["fn", "trajectory", "--points", "12", "--json", "--out", str(tmp_path)]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["max_abs_checkpoint_error_lsb"] <= 1.0
    assert (tmp_path / "fn-trajectory-paper.png").stat().st_size > 10_000
    assert main(["fn", "trajectory", "--device", "ideal", "--out", str(tmp_path)]) == 2


def test_ticks_compose_on_random_configs():
    from hypothesis import given, settings, strategies as st

    @settings(max_examples=25, deadline=None)
    @given(bits=st.integers(5, 11), tick_exp=st.integers(-4, 3), seed=st.integers(0, 2**16),
           shift=st.integers(0, 3))
    def prop(bits, tick_exp, seed, shift):
        try:
            d = FNDevice(code_bits=bits, lsb_exp=bits, tick_s=2.0 ** tick_exp, counter_bits=32 - bits,
                         rom_shift=min(shift, bits - 1), t_pulse_s=1.0)
        except ValueError as e:  # configurations the device rejects must say why
            assert "tick_s" in str(e) or "counter_bits" in str(e)
            return
        assert np.all(np.diff(d.enter_rom) < 0) and d.max_dwell < 1 << d.counter_bits
        rng = np.random.default_rng(seed)
        s0 = d.update(d.reset_state((32,)), rng.integers(-8, 8, 32))
        ks = rng.integers(0, int(d.enter_rom[0]) // 4 + 2, 5)
        a = s0
        for k in ks:
            a = d.tick(a, int(k), 0)
        b = d.tick(s0, int(ks.sum()), 0)
        for f in ("nl", "cl", "nr", "cr"):
            np.testing.assert_array_equal(a[f], b[f])
        # consistent states stay consistent: 0 < c <= dwell above the floor, c == 0 at it
        for n, c in (("nl", "cl"), ("nr", "cr")):
            code, cnt = a[n].astype(np.int64), a[c].astype(np.int64)
            live = code > 0
            dwell = d.enter_rom[np.maximum(code - 1, 0)] - d.enter_rom[code]
            assert np.all((cnt[live] > 0) & (cnt[live] <= dwell[live])) and np.all(cnt[~live] == 0)

    prop()
