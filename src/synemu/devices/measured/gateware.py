"""Hardware of the measured (table-driven) synapse (specification: :mod:`synemu.devices.measured.golden`).

A pipelined rule (:attr:`MeasuredRule.latency` = 3 clocks for ``update``, ``tick`` and
``on_sample``) whose pulse tables are an ``amaranth.lib.memory.Memory`` ROM with
*synchronous* read ports, so yosys maps it to block RAM (ECP5 EBR, iCE40 SB_RAM40_4K; marked
``rom_style = "block"`` from :attr:`MeasuredRule.block_rom_min` words). The integer results
are the golden model's, bit for bit. Per lane (``k = bits``, ``f = frac_bits``,
``N = noise_bits``, ``D = d2d_bits``, ``C = 2^(pulse_bits-1)`` codes, ``K = 2^k``):

* Pulse ROM word ``{delta (k+f bits), z (bit_length(N)), s (bit_length(max s))}`` (the noise
  fields only if N > 0) at address ``{dir, n, c}``: ``2 K C`` words, the up table then the
  down table; a differential pair (SET-only) holds the up table alone (``K C`` words) and
  reads it at the moving device's index. One read per update; one ROM copy per two lanes
  (an ECP5 EBR's two ports; yosys duplicates it on iCE40, whose EBR has one read port).
* UPDATE, clock 0: code ``c = |p| - 1`` (``~p`` for p < 0), the ROM address, the effective
  d2d code(s) (``d`` once ``v``, else ``rand[f+2N+iD : +D]``) and the moving device's step
  scale from a combinational ``2^D`` x 8-bit ROM (registered); the new ``d``/``v`` fields and
  the (active, positive) flags enter delay lines. Clock 1: ROM data;
  ``mean = (delta * scale) >> 6`` (a ``(k+f)`` x 8 product), the masked popcount
  ``pop = popcount(rand[f : f+2z])`` (a ``2N``-input tree) and, beside it, the rest of the sum
  with the index folded in, ``A = n*2^f + rand[0:f] - (z << s)`` for the up table (pairs),
  ``A = n*2^f + 2^f-1 - rand[0:f] + (z << s)`` for the down table (``n - floor(t / 2^f) =
  floor((n*2^f + 2^f-1 - t) / 2^f)``), all registered. Clock 2: ``B = A +- (pop << s)``
  (noise ``(pop - z) << s``). Clock 3: ``(B +- mean) >> f`` clamped to ``[0, K-1]`` by bit
  tests and merged into the delayed state; pulse 0 keeps the word (v included). One adder
  (plus a mux) after the registers of clocks 2 and 3.
* TICK (drift, ``drift_period_log2`` = P set), clock 0: the retention events
  ``k = ((T + n) >> P) - (T >> P) = ((T mod 2^P) + n) >> P`` (no wrap, no time-wide
  subtract), saturated to ``K - 1`` (every distance to rest is below K); clock 2: each index
  moves ``min(|n - rest|, k)`` towards ``drift_rest``; clock 3: merged (d/v unchanged).
* Weights (combinational): ``G[n] - level_ref`` or ``G[n_p] - G[n_m]``, ``G`` the
  conductance ROM ``levels`` (<= 256 x 16 bits, a constant ``Array``) or ``G[n] = n``.
"""

from amaranth.hdl import Array, Cat, Const, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data

from .golden import SCALE_FRAC, MeasuredDevice
from ...gateware.device import DeviceRule
from ...gateware.fixed import tree_sum

__all__ = ["MeasuredRule"]


def _s(v):
    """``v`` as a signed value of the same numeric value (zero-extends unsigned)."""
    v = Value.cast(v)
    return v if v.shape().signed else Cat(v, Const(0, 1)).as_signed()


