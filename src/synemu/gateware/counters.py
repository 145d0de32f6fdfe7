"""Event counters in block RAM: :class:`CounterBank`.

A counter that may step every clock costs one logic cell per bit in the fabric (adder, carry
and flip-flop); the link's COUNTERS and SEQ_STATUS blocks hold hundreds of such bits. The
bank keeps them in one block-RAM word each and, per counter, only a small pending register:
a scan adds one counter's pending count into its word every clock, so a word is at most
``n`` clocks behind and a read is answered when the scan passes its counter.
"""

from __future__ import annotations

from amaranth.hdl import Array, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["CounterBank"]


class CounterBank(wiring.Component):
    """``n`` event counters of ``width`` bits (2 <= n <= 256, width <= 64), from 0, wrapping.

    Ports:

    * ``inc`` (in, ``n`` bits): counter ``i`` counts the clocks with ``inc[i]`` high;
    * ``rd_req`` (in), ``rd_index`` (in, ``range(n)``): read a counter (hold both until the
      ack); ``rd_ack`` (out, one clock) and ``rd_value`` (out, ``width``, held until the
      next ack): the counter, including every increment presented up to two clocks before
      the ack. An answer takes at most ``n + 2`` clocks.

    Cost: a ``width``-bit block-RAM word per counter, one ``width``-bit adder and
    ``n * bit_length(n + 1)`` bits of pending registers.
    """

    def __init__(self, n: int, width: int = 48):
        if not isinstance(n, int) or not 2 <= n <= 256:
            raise ValueError(f"CounterBank needs 2..256 counters, not {n!r}")
        if not isinstance(width, int) or not 1 <= width <= 64:
            raise ValueError(f"CounterBank counter width must be 1..64 bits, not {width!r}")
        self.n, self.width = n, width
        super().__init__({"inc": In(n), "rd_req": In(1), "rd_index": In(range(n)),
                          "rd_ack": Out(1), "rd_value": Out(width)})

    def elaborate(self, platform):
        n, w = self.n, self.width
        m = Module()
        m.submodules.mem = mem = Memory(shape=w, depth=n, init=[],
                                        attrs={"ram_style": "block"})
        rp, wp = mem.read_port(transparent_for=()), mem.write_port()
        a = Signal(range(n))          # the counter being read this clock
        b = Signal(range(n))          # the counter whose word arrives (read last clock)
        # a pending count covers n clocks between scans, n + 1 for counter 0 after the
        # warm-up below
        pend = [Signal((n + 1).bit_length(), name=f"pend{i}") for i in range(n)]
        # words are written back from the third clock on: the first read may race the
        # memory's initialisation (a simulator's time 0) and its read register holds no
        # word before it (X in a 4-state simulator, whatever the FPGA powers up with)
        warm, live = Signal(), Signal()
        m.d.sync += [a.eq(Mux(a == n - 1, 0, a + 1)), b.eq(a), warm.eq(1), live.eq(warm)]
        m.d.comb += rp.addr.eq(a)
        total = Signal(w)
        m.d.comb += [total.eq(rp.data + Array(pend)[b]),
                     wp.addr.eq(b), wp.data.eq(total), wp.en.eq(live)]
        for i, p in enumerate(pend):
            # pend[i] covers the increments since its counter's word was last updated
            m.d.sync += p.eq(Mux(live & (b == i), 0, p) + self.inc[i])
        hit = live & self.rd_req & (b == self.rd_index) & ~self.rd_ack
        m.d.sync += self.rd_ack.eq(hit)
        with m.If(hit):
            m.d.sync += self.rd_value.eq(total)
        return m
