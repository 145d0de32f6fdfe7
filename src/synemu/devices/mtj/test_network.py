"""On-chip STDP network on MTJ synapses: golden model, WTA/threshold directed cases,
lockstep with the Amaranth controller (and Verilator), learning beats chance."""

import asyncio

import numpy as np
import pytest


from synemu.spec.lfsr import LFSRBank
from synemu.devices.mtj.golden import MTJDevice
from synemu.devices.mtj.network import (GoldenSNN, SNNConfig, SOp, assign_labels, classify,
                               classify_proportion, fast_draw, rate_codes)
from synemu.devices.mtj.network_sim import amaranth_snn_lockstep, snn_commands


def small(**kw):
    base = dict(n_inputs=16, n_neurons=4, lanes=2, steps=4, theta0=2, max_rate=1.0,
                leak_shift=2, theta_plus=40, theta_frac=2, theta_width=8, v_width=8)
    base.update(kw)
    return SNNConfig(**base)


def test_fast_draw_matches_lfsr_bank():
    for width, seeds in ((32, [5, 77, 123]), (16, [1]), (64, [2**63 + 5, 9])):
        ref = LFSRBank(width, seeds)
        st = np.array(seeds, np.uint64)
        for n in (1, 7, 2048, 5000):
            got = fast_draw(width, st, n)
            assert np.array_equal(got, ref.draw(n))
            st = got[-1]


def test_fast_path_equals_command_sequence():
    """present()/evaluate() (vectorised) == every engine command through execute()."""
    cfg = SNNConfig(n_inputs=64, n_neurons=10, lanes=4, steps=8, theta0=8, max_rate=1.0)
    a, b = GoldenSNN(cfg, strict=True), GoldenSNN(cfg)
    a.init(), b.init()
    rng = np.random.default_rng(1)
    spikes = 0
    for i in range(25):
        R = rate_codes(rng.random(64), cfg)
        code = (None, 2, 1, 7)[i % 4]          # config.code, then an annealing-like mix
        ca, cb = a.present(R, True, code), b.present(R, True, code)
        assert np.array_equal(ca, cb)
        spikes += ca.sum()
        assert np.array_equal(a.engine.state["s"], b.engine.state["s"])
        assert np.array_equal(a.theta, b.theta) and np.array_equal(a.v, b.v)
        assert np.array_equal(a.engine.dev_rng.state, b.engine.dev_rng.state)
        assert a.in_state[0] == b.in_state[0] and np.array_equal(a.engine.x, b.engine.x)
    assert spikes > 20  # learning actually happened
    Rs = rate_codes(rng.random((12, 64)), cfg)
    assert np.array_equal(b.evaluate(Rs, batch=5), np.stack([a.present(R, False) for R in Rs]))
    assert a.in_state[0] == b.in_state[0]


def test_input_spike_rates():
    cfg = SNNConfig(n_inputs=8, n_neurons=1, steps=4000, init_code=0)
    g = GoldenSNN(cfg)
    g.load(rate_codes(np.array([0, .1, .25, .5, .75, .9, 1, 1]), cfg))
    x = g._spikes(4000).mean(axis=0)
    exp = np.array([0, .1, .25, .5, .75, .9, 1, 1]) * cfg.max_rate
    assert np.all(np.abs(x - exp) < 4 * np.sqrt(exp * (1 - exp) / 4000) + 1e-9)
    assert x[0] == 0 and (cfg.max_rate < 1 or x[-1] == 1)


def _tie_cfg(**kw):
    # all synapses AP (no INIT), no input spikes: y = 0, every margin = -theta >> frac
    return small(init_code=0, theta0=0, theta_plus=4, theta_frac=2, theta_decay=0, **kw)


def test_wta_ties_go_to_lowest_index_and_thresholds_rotate_winners():
    cfg = _tie_cfg()
    g = GoldenSNN(cfg)
    g.load(np.zeros(16, np.int64))
    winners = [g.step(True) for _ in range(9)]
    # all margins 0 -> neuron 0 wins; its theta (4 >> 2 = 1) then excludes it, and so on;
    # after all four fired every margin is -1 and nobody fires
    assert winners == [1, 2, 3, 4, 0, 0, 0, 0, 0]
    assert g.theta.tolist() == [4, 4, 4, 4]
    g.end(False)
    assert g.theta.tolist() == [4, 4, 4, 4] and not g.v.any()


