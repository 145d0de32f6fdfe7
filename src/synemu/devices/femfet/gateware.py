"""Hardware of the hybrid FeMFET-CMOS synapse (specification: :mod:`synemu.devices.femfet.golden`).

Per lane, combinational: LSB update with immediate carry/borrow (T2) or clamp (T1), the
periodic transfer sweep (T1, ``on_sample``), the capacitor leak (``tick``: the number of
leak events in ``(time, time+n]`` is a shift/subtract of the time counter, applied through
``leak_steps`` unrolled conditional stages) and the LFSR-driven FeMFET write noise.
"""

from amaranth.hdl import Cat, Const, Mux, Signal, Value, signed

from .golden import WC_BITS, FeMFETDevice
from ...gateware.device import DeviceRule
from ...gateware.fixed import tree_sum

__all__ = ["FeMFETRule"]


def _s(v):
    """``v`` as a signed value of the same numeric value (zero-extends unsigned)."""
    v = Value.cast(v)
    return v if v.shape().signed else Cat(v, Const(0, 1)).as_signed()


def _clamp(v, lo: int, hi: int):
    v = _s(v)
    return Mux(v < lo, lo, Mux(v > hi, hi, v))


def _sig(m, expr, name):
    """Name ``expr`` with a combinational signal (keeps the simulator's expressions small:
    every reuse of a signal is a reference, not a copy of the expression tree)."""
    expr = Value.cast(expr)
    sig = Signal(expr.shape(), name=name)
    m.d.comb += sig.eq(expr)
    return sig


class FeMFETRule(DeviceRule):
    def __init__(self, device: FeMFETDevice):
        if not isinstance(device, FeMFETDevice):
            raise TypeError(f"FeMFETRule needs a FeMFETDevice, not {device!r}")
        super().__init__(device)

    # -- helpers -------------------------------------------------------------------------
    def _sign_mul(self, state, v):
        """s * v with s = -1 when the polarity bit is set."""
        v = _s(v)
        if not self.device.polarity:
            return v
        return Mux(state.pol, -v, v)

    def _level(self, mod, m):
        d = self.device
        if d.frac_bits == 0:
            return _s(m)
        r = _sig(mod, (_s(m) + (1 << (d.frac_bits - 1))) >> d.frac_bits, "ff_lev_raw")
        return _sig(mod, Mux(r > d.level_max, d.level_max, r), "ff_lev")

    def _noise(self, m, rand):
        d = self.device
        terms = []
        if d.prog_q:
            r = Value.cast(rand)
            hit = r[:8] < d.prog_q
            step = 1 << d.frac_bits
            terms.append(Mux(hit, Mux(r[8], Const(step, signed(d.frac_bits + 2)),
                                      Const(-step, signed(d.frac_bits + 2))),
                             Const(0, signed(d.frac_bits + 2))))
        if d.c2c_bits:
            r = Value.cast(rand)
            n = d.c2c_bits
            terms.append(_sig(m, _s(tree_sum([r[9 + i] for i in range(2 * n)])) - n, "ff_c2c"))
        return terms

    def _transfer(self, m, state, v, rand, keep_residual):
        """Returns (m_new, v_new, wc_new, worn_new) as in the golden ``_transfer``."""
        d = self.device
        lev = self._level(m, state.m)
        u = _sig(m, (lev << d.k_l) + (1 << (d.k_l - 1)) + v, "ff_u")
        t_raw = _sig(m, u >> d.k_l, "ff_t_raw")
        t = _sig(m, _clamp(t_raw, 0, d.level_max), "ff_t")
        v_new = (_sig(m, u - (t << d.k_l) - (1 << (d.k_l - 1)), "ff_v_new") if keep_residual
                 else Const(0, 1))
        write = _sig(m, t != lev, "ff_write")
        noisy = _s(t << d.frac_bits)
        for term in self._noise(m, rand):
            noisy = noisy + term
        noisy = _sig(m, noisy, "ff_noisy")
        m_new = _sig(m, Mux(write, _clamp(noisy, 0, (1 << d.m_width) - 1), state.m), "ff_m_new")
        wc_max = (1 << WC_BITS) - 1
        wc_inc = Mux(state.wc == wc_max, state.wc, state.wc + 1)
        wc_new = _sig(m, Mux(write, wc_inc, state.wc)[:WC_BITS], "ff_wc_new")
        worn_new = _sig(m, Mux(wc_new >= d.endurance, 1, state.worn), "ff_worn_new")
        return m_new, v_new, wc_new, worn_new

    def _pack(self, state, m, l, wc, worn, pol=None):
        f = dict(m=m, l=l, wc=wc, worn=worn)
        if self.device.polarity:
            f["pol"] = state.pol if pol is None else pol
        return self.pack(**f)

    # -- rules ---------------------------------------------------------------------------
    def update(self, m, state, pulse, rand, time):
        d = self.device
        S = _sig(m, _s(state.l) + self._sign_mul(state, pulse), "ff_S")
        if d.transfer == "carry":
            over = _sig(m, (S < 0) | (S > d.l_max), "ff_over")
            tm, tv, twc, tworn = self._transfer(m, state, S - d.l_mid, rand, True)
            l_new = _clamp(Mux(over, tv + d.l_mid, S), 0, d.l_max)
            return self._pack(state, Mux(over, tm, state.m), l_new,
                              Mux(over, twc, state.wc), Mux(over, tworn, state.worn))
        return self._pack(state, state.m, _clamp(S, 0, d.l_max), state.wc, state.worn)

    def on_sample(self, m, state, samples, rand):
        d = self.device
        if d.transfer != "periodic":
            return state.as_value()
        v = _sig(m, self._sign_mul(state, _s(state.l) - d.l_mid), "ff_v")
        tm, _, twc, tworn = self._transfer(m, state, v, rand, False)
        pol = ~state.pol if d.polarity else None
        return self._pack(state, tm, Const(d.l_mid, d.l_width), twc, tworn, pol)

    def tick(self, m, state, n, time, rand):
        d = self.device
        if d.leak_shift is None:
            return state.as_value()
        p = d.leak_period_log2
        k = _sig(m, ((Value.cast(time) + n) >> p) - (Value.cast(time) >> p), "ff_leak_k")
        lv = _s(state.l)
        for i in range(d.leak_steps):
            h = (1 << d.leak_shift) >> 1
            dl = _sig(m, lv - d.rest, f"ff_leak_d{i}")
            amount = Mux(dl < 0, -((h - dl) >> d.leak_shift), (dl + h) >> d.leak_shift)
            lv = _sig(m, Mux(k > i, lv - amount, lv), f"ff_leak{i}")
        return self._pack(state, state.m, lv, state.wc, state.worn)

    def _wm(self, state):
        d = self.device
        return _s(state.m << (d.k_l - d.frac_bits)) + d.w_offset

    def train_weight(self, m, state, time):
        d = self.device
        w = self._wm(state) + self._sign_mul(state, _s(state.l) - d.l_mid)
        return w[:d.weight_width].as_signed()

    def infer_weight(self, m, state, time):
        return self._wm(state)[:self.device.weight_width].as_signed()
