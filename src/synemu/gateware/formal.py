"""Formal-property harnesses around the real modules (checked by :mod:`synemu.sim.formal`).

Each harness is an elaboratable without ports: it instantiates project modules unchanged,
drives their inputs from ``AnySeq`` (any value on every clock) or ``AnyConst`` (any value,
fixed for the trace), constrains them with ``Assume`` only where the module's contract
says so, and states the properties as ``Assert`` on every clock. The ``sync`` reset is left
free, so every property also holds across resets.

* :class:`LFSRNonZero`: LFSRs (:mod:`synemu.gateware.lfsr`) never reach state 0, for any
  enable pattern (the inductive invariant is the property itself).
* :class:`SeqGateCheck`: the link's acceptance rule (:class:`~synemu.gateware.link.SeqGate`)
  executes no frame twice, accepts in strict order, and replays exactly the last executed
  frame, against a monitor that books the accepted frames itself.
* :class:`EngineRangeCheck`: an :class:`~synemu.gateware.engine.ArrayEngine` under any
  stream of executable commands keeps every synapse word inside the device's valid set
  (:func:`state_ok`), its LFSR banks nonzero and its sample counter below its period.
* :class:`RuleSaturation`: a saturating device rule's ``update`` equals
  ``clamp(w + pulse)`` on every state and pulse (combinational).
"""

from __future__ import annotations

from amaranth.asserts import AnyConst, AnySeq
from amaranth.hdl import Array, Assert, Assume, Const, Elaboratable, Module, Mux, Signal, Value
from amaranth.lib import data

from ..spec.engine import EngineConfig, Op
from ..spec.fixed import clog2
from .check import CommandCheck
from .engine import ArrayEngine
from .link import SeqGate, Verdict

__all__ = ["LFSRNonZero", "SeqGateCheck", "EngineRangeCheck", "RuleClosure", "RuleSaturation",
           "state_ok"]


class LFSRNonZero(Elaboratable):
    """``lfsrs`` (:mod:`synemu.gateware.lfsr` ``GaloisLFSR``, ``FibonacciLFSR`` or
    ``LFSRBank`` instances, or objects with the same ports), each with its own ``AnySeq`` enable;
    asserts every state word (every lane of a bank) is nonzero on every clock."""

    def __init__(self, lfsrs):
        self.lfsrs = list(lfsrs)
        if not self.lfsrs:
            raise ValueError("LFSRNonZero needs at least one LFSR")

    def elaborate(self, platform):
        m = Module()
        for i, lfsr in enumerate(self.lfsrs):
            m.submodules[f"lfsr{i}"] = lfsr
            m.d.comb += lfsr.en.eq(AnySeq(1))
            words = ([lfsr.words[k] for k in range(lfsr.lanes)] if hasattr(lfsr, "words")
                     else [lfsr.state])
            for w in words:
                m.d.comb += Assert(w != 0)
        return m


