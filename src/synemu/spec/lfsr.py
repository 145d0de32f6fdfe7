"""Maximal-length LFSRs: the bit-exact specification for :mod:`synemu.gateware.lfsr`.

Conventions (the hardware must match these exactly):

* **Galois form** (one-to-many, right-shifting), ``width`` bits, mask ``m``::

      step(s) = (s >> 1) ^ (m if s & 1 else 0)

  ``m`` always has bit ``width-1`` set. This is multiplication by ``x**-1`` in
  ``GF(2)[x] / P(x)`` with ``P(x) = 1 + sum(x**(k+1) for each set bit k of m)``,
  e.g. ``0xB400`` (bits 15, 13, 12, 10) <-> ``x^16 + x^14 + x^13 + x^11 + 1``.
* **Fibonacci form** (many-to-one, left-shifting), same tap mask ``m``::

      step(s) = ((s << 1) | parity(s & m)) & (2**width - 1)

  i.e. the XOR of the tapped bits is fed into bit 0. Its characteristic polynomial is
  the reciprocal of ``P``, which is primitive iff ``P`` is, so both forms have period
  ``2**width - 1`` over all nonzero states (the state sequences differ).
* **Draw convention**: the word a lane "draws" at a step is its state *after* that
  step. ``LFSRBank.draw(n)[i]`` are the states after step ``i + 1``; the seed itself is
  never drawn. In hardware ``state`` is the register; with ``en`` high at a clock edge
  the register takes ``step(state)`` (the ``next`` output).
* Widths 3..64; states are nonzero and < ``2**width`` (zero is the lock-up state).

How ``GALOIS_TAPS`` was verified: the tap sets are the maximal-length taps of Xilinx
XAPP052 (Table 3; width 16 uses ``x^16+x^14+x^13+x^11+1``), converted to masks with
bit ``t-1`` for tap ``t``. Every entry is checked by :func:`is_primitive`
(``x**(2**n-1) == 1 mod P`` and ``x**((2**n-1)/q) != 1`` for every prime ``q``
dividing ``2**n-1``, factored with Miller-Rabin + Pollard rho), which runs in a few
tens of ms for all 62 widths (see ``tests/test_lfsr.py``); widths 3..18 are also
checked exhaustively (period ``2**n-1`` by iteration).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Iterable, Sequence

import numpy as np

__all__ = [
    "MIN_WIDTH", "MAX_WIDTH", "TABLE_MAX_WIDTH", "XAPP052_TAPS", "GALOIS_TAPS",
    "FIBONACCI_TAPS", "galois_mask", "fibonacci_taps", "is_primitive",
    "validate_width", "validate_seeds", "galois_step", "fibonacci_step",
    "lane_seeds", "splitmix64", "fast_draw", "LFSRBank", "GaloisLFSR", "FibonacciLFSR",
]

MIN_WIDTH = 3
MAX_WIDTH = 64
TABLE_MAX_WIDTH = 20   # draw() uses a cached full-cycle table up to this width
# draw() steps plain Python ints up to this many words (n * lanes): below these sizes that
# beats the cycle table / fast_draw and its one-off table build (the words are the same)
PY_DRAW_MAX_TABLE = 8
PY_DRAW_MAX_JUMP = 4096

_M64 = (1 << 64) - 1

# XAPP052 maximal-length taps (1-based bit numbers; the first entry is the width).
XAPP052_TAPS: dict[int, tuple[int, ...]] = {
    3: (3, 2), 4: (4, 3), 5: (5, 3), 6: (6, 5), 7: (7, 6), 8: (8, 6, 5, 4),
    9: (9, 5), 10: (10, 7), 11: (11, 9), 12: (12, 6, 4, 1), 13: (13, 4, 3, 1),
    14: (14, 5, 3, 1), 15: (15, 14), 16: (16, 14, 13, 11), 17: (17, 14), 18: (18, 11),
    19: (19, 6, 2, 1), 20: (20, 17), 21: (21, 19), 22: (22, 21), 23: (23, 18),
    24: (24, 23, 22, 17), 25: (25, 22), 26: (26, 6, 2, 1), 27: (27, 5, 2, 1),
    28: (28, 25), 29: (29, 27), 30: (30, 6, 4, 1), 31: (31, 28), 32: (32, 22, 2, 1),
    33: (33, 20), 34: (34, 27, 2, 1), 35: (35, 33), 36: (36, 25),
    37: (37, 5, 4, 3, 2, 1), 38: (38, 6, 5, 1), 39: (39, 35), 40: (40, 38, 21, 19),
    41: (41, 38), 42: (42, 41, 20, 19), 43: (43, 42, 38, 37), 44: (44, 43, 18, 17),
    45: (45, 44, 42, 41), 46: (46, 45, 26, 25), 47: (47, 42), 48: (48, 47, 21, 20),
    49: (49, 40), 50: (50, 49, 24, 23), 51: (51, 50, 36, 35), 52: (52, 49),
    53: (53, 52, 38, 37), 54: (54, 53, 18, 17), 55: (55, 31), 56: (56, 55, 35, 34),
    57: (57, 50), 58: (58, 39), 59: (59, 58, 38, 37), 60: (60, 59),
    61: (61, 60, 46, 45), 62: (62, 61, 6, 5), 63: (63, 62), 64: (64, 63, 61, 60),
}

#: width -> Galois mask (right-shifting form, bit ``t-1`` set for tap ``t``).
GALOIS_TAPS: dict[int, int] = {
    w: sum(1 << (t - 1) for t in taps) for w, taps in XAPP052_TAPS.items()
}

#: width -> Fibonacci tap mask. Same polynomial, same bit pattern (see module doc).
FIBONACCI_TAPS: dict[int, int] = dict(GALOIS_TAPS)


# --------------------------------------------------------------------------- validation

def validate_width(width) -> int:
    """Return ``width`` as int, or raise ValueError if it is not an int in 3..64."""
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)):
        raise ValueError(f"LFSR width must be an integer in {MIN_WIDTH}..{MAX_WIDTH}, "
                         f"got {width!r}")
    width = int(width)
    if not MIN_WIDTH <= width <= MAX_WIDTH:
        raise ValueError(f"LFSR width must be in {MIN_WIDTH}..{MAX_WIDTH}, got {width}")
    return width


def validate_seeds(width, seeds: Iterable[int]) -> list[int]:
    """Validate ``width`` and every seed (nonzero int < 2**width); return them as ints."""
    width = validate_width(width)
    out = []
    for i, s in enumerate(seeds):
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise ValueError(f"LFSR seed {i} must be an integer, got {s!r}")
        s = int(s)
        if s == 0:
            raise ValueError(f"LFSR seed {i} is zero (the all-zero state locks up)")
        if not 0 < s < (1 << width):
            raise ValueError(f"LFSR seed {i} = {s:#x} does not fit in width {width} "
                             f"(must be in 1..{(1 << width) - 1:#x})")
        out.append(s)
    if not out:
        raise ValueError("LFSR needs at least one seed (lanes >= 1)")
    return out


def galois_mask(width, mask=None) -> int:
    """The Galois mask for ``width`` (table default), validated."""
    width = validate_width(width)
    if mask is None:
        return GALOIS_TAPS[width]
    mask = int(mask)
    if not (mask >> (width - 1)) == 1:
        raise ValueError(f"LFSR mask {mask:#x} must have bit {width - 1} (and no "
                         f"higher bit) set for width {width}")
    return mask


def fibonacci_taps(width, taps=None) -> int:
    """The Fibonacci tap mask for ``width`` (table default), validated."""
    width = validate_width(width)
    if taps is None:
        return FIBONACCI_TAPS[width]
    return galois_mask(width, taps)


# --------------------------------------------------------------------------- GF(2) math

def _is_probable_prime(n: int) -> bool:
    if n < 2:
        return False
    small = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)
    for p in small:
        if n % p == 0:
            return n == p
    d, r = n - 1, 0
    while d % 2 == 0:
        d //= 2
        r += 1
    for a in small:   # deterministic for n < 3.3e24
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _pollard_rho(n: int) -> int:
    if n % 2 == 0:
        return 2
    for c in range(1, 100):
        x = y = 2
        d = 1
        while d == 1:
            x = (x * x + c) % n
            y = (y * y + c) % n
            y = (y * y + c) % n
            d = math.gcd(abs(x - y), n)
        if d != n:
            return d
    raise ArithmeticError(f"pollard rho failed on {n}")


@lru_cache(maxsize=None)
def _prime_factors(n: int) -> tuple[int, ...]:
    """Distinct prime factors of ``n`` (trial division by small primes, then rho)."""
    factors: set[int] = set()
    for p in range(2, 1000):
        while n % p == 0:
            factors.add(p)
            n //= p
    stack = [n] if n > 1 else []
    while stack:
        m = stack.pop()
        if _is_probable_prime(m):
            factors.add(m)
        else:
            d = _pollard_rho(m)
            stack += [d, m // d]
    return tuple(sorted(factors))


# _SPREAD[b] = bits of byte b spread to even positions (squaring in GF(2)[x]).
_SPREAD = [sum(((b >> i) & 1) << (2 * i) for i in range(8)) for b in range(256)]


def _sqr(a: int) -> int:
    r, sh = 0, 0
    while a:
        r |= _SPREAD[a & 0xFF] << sh
        a >>= 8
        sh += 16
    return r


def _mod(a: int, p: int, n: int) -> int:
    while (bl := a.bit_length()) > n:
        a ^= p << (bl - 1 - n)
    return a


def _x_pow_mod(e: int, p: int, n: int) -> int:
    """x**e mod p over GF(2) (p of degree n), left-to-right square-and-multiply-by-x."""
    r = 1
    for bit in bin(e)[2:]:
        r = _mod(_sqr(r), p, n)
        if bit == "1":
            r <<= 1
            if r >> n:
                r ^= p
    return r


def is_primitive(width: int, mask: int) -> bool:
    """True iff the Galois LFSR (``width``, ``mask``) has maximal period ``2**width-1``.

    Checks that ``P(x) = 1 + sum(x**(k+1) for set bits k of mask)`` has degree ``width``
    and is primitive over GF(2): ``x**(2**n-1) == 1`` and ``x**((2**n-1)//q) != 1`` mod P
    for every prime ``q | 2**n-1``.
    """
    n = int(width)
    mask = int(mask)
    if n < 1 or mask >> (n - 1) != 1:
        return False
    p = (mask << 1) | 1
    order = (1 << n) - 1
    if _x_pow_mod(order, p, n) != 1:
        return False
    return all(_x_pow_mod(order // q, p, n) != 1 for q in _prime_factors(order))


# --------------------------------------------------------------------------- scalar steps

def galois_step(state: int, width: int, mask: int | None = None) -> int:
    """One Galois (right-shifting) step of a ``width``-bit state."""
    m = GALOIS_TAPS[width] if mask is None else mask
    return (state >> 1) ^ (m if state & 1 else 0)


def fibonacci_step(state: int, width: int, taps: int | None = None) -> int:
    """One Fibonacci (left-shifting, parity of tapped bits into bit 0) step."""
    t = FIBONACCI_TAPS[width] if taps is None else taps
    fb = (state & t).bit_count() & 1
    return ((state << 1) | fb) & ((1 << width) - 1)


# --------------------------------------------------------------------------- seeds

def splitmix64(x: int) -> int:
    """SplitMix64 output function of the 64-bit counter ``x``."""
    z = (x + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def lane_seeds(seed: int, lanes: int, width: int) -> list[int]:
    """``lanes`` deterministic, nonzero, pairwise distinct ``width``-bit seeds.

    Lane ``i`` takes ``splitmix64(seed*K + i + j*2**40) & (2**width-1)`` for the first
    attempt ``j = 0, 1, ...`` that is nonzero and not used by an earlier lane.
    """
    width = validate_width(width)
    if isinstance(lanes, bool) or not isinstance(lanes, (int, np.integer)) or lanes < 1:
        raise ValueError(f"lanes must be an integer >= 1, got {lanes!r}")
    lanes = int(lanes)
    wmask = (1 << width) - 1
    if lanes > wmask:
        raise ValueError(f"cannot draw {lanes} distinct nonzero seeds of width {width} "
                         f"(at most {wmask})")
    base = (int(seed) * 0xD1342543DE82EF95) & _M64
    out: list[int] = []
    used: set[int] = set()
    for i in range(lanes):
        j = 0
        while True:
            v = splitmix64((base + i + (j << 40)) & _M64) & wmask
            if v and v not in used:
                break
            j += 1
        used.add(v)
        out.append(v)
    return out


# --------------------------------------------------------------------------- vectorised

def _galois_step_vec(s: np.ndarray, mask: np.uint64) -> np.ndarray:
    return (s >> np.uint64(1)) ^ (mask & (np.uint64(0) - (s & np.uint64(1))))


#: words per block of :func:`fast_draw` (its tables hold ``256 * BLOCK`` words per state byte)
_BLOCK = 2048


def _make_block_tables(width: int, mask: int, block: int) -> np.ndarray:
    """``tab[j, v, i]`` = Galois state after ``i + 1`` steps from the state ``v << 8j`` (only
    its bits below ``width``); shape ``(ceil(width/8), 256, block)``. The step is GF(2)-linear,
    so ``block`` words from any state are the XOR of its bytes' entries."""
    m = np.uint64(mask)
    s = np.array([1 << b for b in range(width)], dtype=np.uint64)
    cols = np.empty((width, block), dtype=np.uint64)
    for i in range(block):
        s = _galois_step_vec(s, m)
        cols[:, i] = s
    nbytes = (width + 7) // 8
    tab = np.zeros((nbytes, 256, block), dtype=np.uint64)
    for j in range(nbytes):
        for v in range(1, 256):
            low = (v & -v).bit_length() - 1     # tab[v] = tab[v without its lowest bit] ^ ...
            bit = 8 * j + low
            if bit < width:
                tab[j, v] = tab[j, v & (v - 1)] ^ cols[bit]
            else:
                tab[j, v] = tab[j, v & (v - 1)]
    tab.setflags(write=False)
    return tab


@lru_cache(maxsize=8)
def _block_tables(width: int, mask: int) -> np.ndarray:
    return _make_block_tables(width, mask, _BLOCK)


def fast_draw(width: int, state, n: int, mask: int | None = None) -> np.ndarray:
    """The words ``LFSRBank(width, state, mask).draw(n)`` returns (uint64, shape
    ``(n, lanes)``: row ``i`` holds the lane states after step ``i + 1``), without a bank.

    ``width``: 3..64 bits; ``state``: the lanes' current states (uint64, any shape, taken
    flat; nonzero ``width``-bit values as :class:`LFSRBank` holds them); ``n >= 0``;
    ``mask``: the Galois mask (default ``GALOIS_TAPS[width]``). The caller advances its
    state to the last row. Vectorised over lanes by GF(2)-linear blocks: the first word is
    one step, then every block of up to ``2048`` words is the XOR of one cached table row per
    byte of the state (tables of ``ceil(width/8) * 256 * 2048`` words, built once per
    ``(width, mask)`` in tens of ms and cached). :meth:`LFSRBank.draw` uses it above
    ``TABLE_MAX_WIDTH`` bits (or with a custom mask) for draws of more than
    ``PY_DRAW_MAX_JUMP`` words, and the same blocks build its full-cycle tables.
    """
    width = validate_width(width)
    mask = galois_mask(width, mask)
    n = int(n)
    if n < 0:
        raise ValueError(f"draw count must be >= 0, got {n}")
    state = np.array(state, dtype=np.uint64).reshape(-1)
    out = np.empty((n, state.size), dtype=np.uint64)
    if n:
        out[0] = _galois_step_vec(state, np.uint64(mask))
        if n > 1:
            _blocks(out, _block_tables(width, mask))
    return out


def _blocks(out: np.ndarray, tab: np.ndarray) -> None:
    """Fill rows ``1..`` of ``out`` with the words after row 0 (block tables ``tab``)."""
    n, block = len(out), tab.shape[2]
    ff = np.uint64(255)
    s, done = out[0], 1
    while done < n:
        k = min(block, n - done)
        blk = np.zeros((out.shape[1], k), dtype=np.uint64)
        for j in range(tab.shape[0]):
            blk ^= tab[j, ((s >> np.uint64(8 * j)) & ff).astype(np.intp), :k]
        out[done:done + k] = blk.T
        s = blk[:, -1]
        done += k


@lru_cache(maxsize=8)
def _cycle_table(width: int, mask: int) -> tuple[np.ndarray, np.ndarray]:
    """(seq, index): ``seq[k] = step**k(1)`` over the full period, ``index[seq[k]] = k``."""
    period = (1 << width) - 1
    seq = np.ones((period, 1), dtype=np.uint64)    # step**0(1) = 1, then fast_draw's blocks
    _blocks(seq, _make_block_tables(width, mask, 1 << (width + 1) // 2))  # ~sqrt(period)
    seq = seq.reshape(-1)
    index = np.full(1 << width, -1, dtype=np.int64)
    index[seq] = np.arange(period, dtype=np.int64)
    if index[0] != -1 or (index[1:] < 0).any():
        raise ValueError(f"mask {mask:#x} is not maximal-length for width {width}")
    seq.setflags(write=False)
    index.setflags(write=False)
    return seq, index


class LFSRBank:
    """``P`` independent Galois LFSRs of one ``width`` (states: uint64 array, shape (P,)).

    ``draw(n)`` returns the states after each of the next ``n`` steps (shape (n, P)).
    Small draws (``n * P`` up to ``PY_DRAW_MAX_TABLE`` / ``PY_DRAW_MAX_JUMP`` words) step
    Python ints directly; larger ones copy runs of a cached full-cycle table up to
    ``TABLE_MAX_WIDTH`` bits and, above (or with a custom mask), use :func:`fast_draw`
    (vectorised over lanes). All produce the same words.
    """

    def __init__(self, width: int, seeds: Sequence[int], mask: int | None = None):
        self.width = validate_width(width)
        if isinstance(seeds, np.ndarray):
            seeds = seeds.ravel().tolist()
        seeds = validate_seeds(self.width, list(seeds))
        self.mask = galois_mask(self.width, mask)
        self.lanes = len(seeds)
        self.state = np.array(seeds, dtype=np.uint64)
        self._mask64 = np.uint64(self.mask)

    def step(self) -> np.ndarray:
        """Advance every lane once; return (a copy of) the new states."""
        self.state = _galois_step_vec(self.state, self._mask64)
        return self.state.copy()

    def draw(self, n: int) -> np.ndarray:
        """States after steps 1..n, shape (n, P) uint64; advances the bank by ``n``."""
        n = int(n)
        if n < 0:
            raise ValueError(f"draw count must be >= 0, got {n}")
        if n == 0:
            return np.empty((0, self.lanes), dtype=np.uint64)
        table = self.width <= TABLE_MAX_WIDTH and self.mask == GALOIS_TAPS[self.width]
        states = self._state_ints()
        if states is not None and n * self.lanes <= (PY_DRAW_MAX_TABLE if table
                                                      else PY_DRAW_MAX_JUMP):
            out = self._draw_python(n, states)
        elif states is not None and table and n < 1 << self.width:   # at most one wrap
            out = self._draw_table(n, states)
        elif table:
            seq, index = _cycle_table(self.width, self.mask)
            pos = index[self.state.astype(np.int64)]
            rows = (pos[None, :] + np.arange(1, n + 1, dtype=np.int64)[:, None]) % len(seq)
            out = seq[rows]
        else:
            out = fast_draw(self.width, self.state, n, self.mask)
        self.state = out[-1].copy()
        return out

    def _state_ints(self) -> list[int] | None:
        """The lane states as Python ints if they are all valid (nonzero, ``width`` bits);
        else None, and draw() takes the vectorised paths (which define it for any state)."""
        st = self.state
        if type(st) is np.ndarray and st.dtype == np.uint64 and st.shape == (self.lanes,):
            s = st.tolist()
            if min(s) > 0 and max(s) >> self.width == 0:
                return s
        return None

    def _step_ints(self) -> list[int]:
        """``draw(1)[0]`` as Python ints (advances the bank by one step)."""
        states = self._state_ints()
        if states is None:
            return self.draw(1)[0].tolist()
        m = self.mask
        s = [(v >> 1) ^ m if v & 1 else v >> 1 for v in states]
        self.state = np.array(s, dtype=np.uint64)
        return s

    def _draw_table(self, n: int, states: list[int]) -> np.ndarray:
        """``draw(n)`` words (n <= period) as runs of the cycle table (no advance)."""
        seq, index = _cycle_table(self.width, self.mask)
        period = len(seq)
        out = np.empty((n, self.lanes), dtype=np.uint64)
        for lane, s in enumerate(states):
            p = int(index[s]) + 1          # table position of the lane's first word
            k = min(n, period - p)         # words before the table wraps around
            out[:k, lane] = seq[p:p + k]
            if k < n:
                out[k:, lane] = seq[:n - k]
        return out

    def _draw_python(self, n: int, states: list[int]) -> np.ndarray:
        """``draw(n)`` words by stepping each lane's state as a Python int (no advance)."""
        m, lanes = self.mask, self.lanes
        flat = [0] * (n * lanes)
        for lane, s in enumerate(states):
            for i in range(lane, n * lanes, lanes):
                s = (s >> 1) ^ m if s & 1 else s >> 1
                flat[i] = s
        return np.array(flat, dtype=np.uint64).reshape(n, lanes)

    def copy(self) -> "LFSRBank":
        new = object.__new__(LFSRBank)
        new.__dict__.update(self.__dict__)
        new.state = self.state.copy()
        return new

    def get_state(self) -> np.ndarray:
        return self.state.copy()

    def set_state(self, state) -> None:
        state = np.atleast_1d(np.asarray(state, dtype=np.uint64))
        if state.shape != (self.lanes,):
            raise ValueError(f"state must have shape ({self.lanes},), got {state.shape}")
        validate_seeds(self.width, (int(s) for s in state))
        self.state = state.copy()


class GaloisLFSR:
    """Scalar convenience: one Galois LFSR; ``step()`` returns the new state (int)."""

    def __init__(self, width: int, seed: int, mask: int | None = None):
        self.width = validate_width(width)
        (self.state,) = validate_seeds(self.width, [seed])
        self.mask = galois_mask(self.width, mask)

    def step(self) -> int:
        self.state = galois_step(self.state, self.width, self.mask)
        return self.state

    def draw(self, n: int) -> np.ndarray:
        """States after steps 1..n (uint64, shape (n,))."""
        bank = LFSRBank(self.width, [self.state], self.mask)
        out = bank.draw(n)[:, 0]
        self.state = int(bank.state[0])
        return out


class FibonacciLFSR:
    """Scalar Fibonacci LFSR; ``step()`` returns the new state (int)."""

    def __init__(self, width: int, seed: int, taps: int | None = None):
        self.width = validate_width(width)
        (self.state,) = validate_seeds(self.width, [seed])
        self.taps = fibonacci_taps(self.width, taps)

    def step(self) -> int:
        self.state = fibonacci_step(self.state, self.width, self.taps)
        return self.state

    def draw(self, n: int) -> np.ndarray:
        """States after steps 1..n (uint64, shape (n,))."""
        out = np.empty(int(n), dtype=np.uint64)
        s, w, t = self.state, self.width, self.taps
        for i in range(int(n)):
            s = fibonacci_step(s, w, t)
            out[i] = s
        self.state = s
        return out
