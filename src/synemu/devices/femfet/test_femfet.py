"""FeMFET hybrid synapse: golden rules, physics reference, write-noise statistics, endurance,
lockstep golden vs Amaranth simulator (property tests) and vs Verilator (both presets, both
transfer rules, many stream seeds, directed edge cases)."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from synemu.spec.registry import make_device
from synemu.spec.engine import Command, EngineConfig, Op
from synemu.devices.femfet.golden import WC_BITS, FeMFETDevice
from synemu.devices.femfet.physics import FeMFETPhysics
from synemu.devices.ideal.golden import IdealDevice
from synemu.spec.lfsr import LFSRBank, lane_seeds
from synemu.sim.amaranth_sim import amaranth_lockstep
from synemu.sim.lockstep import random_commands


def st1(dev, **kw):
    """A one-synapse state dict from field values (missing fields: their reset value)."""
    s = {f.name: np.array([kw.get(f.name, f.init)], dtype=f.fmt.dtype) for f in dev.fields}
    return s


def one(s):
    return {k: int(v[0]) for k, v in s.items()}


# ------------------------------------------------------------------------------ presets

def test_presets_geometry():
    d6 = make_device("femfet", preset="6bit")
    assert (d6.k_m, d6.k_l, d6.n_bits, d6.weight_width) == (2, 4, 6, 6)
    assert [f.name for f in d6.fields] == ["m", "l", "wc", "worn"]
    assert d6.rand_width == 0 and not d6.tick_sweeps and d6.sample_period == 0
    d8 = make_device("femfet", preset="8bit")
    assert (d8.k_m, d8.k_l, d8.weight_width) == (3, 5, 8)
    full = FeMFETDevice(k_m=4, k_l=8, guard_bits=2, frac_bits=4, polarity=True,
                        transfer="periodic", leak_shift=1, prog_error=0.1, c2c_bits=4)
    assert full.state_width <= 64
    assert full.rand_width == 17 and full.tick_sweeps and full.sample_period == 1
    # offset binary: W = M*2^k_L + L - 2^(N-1) with no guard/frac bits
    s = d6.reset_state((4, 16))
    s["m"][:] = np.arange(4)[:, None]
    s["l"][:] = np.arange(16)[None, :]
    assert np.array_equal(d6.train_weight(s), np.arange(64).reshape(4, 16) - 32)
    assert np.array_equal(d6.infer_weight(s)[:, 0], np.array([-24, -8, 8, 24]))


@pytest.mark.parametrize("params, msg", [
    (dict(transfer="sometimes"), "transfer must be one of"),
    (dict(transfer="periodic"), "guard_bits >= 1"),
    (dict(polarity=True), "polarity"),
    (dict(k_m=0), "k_m must be"),
    (dict(frac_bits=5), "frac_bits must be"),
    (dict(prog_error=1.5), "prog_error"),
    (dict(c2c_bits=40), "c2c_bits"),
    (dict(leak_shift=6, guard_bits=3, k_l=8), "unrolled leak steps"),
    (dict(leak_shift=5), "never changes L"),
    (dict(leak_shift=1, leak_rest=99), "leak_rest"),
    (dict(endurance=2**40), "endurance"),
    (dict(k_m=8, k_l=12, guard_bits=6, frac_bits=12, c2c_bits=1), "exceeds 64"),
])
def test_bad_configs_have_clear_errors(params, msg):
    with pytest.raises(ValueError, match=msg):
        FeMFETDevice(**params)


def test_bad_preset_and_param_names():
    with pytest.raises(ValueError, match="no preset '7bit'.*6bit, 8bit"):
        make_device("femfet", preset="7bit")
    with pytest.raises(ValueError, match="bad parameters for device 'femfet'"):
        make_device("femfet", preset="6bit", bits=6)


# ------------------------------------------------------------------------------ rules

def test_carry_is_an_exact_saturating_counter():
    """T2 without noise: the training weight is the ideal N-bit saturating weight."""
    rng = np.random.default_rng(3)
    for preset, bits in (("6bit", 6), ("8bit", 8)):
        d = make_device("femfet", preset=preset)
        ideal = IdealDevice(weight_bits=bits)
        w0 = rng.integers(-(1 << bits - 1), 1 << bits - 1, 4000)
        s, w = d.state_for_weight(w0), {"w": w0.astype(np.int64)}
        assert np.array_equal(d.train_weight(s), w0)
        for _ in range(200):
            p = rng.integers(-128, 128, w0.size)
            s, w = d.update(s, p), ideal.update(w, p)
            assert np.array_equal(d.train_weight(s), w["w"])


def test_directed_rails_carry_and_borrow():
    d = make_device("femfet", preset="6bit")          # M 0..3, L 0..15
    # plain LSB update, no write
    assert one(d.update(st1(d, m=1, l=5), 3)) == dict(m=1, l=8, wc=0, worn=0)
    # carry and borrow by one
    assert one(d.update(st1(d, m=1, l=15), 1)) == dict(m=2, l=0, wc=1, worn=0)
    assert one(d.update(st1(d, m=2, l=0, wc=7), -1)) == dict(m=1, l=15, wc=8, worn=0)
    # multi-level carry from one big pulse: W = 1*16+10-32 = -6 -> -6+40 = 34 -> sat 31
    assert one(d.update(st1(d, m=1, l=10), 40)) == dict(m=3, l=15, wc=1, worn=0)
    # both rails: no change, no write
    assert one(d.update(st1(d, m=3, l=15), 100)) == dict(m=3, l=15, wc=0, worn=0)
    assert one(d.update(st1(d, m=0, l=0), -100)) == dict(m=0, l=0, wc=0, worn=0)
    # carry at the top level: L clamps, M unchanged, not counted
    assert one(d.update(st1(d, m=3, l=14), 5)) == dict(m=3, l=15, wc=0, worn=0)
    assert one(d.update(st1(d, m=0, l=2), -5)) == dict(m=0, l=0, wc=0, worn=0)


def test_periodic_transfer_with_and_without_level_change():
    d = FeMFETDevice(guard_bits=1, transfer="periodic", transfer_period=4)  # L 0..31, mid 16
    # update only clamps
    assert one(d.update(st1(d, m=1, l=30), 5)) == dict(m=1, l=31, wc=0, worn=0)
    assert one(d.update(st1(d, m=1, l=2), -5)) == dict(m=1, l=0, wc=0, worn=0)
    # v = +8 (u = 16+8+8 = 32 -> level 2): level change, write counted, L to mid
    assert one(d.on_sample(st1(d, m=1, l=24), 4, None)) == dict(m=2, l=16, wc=1, worn=0)
    # v = -9 -> level 0
    assert one(d.on_sample(st1(d, m=1, l=7), 4, None)) == dict(m=0, l=16, wc=1, worn=0)
    # v = +7: stays, no write, residual discarded
    assert one(d.on_sample(st1(d, m=1, l=23), 4, None)) == dict(m=1, l=16, wc=0, worn=0)
    # at the top level a positive total cannot transfer
    assert one(d.on_sample(st1(d, m=3, l=31), 4, None)) == dict(m=3, l=16, wc=0, worn=0)
    # polarity: L counts the other way and flips at each transfer
    dp = FeMFETDevice(guard_bits=1, transfer="periodic", polarity=True)
    s = dp.update(st1(dp, m=1, l=16, pol=1), 5)
    assert one(s)["l"] == 11 and int(dp.train_weight(s)[0]) == int(dp.train_weight(st1(dp, m=1, l=16))[0]) + 5
    assert one(dp.on_sample(s, 1, None))["pol"] == 0


def test_leak_to_rest_and_tick_composition():
    d = FeMFETDevice(leak_shift=1, leak_period_log2=3, leak_rest=4)
    s = st1(d, l=15)
    assert d.leak_events(7, 0) == 0 and d.leak_events(8, 0) == 1 and d.leak_events(1, 7) == 1
    assert one(d.tick(s, 7, 0, None))["l"] == 15          # no event in (0, 7]
    assert one(d.tick(s, 8, 0, None))["l"] == 15 - ((15 - 4 + 1) >> 1)
    # converges to the fixed point and stays there; huge ticks are exact (capped)
    lv = np.arange(16)
    s = {**d.reset_state(16), "l": lv.astype(np.uint8)}
    far = d.tick(s, 2**32 - 1, 5, None)["l"]
    for _ in range(100):
        s = d.tick(s, 8, 0, None)
    assert np.array_equal(s["l"], far)
    assert set(far.tolist()) == {4}          # rounded (ties away from 0) shift: exactly rest
    # symmetric: equal distances above and below rest leak by the same amount per event
    one_ev = d.tick({**d.reset_state(16), "l": lv.astype(np.uint8)}, 8, 0, None)["l"].astype(int)
    for dist in range(1, 5):
        assert one_ev[4 + dist] - 4 == -(one_ev[4 - dist] - 4)
    # tick(a + b) == tick(a) then tick(b) for arbitrary times
    rng = np.random.default_rng(0)
    for _ in range(200):
        t, a, b = (int(v) for v in rng.integers(0, 200, 3))
        s0 = {**d.reset_state(16), "l": lv.astype(np.uint8)}
        ab = d.tick(d.tick(s0, a, t, None), b, t + a, None)
        assert np.array_equal(ab["l"], d.tick(s0, a + b, t, None)["l"])


def test_endurance_counter_saturates_and_flags():
    d = FeMFETDevice(endurance=3)
    s = st1(d, m=1, l=15, wc=2)
    s = d.update(s, 1)                                   # carry: 3rd write
    assert one(s)["wc"] == 3 and one(s)["worn"] == 1
    s = d.update({**s, "wc": np.array([0], np.uint64)}, -1)   # flag is sticky
    assert one(s)["worn"] == 1
    d = make_device("femfet", preset="6bit")
    top = (1 << WC_BITS) - 1
    assert top > 10**10
    s = d.update(st1(d, m=1, l=15, wc=top), 1)
    assert one(s)["wc"] == top and one(s)["worn"] == 1
    s = d.update(st1(d, m=1, l=15, wc=10**10 - 1), 1)
    assert one(s)["wc"] == 10**10 and one(s)["worn"] == 1
    s = d.update(st1(d, m=1, l=15, wc=10**10 - 2), 1)
    assert one(s)["worn"] == 0


def _noise_distribution(d: FeMFETDevice) -> dict:
    """Exact distribution of the write-noise offset from its bit-level definition:
    +-2^frac w.p. prog_q/512 each, plus Binomial(2n, 1/2) - n, independent bits."""
    from math import comb
    q = d.prog_q / 256
    step = 1 << d.frac_bits
    prog = {-step: q / 2, 0: 1 - q, step: q / 2} if q else {0: 1.0}
    n = d.c2c_bits
    c2c = {k - n: comb(2 * n, k) / 4**n for k in range(2 * n + 1)}
    out = {}
    for a, pa in prog.items():
        for b, pb in c2c.items():
            out[a + b] = out.get(a + b, 0.0) + pa * pb
    return out


@pytest.mark.parametrize("params", [dict(prog_error=0.125), dict(c2c_bits=3, frac_bits=2),
                                    dict(prog_error=0.3, c2c_bits=2, frac_bits=1)])
def test_write_noise_statistics(params):
    d = FeMFETDevice(k_m=3, **params)
    words = LFSRBank(d.rand_width, lane_seeds(7, 4, d.rand_width)).draw(50_000).ravel()
    e = d.write_noise(words, words.shape).astype(np.float64)
    dist = _noise_distribution(d)
    mean = sum(k * p for k, p in dist.items())
    var = sum((k - mean) ** 2 * p for k, p in dist.items())
    m4 = sum((k - mean) ** 4 * p for k, p in dist.items())
    n = e.size
    assert mean == 0.0
    assert abs(e.mean() - mean) < 5 * np.sqrt(var / n)
    assert abs(e.var() - var) < 5 * np.sqrt((m4 - var**2) / n)
    # through the device: a carry from a mid level lands exactly at target + that noise
    st = d.state_for_weight(np.zeros(words.size, np.int64))
    st = {**st, "l": np.full(words.size, d.l_max, st["l"].dtype)}
    new = d.update(st, np.ones(words.size, np.int64), words)
    target = (d.level(st["m"]) + 1) << d.frac_bits
    assert np.array_equal(new["m"].astype(np.int64) - target, e.astype(np.int64))
    assert np.all(new["wc"] == 1)


def test_no_noise_means_no_lfsr():
    d = make_device("femfet", preset="6bit")
    assert d.rand_width == 0
    assert np.array_equal(d.write_noise(None, (3,)), np.zeros(3))


# ------------------------------------------------------------------------------ physics

def test_physics_weight_matches_integer_model():
    ph = FeMFETPhysics()
    d = make_device("femfet", preset="6bit")
    s = d.reset_state((4, 16))
    s["m"][:] = np.arange(4)[:, None]
    s["l"][:] = np.arange(16)[None, :]
    w = ph.weight(ph.conductance(s["m"]), ph.voltage(s["l"]))
    assert np.allclose(w, d.train_weight(s))
    assert np.allclose(ph.inference_weight(ph.conductance(s["m"])), d.infer_weight(s))
    assert ph.dv == pytest.approx(20e-6 * 250e-12 / 100e-15)


def test_physics_leak_vs_integer_leak():
    ph = FeMFETPhysics(k_l=8, tau_leak=2e-4, t_tick=1e-6)
    s_, p_ = ph.leak_params()
    d = ph.device(k_m=2, k_l=8)
    assert (d.leak_shift, d.leak_period_log2) == (s_, p_)
    rate = -np.log1p(-2.0**-s_) / (2**p_ * ph.t_tick)
    assert abs(rate * ph.tau_leak - 1) < 0.25       # decay rate within 25 % of 1/tau
    st = {**d.reset_state(256), "l": np.arange(256).astype(np.uint16)}
    t = 0
    for k in range(1, 60):
        st = d.tick(st, 2**p_, t, None)
        t += 2**p_
        exact = d.rest + (np.arange(256) - d.rest) * (1 - 2.0**-s_) ** k
        assert np.all(np.abs(st["l"] - exact) <= ph.leak_error_bound(s_))
    v = ph.leak(ph.voltage(200), 60 * 2**p_ * ph.t_tick)
    assert abs((v - ph.v_mid) / ph.dv + 128 - st["l"][200]) <= ph.leak_error_bound(s_) + 72 * 0.25


# ------------------------------------------------------------------------------ lockstep

CONFIGS = {
    "6bit-carry": dict(preset="6bit"),
    "6bit-periodic": dict(preset="6bit", guard_bits=1, transfer="periodic", transfer_period=3,
                          polarity=True, leak_shift=1, leak_period_log2=2, prog_error=0.25,
                          c2c_bits=2, frac_bits=2),
    "8bit-carry": dict(preset="8bit", prog_error=0.5, c2c_bits=1, frac_bits=1, leak_shift=2,
                       leak_rest=3, endurance=5),
    # transfer_period 5, not 2: a 1-bit ``since`` port trips sim/cocotb_engine.py (Logic has no
    # to_unsigned) -- an engine-harness issue reported to the lead
    "8bit-periodic": dict(preset="8bit", guard_bits=2, transfer="periodic", transfer_period=5,
                          leak_shift=0, leak_period_log2=5),
}


def engine_config(name, rows=3, cols=4, lanes=2, seed=11):
    p = dict(CONFIGS[name])
    dev = make_device("femfet", preset=p.pop("preset"), **p)
    return EngineConfig(device=dev, rows=rows, cols=cols, lanes=lanes, rounding="stochastic",
                        eta=3, tick_width=8, seed=seed)


def directed_commands(cfg: EngineConfig) -> list[Command]:
    """Every (M, L) rail/edge combination x pulses at the rails, then transfer and leak."""
    d = cfg.device
    ms = sorted({0, 1, d.level_max << d.frac_bits, (1 << d.m_width) - 1})
    ls = sorted({0, 1, d.l_mid - 1, d.l_mid, d.l_max - 1, d.l_max})
    ps = [d.pulse_fmt.max, d.pulse_fmt.min, 1, -1, 0, (1 << d.k_l), -(1 << d.k_l)]
    cmds = []
    for (m, l), p in itertools.product(itertools.product(ms, ls), ps):
        st = {f.name: np.array(f.init) for f in d.fields}
        st.update(m=np.array(m), l=np.array(l), wc=np.array((1 << WC_BITS) - 2))
        cmds.append(Command(Op.WRITE, 1, 2, int(d.pack(st))))
        cmds.append(Command(Op.UPDATE, 1, 2, p))
        cmds.append(Command(Op.UPDATE, 1, 2, p))
    for m, l in itertools.product(ms, ls):
        st = {f.name: np.array(f.init) for f in d.fields}
        st.update(m=np.array(m), l=np.array(l))
        cmds += [Command(Op.WRITE, 0, 1, int(d.pack(st))), Command(Op.SAMPLE),
                 Command(Op.TICK, 0, 0, 1), Command(Op.TICK, 0, 0, 255)]
    return cmds


@pytest.mark.parametrize("name", list(CONFIGS))
def test_amaranth_lockstep_random_and_directed(name):
    cfg = engine_config(name)
    cmds = directed_commands(cfg) + random_commands(cfg, 5, 250)
    rep = amaranth_lockstep(cfg, cmds)
    assert rep.ok, rep.mismatches[0]
    assert rep.commands == len(cmds)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(k_m=st.integers(1, 3), k_l=st.integers(1, 4), guard=st.integers(0, 2),
       periodic=st.booleans(), leak=st.one_of(st.none(), st.integers(0, 3)),
       noise=st.booleans(), seed=st.integers(0, 2**16))
def test_amaranth_property_random_configs(k_m, k_l, guard, periodic, leak, noise, seed):
    if periodic and guard == 0:
        guard = 1
    frac = min(1, k_l)
    try:
        dev = FeMFETDevice(k_m=max(k_m, 2) if noise else k_m, k_l=k_l, guard_bits=guard,
                           transfer="periodic" if periodic else "carry", transfer_period=2,
                           leak_shift=leak, leak_period_log2=1,
                           prog_error=0.3 if noise else 0.0, c2c_bits=1 if noise else 0,
                           frac_bits=frac if noise else 0, pulse_bits=5)
    except ValueError as e:          # configs the device rejects by design (tested above)
        assert "never changes L" in str(e)
        assume(False)
    cfg = EngineConfig(device=dev, rows=2, cols=2, lanes=2, eta=2, tick_width=6,
                       seed=seed + 1, rounding="stochastic", rng_width=8, t_pos=16, t_neg=-16)
    rep = amaranth_lockstep(cfg, random_commands(cfg, seed, 80))
    assert rep.ok, rep.mismatches[0]


# ------------------------------------------------------------------------------ Verilator

#: random commands per stream seed in the Verilator suite: 4 configs x 4 seeds x 6,250 =
#: 1e5 random commands (+ ~2,800 directed), every state word compared after each;
#: SYNEMU_FEMFET_OPS lowers it for quick local runs
VL_OPS = int(os.environ.get("SYNEMU_FEMFET_OPS", "6250"))
VL_SEEDS = (0, 1, 2, 3)


@pytest.mark.verilator
@pytest.mark.parametrize("name", list(CONFIGS))
def test_verilator_lockstep(name):
    from synemu.sim.lockstep import verilator_lockstep
    cfg = engine_config(name, rows=2, cols=4, lanes=2)
    # directed stream first (fresh hardware = fresh golden), then random streams, each
    # continuing from the state the previous one left (golden carried along)
    streams = [directed_commands(cfg)] + [random_commands(cfg, seed, VL_OPS) for seed in VL_SEEDS]
    reps = verilator_lockstep(cfg, streams, driver="cocotb")
    for rep in reps:
        assert rep.ok, rep.mismatches[0]
    assert sum(r.commands for r in reps) >= 4 * VL_OPS
