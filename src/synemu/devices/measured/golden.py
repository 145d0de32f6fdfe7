"""``measured``: a table-driven synapse fitted from measured pulse responses (golden model).

One *device* holds a conductance-state index ``n`` (``bits`` = k bits, 0 .. K-1 with
K = 2^k). Its read-out is the conductance ROM ``G[n]`` (``levels``; None = the uniform grid
``G[n] = n``), in integer conductance units. A synapse is one device or, with
``differential``, a pair (``n_p``, ``n_m``) read as ``G[n_p] - G[n_m]``.

Registers (packed LSB-first in this order; ``D = d2d_bits``):

========= ========== ===================================================================
field     width      meaning
========= ========== ===================================================================
``n``     k          state index (``n_p`` then ``n_m`` when differential)
``d``     D          device-to-device step-scale code (``d_p``, ``d_m``; only if D > 0)
``v``     1          1 once the d2d code(s) have been drawn (only if D > 0)
========= ========== ===================================================================

**Pulses.** The engine's signed pulse count ``p`` (``pulse_bits`` bits) selects code
``c = min(|p|, C) - 1`` (C = 2^(pulse_bits-1)) of the tables; ``p = 0`` changes nothing.
What a code is comes from the fit: ``codes = "count"``, code c is a train of c + 1
identical pulses; ``codes = "shape"``, code c is the (c+1)-th pulse shape (amplitude,
width) of the measured data. Tables are ``K x C`` integers: ``delta_up``/``delta_down``
the mean move in units of 2^-f states (f = ``frac_bits``; unsigned, k + f bits) and
``noise_up``/``noise_down`` a noise code ``z + 32 * s``.

**Update** of a device with index ``n`` by a pulse of sign ``sg`` and code ``c``, with the
lane's LFSR word ``r`` (``rand_width = f + 2*noise_bits + D * devices`` bits)::

    delta, z, s = table[n, c]                      # up table if sg > 0 else down table
    d           = d if v else r[f+2N : f+2N+D]     # d2d code, drawn by the first pulse
    mean        = (delta * scale[d]) >> 6          # scale: 2^D codes, unsigned, 2^-6 units
    noise       = (popcount(r[f : f+2z]) - z) << s # binomial c2c noise, var z/2 * 4^s
    step        = (mean + noise + r[0:f]) >> f     # stochastic rounding (arithmetic shift)
    n           = clamp(n + sg * step, 0, K - 1)

Differential pairs use the potentiation table only (PCM-style SET-only programming): a
pulse ``p > 0`` potentiates ``n_p``, ``p < 0`` potentiates ``n_m``; the other device is
unchanged. Its d2d codes use ``r[f+2N : f+2N+D]`` (``d_p``) and the next D bits (``d_m``).

**Drift** (``drift_period_log2`` P set): one retention event at every emulated time that
is a multiple of 2^P ticks; each event moves every index one state towards ``drift_rest``.
``TICK n`` from time T applies ``k = ((T+n) >> P) - (T >> P)`` events:
``n -= sign(n - rest) * min(|n - rest|, k)``.

**Weights** (signed): ``G[n] - level_ref`` (``level_ref`` default: ``G`` of the reset
index), or ``G[n_p] - G[n_m]``; training and inference read-outs are the same.

The tables come from a *device file* (JSON, see :mod:`.devicefile`) given as
``file=PATH`` (explicit parameters override the file's), or a preset name; with neither
(and no tables), the default preset (``reram-gong2018``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields as dc_fields
from functools import cached_property
from typing import ClassVar

import numpy as np

from ...spec.device import Device, Field
from ...spec.fixed import check_int, events_in

__all__ = ["MeasuredDevice", "SCALE_FRAC", "SCALE_MAX", "NOISE_Z_MAX", "NOISE_S_MAX",
           "CODES", "popcount64"]

SCALE_FRAC = 6          #: d2d scale codes are in units of 2^-6 (64 = 1.0)
SCALE_MAX = 255         #: 8-bit unsigned scale (up to 3.98x)
NOISE_Z_MAX = 31        #: z field of a noise code (5 bits)
NOISE_S_MAX = 7         #: s field (3 bits)
CODES = ("count", "shape")


def popcount64(v) -> np.ndarray:
    """Set bits of uint64 values (vectorised; int64 result)."""
    v = np.asarray(v, dtype=np.uint64)
    with np.errstate(over="ignore"):          # the multiply wraps by design (SWAR popcount)
        v = v - ((v >> np.uint64(1)) & np.uint64(0x5555555555555555))
        v = (v & np.uint64(0x3333333333333333)) + ((v >> np.uint64(2)) & np.uint64(0x3333333333333333))
        v = (v + (v >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
        return ((v * np.uint64(0x0101010101010101)) >> np.uint64(56)).astype(np.int64)


def _err(msg):
    return ValueError(f"measured device: {msg}")


def _table(name, value, rows, cols, hi):
    """``value`` as a tuple of ``rows`` tuples of ``cols`` ints in [0, hi]."""
    try:
        a = np.asarray(value)
    except Exception:  # pragma: no cover - ragged nested lists
        a = None
    if a is None or a.shape != (rows, cols) or a.dtype.kind not in "iub":
        shape = None if a is None else a.shape
        raise _err(f"{name} must be a {rows} x {cols} table of integers (2^bits states x "
                   f"2^(pulse_bits-1) codes), not shape {shape}")
    if a.size and (a.min() < 0 or a.max() > hi):
        raise _err(f"{name} entries must lie in [0, {hi}], not [{a.min()}, {a.max()}]")
    return tuple(tuple(int(v) for v in row) for row in a)


@dataclass(frozen=True)
class MeasuredDevice(Device):
    """Table-driven measured synapse (see the module docstring).

    bits: state index width k (2..10); pulse_bits: signed pulse width (2..8, C =
    2^(pulse_bits-1) codes); frac_bits: delta fraction f (0..12); noise_bits: largest
    popcount half-width N (0..24); d2d_bits: D (0..4); delta_up/delta_down/noise_up/
    noise_down: K x C tables; scale: 2^D d2d step scales (2^-6 units); levels: K
    conductance codes (None: uniform, G[n] = n); level_ref: weight zero (G units);
    init: reset index; differential: G+ - G- pair; drift_period_log2/drift_rest: retention;
    codes: "count" | "shape"; label: display name; file: device file to load (JSON).
    """

    name: ClassVar[str] = "measured"
    PRESETS: ClassVar[dict] = {}            # filled by .presets (shipped device files)

    bits: int | None = None
    pulse_bits: int | None = None
    frac_bits: int | None = None
    noise_bits: int | None = None
    d2d_bits: int | None = None
    delta_up: tuple | None = None
    delta_down: tuple | None = None
    noise_up: tuple | None = None
    noise_down: tuple | None = None
    scale: tuple | None = None
    levels: tuple | None = None
    level_ref: int | None = None
    init: int | None = None
    differential: bool | None = None
    drift_period_log2: int | None = None
    drift_rest: int | None = None
    codes: str | None = None
    label: str | None = None
    file: str | None = field(default=None, compare=False)

    #: defaults of the scalar parameters (a file's values come before these)
    DEFAULTS: ClassVar[dict] = dict(bits=6, pulse_bits=4, frac_bits=8, noise_bits=16,
                                    d2d_bits=0, differential=False, codes="count", label=None)

    def __post_init__(self):
        given = {f.name: getattr(self, f.name) for f in dc_fields(self) if f.name != "file"}
        values = dict(self.DEFAULTS)
        source = self.file
        if source is None and self.delta_up is None and self.delta_down is None:
            from .presets import DEFAULT_PRESET, preset_files
            source = preset_files()[DEFAULT_PRESET]     # no tables given: the default preset
        if source is not None:
            from .devicefile import load_params
            values.update(load_params(source))
        values.update({k: v for k, v in given.items() if v is not None})
        for k, v in values.items():
            object.__setattr__(self, k, v)
        self._validate()

    def _validate(self):
        check_int("bits", self.bits, 2, 10, "measured device: ")
        check_int("pulse_bits", self.pulse_bits, 2, 8, "measured device: ")
        check_int("frac_bits", self.frac_bits, 0, 12, "measured device: ")
        check_int("noise_bits", self.noise_bits, 0, 24, "measured device: ")
        check_int("d2d_bits", self.d2d_bits, 0, 4, "measured device: ")
        if not isinstance(self.differential, (bool, np.bool_)):
            raise _err(f"differential must be true/false, not {self.differential!r}")
        object.__setattr__(self, "differential", bool(self.differential))
        if self.codes not in CODES:
            raise _err(f"codes must be one of {', '.join(CODES)}, not {self.codes!r}")
        K, C = self.n_states, self.n_codes
        if self.delta_up is None or self.delta_down is None:
            raise _err("no tables: give file=DEVICE.json (from `synemu device fit`), a "
                       "preset (`synemu devices`), or delta_up/delta_down")
        dmax = (1 << (self.bits + self.frac_bits)) - 1
        for name in ("delta_up", "delta_down"):
            object.__setattr__(self, name, _table(name, getattr(self, name), K, C, dmax))
        for name in ("noise_up", "noise_down"):
            v = getattr(self, name)
            t = _table(name, np.zeros((K, C), int) if v is None else v, K, C,
                       NOISE_Z_MAX + 32 * NOISE_S_MAX)
            z = np.asarray(t) & 31
            if z.max(initial=0) > self.noise_bits:
                raise _err(f"{name} asks for a popcount of 2*{z.max()} bits but noise_bits is "
                           f"{self.noise_bits}")
            object.__setattr__(self, name, t)
        n_scale = 1 << self.d2d_bits
        sc = (1 << SCALE_FRAC,) * n_scale if self.scale is None else self.scale
        sc = np.asarray(sc)
        if sc.shape != (n_scale,) or sc.dtype.kind not in "iu" or sc.min() < 0 or sc.max() > SCALE_MAX:
            raise _err(f"scale must be {n_scale} integers (2^d2d_bits) in [0, {SCALE_MAX}] "
                       f"(units of 2^-{SCALE_FRAC}), not {self.scale!r}")
        object.__setattr__(self, "scale", tuple(int(v) for v in sc))
        if self.levels is not None:
            lv = np.asarray(self.levels)
            if lv.shape != (K,) or lv.dtype.kind not in "iu" or lv.min() < 0 or lv.max() >= 1 << 16:
                raise _err(f"levels must be {K} integer conductance codes in [0, 65535]")
            if self.bits > 8:
                raise _err("a conductance ROM (levels) needs bits <= 8 (combinational read-out); "
                           "use the uniform grid (levels=None) for more states")
            object.__setattr__(self, "levels", tuple(int(v) for v in lv))
        if self.init is None:
            object.__setattr__(self, "init", 0 if self.differential else K // 2)
        check_int("init", self.init, 0, K - 1, "measured device: ")
        if self.level_ref is None:
            object.__setattr__(self, "level_ref", int(self._g_np(np.int64(self.init))))
        check_int("level_ref", self.level_ref, 0, 65535, "measured device: ")
        if self.drift_period_log2 is not None:
            check_int("drift_period_log2", self.drift_period_log2, 0, 40, "measured device: ")
            if self.drift_rest is None:
                object.__setattr__(self, "drift_rest", self.init)
            check_int("drift_rest", self.drift_rest, 0, K - 1, "measured device: ")
        elif self.drift_rest is not None:
            raise _err("drift_rest needs drift_period_log2")
        if self.rand_width > 64:
            raise _err(f"frac_bits + 2*noise_bits + d2d bits = {self.rand_width} random bits "
                       f"per update exceeds the 64-bit device LFSR")
        if self.state_width > 64:
            raise _err(f"state of {self.state_width} bits exceeds 64")

    def params(self) -> dict:
        """Constructor parameters with the tables (no ``file``: a checkpoint or build
        depends on the tables, not on where they were read from)."""
        out = {f.name: getattr(self, f.name) for f in dc_fields(self) if f.name != "file"}
        for k, v in out.items():
            if isinstance(v, tuple):
                out[k] = [list(r) if isinstance(r, tuple) else r for r in v]
        return out

    # -- geometry -----------------------------------------------------------------------
    @cached_property
    def n_states(self) -> int:
        return 1 << self.bits

    @cached_property
    def n_codes(self) -> int:
        return 1 << (self.pulse_bits - 1)

    @cached_property
    def n_devices(self) -> int:
        return 2 if self.differential else 1

    @cached_property
    def rand_width(self) -> int:
        """``f + 2N + D * devices`` bits (at least 3, the narrowest LFSR; 0: no randomness)."""
        bits = self.frac_bits + 2 * self.noise_bits + self.d2d_bits * self.n_devices
        return max(bits, 3) if bits else 0

    @cached_property
    def tick_sweeps(self) -> bool:
        return self.drift_period_log2 is not None

    @cached_property
    def index_names(self) -> tuple[str, ...]:
        return ("n_p", "n_m") if self.differential else ("n",)

    @cached_property
    def code_names(self) -> tuple[str, ...]:
        if not self.d2d_bits:
            return ()
        return ("d_p", "d_m") if self.differential else ("d",)

    @cached_property
    def fields(self):
        f = [Field(n, self.bits, init=self.init) for n in self.index_names]
        f += [Field(n, self.d2d_bits) for n in self.code_names]
        if self.d2d_bits:
            f.append(Field("v", 1))
        return tuple(f)

    @property
    def pulse_width(self):
        return self.pulse_bits

    @cached_property
    def g_range(self) -> tuple[int, int]:
        if self.levels is None:
            return 0, self.n_states - 1
        return min(self.levels), max(self.levels)

    @cached_property
    def _w_range(self) -> tuple[int, int]:
        lo, hi = self.g_range
        if self.differential:
            return lo - hi, hi - lo
        return lo - self.level_ref, hi - self.level_ref

    @cached_property
    def weight_width(self):
        lo, hi = self._w_range
        w = 2
        while not (-(1 << (w - 1)) <= lo and hi <= (1 << (w - 1)) - 1):
            w += 1
        return w

    @cached_property
    def pulse_gain(self) -> float:
        """Mean |weight change| (weight units) of one single-code pulse at the reset state,
        averaged over both signs: host trainers divide weight steps by it."""
        n, f = self.init, 1 << self.frac_bits
        up = self.delta_up[n][0] / f
        down = up if self.differential else self.delta_down[n][0] / f
        g = self._g_np(np.arange(self.n_states))
        lo, hi = max(n - 1, 0), min(n + 1, self.n_states - 1)
        slope = float(g[hi] - g[lo]) / max(hi - lo, 1)
        return max((up + down) / 2 * abs(slope), 1e-9)

    # -- tables as arrays -----------------------------------------------------------------
    @cached_property
    def _np_tables(self):
        t = {k: np.asarray(getattr(self, k), dtype=np.int64)
             for k in ("delta_up", "delta_down", "noise_up", "noise_down")}
        t["scale"] = np.asarray(self.scale, dtype=np.int64)
        return t

    @cached_property
    def _levels_np(self):
        return np.asarray(self.levels, dtype=np.int64)

    def _g_np(self, n):
        n = np.asarray(n, dtype=np.int64)
        return n if self.levels is None else self._levels_np[n]

    # -- integer rules --------------------------------------------------------------------
    def _move(self, n, d, v, sg, c, up, r, draw_offset):
        """New index of devices with index ``n``, d2d code ``d`` / drawn flag ``v``, sign
        ``sg`` (+1/-1), code ``c`` and table choice ``up`` (bool arrays), LFSR words ``r``
        (uint64). Returns (n_new, d_eff)."""
        t, f, N, D = self._np_tables, self.frac_bits, self.noise_bits, self.d2d_bits
        delta = np.where(up, t["delta_up"][n, c], t["delta_down"][n, c])
        code = np.where(up, t["noise_up"][n, c], t["noise_down"][n, c])
        if D:
            drawn = ((r >> np.uint64(f + 2 * N + draw_offset)) & np.uint64((1 << D) - 1)).astype(np.int64)
            d = np.where(v != 0, d, drawn)
            mean = (delta * t["scale"][d]) >> SCALE_FRAC
        else:
            mean = delta
        z, s = code & 31, code >> 5
        if N:
            mask = (np.left_shift(np.uint64(1), (2 * z).astype(np.uint64)) - np.uint64(1))
            noise = (popcount64((r >> np.uint64(f)) & mask) - z) << s
        else:
            noise = 0
        rnd = (r & np.uint64((1 << f) - 1)).astype(np.int64)
        step = (mean + noise + rnd) >> f
        return np.clip(n + sg * step, 0, self.n_states - 1), d

    def update(self, state, pulse, rand=None, *, time=0):
        p = np.asarray(pulse, dtype=np.int64)
        first = state[self.index_names[0]]
        shape = np.broadcast_shapes(np.shape(p), np.shape(first))
        p = np.broadcast_to(p, shape)
        r = (np.zeros(shape, dtype=np.uint64) if rand is None or not self.rand_width
             else np.broadcast_to(np.asarray(rand, dtype=np.uint64), shape))
        sg = np.where(p > 0, 1, -1)
        c = np.minimum(np.abs(p), self.n_codes) - 1
        act = p != 0
        c = np.where(act, c, 0)
        D = self.d2d_bits
        v = np.broadcast_to(np.asarray(state["v"], dtype=np.int64), shape) if D else None
        out = {}
        if self.differential:
            pos = p > 0
            for i, (nn, dn) in enumerate(zip(self.index_names, self.code_names or (None, None))):
                n = np.broadcast_to(np.asarray(state[nn], dtype=np.int64), shape)
                d = np.broadcast_to(np.asarray(state[dn], dtype=np.int64), shape) if D else None
                mine = act & (pos if i == 0 else ~pos)
                n_new, d_eff = self._move(n, d, v, 1, c, True, r, i * D)
                out[nn] = np.where(mine, n_new, n)
                if D:   # both codes are drawn by the first pulse, whichever device it moves
                    out[dn] = np.where(act, d_eff, d)
        else:
            n = np.broadcast_to(np.asarray(state["n"], dtype=np.int64), shape)
            d = np.broadcast_to(np.asarray(state["d"], dtype=np.int64), shape) if D else None
            n_new, d_eff = self._move(n, d, v, sg, c, p > 0, r, 0)
            out["n"] = np.where(act, n_new, n)
            if D:
                out["d"] = np.where(act, d_eff, d)
        if D:
            out["v"] = np.where(act, 1, v)
        return {f.name: np.asarray(out[f.name]).astype(f.fmt.dtype) for f in self.fields}

    def drift_events(self, n: int, time: int) -> int:
        """Retention events in (time, time + n]."""
        return events_in(time, n, self.drift_period_log2)

    def tick(self, state, n, time, rand=None):
        if self.drift_period_log2 is None:
            return state
        k = min(self.drift_events(n, time), self.n_states)
        out = dict(state)
        for name in self.index_names:
            x = np.asarray(state[name], dtype=np.int64)
            dist = x - self.drift_rest
            x = x - np.sign(dist) * np.minimum(np.abs(dist), k)
            out[name] = x.astype(self.fields[0].fmt.dtype)
        return out

    def conductance(self, n) -> np.ndarray:
        """``G[n]`` (integer conductance units)."""
        return self._g_np(n)

    def train_weight(self, state, *, time=0):
        if self.differential:
            return self._g_np(state["n_p"]) - self._g_np(state["n_m"])
        return self._g_np(state["n"]) - self.level_ref

    # -- host helpers ---------------------------------------------------------------------
    def state_for_weight(self, w) -> dict:
        """A state whose weight is nearest ``w`` (d2d codes not yet drawn)."""
        w = np.asarray(w, dtype=np.int64)
        g = self._g_np(np.arange(self.n_states))
        if self.differential:
            base = g[self.init]
            tgt_p = base + np.maximum(w, 0)
            tgt_m = base + np.maximum(-w, 0)
            st = {"n_p": np.abs(g[None, :] - tgt_p.reshape(-1, 1)).argmin(1).reshape(w.shape),
                  "n_m": np.abs(g[None, :] - tgt_m.reshape(-1, 1)).argmin(1).reshape(w.shape)}
        else:
            tgt = (w + self.level_ref).reshape(-1, 1)
            st = {"n": np.abs(g[None, :] - tgt).argmin(1).reshape(w.shape)}
        for name in self.code_names + (("v",) if self.d2d_bits else ()):
            st[name] = np.zeros(w.shape, dtype=np.int64)
        return {f.name: np.asarray(st[f.name]).astype(f.fmt.dtype) for f in self.fields}
