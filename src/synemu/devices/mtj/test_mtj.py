"""STT-MTJ binary synapse: physics, threshold table, LFSR switching statistics, lockstep."""

import math

import numpy as np
import pytest

from synemu.spec.registry import make_device
from synemu.spec.engine import Command, EngineConfig, GoldenEngine, Op
from synemu.spec.lfsr import LFSRBank, lane_seeds
from synemu.devices.mtj.golden import MTJDevice, mix
from synemu.devices.mtj.physics import PHYSICS_PRESETS, MTJPhysics, p_switch
from synemu.sim.amaranth_sim import amaranth_lockstep
from synemu.sim.lockstep import random_commands

Z = 4.0  # two-sided binomial bound (~6e-5 false-alarm rate per check)


def _draws(n, seed=7, width=32):
    return LFSRBank(width, lane_seeds(seed, 1, width)).draw(n)[:, 0]


def test_physics_formula_and_monotone():
    ph = PHYSICS_PRESETS["illustrative"]
    v = ph.voltage(3)
    i = v / ph.r_ap
    tau = ph.tau0 * math.exp(ph.delta_ap_p * (1 - i / ph.ic0_ap_p))
    assert ph.p_sw("ap_p", 3) == pytest.approx(1 - math.exp(-ph.t_pulse / tau), rel=1e-12)
    for d in ("ap_p", "p_ap"):
        t = ph.table(d, 8)
        assert t[0] == 0.0 and all(a < b or b == 1.0 for a, b in zip(t[1:], t[2:]))
    # P->AP is rarer than AP->P at equal |V| in the illustrative preset
    assert all(a >= b for a, b in zip(ph.table("ap_p", 8), ph.table("p_ap", 8)))
    assert p_switch(0.0, 1e-4, 40, 1e-9, 1e-4) == 0.0
    with pytest.raises(ValueError, match="tau0"):
        MTJPhysics(tau0=-1.0)


def test_threshold_table_from_physics():
    dev = MTJDevice()
    ph = dev.physics_model()
    top = 1 << dev.prob_bits
    for k in range(dev.n_codes + 1):
        assert dev.ltp_thresholds[k] == round(ph.p_sw("ap_p", k) * top)
        assert dev.ltd_thresholds[k] == round(ph.p_sw("p_ap", k) * top)
        assert 0 <= dev.ltp_thresholds[k] <= top  # prob_bits + 1 bits
    assert dev.ltp_thresholds[-1] == top  # P = 1 is representable (always switch)


