"""The device side of the board link: what :class:`synemu.gateware.link.LinkTop` drives.

:class:`~synemu.gateware.link.LinkTop` owns everything of the protocol that does not depend
on what it controls (UART, framing, CRC, sequence numbers, reply buffer, sample memory and
its SMEM_WRITE / SMEM_READ frames); a *link core* supplies the rest through
:func:`core_signature`: the commands of ``CMDS`` frames and their check, the counters of
the ``COUNTERS`` block, and (with a sample memory) the sequencer jobs of ``SEQ_RUN`` frames
and the ``SEQ_STATUS`` block. :class:`EngineCore` is the synapse array's core
(:class:`~synemu.gateware.engine.ArrayEngine`, :class:`~synemu.gateware.check.CommandCheck`,
:class:`~synemu.gateware.sequencer.Sequencer`); the STDP network has its own
(:class:`synemu.devices.mtj.board.SNNCore`).
"""

from __future__ import annotations

import struct

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..spec.engine import Op
from ..spec.sequencer import JOB_FMT, SMEM_WIDTH, STATUS_FMT, RecordLayout
from .check import CommandCheck
from .engine import ArrayEngine
from .fixed import mul_const
from .sequencer import Sequencer, job_layout

__all__ = ["HEAD_BYTES", "STATUS_BYTES", "SEQ_COUNTS", "STATUS_FIELDS", "core_signature",
           "fits", "smem_overlap", "EngineCore"]

HEAD_BYTES = struct.calcsize(JOB_FMT)       #: SEQ_RUN payload bytes a core sees (``head``)
STATUS_BYTES = struct.calcsize(STATUS_FMT)  #: the SEQ_STATUS block
#: the sequencer's events (``seq_events`` bits, in order): a job finished, a sample ran,
#: its prediction was correct, a record was skipped (label >= rows)
SEQ_COUNTS = ("jobs", "samples", "correct", "errors")
#: the SEQ_STATUS fields (:data:`~synemu.spec.sequencer.STATUS_FMT`, in order): a counter of
#: LinkTop's bank (:data:`SEQ_COUNTS`, or counted from the core's ``job_load``, ``running``,
#: ``busy``, ``learning``) and its bytes, or a live flag byte
STATUS_FIELDS = (("jobs", 4), ("samples", 4), ("correct", 4), ("queued", 4), ("errors", 4),
                 ("active", 8), ("job_busy", 8), ("learn_act", 8), ("learn_busy", 8),
                 ("running", 1), ("idle", 1))


def core_signature(cmd_bits: int, resp_bits: int, addr_width: int = 0) -> wiring.Signature:
    """A link core's ports (the core's view; ``addr_width`` a of the sample memory, 0: none).

    * ``cmd`` (stream in, ``cmd_bits``): a command of a CMDS frame; ``reason`` (out, 8):
      0 if ``cmd.payload`` is executable, else its :class:`~synemu.link.protocol.Reject`
      code (combinational, whether or not ``cmd.valid``); ``resp`` (stream out,
      ``resp_bits``): its responses.
    * ``busy`` (out): computing (the ``busy_cycles`` counter); ``time``, ``samples`` (out,
      64): the first two fields of the COUNTERS block.
    * with a sample memory: ``head`` (in, ``8 * HEAD_BYTES``): a SEQ_RUN payload, byte 0 in
      bits 0..7; ``job_ok`` (out, a register: one clock behind ``head``): it is a job the
      sequencer can run; ``job_load`` (in): queue it; ``running`` / ``pending`` (out): a
      job runs / one is queued; ``w_lo``,
      ``w_hi`` (in, a + 2): a word range ``[w_lo, w_hi)``; ``overlap`` (out): it touches a
      range of the running or queued job; ``mem_*``: the sequencer's sample-memory client
      (it has priority; ``mem_rdata`` one clock after ``mem_re``); ``learning`` (out): the
      running job LEARNs; ``seq_events`` (out, 4): the sequencer's one-clock strobes of
      :data:`SEQ_COUNTS` (LinkTop counts them, and the core's ``job_load``, ``running``,
      ``busy``, ``learning``, in its counter bank: the SEQ_STATUS block, see
      :data:`STATUS_FIELDS`).
    """
    members = {"cmd": In(stream.Signature(cmd_bits)), "reason": Out(8),
               "resp": Out(stream.Signature(resp_bits)), "busy": Out(1),
               "time": Out(64), "samples": Out(64)}
    if addr_width:
        a = addr_width
        members.update({
            "head": In(8 * HEAD_BYTES), "job_ok": Out(1), "job_load": In(1),
            "running": Out(1), "pending": Out(1),
            "w_lo": In(a + 2), "w_hi": In(a + 2), "overlap": Out(1),
            "mem_addr": Out(a), "mem_wdata": Out(SMEM_WIDTH), "mem_we": Out(1),
            "mem_re": Out(1), "mem_rdata": In(SMEM_WIDTH),
            "learning": Out(1), "seq_events": Out(len(SEQ_COUNTS))})
    return wiring.Signature(members)