class SeqGateCheck(Elaboratable):
    """The exactly-once rule of the link on ``gate`` (default: a new
    :class:`~synemu.gateware.link.SeqGate`; any component with its ports), every input
    ``AnySeq``. A monitor books the last frame the gate ACCEPTs (``mon_seq``,
    ``mon_have``: any type, HELLO included) and asserts, on every clock with ``check``:

    1. *never twice*: a non-HELLO frame with the seq of the last executed frame is not
       executed again (whatever came in between that was not executed);
    2. *in order*: an executed non-HELLO frame after the first has seq ``mon_seq + 1``
       (mod 256);
    3. only frames with a good CRC are executed, and non-HELLO ones only when not busy;
    4. a good non-HELLO frame with ``mon_seq`` gets REPLAY (its stored reply), and REPLAY
       only such a frame; a good first frame that is not busy is executed;

    and on every clock: ``verdict`` is a :class:`Verdict`, and the gate's ``have_last`` /
    ``last_seq`` equal the monitor's (so the proof is 1-inductive).
    """

    def __init__(self, gate=None):
        self.gate = gate if gate is not None else SeqGate()

    def elaborate(self, platform):
        m = Module()
        m.submodules.gate = g = self.gate
        for port, width in (("check", 1), ("seq", 8), ("hello", 1), ("crc_ok", 1),
                            ("busy", 1)):
            m.d.comb += getattr(g, port).eq(AnySeq(width))
        mon_seq, mon_have = Signal(8), Signal()
        v = g.verdict
        accept = g.check & (v == Verdict.ACCEPT)
        with m.If(accept):
            m.d.sync += [mon_seq.eq(g.seq), mon_have.eq(1)]
        again = ~g.hello & mon_have & (g.seq == mon_seq)
        good_retry = g.crc_ok & again
        m.d.comb += [
            Assert(~(accept & again), "a frame executed twice"),
            Assert(~(accept & ~g.hello & mon_have) | (g.seq == (mon_seq + 1)[:8]),
                   "out-of-order frame executed"),
            Assert(~accept | (g.crc_ok & (g.hello | ~g.busy)), "bad or busy frame executed"),
            Assert(~(g.check & good_retry) | (v == Verdict.REPLAY), "retry not replayed"),
            Assert(~(g.check & (v == Verdict.REPLAY)) | good_retry, "wrong frame replayed"),
            Assert(~(g.check & g.crc_ok & ~mon_have & ~g.busy) | (v == Verdict.ACCEPT),
                   "first frame not executed"),
            Assert(v.as_value() <= Verdict.BUSY.value, "undefined verdict"),
            Assert(g.have_last == mon_have),
            Assert(~mon_have | (g.last_seq == mon_seq)),
        ]
        return m


def state_ok(device, word) -> Value:
    """1 if the packed state ``word`` is in ``device``'s valid set: ``fn``: on both nodes
    the down-counter is at most the dwell of its code (``c <= dwell[n]``, so 0 at the
    floor, and at most ``max_dwell < 2**counter_bits``); other devices: any word of
    ``state_width`` bits (their fields use their whole ranges)."""
    if device.name == "fn":
        e = [int(x) for x in device.enter_rom]
        dwell = Array(Const(e[max(j - 1, 0)] - e[j], device.counter_bits) for j in range(len(e)))
        ok = Const(1, 1)
        offs, off = {}, 0
        for f in device.fields:
            offs[f.name], off = off, off + f.width
        for n, c in (("nl", "cl"), ("nr", "cr")):
            code = word[offs[n]:offs[n] + device.code_bits]
            cnt = word[offs[c]:offs[c] + device.counter_bits]
            ok = ok & (cnt <= dwell[code])
        return ok
    return Const(1, 1)


class EngineRangeCheck(Elaboratable):
    """An :class:`ArrayEngine` (``debug`` ports) of ``config`` under any command stream
    the link would execute: ``cmd.valid``/``cmd.payload``/``resp.ready`` are ``AnySeq``,
    assumed to pass :class:`~synemu.gateware.check.CommandCheck` (the link validates every
    command before executing any) and WRITE words to be :func:`state_ok` (the valid set is
    closed under the device's own rules, not under arbitrary host writes). Asserts on
    every clock: each lane's word at an ``AnyConst`` address is :func:`state_ok`; every
    LFSR lane (rounding and device banks) is nonzero; ``since < sample_period``.
    ``rule``: the device rule (default: the registered one, as the engine picks it);
    ``valid_writes=False`` drops the assumption on WRITE words (then the check fails for a
    device whose valid set is narrower than its bits: the host can write any word)."""

    def __init__(self, config: EngineConfig, rule=None, *, valid_writes: bool = True):
        if not isinstance(config, EngineConfig):
            raise TypeError(f"EngineRangeCheck needs an EngineConfig, not {config!r}")
        self.config, self.rule, self.valid_writes = config, rule, valid_writes

    def elaborate(self, platform):
        cfg, dev = self.config, self.config.device
        m = Module()
        m.submodules.engine = eng = ArrayEngine(cfg, self.rule, debug=True)
        m.submodules.check = chk = CommandCheck(cfg)
        pay = AnySeq(len(eng.cmd.payload.as_value()))
        valid = AnySeq(1)
        m.d.comb += [eng.cmd.payload.eq(pay), eng.cmd.valid.eq(valid),
                     eng.resp.ready.eq(AnySeq(1)), chk.cmd.eq(pay)]
        c = eng.cmd.payload
        word = c.arg[:dev.state_width]
        m.d.comb += Assume(~valid | (chk.reason == 0))
        if self.valid_writes:
            m.d.comb += Assume(~(valid & (c.op == Op.WRITE)) | state_ok(dev, word))
        addr = AnyConst(clog2(cfg.depth))
        if cfg.depth & (cfg.depth - 1):
            m.d.comb += Assume(addr < cfg.depth)
        m.d.comb += eng.peek_addr.eq(addr)
        for lane in range(cfg.lanes):
            m.d.comb += Assert(state_ok(dev, eng.peek_words[lane]),
                               "synapse word out of range")
            m.d.comb += Assert(eng.rng[lane] != 0, "rounding LFSR at 0")
            if dev.rand_width:
                m.d.comb += Assert(eng.dev_rng[lane] != 0, "device LFSR at 0")
        if dev.sample_period:
            m.d.comb += Assert(eng.since < dev.sample_period, "sample counter out of range")
        return m