class MeasuredRule(DeviceRule):
    """Pipelined table-lookup rule; ``latency = 3`` clocks for every method."""

    #: clock 0 addresses the pulse ROM, clock 1 multiplies and counts the noise bits, clock 2
    #: adds the noise, clock 3 the mean (then shift and clamp). On an iCEBreaker (16x16, 2
    #: lanes) a 2-clock version (noise in clock 1, everything else in clock 2) made the rule
    #: the critical path at 24 MHz; with 3 clocks the link's CRC is (27-28 MHz)
    latency = 3

    def __init__(self, device: MeasuredDevice):
        if not isinstance(device, MeasuredDevice):
            raise TypeError(f"MeasuredRule needs a MeasuredDevice, not {device!r}")
        super().__init__(device)
        self._n = 0
        self._weights = (None, {})      # (module, {id(state): (state, weight)})
        self._roms = (None, None, 0)    # (module, pulse ROM, its read ports)
        d = device
        K, C, f, N = d.n_states, d.n_codes, d.frac_bits, d.noise_bits
        self._delta_w = d.bits + f
        tables = [(d.delta_up, d.noise_up)]
        if not d.differential:
            tables.append((d.delta_down, d.noise_down))
        s_max = max((v >> 5 for _, nz in tables for row in nz for v in row), default=0)
        self._z_w = N.bit_length() if N else 0
        self._s_w = s_max.bit_length() if N else 0
        words = []
        for delta, noise in tables:         # address {dir, n, c}: up table first
            for n in range(K):
                for c in range(C):
                    w = delta[n][c]
                    if N:
                        z, s = noise[n][c] & 31, noise[n][c] >> 5
                        w |= (z << self._delta_w) | (s << (self._delta_w + self._z_w))
                    words.append(w)
        self._rom_init = words
        self._word_w = self._delta_w + self._z_w + self._s_w

    # -- helpers -------------------------------------------------------------------------
    def _name(self, what):
        self._n += 1
        return f"ms_{what}_{self._n}"

    def _sig(self, m, expr, what, shape=None):
        """``expr`` on a named combinational signal (of ``shape``, default its own)."""
        expr = Value.cast(expr)
        sig = Signal(expr.shape() if shape is None else shape, name=self._name(what))
        m.d.comb += sig.eq(expr)
        return sig

    def _reg(self, m, expr, what, shape=None):
        """``expr`` registered (no reset: the sweep pipeline qualifies its outputs)."""
        expr = Value.cast(expr)
        reg = Signal(expr.shape() if shape is None else shape, name=self._name(what),
                     reset_less=True)
        m.d.sync += reg.eq(expr)
        return reg

    #: read ports (lanes) per ROM copy: ECP5's true-dual-port EBR serves two; one Memory with
    #: a port per lane (16 on a ULX3S build) makes yosys's memory_libmap run out of memory
    ports_per_rom = 2

    def _rom(self, m):
        """The pulse ROM of the next lane (one read per update): a new copy every
        :attr:`ports_per_rom` lanes (yosys duplicates it where block RAM has fewer read
        ports, as the iCE40's)."""
        mod, mem, used = self._roms
        if mod is not m or used >= self.ports_per_rom:
            mem, used = self.rom(m, unsigned(self._word_w), self._rom_init, "pulse_rom"), 0
        self._roms = (m, mem, used + 1)
        return mem

    def _view(self, value):
        return data.View(self.layout, value)

    def _clamp_index(self, m, x, what):
        """Signed ``x`` clamped to [0, K-1] by bit tests (sign, high bits: no comparator)."""
        k = self.device.bits
        x = _s(x)
        neg = x[-1]
        over = ~neg & x[k:-1].any() if len(x) - 1 > k else Const(0, 1)
        return self._sig(m, Mux(neg, 0, Mux(over, (1 << k) - 1, x[:k])), what, unsigned(k))

    # -- UPDATE --------------------------------------------------------------------------
    def update(self, m, state, pulse, rand, time):
        d = self.device
        k, f, N, D, L = d.bits, d.frac_bits, d.noise_bits, d.d2d_bits, self.latency
        diff = d.differential
        rom = self._rom(m)
        r = self._sig(m, rand, "rand", unsigned(max(d.rand_width, 1)))

        # clock 0: code, ROM address, d2d codes and step scale, flags
        p = self._sig(m, Value.cast(pulse).as_signed(), "p", signed(d.pulse_bits))
        act = self._sig(m, p != 0, "act")
        pos = self._sig(m, act & ~p[-1], "pos")
        c = self._sig(m, Mux(p[-1], ~p, p - 1)[:d.pulse_bits - 1], "c",
                      unsigned(d.pulse_bits - 1))
        if diff:
            n_sel = self._sig(m, Mux(pos, state.n_p, state.n_m), "nsel", unsigned(k))
            addr = Cat(c, n_sel)
        else:
            addr = Cat(c, state.n, ~pos)
        rd = self.sync_read(m, rom, addr, "rd")
        keep = {}                       # new d / v fields (delayed to clock L)
        scale_r = None
        if D:
            base = f + 2 * N
            eff = []
            for i, name in enumerate(d.code_names):
                drawn = r[base + i * D: base + (i + 1) * D]
                e = self._sig(m, Mux(state.v, state[name], drawn), "deff", unsigned(D))
                eff.append(e)
                keep[name] = Mux(act, e, state[name])
            keep["v"] = act | state.v
            d_sel = Mux(pos, eff[0], eff[1]) if diff else eff[0]
            table = Array(Const(v, 8) for v in d.scale)
            scale_r = self._reg(m, table[d_sel], "scale", unsigned(8))
        flags = self._sig(m, Cat(act, pos), "flags")
        keep_sig = self._sig(m, Cat(*keep.values()), "keep") if keep else None
        r_lo = self._sig(m, r[:f + 2 * N], "rlo") if f + 2 * N else None

        # clock 1: mean = (delta * scale) >> 6; the masked popcount; beside it the rest of the
        # sum with the index folded in (module docstring): t = mean + noise + round and
        # noise = (pop << s) - (z << s), so n + floor(t/2^f) = (n*2^f + t) >> f and
        # n - floor(t/2^f) = (n*2^f + 2^f-1 - t) >> f
        delta = rd[:self._delta_w]
        if D:
            prod = self._sig(m, delta * scale_r, "prod")
            mean_r = self._reg(m, prod >> SCALE_FRAC, "mean")
        else:
            mean_r = self._reg(m, delta, "mean")
        r1 = self.delay(m, r_lo, 1) if r_lo is not None else None
        s1 = self._view(self.delay(m, state, 1))
        pos1 = self.delay(m, flags, 1)[1]
        n1 = self._sig(m, Mux(pos1, s1.n_p, s1.n_m), "n1", unsigned(k)) if diff else s1.n
        rnd = r1[:f] if f else Const(0, 1)
        pop_r = sh_r = None
        zs = Const(0, 1)
        if N:
            z = self._sig(m, rd[self._delta_w:self._delta_w + self._z_w], "z")
            sh = rd[self._delta_w + self._z_w:]
            bits = [r1[f + i] & (z > (i >> 1)) for i in range(2 * N)]
            pop_r = self._reg(m, tree_sum(bits), "pop")
            if self._s_w:
                sh_r = self._reg(m, sh, "sh")
                zs = self._sig(m, z << sh, "zs")
            else:
                zs = z
        a_up = self._sig(m, _s(Cat(Const(0, f), n1)) + _s(rnd) - _s(zs), "aup")
        if diff:
            a = a_up
        else:
            a_dn = self._sig(m, _s(Cat(Const((1 << f) - 1, f), n1)) - _s(rnd) + _s(zs), "adn")
            a = Mux(pos1, a_up, a_dn)
        a_r = self._reg(m, a, "a")

        # clock 2: A +- (pop << s)
        pos2 = self.delay(m, flags, 2)[1]
        if N:
            pops = self._sig(m, pop_r << sh_r, "pops") if sh_r is not None else pop_r
            b_up = self._sig(m, a_r + _s(pops), "bup")
            b = b_up if diff else Mux(pos2, b_up, self._sig(m, a_r - _s(pops), "bdn"))
            b_r = self._reg(m, b, "b")
        else:
            b_r = self._reg(m, a_r, "b")
        mean_2 = self._reg(m, mean_r, "mean2")

        # clock 3: +- mean, the shift, the clamp, merged into the delayed state
        fl = self.delay(m, flags, L)
        act3, pos3 = fl[0], fl[1]
        s3 = self._view(self.delay(m, state, L))
        x_up = self._sig(m, b_r + _s(mean_2), "xup")
        x = x_up if diff else Mux(pos3, x_up, self._sig(m, b_r - _s(mean_2), "xdn"))
        new = self._clamp_index(m, self._sig(m, x, "x") >> f, "nnew")
        out = {}
        if diff:
            out["n_p"] = Mux(act3 & pos3, new, s3.n_p)
            out["n_m"] = Mux(act3 & ~pos3, new, s3.n_m)
        else:
            out["n"] = Mux(act3, new, s3.n)
        if keep_sig is not None:
            kd = self.delay(m, keep_sig, L)
            off = 0
            for name in keep:
                w = D if name != "v" else 1
                out[name] = kd[off:off + w]
                off += w
        return self.pack(**out)

    # -- TICK ----------------------------------------------------------------------------
    def tick(self, m, state, n, time, rand):
        d = self.device
        L = self.latency
        if d.drift_period_log2 is None:
            return self.delay(m, state, L)
        P, K, k = d.drift_period_log2, d.n_states, d.bits
        time, n = Value.cast(time), Value.cast(n)
        # clock 0: events in (T, T+n] = ((T mod 2^P) + n) >> P, saturated to K - 1
        low = time[:min(P, len(time))] if P else Const(0, 1)
        tot = self._sig(m, low + n, "dtot")
        if P >= len(tot):
            ev_r = self._reg(m, Const(0, k), "dev", unsigned(k))
        else:
            ev = self._sig(m, tot >> P, "dev0")
            ev_r = self._reg(m, Mux(ev > K - 1, K - 1, ev)[:k], "dev", unsigned(k))
        # clock L-1: every index moves towards rest by min(|x - rest|, k), registered
        ev_l = self.delay(m, ev_r, L - 2)
        s1 = self._view(self.delay(m, state, L - 1))
        rest = d.drift_rest
        moved = {}
        for name in d.index_names:
            x = s1[name]
            dn = self._sig(m, _s(x) - _s(ev_l), "ddn")
            up = self._sig(m, x + ev_l, "dup")
            nx = Mux(x > rest, Mux(dn < rest, rest, dn),
                     Mux(x < rest, Mux(up > rest, rest, up), x))
            moved[name] = self._reg(m, nx[:k], "dnew", unsigned(k))
        # clock L: merged into the delayed state
        s2 = self._view(self.delay(m, state, L))
        out = {f.name: s2[f.name] for f in d.fields}
        out.update(moved)
        return self.pack(**out)

    # -- weights (combinational) -----------------------------------------------------------
    def _g(self, m, n):
        d = self.device
        if d.levels is None:
            return _s(n)
        table = Array(Const(v, 16) for v in d.levels)
        return _s(self._sig(m, table[n], "g", unsigned(16)))

    def train_weight(self, m, state, time):
        if self._weights[0] is not m:
            self._weights = (m, {})
        cache = self._weights[1]
        hit = cache.get(id(state))
        if hit is not None and hit[0] is state:
            return hit[1]
        d = self.device
        if d.differential:
            w = self._g(m, state.n_p) - self._g(m, state.n_m)
        else:
            w = self._g(m, state.n) - d.level_ref
        out = self._sig(m, w[:d.weight_width].as_signed(), "w", signed(d.weight_width))
        cache[id(state)] = (state, out)
        return out
