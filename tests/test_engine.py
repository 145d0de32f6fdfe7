"""Array engine: configuration checks, golden semantics, and lockstep golden vs hardware."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synemu.spec.engine import Command, EngineConfig, GoldenEngine, Op
from synemu.devices.ideal.golden import IdealDevice
from synemu.devices.probe.golden import ProbeDevice
from synemu.sim.amaranth_sim import amaranth_lockstep
from synemu.sim.lockstep import random_commands, run_lockstep


def ideal(**kw):
    return IdealDevice(**kw)


# -- configuration errors -------------------------------------------------------------------
@pytest.mark.parametrize("kw,msg", [
    (dict(rows=0, cols=4), "rows must be an integer in 1..65536"),
    (dict(rows=4, cols=6, lanes=4), r"cols \(6\) must be a multiple of lanes \(4\)"),
    (dict(rows=4, cols=6, lanes=3), "lanes must be a power of two"),
    (dict(rows=4, cols=4, x_width=1), "x_width must be an integer in 2..16"),
    (dict(rows=4, cols=4, rounding="up"), "unknown rounding mode"),
    (dict(rows=4, cols=4, rounding="stochastic", eta=20, rng_width=16), "needs rng_width >= eta"),
    (dict(rows=4, cols=4, t_pos=1 << 40), "must fit the"),
])
def test_config_errors(kw, msg):
    with pytest.raises(ValueError, match=msg):
        EngineConfig(device=ideal(), **kw)


@pytest.mark.parametrize("kw,msg", [
    (dict(weight_bits=1), "weight_bits must be an integer in 2..32"),
    (dict(pulse_bits=40), "pulse_bits must be an integer in 2..32"),
    (dict(weight_bits="8"), "weight_bits"),
])
def test_device_errors(kw, msg):
    with pytest.raises(ValueError, match=msg):
        IdealDevice(**kw)


def test_malformed_commands_are_rejected():
    cfg = EngineConfig(device=ideal(weight_bits=6, pulse_bits=4), rows=3, cols=4)
    g = GoldenEngine(cfg)
    for cmd, msg in [
        (Command(Op.UPDATE, 0, 0, 8), "pulse 8 does not fit a 4-bit signed"),
        (Command(Op.WRITE, 3, 0, 0), "row 3 out of range"),
        (Command(Op.READ, 0, 9), "col 9 out of range"),
        (Command(Op.WRITE, 0, 0, 1 << 6), "does not fit 6 bits"),
        (Command(Op.LOAD_X, 0, 0, 16), "input x 16 does not fit"),
        (Command(Op.LEARN, 0, 0, 3), "label 3 out of range"),
        (Command(Op.TICK, 0, 0, -1), "tick count"),
    ]:
        with pytest.raises(ValueError, match=msg):
            g.execute(cmd)
    with pytest.raises(ValueError):
        g.execute(Command(99))


# -- golden semantics -----------------------------------------------------------------------
def test_golden_learn_is_the_documented_delta_rule():
    cfg = EngineConfig(device=ideal(weight_bits=8), rows=3, cols=4, lanes=2, eta=2,
                       rounding="floor", t_pos=40, t_neg=-40)
    g = GoldenEngine(cfg)
    rng = np.random.default_rng(1)
    w0 = rng.integers(-20, 20, (3, 4))
    for r in range(3):
        for c in range(4):
            g.execute(Command(Op.WRITE, r, c, int(np.uint8(w0[r, c]))))
    x = np.array([3, -2, 0, 5])
    for c, v in enumerate(x):
        g.execute(Command(Op.LOAD_X, 0, c, int(v)))
    pred = g.execute(Command(Op.LEARN, 0, 0, 1))[0]
    y = w0 @ x
    e = np.array([-40, 40, -40]) - y
    expected = np.clip(w0 + np.clip((e[:, None] * x[None, :]) >> 2, -128, 127), -128, 127)
    np.testing.assert_array_equal(g.state["w"], expected)
    assert pred == int(np.argmax(y)) and g.samples == 1


def test_update_saturates_at_both_rails():
    cfg = EngineConfig(device=ideal(weight_bits=4, pulse_bits=4), rows=2, cols=2)
    g = GoldenEngine(cfg)
    for _ in range(3):
        g.execute(Command(Op.UPD_ROW, 0, 0, 7))       # 0 -> 7 -> 7 (upper rail)
        g.execute(Command(Op.UPDATE, 1, 1, -8))       # 0 -> -8 -> -8 (lower rail)
    np.testing.assert_array_equal(g.state["w"], [[7, 7], [0, -8]])
    g.execute(Command(Op.UPD_COL, 0, 1, -8))
    np.testing.assert_array_equal(g.state["w"], [[7, -1], [0, -8]])


def test_update_matrix_matches_update_commands():
    cfg = EngineConfig(device=ProbeDevice(), rows=3, cols=4, lanes=2)
    a, b = GoldenEngine(cfg), GoldenEngine(cfg)
    p = np.random.default_rng(2).integers(-3, 4, (3, 4))
    a.update_matrix(p)
    for r, c in zip(*np.nonzero(p)):
        b.execute(Command(Op.UPDATE, int(r), int(c), int(p[r, c])))
    np.testing.assert_array_equal(a.read_words(), b.read_words())
    assert a.globals() == b.globals()


# -- lockstep on Amaranth's simulator -------------------------------------------------------
@pytest.mark.parametrize("device", [ideal(weight_bits=6, pulse_bits=4), ProbeDevice()],
                         ids=["ideal", "probe"])
@pytest.mark.parametrize("shape", [(3, 4, 1, "nearest_even", 2), (2, 8, 4, "stochastic", 3),
                                   (5, 6, 2, "floor", 0)])
def test_lockstep_amaranth(device, shape):
    rows, cols, lanes, rounding, eta = shape
    cfg = EngineConfig(device=device, rows=rows, cols=cols, lanes=lanes, rounding=rounding, eta=eta)
    rep = amaranth_lockstep(cfg, random_commands(cfg, 7, 250))
    assert rep.ok, str(rep.mismatches[0])
    assert rep.commands == 250


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.integers(1, 4), chunks=st.integers(1, 3), lanes=st.sampled_from([1, 2, 4]),
       wbits=st.integers(2, 10), pbits=st.integers(2, 8), xw=st.integers(2, 6),
       eta=st.integers(0, 6), rounding=st.sampled_from(["floor", "nearest_even", "stochastic"]),
       seed=st.integers(0, 2**16))
def test_lockstep_amaranth_hypothesis(rows, chunks, lanes, wbits, pbits, xw, eta, rounding, seed):
    cfg = EngineConfig(device=ideal(weight_bits=wbits, pulse_bits=pbits), rows=rows,
                       cols=chunks * lanes, lanes=lanes, x_width=xw, eta=eta, rounding=rounding,
                       seed=seed, err_width=12, t_pos=5, t_neg=-5)
    rep = amaranth_lockstep(cfg, random_commands(cfg, seed, 60))
    assert rep.ok, str(rep.mismatches[0])


def test_lockstep_reports_first_mismatch():
    """The harness must catch a hardware/golden divergence and name it precisely."""
    from synemu.sim.amaranth_sim import simulate
    cfg = EngineConfig(device=ideal(weight_bits=6, pulse_bits=4), rows=2, cols=2)
    golden = GoldenEngine(cfg)
    golden.state["w"][1, 1] = 5        # the golden model disagrees with the hardware
    rep = simulate(cfg, lambda d: run_lockstep(d, cfg, [Command(Op.LOAD_X, 0, 0, 1)], golden=golden))
    assert not rep.ok
    m = rep.mismatches[0]
    assert (m.index, m.what, m.where, m.expected, m.actual) == (0, "synapse", "row 1 col 1 field 'w'", 5, 0)


# -- pipelined device rules (DeviceRule.latency) --------------------------------------------
def _pipelined_probe(latency):
    from amaranth.hdl import Signal
    from amaranth.lib.data import View
    from synemu.devices.probe.gateware import ProbeRule

    class PipelinedProbe(ProbeRule):
        """The probe rule behind ``latency`` clocks: ``update`` delays its inputs, ``tick``
        its result, ``on_sample`` one clock of each (every input must be aligned)."""

        def update(self, m, state, pulse, rand, time):
            dl = lambda v: self.delay(m, v, self.latency)
            return super().update(m, View(self.layout, dl(state)), dl(pulse), dl(rand), dl(time))

        def tick(self, m, state, n, time, rand):
            out = Signal(self.device.state_width)
            m.d.comb += out.eq(super().tick(m, state, n, time, rand))
            return self.delay(m, out, self.latency)

        def on_sample(self, m, state, samples, rand):
            out = Signal(self.device.state_width)
            m.d.comb += out.eq(super().on_sample(m, View(self.layout, self.delay(m, state, 1)),
                                                 self.delay(m, samples, 1), self.delay(m, rand, 1)))
            return self.delay(m, out, self.latency - 1)

    PipelinedProbe.latency = latency
    return PipelinedProbe


@pytest.mark.parametrize("latency", [1, 3])
@pytest.mark.parametrize("shape", [(3, 4, 1, "nearest_even", 2), (2, 8, 4, "stochastic", 3)])
def test_lockstep_amaranth_pipelined_rule(monkeypatch, latency, shape):
    """A rule with latency L: write-back delayed by L, every command still bit-exact (LEARN's
    forward/update sweeps back to back, SAMPLE sweeps, TICKs), and a writing sweep of n slots
    takes L clocks more."""
    from synemu.gateware import engine as hdl_engine
    from synemu.sim.amaranth_sim import simulate
    rows, cols, lanes, rounding, eta = shape
    cfg = EngineConfig(device=ProbeDevice(), rows=rows, cols=cols, lanes=lanes, rounding=rounding,
                       eta=eta)
    cmds = random_commands(cfg, 11, 250)

    async def body(drv):
        rep = await run_lockstep(drv, cfg, cmds)
        c0 = drv.cycle
        await drv.send(Command(Op.TICK, 0, 0, 1), 0)
        c1 = drv.cycle
        await drv.send(Command(Op.FORWARD), rows)
        return rep, c1 - c0

    base_rep, base_tick = simulate(cfg, body)
    monkeypatch.setattr(hdl_engine, "rule_for", _pipelined_probe(latency))
    rep, tick = simulate(cfg, body)
    assert base_rep.ok and rep.ok, str((base_rep.mismatches + rep.mismatches)[0])
    assert rep.commands == 250
    assert tick == base_tick + latency


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_bad_rule_latency_is_rejected(monkeypatch):
    from synemu.gateware import engine as hdl_engine
    from synemu.gateware.engine import ArrayEngine
    monkeypatch.setattr(hdl_engine, "rule_for", _pipelined_probe(-1))
    import gc
    with pytest.raises(ValueError, match="latency must be an int >= 0, not -1") as e:
        ArrayEngine(EngineConfig(device=ProbeDevice(), rows=2, cols=2))
    del e
    gc.collect()    # the half-built engine's UnusedElaboratable warning, filtered here


# -- lockstep on Verilator ------------------------------------------------------------------
VERILATOR_CASES = [
    # device, rows, cols, lanes, rounding, eta, commands x seeds
    (ideal(weight_bits=8, pulse_bits=8), 4, 8, 2, "stochastic", 3),
    (ideal(weight_bits=5, pulse_bits=3), 3, 12, 4, "nearest_even", 2),
    (ProbeDevice(), 5, 4, 1, "floor", 1),
    (ProbeDevice(), 2, 16, 8, "stochastic", 4),
]


@pytest.mark.verilator
@pytest.mark.parametrize("case", VERILATOR_CASES,
                         ids=lambda c: f"{c[0].name}-{c[1]}x{c[2]}-P{c[3]}-{c[4]}")
def test_lockstep_verilator(case):
    from synemu.sim.lockstep import verilator_lockstep
    device, rows, cols, lanes, rounding, eta = case
    base = EngineConfig(device=device, rows=rows, cols=cols, lanes=lanes, rounding=rounding, eta=eta)
    # one build, several seeds (the cocotb conformance testbench): the LFSR seeds are the
    # reset values, so reuse the same config and vary only the command stream
    reps = verilator_lockstep(base, [random_commands(base, seed, 400) for seed in range(3)],
                              driver="cocotb")
    for seed, rep in enumerate(reps):
        assert rep.ok, f"seed {seed}: {rep.mismatches[0]}"
    assert sum(r.commands for r in reps) == 1200


@pytest.mark.verilator
def test_verilator_lockstep_helper_drivers_agree():
    """The one Verilator lockstep helper: both drivers, streams continuing from each other,
    the same commands, compared words and cycles."""
    from synemu.sim.lockstep import verilator_lockstep
    cfg = EngineConfig(device=ProbeDevice(), rows=3, cols=4, lanes=2, rounding="stochastic", eta=2)
    streams = [random_commands(cfg, 5, 150), random_commands(cfg, 6, 150)]
    native = verilator_lockstep(cfg, streams, driver="native")
    cocotb = verilator_lockstep(cfg, streams, driver="cocotb")
    assert all(r.ok for r in native + cocotb)
    assert [(r.commands, r.compared_words, r.cycles) for r in native] == \
        [(r.commands, r.compared_words, r.cycles) for r in cocotb]
    with pytest.raises(ValueError, match="unknown Verilator driver"):
        verilator_lockstep(cfg, streams, driver="iverilog")
