"""Hardware of the FN-DAM synapse: FN decay counters (spec: :mod:`synemu.golden.fn`).

Two ROMs, built once by :class:`~synemu.golden.fn.FNDevice` and shared by the golden model,
are instantiated once per engine as ``amaranth.lib.memory.Memory`` with combinational read
ports (the engine calls the rule combinationally, one slot per clock):

* ``enter_rom`` (``2**code_bits`` x ``enter_width`` bits): per node and lane, one port for
  ``enter_rom[n-1]`` plus ``code_bits`` ports of the binary search that makes a TICK of any
  length exact in one slot;
* ``pulse_rom`` (``(2**code_bits >> rom_shift) * 2**(pulse_bits-1)`` x
  ``code_bits + frac_bits`` bits): one port per lane; an update also reads ``enter_rom``
  at ``n1``, ``n1-1``, ``n1-2`` (three ports) and multiplies the fraction by a dwell
  (``frac_bits`` x ``enter_width``).

Sizes are device parameters (``code_bits``, ``rom_shift``, ``pulse_bits``) so a board build
can pick small ROMs; the device validates them.
"""

from amaranth.hdl import Cat, Const, Mux, Signal, signed, unsigned
from amaranth.lib.memory import Memory

from ..golden.fn import FNDevice
from .device import DeviceRule

__all__ = ["FNRule"]