@pytest.mark.parametrize("code", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("direction", ["ltp", "ltd"])
def test_switching_rate_matches_psw(code, direction):
    """>= 1e5 LFSR draws per code: empirical rate within the binomial interval of P_sw."""
    dev = MTJDevice()
    n = 100_000
    words = _draws(n, seed=code * 11 + (direction == "ltd"))
    s0 = np.zeros(n, np.uint8) if direction == "ltp" else np.ones(n, np.uint8)
    pulse = code if direction == "ltp" else -code
    new = dev.update({"s": s0}, np.full(n, pulse), words)["s"]
    rate = np.mean(new != s0)
    p_hw = dev.probabilities(direction)[code]
    p_phys = dev.physics_model().p_sw("ap_p" if direction == "ltp" else "p_ap", code)
    assert abs(p_hw - p_phys) <= 0.5 / (1 << dev.prob_bits) + 1e-12
    sd = math.sqrt(max(p_phys * (1 - p_phys), 1e-12) / n)
    assert abs(rate - p_phys) <= Z * sd + 1.0 / (1 << dev.prob_bits), (rate, p_phys)


@pytest.mark.parametrize("code", [2, 3, 4])
def test_board_preset_16bit_lfsr_switching(code):
    """Preset ``board`` (16-bit device LFSR, one DSP per lane): over one full LFSR period
    every nonzero 16-bit draw occurs once, so the switching rate is exactly (T-1)/(2**16-1);
    neighbouring draws still switch independently (joint rate ~ p**2)."""
    dev = make_device("mtj", preset="board")
    assert dev.rand_bits == 16 and dev.prob_bits == 16
    n = (1 << 16) - 1
    words = _draws(n, seed=code, width=16)
    for direction, s0, pulse in (("ltp", 0, code), ("ltd", 1, -code)):
        new = dev.update({"s": np.full(n, s0, np.uint8)}, np.full(n, pulse), words)["s"]
        sw = new != s0
        t = (dev.ltp_thresholds if direction == "ltp" else dev.ltd_thresholds)[code]
        assert sw.sum() == t - 1
        p = sw.mean()
        both = np.mean(sw[1:] & sw[:-1])
        assert abs(both - p * p) <= Z * math.sqrt(p * p / n) + 1 / n


def test_successive_draws_are_decorrelated_by_the_mixer():
    """Consecutive Galois words are shifted copies; after mix() joint switching of
    neighbours matches p^2 (without mixing it is ~p/2)."""
    dev = MTJDevice(p_ltp=[0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 1.0])
    n = 200_000
    words = _draws(n, seed=3)
    sw = dev.update({"s": np.zeros(n, np.uint8)}, np.full(n, 2), words)["s"].astype(bool)
    p = sw.mean()
    both = np.mean(sw[1:] & sw[:-1])
    assert abs(both - p * p) <= Z * math.sqrt(p * p / n)
    raw = (words >> np.uint64(16)) < dev.ltp_thresholds[2]
    assert np.mean(raw[1:] & raw[:-1]) > 3 * p * p  # the correlation mix() removes


def test_mixer_is_a_bijection_fixing_zero():
    x = np.arange(1 << 16, dtype=np.uint64)
    y = mix(x, 16)
    assert y[0] == 0 and np.unique(y).size == 1 << 16
    assert mix(np.array([0], np.uint64), 32)[0] == 0


def test_update_semantics_and_draw_convention():
    """Already-in-target synapses and zero pulses consume a word too (fixed convention)."""
    dev = MTJDevice(p_ltp=[0] + [1.0] * 8, p_ltd=[0] + [1.0] * 8)
    st = {"s": np.array([0, 1, 0, 1], np.uint8)}
    w = np.array([5, 6, 7, 8], np.uint64)
    assert dev.update(st, np.array([1, 1, -1, -1]), w)["s"].tolist() == [1, 1, 0, 0]
    assert dev.update(st, np.array([0, 0, 0, 0]), w)["s"].tolist() == [0, 1, 0, 1]
    assert dev.train_weight({"s": np.array([0, 1], np.uint8)}).tolist() == [-1, 1]
    cfg = EngineConfig(device=MTJDevice(), rows=2, cols=8, lanes=2, seed=5)
    g = GoldenEngine(cfg)
    ref = LFSRBank(32, cfg.device_seeds())
    g.execute(Command(Op.UPD_ROW, row=0, arg=-3))  # every synapse is AP already: no change
    ref.draw(cfg.chunks)
    assert (g.state["s"] == 0).all() and (g.dev_rng.state == ref.state).all()
    g.execute(Command(Op.UPD_ROW, row=1, arg=5))
    words = ref.draw(cfg.chunks).reshape(-1)
    exp = dev.__class__().update({"s": np.zeros(8, np.uint8)}, np.full(8, 5), words)["s"]
    assert (g.state["s"][1] == exp).all()


@pytest.mark.parametrize("bad, match", [
    (dict(p_ltp=[0, 0.5, 1.2, 0, 0, 0, 0, 0, 0]), r"p_ltp\[2\].*not a probability"),
    (dict(p_ltd=[0, -0.1, 0, 0, 0, 0, 0, 0, 0]), r"p_ltd\[1\].*not a probability"),
    (dict(t_ltp=[0, 1, 65537, 0, 0, 0, 0, 0, 0]), r"does not fit.*0\.\.65536"),
    (dict(t_ltd=[0, 1, 2]), r"needs 9 entries"),
    (dict(t_ltp=[3, 1, 2, 0, 0, 0, 0, 0, 0]), r"no pulse"),
    (dict(prob_bits=40), r"prob_bits"),
    (dict(rand_bits=12), r"rand_bits"),
    (dict(physics="nope"), r"unknown physics"),
    (dict(ic0_ap_p=-1.0), r"ic0_ap_p"),
])
def test_bad_configs(bad, match):
    with pytest.raises(ValueError, match=match):
        MTJDevice(**bad)


def test_registry_and_presets():
    dev = make_device("mtj", preset="symmetric")
    assert dev.ltp_thresholds == dev.ltd_thresholds
    cfg = EngineConfig(device=make_device("mtj", prob_bits=20, p_ltp=[0, .5, .5, .5, .5, .5, .5, .5, .5]),
                       rows=2, cols=8)
    assert EngineConfig.from_dict(cfg.to_dict()) == cfg


LOCKSTEP = [
    dict(device=MTJDevice(), rows=3, cols=8, lanes=2),
    dict(device=MTJDevice(pulse_bits=2, rand_bits=16), rows=4, cols=4, lanes=4),
    dict(device=MTJDevice(pulse_bits=3, rand_bits=24, prob_bits=20, physics="symmetric"),
         rows=2, cols=6, lanes=1),
    dict(device=MTJDevice(p_ltp=[0, .5, .1, 1, 1, 0, .3, .9, 1], p_ltd=[0, .5, 1, .2, 0, 1, .3, .9, 1]),
         rows=3, cols=4, lanes=2),
]


@pytest.mark.parametrize("i", range(len(LOCKSTEP)))
def test_amaranth_lockstep(i):
    for seed in range(3):
        cfg = EngineConfig(seed=seed + 10 * i, rounding="stochastic", eta=3, t_pos=100, t_neg=-100,
                           **LOCKSTEP[i])
        rep = amaranth_lockstep(cfg, random_commands(cfg, seed, 150))
        assert rep.ok, rep.mismatches[0]


@pytest.mark.verilator
def test_verilator_lockstep():
    from synemu.sim.lockstep import verilator_lockstep
    cfg = EngineConfig(seed=4, rounding="stochastic", eta=3, **LOCKSTEP[0])
    rep, = verilator_lockstep(cfg, random_commands(cfg, 4, 300), driver="cocotb")
    assert rep.ok, rep.mismatches[0]
    assert rep.commands == 300
