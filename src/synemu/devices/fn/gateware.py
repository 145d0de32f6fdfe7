"""Hardware of the FN-DAM synapse: FN decay counters (spec: :mod:`synemu.devices.fn.golden`).

A pipelined rule (:attr:`FNRule.latency` = ``code_bits + 1`` clocks) whose ROMs are
``amaranth.lib.memory.Memory`` blocks with *synchronous* read ports, so yosys maps the big
ones to block RAM (ECP5 EBR, iCE40 SB_RAM40_4K) and the small ones to logic. All tables are
derived from :class:`~synemu.devices.fn.golden.FNDevice`'s ``enter_rom`` and ``pulse_rom``; the
integer results are the golden model's, bit for bit. Per lane (``B = code_bits``,
``E = enter_width``, ``C = counter_bits`` bits):

* TICK, per node, one binary-search level per clock: clock 0 reads ``enter_rom[n-1]``
  (``2**B`` x E, one port per node) and clock 1 forms the age ``a``, saturated to E bits
  (every entry is ``< 2**E``, so the comparisons do not change), and decides level
  ``B-1`` against a constant; level ``b`` (clocks 2..B) only ever reads candidates
  ``j | 1<<b`` whose low bits are zero, so it has its own ROM of ``2**(B-1-b)`` entries
  (``enter_rom[cand-1]``; the levels of one node add up to one ``enter_rom``); clock
  ``B+1`` reads ``enter_rom[j-1]`` from a second full ROM for the new counter (instead of
  carrying it through the levels: E FFs and an E-bit mux per level and node). Age and the
  decided prefix of ``j`` are carried in registers; the node's code, counter and ``n`` come
  from shared delay lines (:meth:`DeviceRule.delay`).
* UPDATE (the rule of :meth:`~synemu.devices.fn.golden.FNDevice.pulse_node`), on the
  last four clocks: ``pulse_rom`` (clock ``L-3``), then a dwell ROM
  (``dwell[n] = enter_rom[n-1] - enter_rom[n]``, ``dwell[0] = 0``; ``2**B`` x C) at
  ``n1`` and ``n1-1`` (clock ``L-2``), the fraction x dwell product (``frac_bits`` x C,
  clock ``L-1``) and the counter arithmetic (clock ``L``); its inputs come from the delay
  lines. The last clock of either method is one adder and a few muxes deep.

The two nodes of a lane share each ROM through two read ports (one true-dual-port EBR on
ECP5; yosys duplicates it on iCE40, whose block RAM has one read port); ROMs of at least
:attr:`FNRule.block_rom_min` words are marked for block RAM. Sizes are device parameters
(``code_bits``, ``rom_shift``, ``pulse_bits``; presets ``board`` and ``ice40`` for FPGAs).
"""

import numpy as np
from amaranth.hdl import Cat, Const, Mux, Signal, signed, unsigned
from amaranth.lib import data

from .golden import FNDevice
from ...gateware.device import DeviceRule

__all__ = ["FNRule"]


