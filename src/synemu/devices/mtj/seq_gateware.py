"""On-chip sequencer of the STDP network (specification: :mod:`synemu.devices.mtj.records`).

:class:`SNNSequencer` reads sample records from a sample memory
(:class:`synemu.gateware.sequencer.SampleMemory` client ports, as the engine's
:class:`~synemu.gateware.sequencer.Sequencer`) and drives an
:class:`~synemu.devices.mtj.network_gateware.SNNController` with the commands a host would
send: per sample a PIX per input (codes through the rate table, zero runs at one column
per clock), ``steps`` STEPs, END. A job starts by copying the 256-entry rate table from the
sample memory into a block RAM (1,024 clocks). Clocks per sample: the controller's (C PIX of
1 clock each, the STEPs, END) plus about one clock per record byte and 2 per record word.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ...spec.fixed import clog2
from ...spec.sequencer import SMEM_WIDTH
from .network import SNNConfig, SOp
from .network_gateware import snn_command_layout
from .records import LEARN, PRED, TABLE_WORDS

__all__ = ["SNNSequencer", "snn_job_layout"]


def snn_job_layout(config: SNNConfig, words: int) -> data.StructLayout:
    """A job (:class:`~synemu.devices.mtj.records.SNNJob`) as the board holds it."""
    a = clog2(words)
    return data.StructLayout({
        "flags": unsigned(4), "rec_base": unsigned(a), "count": unsigned(16),
        "rec_end": unsigned(a + 1), "pred_base": unsigned(a), "table_base": unsigned(a),
        "code": unsigned(max(1, clog2(config.device.n_codes))),
    })


class SNNSequencer(wiring.Component):
    """Runs :class:`~synemu.devices.mtj.records.SNNJob` jobs on the controller's ``cmd`` /
    ``resp`` streams. Ports: ``job`` (stream in, :func:`snn_job_layout`), ``cmd`` / ``resp``
    (to the controller), ``mem_*`` (sample-memory client: ``mem_re`` data on ``mem_rdata``
    one clock later), ``running``, counters ``jobs``, ``samples``, ``errors`` (32 bits),
    ``cur`` (the running job)."""

    def __init__(self, config: SNNConfig, words: int):
        if not isinstance(config, SNNConfig):
            raise TypeError(f"SNNSequencer needs an SNNConfig, not {config!r}")
        if words < TABLE_WORDS or words & (words - 1):
            raise ValueError(f"snn sequencer: sample memory words must be a power of two >= "
                             f"{TABLE_WORDS}, not {words}")
        self.config, self.words = config, words
        a = clog2(words)
        super().__init__({
            "job": In(stream.Signature(snn_job_layout(config, words))),
            "cmd": Out(stream.Signature(snn_command_layout(config))),
            "resp": In(stream.Signature(unsigned(config.resp_width))),
            "mem_addr": Out(a), "mem_wdata": Out(SMEM_WIDTH), "mem_we": Out(1),
            "mem_re": Out(1), "mem_rdata": In(SMEM_WIDTH),
            "running": Out(1), "jobs": Out(32), "samples": Out(32), "errors": Out(32),
            "events": Out(4),
            "cur": Out(snn_job_layout(config, words)),
        })

    def elaborate(self, platform):
        cfg = self.config
        C, T = cfg.n_inputs, cfg.steps
        a = clog2(self.words)
        rw = cfg.rate_bits + 1
        m = Module()
        m.submodules.table = table = Memory(shape=rw, depth=256, init=[])
        tw, tr = table.write_port(), table.read_port(transparent_for=())

        job = self.cur
        learn = job.flags[0]
        i = Signal(16)                     # sample index in the job
        ptr = Signal(a + 2)                # record start (may pass rec_end after bad records)
        n = Signal(SMEM_WIDTH)             # payload words of this record
        wptr = Signal(a + 2)
        wleft = Signal(SMEM_WIDTH)
        word = Signal(SMEM_WIDTH)
        half = Signal()
        run_len = Signal()                 # the next byte is a zero-run length
        col = Signal(range(C + 1))
        run = Signal(8)
        t = Signal(range(max(T, TABLE_WORDS) + 1))
        lo = Signal(SMEM_WIDTH)
        pred_row = Signal(a + 1 + clog2(T + 1) + 16)
        byte = Mux(half, word[8:], word[:8])
        nxt_rec = Signal(a + 2)            # ptr + 1 + n: where the next record starts

        # the table is addressed by the current byte (held through LOOK while PIX waits)
        m.d.comb += [self.cmd.payload.col.eq(col), tr.addr.eq(byte)]

        def next_byte():
            with m.If(half):
                m.next = "FETCH"
            with m.Else():
                m.d.sync += half.eq(1)
                m.next = "BYTE"

        def sample_done(counter, next_ptr=nxt_rec):
            """End of sample ``i`` (run: ``samples``; skipped: ``errors``); the next record
            starts at ``next_ptr``."""
            m.d.comb += self.events[1 if counter is self.samples else 3].eq(1)
            m.d.sync += [counter.eq(counter + 1), i.eq(i + 1), ptr.eq(next_ptr),
                         pred_row.eq(pred_row + T)]
            m.next = "NEXT"

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.job.ready.eq(1)
                with m.If(self.job.valid):
                    m.d.sync += [job.eq(self.job.payload), i.eq(0), t.eq(0),
                                 ptr.eq(self.job.payload.rec_base),
                                 pred_row.eq(self.job.payload.pred_base), self.running.eq(1)]
                    m.next = "TBL_RD"

            # rate table: words table_base .. +511 -> entries (lo | hi << 16)
            with m.State("TBL_RD"):
                m.d.comb += [self.mem_addr.eq(job.table_base + t), self.mem_re.eq(1)]
                m.next = "TBL_WR"
            with m.State("TBL_WR"):
                with m.If(t[0]):
                    m.d.comb += [tw.addr.eq(t[1:9]), tw.data.eq(Cat(lo, self.mem_rdata)),
                                 tw.en.eq(1)]
                with m.Else():
                    m.d.sync += lo.eq(self.mem_rdata)
                m.d.sync += t.eq(t + 1)
                with m.If(t == TABLE_WORDS - 1):
                    m.next = "NEXT"
                with m.Else():
                    m.next = "TBL_RD"

            with m.State("NEXT"):
                with m.If(i == job.count):
                    m.d.comb += self.events[0].eq(1)
                    m.d.sync += [self.jobs.eq(self.jobs + 1), self.running.eq(0)]
                    m.next = "IDLE"
                with m.Elif(ptr >= job.rec_end):
                    sample_done(self.errors, ptr)
                with m.Else():
                    m.d.comb += [self.mem_addr.eq(ptr), self.mem_re.eq(1)]
                    m.next = "HDR"

            with m.State("HDR"):               # the header word, registered first: the
                # sample memory's output (an SPRAM on the iCE40) feeds no logic directly
                m.d.sync += [n.eq(self.mem_rdata), wptr.eq(ptr + 1), wleft.eq(self.mem_rdata),
                             col.eq(0), run_len.eq(0), t.eq(0)]
                m.next = "HDR_CHK"
            with m.State("HDR_CHK"):
                m.d.sync += nxt_rec.eq(ptr + 1 + n)
                m.next = "HDR_END"
            with m.State("HDR_END"):           # (an adder and a comparison: two clocks)
                with m.If(nxt_rec > job.rec_end):
                    sample_done(self.errors)
                with m.Else():
                    m.next = "FETCH"

            with m.State("FETCH"):
                with m.If(wleft == 0):           # the codes end before the last column
                    sample_done(self.errors)
                with m.Else():
                    m.d.comb += [self.mem_addr.eq(wptr), self.mem_re.eq(1)]
                    m.d.sync += [wptr.eq(wptr + 1), wleft.eq(wleft - 1)]
                    m.next = "GOT"
            with m.State("GOT"):
                m.d.sync += [word.eq(self.mem_rdata), half.eq(0)]
                m.next = "BYTE"

            with m.State("BYTE"):
                with m.If(run_len):
                    with m.If((byte == 0) | (col + byte > C)):
                        sample_done(self.errors)
                    with m.Else():
                        m.d.sync += [run.eq(byte), run_len.eq(0)]
                        m.next = "ZERO"
                with m.Elif(byte == 0):
                    m.d.sync += run_len.eq(1)
                    next_byte()
                with m.Else():
                    m.next = "LOOK"

            with m.State("LOOK"):              # table data: PIX col, R
                m.d.comb += [self.cmd.valid.eq(1), self.cmd.payload.op.eq(SOp.PIX),
                             self.cmd.payload.arg.eq(tr.data)]
                with m.If(self.cmd.ready):
                    m.d.sync += col.eq(col + 1)
                    with m.If(col == C - 1):
                        m.next = "STEP"
                    with m.Else():
                        next_byte()

            with m.State("ZERO"):              # a zero run: PIX col, 0 per clock
                m.d.comb += [self.cmd.valid.eq(1), self.cmd.payload.op.eq(SOp.PIX),
                             self.cmd.payload.arg.eq(0)]
                with m.If(self.cmd.ready):
                    m.d.sync += [col.eq(col + 1), run.eq(run - 1)]
                    with m.If(col == C - 1):
                        m.next = "STEP"
                    with m.Elif(run == 1):
                        next_byte()

            with m.State("STEP"):
                m.d.comb += [self.cmd.valid.eq(1), self.cmd.payload.op.eq(SOp.STEP),
                             self.cmd.payload.arg.eq(Mux(learn, job.code, 0))]
                with m.If(self.cmd.ready):
                    m.next = "RESP"
            with m.State("RESP"):
                m.d.comb += self.resp.ready.eq(1)
                with m.If(self.resp.valid):
                    with m.If(job.flags[3]):
                        m.d.comb += [self.mem_addr.eq(pred_row + t), self.mem_we.eq(1),
                                     self.mem_wdata.eq(self.resp.payload)]
                    m.d.sync += t.eq(t + 1)
                    with m.If(t == T - 1):
                        m.next = "END"
                    with m.Else():
                        m.next = "STEP"

            with m.State("END"):
                m.d.comb += [self.cmd.valid.eq(1), self.cmd.payload.op.eq(SOp.END),
                             self.cmd.payload.arg.eq(learn)]
                with m.If(self.cmd.ready):
                    sample_done(self.samples)
        return m


assert LEARN == 1 and PRED == 8      # flags[0] and flags[3] above