def test_larger_margin_beats_lower_index():
    cfg = small(init_code=0, theta0=0, theta_decay=0)
    g = GoldenSNN(cfg)
    g.engine.state["s"][2, :8] = 1      # neuron 2 has P synapses on inputs 0..7
    g._wf = None
    g.load(np.r_[np.full(8, 1 << 16), np.zeros(8)].astype(np.int64))  # inputs 0..7 always spike
    assert g.step(False) == 3          # y = +8 for neuron 2, -8 for the others
    assert not g.v.any()               # lateral inhibition resets every membrane
    assert g.theta.tolist() == [0, 0, 0, 0]  # no adaptation without learning


def test_threshold_saturation_and_decay():
    cfg = _tie_cfg(theta_width=5)
    cfg = SNNConfig(**{**cfg.to_dict(), "device": MTJDevice(), "theta_plus": 13, "theta_decay": 2,
                       "theta_frac": 0})
    g = GoldenSNN(cfg)
    g.theta[:] = [0, 25, 31, 3]
    g.v[:] = [0, 40, 50, 0]
    g.load(np.zeros(16, np.int64))
    # margins: v - (v >> 2) - theta = [0, 5, 6, -3] -> neuron 2 wins
    assert g.step(True) == 3
    assert g.theta.tolist() == [0, 25, 31, 3]       # 31 + 13 saturates at 2**5 - 1
    g.end(True)
    assert g.theta.tolist() == [0, 25 - 6, 31 - 7, 3]


def test_membrane_saturates():
    cfg = small(v_width=5, theta0=15, leak_shift=4, init_code=7, theta_decay=0,
                device=MTJDevice(p_ltp=[0] + [1.0] * 8))
    g = GoldenSNN(cfg)
    g.init()                                   # p_LTP = 1: every synapse P
    g.theta[:] = 4                             # margin = v - 15 - (4 >> 2) < 0 always
    g.load(np.full(16, 1 << 16, np.int64))     # every input spikes: y = +16
    assert g.step(False) == 0 and g.v.tolist() == [15] * 4    # 0 + 16 -> 15 (rail)
    assert g.step(False) == 0 and g.v.tolist() == [15] * 4    # 15 - 0 + 16 -> 15
    h = GoldenSNN(cfg)                         # no INIT: every synapse AP, y = -16
    h.load(np.full(16, 1 << 16, np.int64))
    h.step(False), h.step(False)
    assert h.v.tolist() == [-16] * 4           # -16 + 1 - 16 -> -16 (rail)


@pytest.mark.parametrize("bad, match", [
    (dict(code=8), "code"), (dict(code=0), "code"), (dict(max_rate=1.5), "max_rate"),
    (dict(n_inputs=15), "multiple of lanes"), (dict(theta_frac=8), "theta_frac"),
    (dict(theta0=200), "theta0"), (dict(rate_bits=30), "rate_bits"),
    (dict(device="ideal"), "MTJDevice"), (dict(schedule=(3, 8)), "schedule code"),
    (dict(schedule=(0,)), "schedule code"), (dict(schedule=3), "schedule"),
])
def test_bad_configs(bad, match):
    with pytest.raises(ValueError, match=match):
        small(**bad)