class RuleClosure(Elaboratable):
    """The valid set (:func:`state_ok`) is closed under a device rule: ``rule.update`` and
    ``rule.tick`` of an ``AnyConst`` valid state, pulse (``pulse_width`` bits), tick count
    (``tick_width`` bits), time and device-LFSR word give valid states. The inputs are
    constant, so the rule's result is asserted from clock ``rule.latency`` on; a BMC of
    ``latency + 2`` clocks is therefore a proof for every input."""

    def __init__(self, rule, config: EngineConfig):
        self.rule, self.config = rule, config

    def elaborate(self, platform):
        rule, cfg = self.rule, self.config
        dev = rule.device
        m = Module()
        raw = AnyConst(dev.state_width)
        m.d.comb += Assume(state_ok(dev, raw))
        state = data.View(rule.layout, raw)
        pulse = AnyConst(dev.pulse_width).as_signed()
        time = AnyConst(cfg.time_width)
        rand = AnyConst(dev.rand_width) if dev.rand_width else Const(0, 1)
        n = AnyConst(cfg.tick_width)
        upd, tck = Signal(dev.state_width), Signal(dev.state_width)
        m.d.comb += [upd.eq(rule.update(m, state, pulse, rand, time)),
                     tck.eq(rule.tick(m, state, n, time, rand))]
        lat = rule.latency
        clk = Signal(range(lat + 2))
        with m.If(clk <= lat):
            m.d.sync += clk.eq(clk + 1)
        ready = clk >= lat
        m.d.comb += [Assert(~ready | state_ok(dev, upd), "update left the valid set"),
                     Assert(~ready | state_ok(dev, tck), "tick left the valid set")]
        return m


class RuleSaturation(Elaboratable):
    """``rule.update`` of a one-field signed saturating rule (the ``ideal`` rule) on an
    ``AnyConst`` state and pulse equals ``clamp(w + pulse, min, max)`` of the field's
    format, and a nonzero pulse moves ``w`` towards its sign (no wrap-around)."""

    def __init__(self, rule):
        if rule.latency:
            raise ValueError("RuleSaturation needs a combinational rule (latency 0)")
        (self.field,) = rule.device.fields
        self.rule = rule

    def elaborate(self, platform):
        rule, f, dev = self.rule, self.field, self.rule.device
        m = Module()
        raw = AnyConst(f.width)
        state = data.View(rule.layout, raw)
        pulse = AnyConst(dev.pulse_width).as_signed()
        new = Signal(dev.state_width)
        m.d.comb += new.eq(rule.update(m, state, pulse, Const(0, 1), Const(0, 1)))
        w, w_new = raw.as_signed(), new.as_signed()
        lo, hi = f.fmt.min, f.fmt.max
        total = w + pulse
        want = Mux(total < lo, lo, Mux(total > hi, hi, total))
        m.d.comb += [Assert(w_new == want, "update is not clamp(w + pulse)"),
                     Assert(~(pulse > 0) | (w_new >= w), "positive pulse lowered w"),
                     Assert(~(pulse < 0) | (w_new <= w), "negative pulse raised w")]
        return m
