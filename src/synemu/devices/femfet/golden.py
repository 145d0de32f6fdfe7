"""``femfet``: the hybrid FeMFET-CMOS synapse (arXiv 2004.00703, ISCAS 2020), bit-exact integer golden model.

One synapse = a non-volatile FeMFET (the MSBs, ``k_M`` bits of level) plus a volatile CMOS
capacitor (the LSBs, ``k_L`` bits + ``guard_bits`` of headroom, in update-pulse units).

Registers (packed LSB-first in this order):

======= ================== ===========================================================
field   width (bits)       meaning
======= ================== ===========================================================
``m``   k_M + frac_bits    FeMFET conductance in units of 2^-frac_bits levels (0 = the
                           lowest level); ``level(m) = min((m + h) >> frac_bits, 2^k_M-1)``
                           with ``h = 2^(frac_bits-1)`` (0 if frac_bits = 0)
``l``   k_L + guard_bits   capacitor charge (pulse units), unsigned, clamped at the rails;
                           mid-scale ``L_mid = 2^(k_L+guard_bits-1)``
``pol`` 1 (if polarity)    LSB polarity s = +1 (pol=0) / -1 (pol=1); flips at every
                           periodic transfer (Ambrogio et al. 2018)
``wc``  34                 MSB write counter (saturating; 2^34-1 > 1e10)
``worn``1                  sticky endurance flag: set once ``wc >= endurance``
======= ================== ===========================================================

Weights (signed integers, offset binary, N = k_M + k_L; with frac_bits = guard_bits = 0 and no
polarity this is exactly the hybrid weight ``W = M*2^k_L + L - 2^(N-1)``)::

    v        = s * (l - L_mid)                          # LSB contribution, weight units
    W_M      = (m << (k_L - frac_bits)) + 2^(k_L-1) - 2^(N-1)
    train_weight = W_M + v                              # while learning (M and L)
    infer_weight = W_M                                  # inference: M only (L at mid-scale)

Transfer (shared by both rules): with ``u = level*2^k_L + 2^(k_L-1) + v`` (the total in
unsigned weight units), the target level is ``t = clamp(u >> k_L, 0, 2^k_M - 1)`` (the
nearest M level to the total; ``>>`` is an arithmetic floor shift). If ``t != level`` the
FeMFET is *written* (one program operation, counted in ``wc``):
``m = clamp(t*2^f + e_prog*2^f + e_c2c, 0, 2^(k_M+f) - 1)``.

* ``transfer="carry"`` (T2, immediate): inside ``update``. ``S = l + s*pulse``; if
  ``0 <= S < 2^(k_L+g)`` then ``l = S``, else transfer with ``v = s*(S - L_mid)`` and keep
  the remainder: ``l = clamp(L_mid + s*(u - t*2^k_L - 2^(k_L-1)))`` (exact carry/borrow;
  at the M rails the weight saturates).
* ``transfer="periodic"`` (T1): ``update`` only clamps ``l = clamp(S)``; every
  ``transfer_period`` samples ``on_sample`` transfers every synapse and resets ``l`` to
  ``L_mid`` (the residual is discarded, as in the paper) and flips ``pol``. T1 needs
  ``guard_bits >= 1``: without headroom ``|v| <= 2^(k_L-1)`` and ``t`` always equals the
  current level.

Write noise (from the lane's device-LFSR word ``r``, ``rand_width = 9 + 2*c2c_bits`` bits,
0 when both are off): programming error ``e_prog = 0`` unless ``r[0:8] < prog_q`` (probability
``prog_q/256``, ``prog_q = round(256*prog_error)``), then ``+1`` if ``r[8]`` else ``-1`` level;
cycle-to-cycle noise ``e_c2c = popcount(r[9:9+2n]) - n`` (n = ``c2c_bits``) in units of
2^-frac_bits levels. Before clamping: E[e_prog] = 0, Var[e_prog] = prog_q/256 levels² (= prog_q/256 * 4^frac_bits sub-levels²);
E[e_c2c] = 0, Var[e_c2c] = n/2.

Leak (``tick``, only if ``leak_shift`` is set): leak events happen at every emulated time
that is a multiple of ``2^leak_period_log2`` ticks; ``TICK n`` from time ``T`` (the counter
before the command; ``T + n`` is computed without wrap-around) applies the
``k = ((T+n) >> p) - (T >> p)`` events in ``(T, T+n]``, each
``l -= sign(d) * ((|d| + h) >> leak_shift)`` with ``d = l - leak_rest``, ``h = 2^(s-1)``
(0 if s = 0): the leak rule ``(l - rest) >> s`` rounded to nearest, ties away from zero,
instead of floored, so the charge decays symmetrically (a floor shift leaks one code per
event from below but never from within 2^s above the rest value). A decay below half a code
per event is not representable (rejected): use a smaller shift with a longer period, or
guard bits. ``l`` reaches its fixed point after at most ``leak_steps`` events (computed
exactly at construction, <= 64), so applying ``min(k, leak_steps)`` events is exact for
every ``k``.

Order of operations per training step (host or engine): update L -> carry/clamp -> (every T
samples) transfer -> leak (TICK).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from types import SimpleNamespace
from typing import ClassVar

import numpy as np

from ...spec.device import Device, Field
from ...spec.fixed import check_int, clamp, events_in

__all__ = ["FeMFETDevice", "TRANSFERS", "WC_BITS", "popcount"]

TRANSFERS = ("carry", "periodic")
WC_BITS = 34
MAX_LEAK_STEPS = 64


def popcount(v: np.ndarray) -> np.ndarray:
    """Number of set bits of non-negative int64 values (vectorised)."""
    v = np.asarray(v, dtype=np.uint64)
    c = np.zeros(v.shape, dtype=np.int64)
    while np.any(v):
        c += (v & np.uint64(1)).astype(np.int64)
        v = v >> np.uint64(1)
    return c


def _int(name, v, lo, hi):
    return check_int(name, v, lo, hi, "femfet device: ")


#: the array operations of the transfer rule: elementwise NumPy (``_NP``), or the same on
#: the Python ints of one synapse (``_PY``, for the engine's single-synapse UPDATE)
_NP = SimpleNamespace(
    where=np.where, minimum=np.minimum, clamp=clamp, popcount=popcount, shape=np.shape,
    words=lambda rand, shape: np.broadcast_to(np.asarray(rand, dtype=np.uint64),
                                              shape).astype(np.int64))
_PY = SimpleNamespace(
    where=lambda cond, a, b: a if cond else b, minimum=min,
    clamp=lambda v, lo, hi: min(max(v, lo), hi), popcount=int.bit_count,
    shape=lambda v: (), words=lambda rand, shape: int(rand))


@dataclass(frozen=True)
class FeMFETDevice(Device):
    """Hybrid FeMFET (MSB) + capacitor (LSB) synapse; see the module docstring.

    k_m, k_l: MSB / LSB bits (1..8 / 1..12); guard_bits: extra LSB headroom (0..6);
    frac_bits: FeMFET sub-level resolution for write noise (0..k_l); polarity: add the
    polarity bit (periodic transfer only); transfer: "carry" (T2) | "periodic" (T1);
    transfer_period: T1 period in samples; leak_shift: None (no leak) or 0..15;
    leak_period_log2: leak every 2^p ticks (0..40); leak_rest: rest charge (None: L_mid);
    prog_error: probability (0..1, /256 steps) that a write lands one level off;
    c2c_bits: cycle-to-cycle noise n (0..27); endurance: write count that sets ``worn``;
    pulse_bits: signed pulse width (2..16).
    """

    name: ClassVar[str] = "femfet"
    PRESETS: ClassVar[dict] = {
        "6bit": {"k_m": 2, "k_l": 4},
        "8bit": {"k_m": 3, "k_l": 5},
    }
    k_m: int = 2
    k_l: int = 4
    guard_bits: int = 0
    frac_bits: int = 0
    polarity: bool = False
    transfer: str = "carry"
    transfer_period: int = 1
    leak_shift: int | None = None
    leak_period_log2: int = 0
    leak_rest: int | None = None
    prog_error: float = 0.0
    c2c_bits: int = 0
    endurance: int = 10**10
    pulse_bits: int = 8

    def __post_init__(self):
        _int("k_m", self.k_m, 1, 8)
        _int("k_l", self.k_l, 1, 12)
        _int("guard_bits", self.guard_bits, 0, 6)
        _int("frac_bits", self.frac_bits, 0, self.k_l)
        _int("pulse_bits", self.pulse_bits, 2, 16)
        if not isinstance(self.polarity, (bool, np.bool_)):
            raise ValueError(f"femfet device: polarity must be true/false, not {self.polarity!r}")
        if self.transfer not in TRANSFERS:
            raise ValueError(f"femfet device: transfer must be one of {', '.join(TRANSFERS)}, "
                             f"not {self.transfer!r}")
        if self.transfer == "periodic":
            _int("transfer_period", self.transfer_period, 1, 2**31 - 1)
            if self.guard_bits < 1:
                raise ValueError(
                    "femfet device: periodic transfer needs guard_bits >= 1 (with only k_l LSB "
                    "bits the capacitor holds at most half an MSB step and the transfer would "
                    "never change the FeMFET level)")
        elif self.polarity:
            raise ValueError("femfet device: the polarity bit flips at periodic transfers; "
                             "use transfer='periodic' with polarity=True")
        if self.leak_shift is not None:
            _int("leak_shift", self.leak_shift, 0, 15)
            _int("leak_period_log2", self.leak_period_log2, 0, 40)
            if self.leak_rest is not None:
                _int("leak_rest", self.leak_rest, 0, (1 << self.l_width) - 1)
            if self.leak_steps == 0 and self.leak_shift > 0:
                raise ValueError(
                    f"femfet device: leak_shift={self.leak_shift} never changes L (a decay "
                    f"below half a code per event on a {self.l_width}-bit L rounds to zero); "
                    f"use a smaller leak_shift with a longer leak period")
            if self.leak_steps > MAX_LEAK_STEPS:
                raise ValueError(
                    f"femfet device: leak_shift={self.leak_shift} on a {self.l_width}-bit L "
                    f"needs {self.leak_steps} unrolled leak steps to converge (max "
                    f"{MAX_LEAK_STEPS}); use a smaller leak_shift or fewer guard_bits")
        if (isinstance(self.prog_error, bool) or not isinstance(self.prog_error, (int, float))
                or not 0.0 <= self.prog_error <= 1.0):
            raise ValueError(f"femfet device: prog_error must be a probability in [0, 1], "
                             f"not {self.prog_error!r}")
        if self.prog_error and self.k_m < 2:
            raise ValueError("femfet device: prog_error needs k_m >= 2 (a neighbour level)")
        _int("c2c_bits", self.c2c_bits, 0, 27)
        _int("endurance", self.endurance, 1, (1 << WC_BITS) - 1)
        if self.state_width > 64:
            raise ValueError(f"femfet device: state of {self.state_width} bits exceeds 64")

    # -- geometry (cached: the device is immutable) --------------------------------------
    @cached_property
    def n_bits(self) -> int:
        """Weight precision N = k_m + k_l."""
        return self.k_m + self.k_l

    @cached_property
    def m_width(self) -> int:
        return self.k_m + self.frac_bits

    @cached_property
    def l_width(self) -> int:
        return self.k_l + self.guard_bits

    @cached_property
    def l_mid(self) -> int:
        return 1 << (self.l_width - 1)

    @cached_property
    def l_max(self) -> int:
        return (1 << self.l_width) - 1

    @cached_property
    def level_max(self) -> int:
        return (1 << self.k_m) - 1

    @cached_property
    def rest(self) -> int:
        return self.l_mid if self.leak_rest is None else int(self.leak_rest)

    @cached_property
    def w_offset(self) -> int:
        """Constant of W_M: 2^(k_l-1) - 2^(N-1)."""
        return (1 << (self.k_l - 1)) - (1 << (self.n_bits - 1))

    @cached_property
    def prog_q(self) -> int:
        """Programming-error threshold (out of 256) on the LFSR byte r[0:8]."""
        return int(round(256 * float(self.prog_error)))

    @cached_property
    def rand_width(self) -> int:  # 0 = no device LFSR
        return 9 + 2 * self.c2c_bits if (self.prog_q or self.c2c_bits) else 0

    @cached_property
    def tick_sweeps(self) -> bool:
        return self.leak_shift is not None

    @cached_property
    def sample_period(self) -> int:
        return self.transfer_period if self.transfer == "periodic" else 0

    @cached_property
    def leak_steps(self) -> int:
        """Leak events after which every L value has reached its fixed point (0: no leak)."""
        if self.leak_shift is None:
            return 0
        lv = np.arange(self.l_max + 1, dtype=np.int64)
        steps = 0
        while True:
            nxt = self._leak_once(lv)
            if np.array_equal(nxt, lv):
                return steps
            lv, steps = nxt, steps + 1
            if steps > 4096:  # pragma: no cover - the map is monotone and converges
                raise RuntimeError("leak does not converge")

    @cached_property
    def fields(self):
        f = [Field("m", self.m_width, init=(1 << (self.k_m - 1)) << self.frac_bits),
             Field("l", self.l_width, init=self.l_mid)]
        if self.polarity:
            f.append(Field("pol", 1))
        f += [Field("wc", WC_BITS), Field("worn", 1)]
        return tuple(f)

    @property
    def pulse_width(self):
        return self.pulse_bits

    @cached_property
    def _w_range(self) -> tuple[int, int]:
        hi_v = self.l_mid if self.polarity else self.l_mid - 1
        wm_max = (((1 << self.m_width) - 1) << (self.k_l - self.frac_bits)) + self.w_offset
        return self.w_offset - self.l_mid, wm_max + hi_v

    @cached_property
    def weight_width(self):
        lo, hi = self._w_range
        w = 2
        while not (-(1 << (w - 1)) <= lo and hi <= (1 << (w - 1)) - 1):
            w += 1
        return w

    # -- integer rules (vectorised) ------------------------------------------------------
    def level(self, m) -> np.ndarray:
        return self._level(np.asarray(m, dtype=np.int64), _NP)

    def _level(self, m, ops):
        if self.frac_bits == 0:
            return m
        return ops.minimum((m + (1 << (self.frac_bits - 1))) >> self.frac_bits, self.level_max)

    def _sign(self, state) -> np.ndarray:
        if not self.polarity:
            return np.int64(1)
        return 1 - 2 * np.asarray(state["pol"], dtype=np.int64)

    def _leak_once(self, lv):
        s, h = self.leak_shift, (1 << self.leak_shift) >> 1
        d = lv - self.rest
        return lv - np.where(d < 0, -((h - d) >> s), (d + h) >> s)

    def write_noise(self, rand, shape) -> np.ndarray:
        """Offset (units of 2^-frac_bits levels) added to a programmed level, from LFSR words."""
        if not self.rand_width or rand is None:
            return np.zeros(shape, dtype=np.int64)
        return self._noise(_NP.words(rand, shape), _NP)

    def _noise(self, r, ops):
        """``write_noise`` of LFSR words ``r`` (int64 array, or an int with ``ops=_PY``)."""
        noise = 0 if ops is _PY else np.zeros(np.shape(r), dtype=np.int64)
        if self.prog_q:
            hit = (r & 0xFF) < self.prog_q
            sign = ops.where((r >> 8) & 1, 1, -1)
            noise += ops.where(hit, sign << self.frac_bits, 0)
        if self.c2c_bits:
            n = self.c2c_bits
            noise += ops.popcount((r >> 9) & ((1 << (2 * n)) - 1)) - n
        return noise

    def _transfer(self, m, v, wc, worn, rand, keep_residual, ops=_NP):
        """Transfer total (level, v) to M. Returns (m, v_new, wc, worn). ``ops``: see _NP."""
        lev = self._level(np.asarray(m, dtype=np.int64) if ops is _NP else m, ops)
        u = (lev << self.k_l) + (1 << (self.k_l - 1)) + v
        t = ops.clamp(u >> self.k_l, 0, self.level_max)
        v_new = (u - (t << self.k_l) - (1 << (self.k_l - 1))) if keep_residual else np.zeros_like(v)
        write = t != lev
        noisy = t << self.frac_bits
        if self.rand_width and rand is not None:      # (else write_noise is all zeros)
            noisy = noisy + self._noise(ops.words(rand, ops.shape(write)), ops)
        m_new = ops.where(write, ops.clamp(noisy, 0, (1 << self.m_width) - 1), m)
        wc_new = ops.where(write, ops.minimum(wc + 1, (1 << WC_BITS) - 1), wc)
        worn_new = ops.where(wc_new >= self.endurance, 1, worn)
        return m_new, v_new, wc_new, worn_new

    def _update_one(self, values, pulse, rand, time):
        # update() of one synapse on Python ints: the same steps, with _transfer on _PY
        S = int(values["l"]) + ((1 - 2 * int(values["pol"])) * pulse if self.polarity else pulse)
        out = dict(values)
        if self.transfer == "carry" and not 0 <= S <= self.l_max:
            m, v, wc, worn = self._transfer(int(values["m"]), S - self.l_mid, int(values["wc"]),
                                            int(values["worn"]), rand, True, _PY)
            out.update(m=m, wc=wc, worn=worn)
            S = self.l_mid + v
        out["l"] = min(max(S, 0), self.l_max)
        return out

    def _pack_state(self, state, m, l, wc, worn, pol=None):
        vals = {"m": m, "l": l, "wc": wc, "worn": worn}
        if self.polarity:
            vals["pol"] = state["pol"] if pol is None else pol
        shapes = {np.shape(v) for v in vals.values()}
        shape = shapes.pop() if len(shapes) == 1 else np.broadcast_shapes(*shapes)
        out = {}
        for name, fmt, _ in self._layout:
            v = np.asarray(vals[name])
            if v.shape != shape:
                v = np.broadcast_to(v, shape)
            out[name] = v.astype(fmt.dtype)     # a new array either way
        return out

    def _arrays(self, state):
        return (np.asarray(state["m"], dtype=np.int64), np.asarray(state["l"], dtype=np.int64),
                np.asarray(state["wc"], dtype=np.int64), np.asarray(state["worn"], dtype=np.int64))

    def update(self, state, pulse, rand=None, *, time=0):
        pulse = np.asarray(pulse, dtype=np.int64)
        S = np.asarray(state["l"], dtype=np.int64) + (
            self._sign(state) * pulse if self.polarity else pulse)
        m, wc, worn = state["m"], state["wc"], state["worn"]   # unchanged unless L overflows
        if self.transfer == "carry":
            over = (S < 0) | (S > self.l_max)
            n_over = np.count_nonzero(over)
            shape = np.shape(S)
            same_shape = np.shape(m) == np.shape(wc) == np.shape(worn) == shape
            if n_over and same_shape and n_over == S.size:
                # every synapse transfers: the same elementwise rule, without gather/scatter
                r = None if rand is None else np.broadcast_to(np.asarray(rand), shape)
                m, tv, wc, worn = self._transfer(
                    np.asarray(m, dtype=np.int64), S - self.l_mid, np.asarray(wc, dtype=np.int64),
                    np.asarray(worn, dtype=np.int64), r, True)
                S = self.l_mid + tv
            elif n_over:   # transfer only where L over/underflows (same result, faster)
                if same_shape:
                    m, S, wc, worn = (np.array(a, dtype=np.int64) for a in (m, S, wc, worn))
                else:
                    m, wc, worn = (np.asarray(a, dtype=np.int64) for a in (m, wc, worn))
                    shape = np.broadcast_shapes(np.shape(m), shape)
                    m, S, wc, worn = (np.array(np.broadcast_to(a, shape))
                                      for a in (m, S, wc, worn))
                    over = np.broadcast_to(over, shape)
                r = None if rand is None else np.broadcast_to(np.asarray(rand), shape)[over]
                tm, tv, twc, tworn = self._transfer(m[over], S[over] - self.l_mid, wc[over],
                                                    worn[over], r, True)
                m[over], S[over], wc[over], worn[over] = tm, self.l_mid + tv, twc, tworn
        l_new = clamp(S, 0, self.l_max)
        return self._pack_state(state, m, l_new, wc, worn)

    def on_sample(self, state, samples, rand=None):
        if self.transfer != "periodic":
            return state
        m, l, wc, worn = self._arrays(state)
        v = self._sign(state) * (l - self.l_mid)
        m, _, wc, worn = self._transfer(m, v, wc, worn, rand, False)
        pol = (1 - np.asarray(state["pol"], dtype=np.int64)) if self.polarity else None
        return self._pack_state(state, m, np.full(np.shape(l), self.l_mid), wc, worn, pol)

    def leak_events(self, n: int, time: int) -> int:
        """Leak events in (time, time + n] (before capping at ``leak_steps``)."""
        return events_in(time, n, self.leak_period_log2)

    def tick(self, state, n, time, rand=None):
        if self.leak_shift is None:
            return state
        k = min(self.leak_events(n, time), self.leak_steps)
        l = np.asarray(state["l"], dtype=np.int64)
        for _ in range(k):
            l = self._leak_once(l)
        out = dict(state)
        out["l"] = l.astype(self.fields[1].fmt.dtype)
        return out

    def train_weight(self, state, *, time=0):
        m = np.asarray(state["m"], dtype=np.int64)
        v = np.asarray(state["l"], dtype=np.int64) - self.l_mid
        return ((m << (self.k_l - self.frac_bits)) + self.w_offset
                + (self._sign(state) * v if self.polarity else v))

    def infer_weight(self, state, *, time=0):
        m = np.asarray(state["m"], dtype=np.int64)
        return (m << (self.k_l - self.frac_bits)) + self.w_offset

    # -- host helpers ---------------------------------------------------------------------
    def state_for_weight(self, w) -> dict:
        """A state whose training weight is ``w`` (clipped to the representable range):
        the nearest M level to ``w`` and the remainder in L (clamped), pol = 0, wc = 0."""
        w = np.asarray(w, dtype=np.int64)
        u = w - self.w_offset + (1 << (self.k_l - 1))          # = level*2^k_l + 2^(k_l-1) + v
        t = np.clip(u >> self.k_l, 0, self.level_max)
        v = u - (t << self.k_l) - (1 << (self.k_l - 1))
        st = {"m": (t << self.frac_bits), "l": np.clip(self.l_mid + v, 0, self.l_max),
              "wc": np.zeros_like(w), "worn": np.zeros_like(w)}
        if self.polarity:
            st["pol"] = np.zeros_like(w)
        return {f.name: np.asarray(st[f.name]).astype(f.fmt.dtype) for f in self.fields}
