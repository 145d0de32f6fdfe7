"""Hardware of the binary STT-MTJ synapse (specification: :mod:`synemu.devices.mtj.golden`).

Per lane: the bijective mixer of the device-LFSR word (one ``rand_bits`` x ``rand_bits``
multiplier), two constant threshold tables indexed by ``|pulse|`` and one comparator.
"""

from amaranth.hdl import Array, Cat, Const, Mux, Signal, Value, unsigned

from .golden import MTJDevice, mix_constants
from ...gateware.device import DeviceRule

__all__ = ["MTJRule", "mix"]


def mix(word, width: int, m=None) -> Value:
    """``width``-bit mixer, bit-exact with :func:`synemu.devices.mtj.golden.mix`. With a
    module ``m`` its stages are signals driven there, so each is built once: as a bare
    expression, each stage read twice (``x ^ (x >> a)``) is copied into the Verilog per
    reader (synthesis merges the copies again)."""
    k, a, mult, b = mix_constants(width)
    w = Value.cast(word)[:width]
    src = [None] * width
    for i in range(width):
        src[(i * k) % width] = w[i]

    def stage(value, name):
        if m is None:
            return value
        sig = Signal(width, name=name)
        m.d.comb += sig.eq(value)
        return sig

    x = stage(Cat(*src), "mix_perm")
    x = stage(x ^ (x >> a), "mix_xs")
    x = stage((x * Const(mult, width))[:width], "mix_mul")
    return x ^ (x >> b)


class MTJRule(DeviceRule):
    def __init__(self, device: MTJDevice):
        if not isinstance(device, MTJDevice):
            raise TypeError(f"MTJRule needs an MTJDevice, not {device!r}")
        super().__init__(device)

    def update(self, m, state, pulse, rand, time):
        dev = self.device
        tw = dev.threshold_width
        u = Signal(dev.prob_bits, name="mix_u")
        m.d.comb += u.eq(mix(rand, dev.rand_bits, m)[dev.rand_bits - dev.prob_bits:])
        pulse = Value.cast(pulse)
        neg = pulse < 0
        mag = Mux(neg, -pulse, pulse).as_unsigned()[:dev.pulse_bits]
        t_ltp = Array(Const(t, unsigned(tw)) for t in dev.ltp_thresholds)[mag]
        t_ltd = Array(Const(t, unsigned(tw)) for t in dev.ltd_thresholds)[mag]
        s = state.s
        to_p = (pulse > 0) & ~s & (u < t_ltp)
        to_ap = neg & s & (u < t_ltd)
        return self.pack(s=Mux(to_p, 1, Mux(to_ap, 0, s)))

    def train_weight(self, m, state, time):
        return Mux(state.s, Const(1, 2), Const(-1 & 3, 2)).as_signed()