def fits(v, n):
    """``v`` < 2**n (a 1-bit value)."""
    return v[n:] == 0 if len(v) > n else Const(1, 1)


def smem_overlap(spec, w_lo, w_hi, jobs):
    """A core's ``overlap`` output: ``jobs`` lists ``(valid, [(lo, hi, used, written), ...])``
    for the running and the queued job (word ranges ``[lo, hi)``; ``used``: the job touches
    it; ``written``: the job writes it, i.e. its predictions). True if ``[w_lo, w_hi)`` meets
    a used range of a valid job (``spec.smem_guard == "ranges"``) or a written one
    (``"jobs"``: LinkTop makes every SMEM_WRITE BUSY while a job is active, and this is the
    rule of SMEM_READ: records and orders only ever change by such writes)."""
    hit = Const(0, 1)
    for valid, ranges in jobs:
        for lo, hi, used, written in ranges:
            if spec.smem_guard == "jobs" and not written:
                continue
            hit = hit | (valid & used & (w_lo < hi) & (lo < w_hi))
    return hit


class EngineCore(wiring.Component):
    """The synapse array's link core: an :class:`~synemu.gateware.engine.ArrayEngine` (with
    ``wide_x`` when there is a sample memory), its :class:`CommandCheck` and, with
    ``spec.smem_words``, a :class:`~synemu.gateware.sequencer.Sequencer` with one job
    running and one queued (:class:`~synemu.spec.sequencer.SeqJob` fields checked exactly,
    on ``a + 1``-bit sums: the iCE40 logic budget)."""

    def __init__(self, spec):
        self.spec = spec
        W = spec.smem_words
        self.addr_width = (W - 1).bit_length() if W else 0
        super().__init__(core_signature(spec.cmd_bits, spec.config.resp_width, self.addr_width))

    def elaborate(self, platform):
        s, cfg = self.spec, self.spec.config
        W, A = s.smem_words, self.addr_width
        m = Module()
        m.submodules.engine = eng = ArrayEngine(cfg, wide_x=bool(W))
        m.submodules.check = chk = CommandCheck(cfg)
        m.d.comb += [chk.cmd.eq(self.cmd.payload), self.reason.eq(chk.reason),
                     self.busy.eq(eng.busy)]

        link = [eng.cmd.valid.eq(self.cmd.valid), eng.cmd.payload.eq(self.cmd.payload),
                self.cmd.ready.eq(eng.cmd.ready), self.resp.valid.eq(eng.resp.valid),
                self.resp.payload.eq(eng.resp.payload), eng.resp.ready.eq(self.resp.ready)]
        if W:
            m.submodules.seq = seq = Sequencer(cfg, W)
            wiring.connect(m, seq.xw, eng.xw)
            with m.If(seq.running):
                m.d.comb += [eng.cmd.valid.eq(seq.cmd.valid),
                             eng.cmd.payload.eq(seq.cmd.payload),
                             seq.cmd.ready.eq(eng.cmd.ready),
                             seq.resp.valid.eq(eng.resp.valid),
                             seq.resp.payload.eq(eng.resp.payload),
                             eng.resp.ready.eq(seq.resp.ready)]
            with m.Else():
                m.d.comb += link
        else:
            m.d.comb += link

        # COUNTERS: emulated time (TICKs) and samples (LEARN / SAMPLE), link or sequencer
        time = Signal(cfg.time_width)
        samples = Signal(cfg.sample_width)
        fire = eng.cmd.valid & eng.cmd.ready
        e_op = eng.cmd.payload.op
        with m.If(fire):
            with m.If(e_op == Op.TICK):
                m.d.sync += time.eq(time + eng.cmd.payload.arg[:cfg.tick_width])
            with m.If((e_op == Op.LEARN) | (e_op == Op.SAMPLE)):
                m.d.sync += samples.eq(samples + 1)
        m.d.comb += [self.time.eq(time), self.samples.eq(samples)]
        if not W:
            return m

        m.d.comb += [self.mem_addr.eq(seq.mem_addr), self.mem_wdata.eq(seq.mem_wdata),
                     self.mem_we.eq(seq.mem_we), self.mem_re.eq(seq.mem_re),
                     seq.mem_rdata.eq(self.mem_rdata)]
        pend = Signal(job_layout(cfg, W))
        pend_valid = Signal()
        m.d.comb += [seq.job.valid.eq(pend_valid), seq.job.payload.eq(pend),
                     self.running.eq(seq.running), self.pending.eq(pend_valid)]
        with m.If(seq.job.valid & seq.job.ready):
            m.d.sync += pend_valid.eq(0)
        m.d.comb += [self.learning.eq(seq.running & seq.cur.flags[0]),
                     self.seq_events.eq(seq.events)]

        # the job's fields (JOB_FMT, little-endian); exact but narrow checks: a field must
        # first fit a + 1 bits (W = 2**a words), so the sums are a few bits wider than an
        # address, not 32
        head = self.head
        rw = RecordLayout(cfg).rec_words
        j_flags, j_rec, j_count = head[0:8], head[8:40], head[40:72]
        j_order, j_pred, j_ticks, j_seed = head[72:104], head[104:136], head[136:168], head[168:184]
        c16 = j_count[:16]
        lw = Const(3, 5)                 # the job's LFSR width: max(3, clog2(count + 1))
        for w in range(4, 17):
            lw = Mux(c16 >= (1 << (w - 1)), w, lw)
        seed_len = Const(0, 5)           # bit length of the seed
        for w in range(1, 17):
            seed_len = Mux(j_seed[w - 1], w, seed_len)
        is_order, is_lfsr, is_pred = j_flags[1], j_flags[2], j_flags[3]
        rec_end = Signal(max(A + 2, 17 + rw.bit_length()))
        order_end, pred_end = Signal(A + 2), Signal(A + 2)
        m.d.comb += [rec_end.eq(j_rec[:A + 1] + mul_const(c16, rw)),
                     order_end.eq(j_order[:A + 1] + c16), pred_end.eq(j_pred[:A + 1] + c16)]
        m.d.sync += self.job_ok.eq(      # registered: head settles >= 4 clocks before CHECK
            (j_flags < 16) & ~(is_order & is_lfsr) & (c16 != 0)
            & fits(j_count, 16) & fits(j_rec, A + 1) & (rec_end <= W)
            & (~is_order | (fits(j_order, A + 1) & (order_end <= W)))
            & (~is_pred | (fits(j_pred, A + 1) & (pred_end <= W)))
            & fits(j_ticks, cfg.tick_width)
            & (~is_lfsr | ((j_seed != 0) & (seed_len <= lw))))
        with m.If(self.job_load):
            m.d.sync += [pend_valid.eq(1),
                         pend.flags.eq(j_flags), pend.rec_base.eq(j_rec),
                         pend.count.eq(j_count), pend.order_base.eq(j_order),
                         pend.pred_base.eq(j_pred), pend.ticks.eq(j_ticks),
                         pend.lfsr_seed.eq(j_seed), pend.rec_end.eq(rec_end),
                         pend.order_end.eq(order_end), pend.pred_end.eq(pred_end)]

        def ranges(j):
            return [(j.rec_base, j.rec_end, 1, False),
                    (j.order_base, j.order_end, j.flags[1], False),
                    (j.pred_base, j.pred_end, j.flags[3], True)]
        overlap = smem_overlap(s, self.w_lo, self.w_hi, [(seq.running, ranges(seq.cur)),
                                                         (pend_valid, ranges(pend))])
        m.d.comb += self.overlap.eq(overlap)
        return m
