"""Fixed-point formats, saturation and rounding: the golden (specification) side.

Every hardware datapath in synemu is integer. This module is the one home of the integer
conventions that :mod:`synemu.gateware.fixed` mirrors bit for bit:

* :class:`IntFormat` -- a ``width``-bit two's-complement (``signed``) or unsigned integer
  register: its range, saturation (clamp to the rails) and the NumPy dtype that holds it.
* :class:`QFormat` -- a ``Qm.n`` fixed-point number used to *describe physical parameters*
  (quantised with the ``fixedpoint`` package, round-to-nearest, clamped at the rails).
* :func:`round_shift` -- arithmetic right shift by ``shift`` bits with a rounding mode:

  ``floor``         ``v >> s`` (toward minus infinity);
  ``nearest_even``  to nearest, ties to the even quotient (IEEE/"convergent");
  ``stochastic``    ``(v >> s) + ((v & (2**s-1)) + u >= 2**s)``, with ``u`` the low ``s`` bits
                    of an LFSR word, so the probability of rounding up is the discarded
                    fraction ``(v & (2**s-1)) / 2**s``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from fixedpoint import FixedPoint

__all__ = ["Rounding", "IntFormat", "QFormat", "saturate", "sat_add", "round_shift",
           "dtype_for", "clog2", "check_int", "clamp", "events_in"]


def check_int(name: str, v, lo: int, hi: int, prefix: str = "") -> int:
    """``int(v)`` if ``v`` is an integer (not a bool) in ``lo..hi``; otherwise a ValueError
    naming the parameter (``prefix`` names its owner, e.g. ``"fn device: "``)."""
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or not lo <= v <= hi:
        raise ValueError(f"{prefix}{name} must be an integer in {lo}..{hi}, not {v!r}")
    return int(v)


class Rounding(str, enum.Enum):
    """Rounding mode of :func:`round_shift` (identical in golden and HDL)."""

    FLOOR = "floor"
    NEAREST_EVEN = "nearest_even"
    STOCHASTIC = "stochastic"

    @classmethod
    def parse(cls, value: "Rounding | str") -> "Rounding":
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(m.value for m in cls)
            raise ValueError(f"unknown rounding mode {value!r}; expected one of {names}") from None


def clog2(n: int) -> int:
    """Bits needed to count ``0 .. n-1`` (at least 1)."""
    return max(1, (int(n) - 1).bit_length())


def dtype_for(width: int, signed: bool) -> np.dtype:
    """Smallest NumPy integer dtype that holds a ``width``-bit register."""
    for bits in (8, 16, 32, 64):
        if width <= bits:
            return np.dtype(f"{'' if signed else 'u'}int{bits}")
    raise ValueError(f"a {width}-bit register does not fit a 64-bit NumPy integer")


#: arrays up to this many elements are clamped with ``minimum``/``maximum`` (less call
#: overhead than ``np.clip``); larger ones with ``np.clip`` (one pass). Same result.
_SMALL_CLIP = 256


def clamp(v: np.ndarray, lo: int, hi: int, out: np.ndarray | None = None) -> np.ndarray:
    """``np.clip(v, lo, hi, out=out)`` for integer arrays ``v`` whose dtype holds ``lo`` and
    ``hi`` (faster on small arrays)."""
    if v.size > _SMALL_CLIP:
        return np.clip(v, lo, hi, out=out)
    if out is None:
        return np.minimum(np.maximum(v, lo), hi)
    np.maximum(v, lo, out=out)
    return np.minimum(out, hi, out=out)


@dataclass(frozen=True)
class IntFormat:
    """A ``width``-bit integer register, two's complement when ``signed``."""

    width: int
    signed: bool = True

    def __post_init__(self):
        if not isinstance(self.width, int) or isinstance(self.width, bool) or not 1 <= self.width <= 64:
            raise ValueError(f"bit width must be an integer in 1..64, not {self.width!r}")
        if self.signed and self.width < 2:
            raise ValueError("a signed register needs at least 2 bits")

    # derived constants are cached on the (immutable) instance; equality, hashing and repr
    # only see the dataclass fields
    @cached_property
    def min(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @cached_property
    def max(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @cached_property
    def dtype(self) -> np.dtype:
        return dtype_for(self.width, self.signed)

    @cached_property
    def _mask64(self) -> np.uint64:
        return np.uint64((1 << self.width) - 1)

    def contains(self, v) -> bool:
        if type(v) is int:          # scalar fast path (same answer as the array test)
            return self.min <= v <= self.max
        v = np.asarray(v)
        return bool(np.all((v >= self.min) & (v <= self.max)))

    def check(self, v, what: str = "value"):
        """Raise ``ValueError`` naming ``what`` if any element of ``v`` is out of range."""
        v = np.asarray(v)
        if v.dtype.kind not in "iu":
            raise ValueError(f"{what} must be integers, got dtype {v.dtype}")
        if not self.contains(v):
            bad = v[(v < self.min) | (v > self.max)].ravel()[0]
            raise ValueError(f"{what} {int(bad)} does not fit a {self.width}-bit "
                             f"{'signed' if self.signed else 'unsigned'} register "
                             f"[{self.min}, {self.max}]")
        return v

    def saturate(self, v):
        """Clamp ``v`` to ``[min, max]`` (int64 result; int32 input stays int32)."""
        v = np.asarray(v)
        if v.dtype != np.int32 or self.width > 32:
            v = v.astype(np.int64, copy=False)      # (clamp returns a new array)
        return clamp(v, self.min, self.max)

    def to_bits(self, v):
        """Two's-complement bit pattern (uint64) of in-range values."""
        return np.asarray(v, dtype=np.int64).astype(np.uint64) & self._mask64

    def from_bits(self, bits):
        """Inverse of :meth:`to_bits` (returns int64)."""
        b = np.asarray(bits, dtype=np.uint64) & self._mask64
        v = b.astype(np.int64)
        if self.signed and self.width < 64:
            v = np.where(v >= (1 << (self.width - 1)), v - (1 << self.width), v)
        return v

    # -- Python-int versions of to_bits / from_bits (scalar fast paths, same values) ----
    def int_to_bits(self, v: int) -> int:
        """``int(to_bits(v))`` of one in-range Python int."""
        return v & ((1 << self.width) - 1)

    def int_from_bits(self, bits: int) -> int:
        """``int(from_bits(bits))`` of one non-negative Python int."""
        b = bits & ((1 << self.width) - 1)
        if self.signed and b >> (self.width - 1):
            b -= 1 << self.width
        return b


@dataclass(frozen=True)
class QFormat:
    """Fixed-point ``Qm.n``: ``m`` integer bits, ``n`` fraction bits, optional sign bit.

    Used to quantise physical parameters (volts, seconds, siemens) into integer codes;
    ``code = round(value * 2**n)`` clamped to the representable range.
    """

    m: int
    n: int
    signed: bool = False

    def __post_init__(self):
        if self.m < 0 or self.n < 0 or self.m + self.n < 1 or self.m + self.n > 64:
            raise ValueError(f"bad fixed-point format Q{self.m}.{self.n}: need 1..64 bits in all")

    @property
    def width(self) -> int:
        return self.m + self.n + (1 if self.signed else 0)

    @property
    def lsb(self) -> float:
        return 2.0 ** -self.n

    def quantize(self, value: float) -> int:
        """Integer code of ``value`` (round to nearest, clamp at the rails)."""
        fp = FixedPoint(float(value), signed=self.signed, m=self.m + (1 if self.signed else 0),
                        n=self.n, rounding="nearest", overflow="clamp", overflow_alert="ignore")
        bits = int(fp.bits)
        if self.signed and bits >> (self.width - 1):
            bits -= 1 << self.width
        return bits

    def to_float(self, code) -> np.ndarray | float:
        return np.asarray(code, dtype=np.float64) * self.lsb


def saturate(v, width: int, signed: bool = True):
    """Clamp ``v`` to a ``width``-bit register, two's complement if ``signed`` else unsigned
    (int64 result; the hardware form is :func:`synemu.gateware.fixed.saturate`)."""
    return IntFormat(width, signed).saturate(v)


def sat_add(a, b, width: int, signed: bool = True):
    """Saturating ``a + b`` in a ``width``-bit register (int64 result)."""
    return saturate(np.asarray(a, dtype=np.int64) + np.asarray(b, dtype=np.int64), width, signed)


def round_shift(v, shift: int, mode: Rounding | str = Rounding.FLOOR, rand=None):
    """Arithmetic right shift of integers ``v`` by ``shift`` bits with rounding ``mode``.

    ``rand`` (stochastic mode only): LFSR words, broadcastable to ``v``; their low ``shift``
    bits are the uniform draw. Returns int64 (int32 if ``v`` is int32; the caller guarantees
    no overflow, as rounding adds at most 1 to ``v >> shift``).
    """
    if not isinstance(mode, Rounding):
        mode = Rounding.parse(mode)
    v = np.asarray(v)
    if v.dtype not in (np.int32, np.int64):
        v = v.astype(np.int64)
    if shift < 0:
        raise ValueError(f"shift must be >= 0, not {shift}")
    if shift == 0:
        return v.copy()
    q = v >> shift
    r = v & ((1 << shift) - 1)
    if mode is Rounding.FLOOR:
        return q
    if mode is Rounding.NEAREST_EVEN:
        half = 1 << (shift - 1)
        up = (r > half) | ((r == half) & ((q & 1) == 1))
        return q + up
    if rand is None:
        raise ValueError("stochastic rounding needs LFSR words (rand)")
    u = np.asarray(rand).astype(v.dtype) & ((1 << shift) - 1)
    return q + ((r + u) >> shift)


def events_in(time: int, n: int, period_log2: int) -> int:
    """Multiples of ``2^period_log2`` in ``(time, time + n]`` (periodic events of a TICK of
    ``n`` ticks from ``time``; ``time + n`` without wrap-around)."""
    return ((int(time) + int(n)) >> period_log2) - (int(time) >> period_log2)