class FNRule(DeviceRule):
    """Combinational FN decay-counter rule; the two ROMs are created once per engine module
    (first rule call) and every lane/node adds its own combinational read ports."""

    def __init__(self, device: FNDevice):
        if not isinstance(device, FNDevice):
            raise TypeError(f"FNRule needs an FNDevice, not {device!r}")
        super().__init__(device)
        self._roms = None  # (module, enter_rom, pulse_rom)
        self._n = 0

    def _mems(self, m):
        if self._roms is None or self._roms[0] is not m:
            d = self.device
            erom = Memory(shape=unsigned(d.enter_width), depth=d.n_codes,
                          init=[int(v) for v in d.enter_rom])
            qrom = Memory(shape=unsigned(d.q_width), depth=d.pulse_rom.size,
                          init=[int(v) for v in d.pulse_rom])
            m.submodules.fn_enter_rom = erom
            m.submodules.fn_pulse_rom = qrom
            self._roms = (m, erom, qrom)
        return self._roms[1], self._roms[2]

    def _name(self, what):
        self._n += 1
        return f"fn_{what}_{self._n}"

    def _read(self, m, mem, addr, what):
        port = mem.read_port(domain="comb")
        data = Signal.like(port.data, name=self._name(what))
        m.d.comb += [port.addr.eq(addr), data.eq(port.data)]
        return data

    def _tick_node(self, m, code, cnt, k):
        d = self.device
        erom, _ = self._mems(m)
        aw = max(d.enter_width, len(k), d.counter_bits) + 3
        r = Signal(signed(max(d.counter_bits, len(k)) + 2), name=self._name("r"))
        m.d.comb += r.eq(cnt - k)
        live = code != 0
        expired = Signal(name=self._name("expired"))
        m.d.comb += expired.eq(live & (r <= 0))
        e_prev = self._read(m, erom, (code - 1)[:d.code_bits], "e_prev")
        age = Signal(signed(aw), name=self._name("age"))
        m.d.comb += age.eq(e_prev - r)
        # j = #{i : enter_rom[i] > age}, bit by bit (enter_rom strictly decreasing)
        j = Const(0, d.code_bits)
        e_hi = Const(0, d.enter_width)
        for b in reversed(range(d.code_bits)):
            cand = (j | (1 << b))[:d.code_bits]
            e = self._read(m, erom, (cand - 1)[:d.code_bits], f"e_b{b}")
            take = Signal(name=self._name(f"take{b}"))
            m.d.comb += take.eq(e > age)
            jn = Signal(d.code_bits, name=self._name(f"j{b}"))
            eh = Signal(d.enter_width, name=self._name(f"ehi{b}"))
            m.d.comb += [jn.eq(Mux(take, cand, j)), eh.eq(Mux(take, e, e_hi))]
            j, e_hi = jn, eh
        c_new = Mux(j != 0, e_hi - age, 0)
        new_code = Mux(expired, j, code)
        new_cnt = Mux(expired, c_new, Mux(live, r, cnt))
        return new_code, new_cnt

    def tick(self, m, state, n, time, rand):
        nl, cl = self._tick_node(m, state.nl, state.cl, n)
        nr, cr = self._tick_node(m, state.nr, state.cr, n)
        return self.pack(nl=nl, cl=cl, nr=nr, cr=cr)

    def update(self, m, state, pulse, rand, time):
        d = self.device
        erom, qrom = self._mems(m)
        g = d.frac_bits
        p = pulse.as_signed()
        right = Signal(name=self._name("right"))
        left = Signal(name=self._name("left"))
        m.d.comb += [right.eq(p > 0), left.eq(p < 0)]
        mag = Signal(d.pulse_bits, name=self._name("mag"))
        m.d.comb += mag.eq(Mux(p < 0, -p, p))
        code = Signal(d.code_bits, name=self._name("code"))
        cnt = Signal(d.counter_bits, name=self._name("cnt"))
        m.d.comb += [code.eq(Mux(right, state.nr, state.nl)),
                     cnt.eq(Mux(right, state.cr, state.cl))]
        addr = Cat((mag - 1)[:d.mag_bits], code[d.rom_shift:]) if d.mag_bits else code[d.rom_shift:]
        q = Signal(d.q_width, name=self._name("q"))
        m.d.comb += q.eq(Mux(mag != 0, self._read(m, qrom, addr, "q"), 0))
        n1 = Signal(signed(d.code_bits + 2), name=self._name("n1"))
        m.d.comb += n1.eq(code - (q >> g))
        n1c = Signal(d.code_bits, name=self._name("n1c"))
        m.d.comb += n1c.eq(Mux(n1 < 0, 0, n1))
        e1 = self._read(m, erom, n1c, "e1")
        e0 = self._read(m, erom, Mux(n1c == 0, 0, n1c - 1)[:d.code_bits], "e0")
        em = self._read(m, erom, Mux(n1c < 2, 0, n1c - 2)[:d.code_bits], "em")
        dw1 = Signal(d.enter_width, name=self._name("dw1"))
        dw2 = Signal(d.enter_width, name=self._name("dw2"))
        m.d.comb += [dw1.eq(e0 - e1), dw2.eq(em - e0)]
        sub = Signal(d.enter_width + g, name=self._name("sub"))
        m.d.comb += sub.eq((q[:g] * dw1) >> g)
        cw = max(d.counter_bits, d.enter_width + g) + 2
        c1 = Signal(signed(cw), name=self._name("c1"))
        c2 = Signal(signed(cw + 1), name=self._name("c2"))
        m.d.comb += [c1.eq(cnt - sub), c2.eq(c1 + dw2)]
        step = c1 <= 0
        floor = Signal(name=self._name("floor"))
        m.d.comb += floor.eq((n1 <= 0) | (step & (n1c == 1)))
        new_code = Signal(d.code_bits, name=self._name("ncode"))
        new_cnt = Signal(d.counter_bits, name=self._name("ncnt"))
        m.d.comb += [
            new_code.eq(Mux(floor, 0, Mux(step, n1c - 1, n1c))),
            new_cnt.eq(Mux(floor, 0, Mux(step, Mux(c2 < 0, 0, c2), c1))),
        ]
        return self.pack(
            nl=Mux(left, new_code, state.nl), cl=Mux(left, new_cnt, state.cl),
            nr=Mux(right, new_code, state.nr), cr=Mux(right, new_cnt, state.cr))

    def train_weight(self, m, state, time):
        d = self.device
        diff = Signal(signed(d.code_bits + 1), name=self._name("wdiff"))
        m.d.comb += diff.eq(state.nl - state.nr)
        w = Signal(signed(d.weight_width), name=self._name("w"))
        m.d.comb += w.eq(diff >> d.weight_shift)
        return w