def test_bad_commands():
    g = GoldenSNN(small())
    with pytest.raises(ValueError, match="rate threshold"):
        g.execute(SOp.PIX, 0, (1 << 16) + 1)
    with pytest.raises(ValueError, match="PIX col"):
        g.execute(SOp.PIX, 16, 0)
    with pytest.raises(ValueError, match="STEP code"):
        g.execute(SOp.STEP, 0, g.dev.n_codes)     # codes 1..n_codes-1 fit the pulse register
    with pytest.raises(ValueError, match="learning code"):
        g.present(np.zeros(16, np.int64), True, 0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        rate_codes(np.array([1.5]), g.config)


LOCKSTEP = [
    dict(),
    dict(n_inputs=16, n_neurons=5, lanes=4, steps=5, theta0=0, leak_shift=4, theta_plus=7,
         theta_frac=1, theta_width=4, v_width=6, theta_decay=2),
    dict(n_inputs=12, n_neurons=3, lanes=1, binarize=True, leak_shift=1, code=7, theta0=1,
         theta_decay=0, device=MTJDevice(pulse_bits=4, rand_bits=16)),
    dict(n_inputs=8, n_neurons=6, lanes=8, steps=3, theta0=1, rate_bits=8, in_rand_bits=20,
         code=2, init_code=7,
         device=MTJDevice(p_ltp=[0, .5, .5, .5, .5, .5, .5, .5, 1.0], p_ltd=[0, .2, .2, .2, .2, .2, .2, .2, 1.0])),
]


@pytest.mark.parametrize("i", range(len(LOCKSTEP)))
def test_amaranth_lockstep_training_runs(i):
    for seed in range(3):
        cfg = small(seed=seed + 7 * i, **LOCKSTEP[i])
        rng = np.random.default_rng(seed)
        Rs = rate_codes(rng.random((4, cfg.n_inputs)), cfg)
        # config.code, then a lower (annealed) code sent in STEP's argument, then inference
        cmds = (snn_commands(cfg, Rs[:2], True) + snn_commands(cfg, Rs[2:], True, init=False, code=1)
                + snn_commands(cfg, Rs[:2], False, init=False))
        rep = amaranth_snn_lockstep(cfg, cmds)
        assert rep.ok, rep.mismatch
        if i != 2:
            assert sum(1 for r in rep.responses if r) > 3


def test_amaranth_lockstep_directed_ties():
    cfg = _tie_cfg()
    cmds = [(SOp.PIX, c, 0) for c in range(16)] + [(SOp.STEP, 0, 1)] * 6 + [(SOp.END, 0, 1)]
    rep = amaranth_snn_lockstep(cfg, cmds)
    assert rep.ok, rep.mismatch
    assert rep.responses == [1, 2, 3, 4, 0, 0]


def test_trained_network_beats_chance_on_digits():
    from synemu.devices.mtj.experiments import train_snn
    r = train_snn("digits", 20, seed=0, epochs=1, show_progress=False)
    assert r["test_accuracy"] > 0.4, r["test_accuracy"]   # chance: 0.1
    assert r["classes_covered"] >= 7


def test_epoch_schedule():
    """Presets with a code schedule train one epoch per code; a clashing epoch count is named."""
    from synemu.devices.mtj.experiments import snn_config, train_snn
    cfg = snn_config("mnist5k", 784, 4, schedule="3,2,1")
    assert cfg.schedule == (3, 2, 1) and cfg.epoch_codes() == (3, 2, 1)
    assert snn_config("mnist5k", 784, 4, schedule="").epoch_codes(2) == (3, 3)
    r = train_snn("digits", 10, epochs=None, n_train=40, n_test=20, show_progress=False,
                  schedule=(3, 1))
    assert r["epochs"] == 2 and r["epoch_codes"] == [3, 1] and r["config"]["schedule"] == [3, 1]
    with pytest.raises(ValueError, match="schedule has 2 codes"):
        train_snn("digits", 10, epochs=3, n_train=40, n_test=20, show_progress=False,
                  schedule=(3, 1))


def test_labelling():
    counts = np.array([[3, 0, 0], [0, 2, 0], [0, 0, 1], [4, 0, 0]])
    labels = np.array([0, 1, 1, 0])
    a = assign_labels(counts, labels, 3)
    assert a.tolist() == [0, 1, 1]
    assert classify(np.array([[0, 0, 5], [5, 0, 0]]), a, 3).tolist() == [1, 0]
    # proportion weighting: neuron 0 is 100 % class 0, neurons 1 and 2 are 100 % class 1
    assert classify_proportion(np.array([[0, 0, 5], [5, 0, 0], [1, 1, 1]]), counts, labels,
                               3).tolist() == [1, 0, 1]


def test_preset_device_params_merge():
    from synemu.devices.mtj.experiments import snn_config
    from synemu.devices.mtj.presets import SNN_PRESETS
    cfg = snn_config("mnist5k", 784, 4)
    for k, v in SNN_PRESETS["mnist5k"].get("device_params", {}).items():
        assert getattr(cfg.device, k) == v
    cfg = snn_config("mnist5k", 784, 4, device_params={"t_pulse": 5e-8})
    assert cfg.device.t_pulse == 5e-8


def test_cli_train_device_mtj_runs_the_stdp_network(tmp_path, capsys):
    import json
    from synemu.cli.main import main
    rc = main(["train", "--device", "mtj", "--dataset", "digits", "--param", "neurons=20",
               "--out", str(tmp_path), "--json"])
    assert rc == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["command"] == "train" and last["learning"] == "unsupervised STDP"
    assert last["n_neurons"] == 20 and 0.4 < last["test_accuracy"] <= 1.0
    assert list(tmp_path.glob("train-mtj-digits-N20-s0-golden*.png"))
    assert list(tmp_path.glob("train-mtj-digits-N20-s0-golden.json"))


@pytest.mark.verilator
def test_verilator_lockstep_training_run():
    """Reduced network (8x8 digits inputs, 12 neurons, 4 lanes) over a whole training run:
    every synapse, x, device/input LFSR, membrane and threshold after every STEP/END."""
    from synemu.runtime.datasets import load_dataset
    from synemu.devices.mtj.experiments import snn_config
    from synemu.devices.mtj.network_sim import SNNSession, SNNSessionDriver, snn_lockstep
    ds = load_dataset("digits", seed=0)
    cfg = snn_config("digits", 64, 12, seed=0, steps=8)
    Rs = rate_codes(ds.x_train[:6], cfg)
    cmds = snn_commands(cfg, Rs, True) + snn_commands(cfg, Rs[:3], False, init=False)
    with SNNSession(cfg) as s:
        rep = asyncio.run(snn_lockstep(SNNSessionDriver(s), cfg, cmds))
    assert rep.ok, rep.mismatch
    assert sum(1 for r in rep.responses if r) > 10


# -- native Verilator driver ------------------------------------------------------------------
def _native_case(n_train=6, n_eval=3):
    """The reduced network of the Verilator tests (one native and one cocotb build) and a
    training + evaluation command stream on digits."""
    from synemu.runtime.datasets import load_dataset
    from synemu.devices.mtj.experiments import snn_config
    ds = load_dataset("digits", seed=0)
    cfg = snn_config("digits", 64, 12, seed=0, steps=8)
    Rs = rate_codes(ds.x_train[:n_train], cfg)
    cmds = snn_commands(cfg, Rs, True) + snn_commands(cfg, Rs[:n_eval], False, init=False)
    return cfg, Rs, cmds


def _same_snapshot(a, b):
    assert a.cycle == b.cycle
    assert np.array_equal(np.asarray(a.words, np.uint64), np.asarray(b.words, np.uint64))
    assert np.array_equal(np.asarray(a.x, np.int64), np.asarray(b.x, np.int64))
    assert set(a.regs) == set(b.regs) == {"dev_rng", "in_rng", "v", "theta", "R"}
    for k in a.regs:
        assert [int(v) for v in np.atleast_1d(a.regs[k])] == \
               [int(v) for v in np.atleast_1d(b.regs[k])], k


@pytest.mark.verilator
def test_native_snn_equals_cocotb_driver():
    """Same command stream through both drivers: identical responses, cycle counts and
    every snapshot field, batch by batch; the two lockstep reports are identical too."""
    from synemu.devices.mtj.network_sim import (NativeSNNSession, SNNSession, SNNSessionDriver,
                                       native_snn_lockstep, snn_lockstep)
    cfg, _, cmds = _native_case()
    cuts = [0, 1, 2, 70, 81, 150, 300, 420, len(cmds)]
    with SNNSession(cfg) as c, NativeSNNSession(cfg) as n:
        assert n.cycle == 1
        for a, b in zip(cuts, cuts[1:]):
            rc, sc = c.run(cmds[a:b], snapshot=True)
            rn, sn = n.run(cmds[a:b], snapshot=True)
            assert rn == [[int(v) for v in r] for r in rc]
            _same_snapshot(sc, sn)
        assert n.run([])[0] == c.run([])[0] == []
        assert n.run(cmds[:5])[1] is None
        n.restart()                              # a fresh simulation of the same build
        assert n.cycle == 1 and n.run(cmds[:1], snapshot=True)[1].cycle > 1
    with SNNSession(cfg) as c:
        rep_c = asyncio.run(snn_lockstep(SNNSessionDriver(c), cfg, cmds))
    rep_n = native_snn_lockstep(cfg, cmds, batch=97)
    assert rep_c.ok and rep_n.ok, (rep_c.mismatch, rep_n.mismatch)
    for k in ("commands", "steps", "compared", "cycles", "responses"):
        assert getattr(rep_n, k) == getattr(rep_c, k), k
    assert sum(1 for r in rep_n.responses if r) > 10


@pytest.mark.verilator
def test_native_snn_run_states_and_batches_equal_golden():
    """Whole-state records after chosen commands, present_batch and the train_snn paths
    (native in chunks, cocotb per sample) agree with the golden network."""
    from synemu.devices.mtj.experiments import train_snn
    from synemu.devices.mtj.network_sim import NativeSNNSession, golden_snapshot, diff_snn
    cfg, Rs, cmds = _native_case()
    g = GoldenSNN(cfg)
    with NativeSNNSession(cfg) as s:
        snap = np.array([c[0] != SOp.PIX for c in cmds])
        resps, st = s.run_states(cmds, snap)
        assert len(st) == int(snap.sum())
        k = 0
        for i, c in enumerate(cmds):
            assert resps[i] == g.execute(*c)
            if snap[i]:
                assert diff_snn(golden_snapshot(g), st.snapshot(k), cfg.n_inputs) is None
                k += 1
        assert np.all(np.diff(st.cycles) > 0)
        # whole samples in one call, learning and evaluation
        counts = s.present_batch(Rs[::-1], True, 2)
        exp = np.stack([g.present(R, True, 2) for R in Rs[::-1]])
        assert np.array_equal(counts, exp) and counts.sum() > 0
        assert np.array_equal(s.present_batch(Rs, False), g.evaluate(Rs))
        assert diff_snn(golden_snapshot(g), s.snapshot(), cfg.n_inputs) is None
        assert s.present_batch(Rs[:0], False).shape == (0, cfg.n_neurons)
        with pytest.raises(ValueError, match="arg"):
            s.run([(SOp.PIX, 0, 1 << cfg.arg_width)])
    kw = dict(n_train=30, n_test=12, show_progress=False, steps=8)
    gold = train_snn("digits", 12, **kw)
    for driver, chunk in (("native", 7), ("cocotb", 256)):
        r = train_snn("digits", 12, backend="verilator", driver=driver, chunk=chunk,
                      compare_golden=True, **kw)
        assert r["identical_to_golden"] and r["driver"] == driver
        for key in ("predictions", "counts_sha", "states_sha", "neuron_labels", "test_accuracy"):
            assert r[key] == gold[key], (driver, key)
    with pytest.raises(ValueError, match="driver"):
        train_snn("digits", 12, backend="verilator", driver="icarus", **kw)


class _Faulty(GoldenSNN):
    """Golden network that goes wrong at its ``at``-th command: ``flip`` a synapse
    (state mismatch) or ``lie`` in a STEP response."""

    def __init__(self, cfg, at, mode):
        super().__init__(cfg)
        self.at, self.mode, self.n = at, mode, 0

    def execute(self, op, col=0, arg=0):
        r = super().execute(op, col, arg)
        if self.n == self.at:
            if self.mode == "flip":
                self.engine.state["s"][2, 9] ^= 1
                self._wf = None
            else:
                r = [r[0] + 1]
        self.n += 1
        return r


@pytest.mark.verilator
def test_native_snn_lockstep_catches_mismatches():
    """A golden model with a perturbed state is caught at the first command whose state or
    response differs, also across batch boundaries; the message names what differs."""
    from synemu.devices.mtj.network_sim import NativeSNNSession, native_snn_lockstep
    cfg, _, cmds = _native_case()
    with NativeSNNSession(cfg) as s:
        # a synapse flipped before the stream: caught after INIT (command 0)
        g = GoldenSNN(cfg)
        g.engine.state["s"][3, 5] ^= 1
        rep = native_snn_lockstep(cfg, cmds, session=s, golden=g)
        assert not rep.ok and rep.commands == 1 and rep.compared == 1
        assert "after command #0 INIT" in rep.mismatch and "synapse row 3 col 5" in rep.mismatch
        # a synapse flipped by the golden model at a STEP in the third batch of 50
        i = next(i for i, c in enumerate(cmds) if i > 120 and c[0] == SOp.STEP)
        s.restart()
        rep = native_snn_lockstep(cfg, cmds, session=s, golden=_Faulty(cfg, i, "flip"), batch=50)
        assert not rep.ok and rep.commands == i + 1
        assert rep.mismatch.startswith(f"after command #{i} STEP (cycle ")
        assert "synapse row 2 col 9" in rep.mismatch
        assert rep.steps == sum(1 for c in cmds[:i + 1] if c[0] == SOp.STEP)
        # a wrong STEP response
        s.restart()
        rep = native_snn_lockstep(cfg, cmds, session=s, golden=_Faulty(cfg, i, "lie"), batch=50)
        assert not rep.ok and rep.commands == i + 1
        assert rep.mismatch.startswith(f"command #{i} STEP: response expected")
        # every=False compares after END only: a threshold off by one (invisible to the
        # margin, theta >> theta_frac) is caught at the first END
        s.restart()
        g = GoldenSNN(cfg)
        g.theta[0] += 1
        rep = native_snn_lockstep(cfg, cmds, session=s, golden=g, every=False)
        end = next(i for i, c in enumerate(cmds) if c[0] == SOp.END)
        assert not rep.ok and rep.compared == 1
        assert rep.mismatch.startswith(f"after command #{end} END") and "theta[0]" in rep.mismatch
    # an unknown op is rejected before anything runs
    with pytest.raises(ValueError):
        native_snn_lockstep(cfg, [(7, 0, 0)])


@pytest.mark.verilator
def test_snn_verify_cli_native_driver(capsys):
    import json
    from synemu.cli.main import main
    rc = main(["mtj", "snn-verify", "--backend", "verilator", "--seeds", "1", "--samples", "3",
               "--neurons", "12", "--steps", "8", "--json"])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0 and last["driver"] == "native" and not last["failed_seeds"]
    assert last["compared"] > 20 and last["steps"] == 5 * 8
    assert main(["mtj", "snn-verify", "--seeds", "0"]) == 2


# -- the block-RAM controller: banks, draws, deferred resets, cycles ----------------------------
class _Watch(GoldenSNN):
    """Golden network counting the corner cases a command stream reaches: membranes on a
    rail, thresholds saturated, WTA ties among non-negative margins, learning spikes, ENDs
    with a decay still pending (END(learn) twice before a STEP) and INITs."""

    def __init__(self, cfg):
        super().__init__(cfg)
        self.seen = dict(v_rail=0, theta_max=0, ties=0, learn_spikes=0, double_end=0, init=0)
        self._ended = False

    def _integrate(self, y):
        w = super()._integrate(y)
        self.seen["v_rail"] += int(np.sum((self.v == self.v_fmt.max) | (self.v == self.v_fmt.min)))
        m = self.v - self.config.theta0 - (self.theta >> self.config.theta_frac)
        if w >= 0 and np.sum(m == m.max()) > 1:
            self.seen["ties"] += 1
        return w

    def _spike(self, w, code):
        super()._spike(w, code)
        if code:
            self.seen["learn_spikes"] += 1
            self.seen["theta_max"] += int(self.theta[w] == self.theta_max)

    def execute(self, op, col=0, arg=0):
        op = SOp(op)
        if op is SOp.END and arg and self._ended:
            self.seen["double_end"] += 1
        if op is SOp.INIT:
            self.seen["init"] += 1
        if op in (SOp.END, SOp.STEP):
            self._ended = op is SOp.END and bool(arg)
        return super().execute(op, col, arg)


class _HighTie(GoldenSNN):
    """A deliberately wrong golden network: WTA ties go to the highest index."""

    def _integrate(self, y):
        cfg = self.config
        self.v = self.v_fmt.saturate(self.v - (self.v >> cfg.leak_shift) + y)
        m = self.v - cfg.theta0 - (self.theta >> cfg.theta_frac)
        if m.max() < 0:
            return -1
        return int(len(m) - 1 - np.argmax(m[::-1]))


def _corner_stream(cfg, seed, n_train=4, n_eval=2):
    """INIT, learning samples (config code, then code 1), END(learn) twice, an evaluation
    sample, INIT again, more learning; random rates with some columns at 0 and 2**rate_bits,
    and every fourth sample all at 2**rate_bits."""
    rng = np.random.default_rng(seed)
    Rs = rate_codes(rng.random((n_train + n_eval, cfg.n_inputs)), cfg)
    Rs[:, ::5] = 1 << cfg.rate_bits
    Rs[:, 1::7] = 0
    Rs[1::4] = 1 << cfg.rate_bits        # every input spikes every step: large |y|, rails
    cmds = snn_commands(cfg, Rs[:n_train // 2], True)
    cmds += snn_commands(cfg, Rs[n_train // 2:n_train], True, init=False, code=1)
    cmds += [(SOp.END, 0, 1), (SOp.END, 0, 1), (SOp.END, 0, 0)]
    cmds += snn_commands(cfg, Rs[n_train:], False, init=False)
    cmds += [(SOp.INIT, 0, 0)] + snn_commands(cfg, Rs[:2], True, init=False)
    return cmds


#: reduced networks for the controller's own lockstep: (config overrides, banks, draws);
#: narrow v/theta (rails and saturation), banks not dividing N, B > K, K = 1, G = L
CONTROLLER_CASES = [
    (dict(n_inputs=32, n_neurons=10, lanes=4, steps=6, v_width=6, theta_width=6, theta_frac=2,
          theta_plus=40, theta0=10, leak_shift=3, theta_decay=3), 3, 2),
    (dict(n_inputs=8, n_neurons=6, lanes=8, steps=5, init_code=5, theta0=4, theta_plus=12,
          theta_frac=3, theta_width=6, v_width=5, leak_shift=4, theta_decay=4, code=2), 4, 8),
]


@pytest.mark.parametrize("case", range(len(CONTROLLER_CASES)))
def test_amaranth_lockstep_banks_and_draws(case):
    """Memory-based controller vs golden on Amaranth's simulator for several bank/draw
    shapes of one network: every state after every command, incl. deferred resets."""
    kw, banks, draws = CONTROLLER_CASES[case]
    cfg = small(seed=11 + case, **kw)
    cmds = _corner_stream(cfg, case, n_train=2, n_eval=1)
    shapes = [(banks, draws), (1, 1)] + ([(cfg.n_neurons, cfg.lanes)] if case else [])
    for b, g in shapes:
        rep = amaranth_snn_lockstep(cfg, cmds, banks=b, draws=g)
        assert rep.ok, (b, g, rep.mismatch)
        assert rep.compared == sum(1 for c in cmds if c[0] != SOp.PIX)


def test_controller_cycles_match_formula():
    """Every command takes exactly the clocks of SNNController.step_cycles/init_cycles
    (PIX and END: 1), for several bank/draw shapes."""
    from amaranth.sim import Simulator
    from synemu.devices.mtj.network_gateware import SNNController
    from synemu.devices.mtj.network_sim import AmaranthSNNDriver
    for kw, shapes in ((LOCKSTEP[0], [(1, 1), (3, 2), (4, 1)]), (LOCKSTEP[3], [(6, 8), (2, 1)])):
        cfg = small(**kw)
        for banks, draws in shapes:
            dut = SNNController(cfg, banks=banks, draws=draws, debug=True)
            g = GoldenSNN(cfg)
            Rs = rate_codes(np.random.default_rng(0).random((2, cfg.n_inputs)), cfg)
            cmds = snn_commands(cfg, Rs, True) + [(SOp.END, 0, 1), (SOp.END, 0, 0)]
            got, want = [], []
            sim = Simulator(dut)
            sim.add_clock(1e-6)

            async def tb(ctx):
                d = AmaranthSNNDriver(ctx, dut)
                due = False         # a decay is pending: END(learn) costs a theta sweep
                for op, col, arg in cmds:
                    exp = g.execute(op, col, arg)
                    c0 = d.cycle
                    await d.send((op, col, arg), len(exp))
                    got.append(d.cycle - c0)
                    want.append(dut.step_cycles(bool(exp[0]) and arg != 0) if op == SOp.STEP
                                else dut.init_cycles() if op == SOp.INIT
                                else cfg.n_neurons + 3 if op == SOp.END and arg and due else 1)
                    due = (due and op != SOp.STEP) or (op == SOp.END and arg == 1)

            sim.add_testbench(tb)
            sim.run()
            assert got == want, (banks, draws)
    c = SNNController(SNNConfig(n_inputs=784, n_neurons=400, lanes=16), banks=25, draws=4)
    assert c.step_cycles() == 196 + 15 * 49 + 49 + 25 + 12 and c.step_cycles(True) == 1017 + 52
    assert c.sample_cycles(2) == 784 + 1 + 16 * 1017 + 2 * 52


def test_amaranth_lockstep_catches_flipped_tie_rule():
    """The comparison checks something: a golden model whose ties go to the highest index
    disagrees with the hardware at the first tied STEP."""
    cfg = _tie_cfg()
    cmds = [(SOp.PIX, c, 0) for c in range(16)] + [(SOp.STEP, 0, 1)] * 3
    rep = amaranth_snn_lockstep(cfg, cmds, golden=_HighTie(cfg), banks=3, draws=2)
    assert not rep.ok and rep.mismatch == "command #16 STEP: response expected [4], got [1]"


@pytest.mark.parametrize("kw, match", [
    (dict(banks=0), "banks"), (dict(banks=5), "banks"), (dict(draws=3), "draws"),
    (dict(draws=4), "draws"), (dict(debug=1), "debug"),
])
def test_controller_bad_parameters(kw, match):
    from synemu.devices.mtj.network_gateware import SNNController
    with pytest.raises((ValueError, TypeError), match=match):
        SNNController(small(), **kw)      # N = 4, lanes = 2


@pytest.mark.verilator
@pytest.mark.parametrize("case", range(len(CONTROLLER_CASES)))
def test_native_lockstep_memory_controller(case):
    """The block-RAM controller on the native Verilator driver over a few hundred STEPs per
    case (2 seeds): learning spikes, WTA ties, membranes on both rails, saturated
    thresholds, END(learn) twice in a row, a second INIT; every state after every command.
    A golden model with the tie rule flipped is caught at the first tied STEP."""
    from synemu.devices.mtj.network_sim import NativeSNNSession, native_snn_lockstep
    kw, banks, draws = CONTROLLER_CASES[case]
    seen, steps, caught = {}, 0, 0
    for seed in (0, 1):
        cfg = small(seed=seed + 31 * case, **kw)
        cmds = _corner_stream(cfg, 10 * case + seed, n_train=16, n_eval=4)
        g = _Watch(cfg)
        with NativeSNNSession(cfg, banks=banks, draws=draws) as s:
            rep = native_snn_lockstep(cfg, cmds, session=s, golden=g, batch=157)
            assert rep.ok, rep.mismatch
            assert rep.compared == sum(1 for c in cmds if c[0] != SOp.PIX)
            if g.seen["ties"]:
                s.restart()
                bad = native_snn_lockstep(cfg, cmds, session=s, golden=_HighTie(cfg))
                assert not bad.ok and "STEP: response expected" in bad.mismatch, bad.mismatch
                caught += 1
        steps += rep.steps
        for k, v in g.seen.items():
            seen[k] = seen.get(k, 0) + v
    assert steps >= 200 and caught >= 1
    assert all(v > 0 for v in seen.values()), seen
