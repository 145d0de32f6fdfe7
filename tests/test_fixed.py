"""Saturation and rounding: golden vs Amaranth, exhaustively on small widths."""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.sim import Simulator

from synemu.spec.fixed import IntFormat, QFormat, Rounding, round_shift, sat_add, saturate
from synemu.gateware import fixed as H


def _comb_eval(build, inputs):
    """Evaluate a combinational expression for every input tuple on Amaranth's simulator."""
    m = Module()
    sigs, out = build(m)
    sim = Simulator(m)
    results = []

    async def tb(ctx):
        for vals in inputs:
            for s, v in zip(sigs, vals):
                ctx.set(s, int(v))
            results.append(ctx.get(out))

    sim.add_testbench(tb)
    sim.run()
    return np.array(results, dtype=np.int64)


@pytest.mark.parametrize("mode", list(Rounding))
@pytest.mark.parametrize("shift", [0, 1, 3])
def test_round_shift_golden_vs_hdl_exhaustive(mode, shift):
    vals = np.arange(-128, 128)
    rands = np.arange(0, 16)
    grid = np.array([(v, r) for v in vals for r in rands])

    def build(m):
        v, r = Signal(signed(8)), Signal(unsigned(4))
        o = Signal(signed(10))
        m.d.comb += o.eq(H.round_shift(v, shift, mode, r))
        return (v, r), o

    got = _comb_eval(build, grid)
    exp = round_shift(grid[:, 0], shift, mode, grid[:, 1])
    np.testing.assert_array_equal(got, exp)


def test_round_shift_semantics():
    # nearest-even ties go to the even quotient
    assert list(round_shift([2, 6, 10, -2, -6], 2, "nearest_even")) == [0, 2, 2, 0, -2]
    assert list(round_shift([-1, -4, -5], 2, "floor")) == [-1, -1, -2]
    # stochastic: P(up) = discarded fraction, over every draw of the shift's bits
    ups = round_shift(np.full(16, 5), 4, "stochastic", np.arange(16))
    assert ups.sum() == 5
    with pytest.raises(ValueError, match="needs LFSR words"):
        round_shift([1], 2, "stochastic")
    with pytest.raises(ValueError, match="unknown rounding mode"):
        round_shift([1], 2, "truncate")


@pytest.mark.parametrize("width,signed_", [(4, True), (5, False), (3, True)])
def test_saturate_golden_vs_hdl(width, signed_):
    vals = np.arange(-64, 64)

    def build(m):
        v = Signal(signed(8))
        o = Signal(signed(width) if signed_ else unsigned(width))
        m.d.comb += o.eq(H.saturate(v, width, signed=signed_))
        return (v,), o

    got = _comb_eval(build, vals[:, None])
    np.testing.assert_array_equal(got, saturate(vals, width, signed=signed_))
    assert sat_add(7, 5, 4).item() == 7 and sat_add(-7, -5, 4).item() == -8


def test_tree_sum_balanced_and_exact():
    def build(m):
        xs = [Signal(signed(6), name=f"x{i}") for i in range(7)]
        o = Signal(signed(10))
        m.d.comb += o.eq(H.tree_sum(xs))
        return xs, o

    rng = np.random.default_rng(0)
    ins = rng.integers(-32, 32, (50, 7))
    np.testing.assert_array_equal(_comb_eval(build, ins), ins.sum(axis=1))


@pytest.mark.parametrize("sa,sb", [(signed(8), signed(2)), (signed(7), signed(3)),
                                   (unsigned(6), signed(2)), (signed(5), unsigned(2)),
                                   (signed(2), signed(2)), (unsigned(4), unsigned(3))])
def test_mul_narrow_operand_exhaustive(sa, sb):
    """Shift-add products (no DSP) equal a * b for every operand pair, shapes included."""
    def rng(s):
        return np.arange(-(1 << s.width - 1), 1 << s.width - 1) if s.signed else np.arange(1 << s.width)

    shape = (Signal(sa) * Signal(sb)).shape()

    def build(m):
        a, b = Signal(sa), Signal(sb)
        assert H.mul(a, b).shape() == shape and H.mul(b, a).shape() == shape
        o = Signal(shape)
        m.d.comb += o.eq(H.mul(b, a))
        return (a, b), o

    ins = np.array([(x, y) for x in rng(sa) for y in rng(sb)])
    np.testing.assert_array_equal(_comb_eval(build, ins), ins[:, 0] * ins[:, 1])


@pytest.mark.parametrize("k", [0, 1, 2, 3, 35, 64, 255, 1000])
def test_mul_const_exhaustive(k):
    """Constant products from shifted sums (no DSP) equal a * k for every 7-bit a; the
    width holds the largest product; signed operands and negative k are refused."""
    def build(m):
        a = Signal(7)
        p = H.mul_const(a, k)
        assert len(p) == 7 + max(k.bit_length(), 1)
        o = Signal(len(p))
        m.d.comb += o.eq(p)
        return (a,), o

    ins = np.arange(128).reshape(-1, 1)
    np.testing.assert_array_equal(_comb_eval(build, ins), ins[:, 0] * k)
    with pytest.raises(TypeError, match="unsigned operand"):
        H.mul_const(Signal(signed(4)), 3)
    with pytest.raises(ValueError, match="constant k >= 0"):
        H.mul_const(Signal(4), -1)


def test_formats_and_errors():
    f = IntFormat(6, True)
    assert (f.min, f.max) == (-32, 31)
    np.testing.assert_array_equal(f.from_bits(f.to_bits([-32, -1, 0, 31])), [-32, -1, 0, 31])
    with pytest.raises(ValueError, match="does not fit a 6-bit signed"):
        f.check(np.array([40]), "weight")
    with pytest.raises(ValueError, match="bit width"):
        IntFormat(0)
    with pytest.raises(ValueError, match="bit width"):
        IntFormat(65)
    q = QFormat(4, 16)
    assert q.quantize(7.95) == round(7.95 * 2**16)
    assert q.quantize(100.0) == (1 << 20) - 1          # clamps at the rail
    assert QFormat(3, 4, signed=True).quantize(-1.3) == -21
    with pytest.raises(ValueError, match="fixed-point format"):
        QFormat(40, 40)
