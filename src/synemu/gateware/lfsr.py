"""Maximal-length LFSR components (Amaranth 0.5), bit-exact with :mod:`synemu.spec.lfsr`.

Taps and validation come from :mod:`synemu.spec.lfsr` (single table). All state
registers live in the ``sync`` domain and reset to their seed.
"""

from __future__ import annotations

from typing import Sequence

from amaranth.hdl import Cat, Const, Module, Mux
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from synemu.spec.lfsr import fibonacci_taps, galois_mask, validate_seeds

__all__ = ["GaloisLFSR", "FibonacciLFSR", "LFSRBank"]


class GaloisLFSR(wiring.Component):
    """Galois (right-shifting) LFSR: ``next = (state >> 1) ^ (mask if state[0] else 0)``.

    Ports: ``en`` (1 bit, in): advance on the next ``sync`` edge;
    ``state`` (``width`` bits, out, reset = ``seed``): the register;
    ``next`` (``width`` bits, out, combinational): the state after one step.
    """

    def __init__(self, width: int, seed: int, mask: int | None = None):
        (seed,) = validate_seeds(width, [seed])
        self.width = int(width)
        self.seed = seed
        self.mask = galois_mask(self.width, mask)
        super().__init__({
            "en": In(1),
            "state": Out(self.width, init=seed),
            "next": Out(self.width),
        })

    def elaborate(self, platform):
        m = Module()
        s = self.state
        m.d.comb += self.next.eq((s >> 1) ^ Mux(s[0], Const(self.mask, self.width), 0))
        with m.If(self.en):
            m.d.sync += s.eq(self.next)
        return m


class FibonacciLFSR(wiring.Component):
    """Fibonacci (left-shifting) LFSR: ``next = {state[w-2:0], ^(state & taps)}``.

    Same ports as :class:`GaloisLFSR` (``en`` 1 bit in; ``state``/``next`` ``width``
    bits out, ``state`` resets to ``seed``).
    """

    def __init__(self, width: int, seed: int, taps: int | None = None):
        (seed,) = validate_seeds(width, [seed])
        self.width = int(width)
        self.seed = seed
        self.taps = fibonacci_taps(self.width, taps)
        super().__init__({
            "en": In(1),
            "state": Out(self.width, init=seed),
            "next": Out(self.width),
        })

    def elaborate(self, platform):
        m = Module()
        s = self.state
        feedback = (s & Const(self.taps, self.width)).xor()
        m.d.comb += self.next.eq(Cat(feedback, s[:-1]))
        with m.If(self.en):
            m.d.sync += s.eq(self.next)
        return m


class LFSRBank(wiring.Component):
    """``len(seeds)`` Galois LFSRs of one ``width`` stepping together on ``en``.

    Ports: ``en`` (1 bit, in); ``words`` (``ArrayLayout(width, lanes)``, out): the
    current lane states (lane ``i`` = ``words[i]``, bits ``i*width .. i*width+width-1``
    of the flattened port), lane ``i`` resets to ``seeds[i]``.
    """

    def __init__(self, width: int, seeds: Sequence[int], mask: int | None = None):
        self.seeds = validate_seeds(width, list(seeds))
        self.width = int(width)
        self.lanes = len(self.seeds)
        self.mask = galois_mask(self.width, mask)
        super().__init__({
            "en": In(1),
            "words": Out(data.ArrayLayout(self.width, self.lanes)),
        })

    def elaborate(self, platform):
        m = Module()
        for i, seed in enumerate(self.seeds):
            lane = GaloisLFSR(self.width, seed, self.mask)
            m.submodules[f"lane{i}"] = lane
            m.d.comb += [lane.en.eq(self.en), self.words[i].eq(lane.state)]
        return m
