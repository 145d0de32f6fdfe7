"""``fn``: the FN-DAM differential synapse as FN decay counters (integer golden model).

Each synapse is two floating-gate nodes, L and R; the weight is ``kappa (V_L - V_R)``.
A node is an integer voltage **code** ``n`` (``V = Vmin + n*LSB``, ``LSB = 2**-lsb_exp`` V,
``code_bits`` bits; code ``N-1`` is the programmed voltage ``v0_v``, code 0 the floor) and
a **down-counter** ``c`` (``counter_bits`` bits, in ticks of ``tick_s`` seconds) holding the
time left before the node tunnels down to code ``n-1``.

ROMs (computed once here from the config; :class:`synemu.devices.fn.gateware.FNRule` bakes the same
arrays into its memories):

* ``enter_rom[j]`` (``enter_width`` bits): emulated time, in ticks rounded to nearest, at
  which a node programmed to ``v0_v`` at time 0 decays to code ``j`` (crosses the
  mid-point ``Vmin + (j+½) LSB``; ``enter_rom[N-1] = 0``). The dwell at code ``j`` is
  ``enter_rom[j-1] - enter_rom[j]``: rounding the *cumulative* time keeps the fractional
  remainder, so the error never accumulates (every code step is within ½ tick of the
  closed form). Strictly increasing towards code 0 (validated).
* ``pulse_rom[(n >> rom_shift) << mb | (m-1)]`` (``code_bits + frac_bits`` bits): the exact
  voltage drop of a pulse of amplitude ``vp_v`` and width ``m * t_pulse_s`` from the bin's
  centre voltage, in codes with ``frac_bits`` fraction bits (``mb = pulse_bits - 1``).

Integer rules (per node; both nodes packed ``nl, cl, nr, cr`` LSB-first, ≤ 64 bits):

tick(k)   If ``n == 0`` nothing changes (floor). Else ``r = c - k``; if ``r > 0``: ``c = r``.
          Otherwise the node has entered code ``n-1`` ``-r`` ticks ago: its age is
          ``a = enter_rom[n-1] - r`` and the new code is ``j = #{i : enter_rom[i] > a}`` (a
          binary search over the monotone ROM, so a TICK of any length up to 2**32-1 ticks is
          exact in one step), ``c = enter_rom[j-1] - a`` (``c = 0`` if ``j == 0``).
update(p) ``p > 0`` pulses R (weight up), ``p < 0`` pulses L; magnitude ``m = |p|``
          (``1 .. 2**(pulse_bits-1)``) is the pulse-width code. With ``q = pulse_rom[...]``
          the node drops ``q >> frac_bits`` whole codes to ``n1`` and the fraction
          ``f = q mod 2**frac_bits`` is taken from its place inside the code, which the
          counter holds: ``c1 = c - (f * dwell[n1]) >> frac_bits`` (``dwell[j] =
          enter_rom[j-1] - enter_rom[j]``). If ``c1 <= 0`` the node steps once more:
          ``n1 - 1`` with ``c = max(c1 + dwell[n1-1], 0)``. Reaching code 0 gives
          ``(0, 0)``. Sub-LSB steps therefore accumulate deterministically (no noise, no
          random numbers); the approximation is ``dwell[n] ≈ dwell[n1]``.
weight    ``(nl - nr) >> weight_shift`` (arithmetic), ``code_bits + 1 - weight_shift`` bits.

The emulated clock is carried by the counters (TICK sweeps every synapse); the engine's
``time`` is not used.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property
from typing import ClassVar

import numpy as np

from . import physics as phys
from ...spec.device import Device, Field
from ...spec.fixed import check_int

__all__ = ["FNDevice"]

_PHYS = {f.name for f in fields(phys.FNParams)}
_DEFAULT = phys.FNParams()


def _int(name, v, lo, hi):
    return check_int(name, v, lo, hi, "fn device: ")


def _py_where(cond, a, b):
    """``np.where`` of one Python value."""
    return a if cond else b


@dataclass(frozen=True)
class FNDevice(Device):
    """FN-DAM synapse. Physics fields as in :class:`synemu.devices.fn.physics.FNParams`;
    hardware fields: ``code_bits`` (4..20), ``lsb_exp`` (LSB = 2**-lsb_exp V, 4..24),
    ``tick_s`` (seconds per tick), ``counter_bits`` (4..28; code+counter ≤ 32),
    ``t_pulse_s`` (width of a unit pulse, s), ``pulse_bits`` (signed pulse width 2..6),
    ``frac_bits`` (fraction bits of the pulse ROM, 3..16), ``rom_shift`` (pulse ROM
    indexed by ``code >> rom_shift``), ``weight_shift`` (read-out right shift)."""

    name: ClassVar[str] = "fn"
    tick_sweeps: ClassVar[bool] = True
    PRESETS: ClassVar[dict] = {
        # the defaults: 14-bit codes of 61 µV over 1 V, 1/32 s ticks (ROMs of 16 k + 8 k words)
        "small": {},
        # illustrative physics, 16-bit codes of 15.3 µV (1 V range), 1/64 s ticks
        "paper": dict(code_bits=16, lsb_exp=16, tick_s=1 / 64, counter_bits=16, rom_shift=4),
        # ECP5 builds: 10-bit codes of 0.98 mV over the same 1 V, 1/32 s ticks (20-bit
        # counters: the dwell at code 1 is 5 h); ROMs of 1 k words (pulse ROM 2 k)
        "board": dict(code_bits=10, lsb_exp=10, tick_s=1 / 32, counter_bits=20, rom_shift=2),
        # iCE40UP5K builds: 8-bit codes of 1.95 mV over the top 0.5 V (the floor, 7.5 V, is
        # reached after 42 h), 4 s ticks, 40-bit state; ROMs of 256 x 16-bit words
        "ice40": dict(code_bits=8, lsb_exp=9, tick_s=4.0, counter_bits=12, rom_shift=2),
    }

    # physics (defaults: those of fn_physics.FNParams, the illustrative preset)
    area_um2: float = _DEFAULT.area_um2
    t_ox_nm: float = _DEFAULT.t_ox_nm
    c_pf: float = _DEFAULT.c_pf
    alpha_a_per_v2: float = _DEFAULT.alpha_a_per_v2
    beta_v_per_m: float = _DEFAULT.beta_v_per_m
    v0_v: float = _DEFAULT.v0_v
    vp_v: float = _DEFAULT.vp_v
    kappa_per_v: float = _DEFAULT.kappa_per_v
    # hardware
    code_bits: int = 14
    lsb_exp: int = 14
    tick_s: float = 1 / 32
    counter_bits: int = 16
    t_pulse_s: float = 0.03
    pulse_bits: int = 4
    frac_bits: int = 8
    rom_shift: int = 4
    weight_shift: int = 0

    def __post_init__(self):
        for k in _PHYS | {"tick_s", "t_pulse_s"}:
            v = getattr(self, k)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not v > 0:
                raise ValueError(f"fn device: {k} must be a positive number, not {v!r}")
        _int("code_bits", self.code_bits, 4, 20)
        _int("lsb_exp", self.lsb_exp, 4, 24)
        _int("counter_bits", self.counter_bits, 4, 28)
        if self.code_bits + self.counter_bits > 32:
            raise ValueError(f"fn device: code_bits + counter_bits = "
                             f"{self.code_bits + self.counter_bits} > 32 (two nodes must pack "
                             f"into a 64-bit state word)")
        _int("pulse_bits", self.pulse_bits, 2, 6)
        _int("frac_bits", self.frac_bits, 3, 16)
        _int("rom_shift", self.rom_shift, 0, self.code_bits - 1)
        _int("weight_shift", self.weight_shift, 0, self.code_bits - 1)
        if self.v_min_v <= 0:
            raise ValueError(f"fn device: the code range ({self.n_codes} codes of "
                             f"{self.lsb_v:g} V) reaches below 0 V from v0_v={self.v0_v}")
        if self.pulse_rom.size > 1 << 22:
            raise ValueError(f"fn device: pulse ROM of {self.pulse_rom.size} words is too big; "
                             f"raise rom_shift or lower pulse_bits")
        e = self.enter_rom
        if np.any(np.diff(e) >= 0):
            j = int(np.flatnonzero(np.diff(e) >= 0)[-1]) + 1
            raise ValueError(f"fn device: tick_s={self.tick_s:g} s is too coarse: the dwell at "
                             f"code {j} rounds to 0 ticks (lower tick_s or lsb_exp)")
        if self.max_dwell >= 1 << self.counter_bits:
            raise ValueError(f"fn device: the longest dwell ({self.max_dwell} ticks at code 1) "
                             f"does not fit counter_bits={self.counter_bits}; raise counter_bits "
                             f"or tick_s, or shrink the code range")

    # -- physics and derived constants -------------------------------------------------
    @property
    def physics(self) -> phys.FNParams:
        return phys.FNParams(**{k: getattr(self, k) for k in _PHYS})

    @cached_property
    def n_codes(self) -> int:
        return 1 << self.code_bits

    @property
    def lsb_v(self) -> float:
        return 2.0 ** -self.lsb_exp

    @property
    def v_min_v(self) -> float:
        """Voltage of code 0 [V]."""
        return self.v0_v - (self.n_codes - 1) * self.lsb_v

    def code_voltage(self, code) -> np.ndarray:
        """Voltage [V] of integer codes."""
        return self.v_min_v + np.asarray(code, float) * self.lsb_v

    @cached_property
    def enter_rom(self) -> np.ndarray:
        """Tick at which a fresh node enters code j (int64, length N; see module doc)."""
        p = self.physics
        k1, k2 = p.k1_per_s, p.k2_v
        j = np.arange(self.n_codes - 1)
        vb = self.code_voltage(j) + self.lsb_v / 2
        # (exp(k2/vb) - exp(k2/v0)) / k1 without cancellation
        t = np.exp(k2 / self.v0_v) * np.expm1(k2 / vb - k2 / self.v0_v) / k1
        ticks = np.rint(t / self.tick_s)
        if ticks[0] >= 2.0 ** 62:
            raise ValueError(f"fn device: the floor is {ticks[0]:.3g} ticks away; "
                             f"raise tick_s or shrink the code range")
        return np.append(ticks.astype(np.int64), np.int64(0))

    @property
    def enter_width(self) -> int:
        return max(1, int(self.enter_rom[0]).bit_length())

    @property
    def max_dwell(self) -> int:
        return int(np.max(-np.diff(self.enter_rom)))

    @property
    def init_counter(self) -> int:
        return int(self.enter_rom[-2])

    @cached_property
    def mag_bits(self) -> int:
        """Bits of the pulse-width index ``m - 1``."""
        return self.pulse_bits - 1

    @cached_property
    def pulse_rom(self) -> np.ndarray:
        """Code drop x 2**frac_bits for bin ``n >> rom_shift`` and width ``m``, flat int64."""
        p = self.physics
        bins = np.arange(self.n_codes >> self.rom_shift)
        centre = bins * (1 << self.rom_shift) + ((1 << self.rom_shift) - 1) / 2
        v = self.code_voltage(centre)[:, None]
        m = np.arange(1, (1 << self.mag_bits) + 1)[None, :]
        dv = phys.pulse_step_v(v, m * self.t_pulse_s, p)
        q = np.rint(dv / self.lsb_v * (1 << self.frac_bits))
        q = np.clip(q, 0, (1 << self.q_width) - 1)
        return q.astype(np.int64).reshape(-1)

    @cached_property
    def _dwell_rom(self) -> np.ndarray:
        """``dwell[j] = enter_rom[max(j-1, 0)] - enter_rom[j]`` (int64; ``dwell[0] = 0``)."""
        e = self.enter_rom
        return e[np.maximum(np.arange(len(e)) - 1, 0)] - e

    @cached_property
    def _dwell_list(self) -> list:
        return self._dwell_rom.tolist()

    @cached_property
    def _rom_list(self) -> list:
        return self.pulse_rom.tolist()

    @property
    def q_width(self) -> int:
        return self.code_bits + self.frac_bits

    # -- Device contract ----------------------------------------------------------------
    @cached_property
    def fields(self):
        top = self.n_codes - 1
        return (Field("nl", self.code_bits, init=top),
                Field("cl", self.counter_bits, init=self.init_counter),
                Field("nr", self.code_bits, init=top),
                Field("cr", self.counter_bits, init=self.init_counter))

    @property
    def pulse_width(self):
        return self.pulse_bits

    @property
    def weight_width(self):
        return self.code_bits + 1 - self.weight_shift

    def _tick_node(self, code, cnt, k: int):
        code = np.asarray(code, np.int64)
        cnt = np.asarray(cnt, np.int64)
        e = self.enter_rom
        r = cnt - k
        live = code > 0
        expired = live & (r <= 0)
        if code.shape == cnt.shape and not expired.any():   # no code changes: skip the search
            return code, np.where(live, r, cnt)
        age = e[np.maximum(code - 1, 0)] - r
        # j = #{i : e[i] > age}; e is strictly decreasing in i
        j = self.n_codes - np.searchsorted(e[::-1], age, side="right")
        c_new = np.where(j > 0, e[np.maximum(j - 1, 0)] - age, 0)
        new_code = np.where(expired, j, code)
        new_cnt = np.where(expired, c_new, np.where(live, r, cnt))
        return new_code, new_cnt

    def tick(self, state, n, time, rand=None):
        k = int(n)
        if not 0 <= k < 1 << 32:
            raise ValueError(f"fn device: tick count must be in 0..2**32-1, not {n!r}")
        nl, cl = self._tick_node(state["nl"], state["cl"], k)
        nr, cr = self._tick_node(state["nr"], state["cr"], k)
        return self._pack_fields(nl, cl, nr, cr)

    def edge_commands(self, config, seed: int = 0, n: int = 4000) -> list:
        """TICKs whose expiry search lands on its ROM: every node of every synapse is
        written with a code ``n`` and a counter ``c`` such that the TICK's ``k`` expires it
        (``c <= k``) at an age ``enter_rom[n-1] + k - c`` equal to ``enter_rom[i] - 1``,
        ``enter_rom[i]`` or ``+ 1`` for a random ``i < n`` (so each level of the binary
        search meets an age on its entry), then read back; 5 % of the TICKs are the
        longest (ages past the ROM: the floor), and ``i = n - 1`` makes a counter expire
        exactly (``c == k``). Random streams hit an age on an entry about once per
        thousands of expiries."""
        from ...spec.engine import Command, Op
        rng = np.random.default_rng(seed)
        e = self.enter_rom.astype(np.int64)
        N, cmax = self.n_codes, (1 << self.counter_bits) - 1
        kmax = min((1 << config.tick_width) - 1, int(e[0]) + cmax)
        syn = [(r, c) for r in range(config.rows) for c in range(config.cols)]
        out: list = []

        def node(k: int):
            for _ in range(64):
                i = int(rng.integers(0, N - 1))
                code = int(rng.integers(i + 1, N))
                age = int(e[i]) + int(rng.integers(-1, 2))
                c = int(e[code - 1]) + k - age
                if 0 <= c <= min(k, cmax) and age >= e[code - 1]:
                    return code, c
            return 0, 0                       # (the floor: never changes)

        while len(out) < n:
            k = int(rng.integers(1, kmax + 1)) if rng.random() < 0.95 else kmax
            words = []
            for r, c in syn:
                (nl, cl), (nr, cr) = node(k), node(k)
                words.append(int(self.pack({"nl": np.array(nl), "cl": np.array(cl),
                                            "nr": np.array(nr), "cr": np.array(cr)})))
            out += [Command(Op.WRITE, r, c, w) for (r, c), w in zip(syn, words)]
            out.append(Command(Op.TICK, 0, 0, k))
            out += [Command(Op.READ, r, c, 0) for r, c in syn]
        return out[:n]

    def _pack_fields(self, nl, cl, nr, cr):
        (_, f_nl, _), (_, f_cl, _), (_, f_nr, _), (_, f_cr, _) = self._layout
        return {"nl": np.asarray(nl).astype(f_nl.dtype),
                "cl": np.asarray(cl).astype(f_cl.dtype),
                "nr": np.asarray(nr).astype(f_nr.dtype),
                "cr": np.asarray(cr).astype(f_cr.dtype)}

    def _pulse_addr(self, code, m1):
        """Pulse ROM address of width index ``m1 = |pulse| - 1`` at ``code``."""
        return ((code >> self.rom_shift) << self.mag_bits) | m1

    def pulse_codes(self, code, pulse):
        """Code drop x 2**frac_bits (pulse ROM word) of a pulse of signed count ``pulse`` on
        a node at ``code`` (0 where ``pulse == 0``)."""
        code = np.asarray(code, np.int64)
        m = np.abs(np.asarray(pulse, np.int64))
        return np.where(m > 0, self.pulse_rom[self._pulse_addr(code, np.maximum(m - 1, 0))], 0)

    def pulse_node(self, code, counter, pulse):
        """The pulse rule of one floating-gate node (the ``update(p)`` rule of the module doc).

        ``code``     the node's voltage code, ``code_bits`` bits unsigned (0 .. 2**code_bits-1;
                     ``V = v_min_v + code * lsb_v``, code 0 is the floor);
        ``counter``  its down-counter, ``counter_bits`` bits unsigned, in ticks of ``tick_s``
                     seconds (the time left before the node decays to ``code - 1``);
        ``pulse``    a signed pulse count, ``pulse_bits`` bits two's complement: ``|pulse|``
                     (1 .. 2**(pulse_bits-1)) is the pulse width in units of ``t_pulse_s``
                     at amplitude ``vp_v``. The sign only selects the node in :meth:`update`
                     (``> 0`` pulses R, ``< 0`` pulses L) and is ignored here; ``pulse == 0``
                     leaves the node unchanged.

        The node drops ``q >> frac_bits`` whole codes (``q`` = :meth:`pulse_codes`) and the
        fraction of ``q`` is taken from its counter (possibly one more code step); reaching
        code 0 gives ``(0, 0)``. The hardware form is the UPDATE of
        :class:`synemu.devices.fn.gateware.FNRule`, bit for bit.

        Returns the new ``(code, counter)``: int64 arrays of the broadcast shape of the
        arguments (elementwise), or Python ints when all three arguments are Python ints
        (the scalar fast path of the engine's UPDATE: the same rule on ints, no NumPy).
        """
        if type(code) is int and type(counter) is int and type(pulse) is int:
            if pulse == 0:
                return code, counter
            q = self._rom_list[self._pulse_addr(code, abs(pulse) - 1)]
            return self._drop(code, counter, q, max, _py_where, self._dwell_list)
        code = np.asarray(code, np.int64)
        counter = np.asarray(counter, np.int64)
        m = np.abs(np.asarray(pulse, np.int64))
        q = self.pulse_rom[self._pulse_addr(code, np.maximum(m - 1, 0))]
        new_code, new_cnt = self._drop(code, counter, q)
        on = m > 0
        return np.where(on, new_code, code), np.where(on, new_cnt, counter)

    def _drop(self, code, cnt, q, maximum=np.maximum, where=np.where, dwell=None):
        """New (code, counter) of a node dropping ``q / 2**frac_bits`` codes (the body of
        :meth:`pulse_node`). Elementwise on NumPy arrays; with ``maximum=max``,
        ``where=_py_where`` and the dwell ROM as a list, the same rule on Python ints."""
        if dwell is None:
            dwell = self._dwell_rom
        g = self.frac_bits
        n1 = code - (q >> g)
        f = q & ((1 << g) - 1)
        n1c = maximum(n1, 0)
        below = n1c - 1
        c1 = cnt - ((f * dwell[n1c]) >> g)
        c2 = maximum(c1 + dwell[maximum(below, 0)], 0)
        step = c1 <= 0
        # floor: n1 <= 0, or a step down from code 1; as n1c >= 0 that is n1c <= step
        floor = n1c <= step
        new_code = where(floor, 0, where(step, below, n1c))
        new_cnt = where(floor, 0, where(step, c2, c1))
        return new_code, new_cnt

    def _update_one(self, values, pulse, rand, time):
        if pulse == 0:
            return values
        # update() of one synapse on Python ints (pulse_node's scalar path)
        node = "r" if pulse > 0 else "l"
        new_code, new_cnt = self.pulse_node(int(values["n" + node]), int(values["c" + node]),
                                            int(pulse))
        return {**values, "n" + node: new_code, "c" + node: new_cnt}

    def update(self, state, pulse, rand=None, *, time=0):
        nl, cl = (np.asarray(state[k], np.int64) for k in ("nl", "cl"))
        nr, cr = (np.asarray(state[k], np.int64) for k in ("nr", "cr"))
        pulse = np.asarray(pulse, np.int64)
        if pulse.ndim == 0 and nl.shape == cl.shape == nr.shape == cr.shape:
            # one pulse for all (UPD_ROW, UPD_COL): the same steps, but only one node changes
            p = int(pulse)
            if p == 0:
                return self._pack_fields(nl, cl, nr, cr)
            code, cnt = (nr, cr) if p > 0 else (nl, cl)
            new_code, new_cnt = self.pulse_node(code, cnt, pulse)
            return (self._pack_fields(nl, cl, new_code, new_cnt) if p > 0
                    else self._pack_fields(new_code, new_cnt, nr, cr))
        # (no explicit broadcasting needed: every step below is elementwise, and each
        # result goes through np.where with the pulse sign and the node, so it has the
        # broadcast shape of the state and the pulse)
        right, left = pulse > 0, pulse < 0
        code = np.where(right, nr, nl)
        cnt = np.where(right, cr, cl)
        # where the pulse is 0 neither node takes the new values
        new_code, new_cnt = self.pulse_node(code, cnt, pulse)
        return self._pack_fields(np.where(left, new_code, nl), np.where(left, new_cnt, cl),
                                 np.where(right, new_code, nr), np.where(right, new_cnt, cr))

    def position(self, state, node: str = "l") -> np.ndarray:
        """Continuous code of a node (float): ``n - 1/2 + c / dwell[n]`` (the counter is the
        node's place inside its code); code 0 (floor) gives 0."""
        n = np.asarray(state["n" + node], np.int64)
        c = np.asarray(state["c" + node], np.int64)
        e = self.enter_rom
        d = e[np.maximum(n - 1, 0)] - e[n]
        return np.where(n > 0, n - 0.5 + c / np.maximum(d, 1), 0.0)

    def train_weight(self, state, *, time=0):
        d = np.asarray(state["nl"], np.int64) - np.asarray(state["nr"], np.int64)
        return (d >> self.weight_shift).astype(self.weight_fmt.dtype)

    # -- host-side helpers ---------------------------------------------------------------
    @property
    def weight_lsb(self) -> float:
        """Weight of one read-out unit: ``kappa * LSB * 2**weight_shift``."""
        return self.kappa_per_v * self.lsb_v * (1 << self.weight_shift)

    def node_voltages(self, state) -> tuple[np.ndarray, np.ndarray]:
        """``(V_L, V_R)`` [V] of a state."""
        return self.code_voltage(state["nl"]), self.code_voltage(state["nr"])

    def pulse_energy_j(self, state, pulse) -> np.ndarray:
        """Physics energy [J] of applying signed pulse counts to ``state`` (before the
        update): ``C |dV| (V+Vp)`` with the exact ``dV`` of a width ``|p| * t_pulse_s``
        pulse at the pulsed node's voltage (0 where ``p == 0``)."""
        p = self.physics
        pulse = np.asarray(pulse, np.int64)
        vl, vr = self.node_voltages(state)
        v = np.where(pulse > 0, vr, vl)
        m = np.abs(pulse)
        dv = phys.pulse_step_v(v, m * self.t_pulse_s, p)
        return np.where(m > 0, phys.update_energy_j(dv, v, p), 0.0)

    def fresh_state(self, shape, t_s: float = 0.0) -> dict:
        """Reset state after ``t_s`` seconds of free decay (``round(t_s/tick_s)`` ticks)."""
        st = self.reset_state(shape)
        k = int(round(t_s / self.tick_s))
        while k > 0:
            step = min(k, (1 << 32) - 1)
            st = self.tick(st, step, 0)
            k -= step
        return st