class FNRule(DeviceRule):
    """Pipelined FN decay-counter rule; ``latency = code_bits + 1`` clocks for ``update`` and
    ``tick`` alike (``update`` is padded through the shared state delay line)."""

    def __init__(self, device: FNDevice):
        if not isinstance(device, FNDevice):
            raise TypeError(f"FNRule needs an FNDevice, not {device!r}")
        super().__init__(device)
        self._n = 0
        e = device.enter_rom
        B = device.code_bits
        #: level b's ROM: enter_rom[cand - 1] for cand = (i << (b+1)) | (1 << b)
        self._levels = [[int(e[(i << (b + 1)) + (1 << b) - 1]) for i in range(1 << (B - 1 - b))]
                        for b in range(B)]
        self._dwell = [0] + [int(v) for v in -np.diff(e)]

    @property
    def latency(self) -> int:
        """Clock 0 reads ``enter_rom[n-1]``, clocks 1..B decide one search level each,
        clock B + 1 reads ``enter_rom[j-1]``."""
        return self.device.code_bits + 1

    def _name(self, what):
        self._n += 1
        return f"fn_{what}_{self._n}"

    def _reg(self, shape, what):
        """A pipeline register (no reset: the sweep pipeline qualifies its outputs)."""
        return Signal(shape, name=self._name(what), reset_less=True)

    def _view(self, value):
        return data.View(self.layout, value)

    # -- TICK ----------------------------------------------------------------------------------
    def tick(self, m, state, n, time, rand):
        d = self.device
        B, E, L = d.code_bits, d.enter_width, self.latency
        enter = [int(v) for v in d.enter_rom]
        e_prev = self.rom(m, unsigned(E), enter, "eprev")
        e_last = self.rom(m, unsigned(E), enter, "elast")
        levels = [None if b == B - 1 else self.rom(m, unsigned(E), self._levels[b], f"lvl{b}")
                  for b in range(B)]
        out = {}
        for node in "lr":
            code0 = state["n" + node]
            # clock 0: enter_rom[n-1] (code 0 reads the last entry; it never expires)
            rd = self.sync_read(m, e_prev, (code0 - 1)[:B], "ep" + node)
            # clock 1: age = enter_rom[n-1] - (c - k), saturated to E bits
            s1 = self._view(self.delay(m, state, 1))
            r1 = s1["c" + node] - self.delay(m, n, 1)
            age_full = Signal(signed(max(E, len(r1)) + 2), name=self._name("agefull" + node))
            m.d.comb += age_full.eq(rd - r1)
            age = Signal(E, name=self._name("age" + node))
            m.d.comb += age.eq(Mux(age_full[E:].any(), (1 << E) - 1, age_full[:E]))
            # clocks 1..B: j = #{i : enter_rom[i] > age}, MSB first; each clock registers the
            # age and the decided bits of j and addresses the next level's ROM
            j = Const(0, 0)
            for b in reversed(range(B)):
                if b == B - 1:
                    e = Const(self._levels[b][0], E)
                else:
                    age_r, j_r = self._reg(E, f"age{b}{node}"), self._reg(len(j), f"j{b}{node}")
                    m.d.sync += [age_r.eq(age), j_r.eq(j)]
                    age, j, e = age_r, j_r, rd
                take = Signal(name=self._name(f"take{b}{node}"))
                m.d.comb += take.eq(e > age)
                jn = Signal(B - b, name=self._name(f"jn{b}{node}"))
                m.d.comb += jn.eq(Cat(take, j))
                j = jn
                if b:
                    rd = self.sync_read(m, levels[b - 1], j, f"e{b - 1}{node}")
            # clock B + 1: c = enter_rom[j-1] - age (0 at the floor); code, counter and n
            # from the delay lines
            e_j = self.sync_read(m, e_last, (j - 1)[:B], "ej" + node)
            age_r, j_r = self._reg(E, "agej" + node), self._reg(B, "jj" + node)
            m.d.sync += [age_r.eq(age), j_r.eq(j)]
            sL = self._view(self.delay(m, state, L))
            code, cnt = sL["n" + node], sL["c" + node]
            r = Signal(signed(max(d.counter_bits, len(n)) + 2), name=self._name("r" + node))
            m.d.comb += r.eq(cnt - self.delay(m, n, L))
            live = code != 0
            expired = live & (r <= 0)
            c_new = Mux(j_r != 0, e_j - age_r, 0)
            out["n" + node] = Mux(expired, j_r, code)
            out["c" + node] = Mux(expired, c_new, Mux(live, r, cnt))
        return self.pack(**out)

    # -- UPDATE --------------------------------------------------------------------------------
    def _pulse_select(self, m, state, pulse, k):
        """(state view, pulse, right, left, code, counter) as presented ``k`` clocks ago."""
        d = self.device
        s = self._view(self.delay(m, state, k))
        p = self.delay(m, pulse, k).as_signed()
        right, left = p > 0, p < 0
        code = Signal(d.code_bits, name=self._name("code"))
        cnt = Signal(d.counter_bits, name=self._name("cnt"))
        m.d.comb += [code.eq(Mux(right, s.nr, s.nl)), cnt.eq(Mux(right, s.cr, s.cl))]
        return s, p, right, left, code, cnt

    def update(self, m, state, pulse, rand, time):
        d = self.device
        g, C, L = d.frac_bits, d.counter_bits, self.latency
        qrom = self.rom(m, unsigned(d.q_width), [int(v) for v in d.pulse_rom], "pulse")
        drom = self.rom(m, unsigned(C), self._dwell, "dwell")
        # clock L-3: pulse_rom[code >> rom_shift, |p| - 1]
        _, p, _, _, code, _ = self._pulse_select(m, state, pulse, L - 3)
        mag = Signal(d.pulse_bits, name=self._name("mag"))
        m.d.comb += mag.eq(Mux(p < 0, -p, p))
        addr = Cat((mag - 1)[:d.mag_bits], code[d.rom_shift:]) if d.mag_bits else code[d.rom_shift:]
        q_rd = self.sync_read(m, qrom, addr, "q")
        # clock L-2: whole-code drop to n1, dwell ROM at n1 and n1 - 1
        _, p, _, _, code, _ = self._pulse_select(m, state, pulse, L - 2)
        q = Signal(d.q_width, name=self._name("q"))
        m.d.comb += q.eq(Mux(p != 0, q_rd, 0))
        n1 = Signal(signed(d.code_bits + 2), name=self._name("n1"))
        m.d.comb += n1.eq(code - (q >> g))
        n1c = Signal(d.code_bits, name=self._name("n1c"))
        m.d.comb += n1c.eq(Mux(n1 < 0, 0, n1))
        dw1 = self.sync_read(m, drom, n1c, "dw1")
        dw2 = self.sync_read(m, drom, Mux(n1c == 0, 0, n1c - 1)[:d.code_bits], "dw2")
        f = self._reg(g, "f")
        n1c_2 = self._reg(d.code_bits, "n1c")
        below_2 = self._reg(1, "below")       # n1 <= 0
        m.d.sync += [f.eq(q[:g]), n1c_2.eq(n1c), below_2.eq(n1 <= 0)]
        # clock L-1: the fraction's share of the dwell, sub = (f * dwell[n1]) >> g
        sub = self._reg(C, "sub")
        back = self._reg(signed(C + 2), "back")  # dwell[n1-1] - sub: the second step
        n1c_1 = self._reg(d.code_bits, "n1c")
        below_1 = self._reg(1, "below")
        prod = Signal(C + g, name=self._name("prod"))
        m.d.comb += prod.eq(f * dw1)
        m.d.sync += [sub.eq(prod >> g), back.eq(dw2 - (prod >> g)), n1c_1.eq(n1c_2),
                     below_1.eq(below_2)]
        # clock L: c1 = c - sub, maybe one more code step with c2 = c1 + dwell[n1-1]
        s, _, right, left, _, cnt = self._pulse_select(m, state, pulse, L)
        c1 = Signal(signed(C + 2), name=self._name("c1"))
        c2 = Signal(signed(C + 3), name=self._name("c2"))
        m.d.comb += [c1.eq(cnt - sub), c2.eq(cnt + back)]
        step = c1 <= 0
        floor = Signal(name=self._name("floor"))
        m.d.comb += floor.eq(below_1 | (step & (n1c_1 == 1)))
        new_code = Signal(d.code_bits, name=self._name("ncode"))
        new_cnt = Signal(C, name=self._name("ncnt"))
        m.d.comb += [
            new_code.eq(Mux(floor, 0, Mux(step, n1c_1 - 1, n1c_1))),
            new_cnt.eq(Mux(floor, 0, Mux(step, Mux(c2 < 0, 0, c2), c1))),
        ]
        return self.pack(
            nl=Mux(left, new_code, s.nl), cl=Mux(left, new_cnt, s.cl),
            nr=Mux(right, new_code, s.nr), cr=Mux(right, new_cnt, s.cr))

    def train_weight(self, m, state, time):
        d = self.device
        diff = Signal(signed(d.code_bits + 1), name=self._name("wdiff"))
        m.d.comb += diff.eq(state.nl - state.nr)
        w = Signal(signed(d.weight_width), name=self._name("w"))
        m.d.comb += w.eq(diff >> d.weight_shift)
        return w
