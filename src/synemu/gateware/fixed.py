"""Saturation and rounding in Amaranth, bit-exact with :mod:`synemu.spec.fixed`.

All functions build combinational expressions; results carry an explicit shape.
"""

from amaranth.hdl import Cat, Const, Mux, Value, unsigned
from amaranth.hdl import signed as signed_shape

from ..spec.fixed import IntFormat, Rounding

__all__ = ["saturate", "round_shift", "tree_sum", "mul", "mul_const", "Rounding"]


def saturate(value, width: int, signed: bool = True) -> Value:
    """Clamp ``value`` to a ``width``-bit register, two's complement if ``signed`` else
    unsigned (as golden :func:`synemu.spec.fixed.saturate`); result shape ``signed(width)``
    or ``unsigned(width)``."""
    fmt = IntFormat(width, signed)
    value = Value.cast(value)
    shape = signed_shape(width) if signed else unsigned(width)
    clamped = Mux(value > fmt.max, Const(fmt.max, shape),
                  Mux(value < fmt.min, Const(fmt.min, shape), value))
    return clamped[:width].as_signed() if signed else clamped[:width]


def round_shift(value, shift: int, mode: Rounding | str, rand=None) -> Value:
    """Arithmetic ``value >> shift`` with rounding ``mode`` (see golden ``round_shift``).

    ``value`` must be a signed (or unsigned) Amaranth value; ``rand`` (stochastic mode) an
    LFSR word whose low ``shift`` bits are the uniform draw. The result is one bit wider
    than ``value >> shift`` so rounding up can never wrap.
    """
    mode = Rounding.parse(mode)
    value = Value.cast(value)
    if shift == 0:
        return value
    q = value >> shift
    width = len(q) + 1
    shape = signed_shape(width) if q.shape().signed else unsigned(width)
    if mode is Rounding.FLOOR:
        return q.as_signed() if shape.signed else q
    r = value[:shift]
    if mode is Rounding.NEAREST_EVEN:
        half = 1 << (shift - 1)
        up = (r > half) | ((r == half) & q[0])
    else:
        if rand is None:
            raise ValueError("stochastic rounding needs an LFSR word (rand)")
        up = (r + Value.cast(rand)[:shift])[shift]
    total = q + up
    return total[:width].as_signed() if shape.signed else total[:width]


def tree_sum(values) -> Value:
    """Sum of ``values`` as a balanced adder tree (depth ``ceil(log2 n)``; a linear chain
    would be slower in hardware and overflow the Python simulator's recursion)."""
    values = [Value.cast(v) for v in values]
    if not values:
        raise ValueError("tree_sum of nothing")
    while len(values) > 1:
        nxt = [values[i] + values[i + 1] for i in range(0, len(values) - 1, 2)]
        if len(values) % 2:
            nxt.append(values[-1])
        values = nxt
    return values[0]


def mul(a, b, *, narrow: int = 3) -> Value:
    """``a * b`` (full-width product, Amaranth's result shape). When one operand has at most
    ``narrow`` bits, the product is built from shifts and adds of the other operand, so
    synthesis spends no DSP block on it (a spike or a +-1 weight times a word costs a few
    LUTs, where ``synth_ice40 -dsp`` would otherwise take one of the UP5K's 8 SB_MAC16)."""
    a, b = Value.cast(a), Value.cast(b)
    if len(a) < len(b):
        a, b = b, a
    shape = (a * b).shape()
    if len(b) > narrow:
        return a * b
    terms = []
    for i in range(len(b)):
        term = Mux(b[i], a << i, 0)
        if b.shape().signed and i == len(b) - 1:
            term = -term          # the sign bit of a two's-complement operand weighs -2**i
        terms.append(term)
    total = tree_sum(terms)
    return total[:shape.width].as_signed() if shape.signed else total[:shape.width]


def mul_const(a, k: int) -> Value:
    """``a * k`` for an unsigned ``a`` and a constant ``k >= 0``, as a balanced sum of
    shifted copies of ``a`` (one per set bit of ``k``): no DSP block (``synth_ice40 -dsp``
    maps every ``$mul``, constant ones included, to an SB_MAC16). Width
    ``len(a) + k.bit_length()`` bits."""
    a = Value.cast(a)
    if a.shape().signed:
        raise TypeError("mul_const takes an unsigned operand")
    if not isinstance(k, int) or k < 0:
        raise ValueError(f"mul_const needs a constant k >= 0, not {k!r}")
    width = len(a) + max(k.bit_length(), 1)
    terms = [a << i for i in range(k.bit_length()) if k >> i & 1]
    if not terms:
        return Const(0, width)
    return Cat(tree_sum(terms), Const(0, width))[:width]

