"""On-chip training sequencer and sample memory (specification: :mod:`synemu.spec.sequencer`).

:class:`SampleMemory` is the board's single-port sample store of 16-bit words: the
iCE40UP5K's SPRAMs (``SB_SPRAM256KA``, 16 Ki words each; yosys does not infer them) on an
iCE40 platform, an :class:`amaranth.lib.memory.Memory` (block RAM) elsewhere and in
simulation; read data appears one clock after ``re``, and a write does not change it.

:class:`Sequencer` runs jobs (:class:`~synemu.spec.sequencer.SeqJob`) on an
:class:`~synemu.gateware.engine.ArrayEngine` built with ``wide_x``: per sample it finds the
record index (sequential, order table, LFSR permutation), reads the label word, streams
the packed codes through a bit buffer into the engine's ``xw`` port (one chunk of
``lanes`` inputs per clock when ``lanes * x_width <= 16``), issues LEARN (or FORWARD and
takes the first index of the largest response), counts correct predictions, optionally
writes the prediction back and issues TICK. Cycles per sample: the engine's LEARN
(``rows * (2 * chunks + 6 + latency) + 4``) plus about ``max(chunks, x words) + 7``.
"""

from __future__ import annotations

import math

from amaranth.hdl import Array, Cat, ClockSignal, Const, Instance, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..spec.engine import EngineConfig, Op
from ..spec.fixed import clog2
from ..spec.lfsr import galois_mask
from ..spec.sequencer import SMEM_WIDTH, JobFlag, RecordLayout
from .engine import command_layout, x_chunk_layout
from .fixed import mul_const

__all__ = ["SampleMemory", "Sequencer", "job_layout", "SPRAM_WORDS", "SMEM_WORDS"]

SPRAM_WORDS = 16384     #: words of one iCE40UP5K SB_SPRAM256KA
#: sample-memory words of a board design per FPGA family: the UP5K's four SPRAMs (128 KB);
#: on ECP5, 32 Ki words = 32 of the block RAMs (DP16KD, 1 Ki x 16 each)
SMEM_WORDS = {"ice40": 4 * SPRAM_WORDS, "ecp5": 32768}


def _addr_width(words: int) -> int:
    return clog2(words)


def job_layout(config: EngineConfig, words: int) -> data.StructLayout:
    """A job's fields (:class:`~synemu.spec.sequencer.SeqJob`) as the board holds them, plus
    the ends (exclusive, ``a + 1`` bits) of the record, order and prediction ranges,
    computed once when the link accepts the job (for the overlap checks)."""
    a = _addr_width(words)
    return data.StructLayout({
        "flags": unsigned(4), "rec_base": unsigned(a), "count": unsigned(16),
        "order_base": unsigned(a), "pred_base": unsigned(a),
        "ticks": unsigned(config.tick_width), "lfsr_seed": unsigned(16),
        "rec_end": unsigned(a + 1), "order_end": unsigned(a + 1), "pred_end": unsigned(a + 1),
    })


class SampleMemory(wiring.Component):
    """``words`` x 16-bit single-port memory (``words`` a power of two).

    Ports: ``addr``, ``wdata``, ``we`` (write at the next edge), ``re`` (read: ``rdata``
    valid from the next clock until the next read)."""

    def __init__(self, words: int):
        if words < 16 or words & (words - 1):
            raise ValueError(f"sample memory words must be a power of two >= 16, not {words}")
        self.words = words
        super().__init__({"addr": In(_addr_width(words)), "wdata": In(SMEM_WIDTH),
                          "we": In(1), "re": In(1), "rdata": Out(SMEM_WIDTH)})

    @staticmethod
    def _spram(platform, words) -> bool:
        try:
            from amaranth.vendor import SiliconBluePlatform
        except ImportError:      # pragma: no cover
            return False
        return (isinstance(platform, SiliconBluePlatform) and "UP" in platform.device
                and SPRAM_WORDS <= words <= 4 * SPRAM_WORDS)

    def elaborate(self, platform):
        m = Module()
        if not self._spram(platform, self.words):
            m.submodules.mem = mem = Memory(shape=SMEM_WIDTH, depth=self.words, init=[])
            w, r = mem.write_port(), mem.read_port(transparent_for=())
            m.d.comb += [w.addr.eq(self.addr), w.data.eq(self.wdata), w.en.eq(self.we),
                         r.addr.eq(self.addr), r.en.eq(self.re & ~self.we),
                         self.rdata.eq(r.data)]
            return m
        n = self.words // SPRAM_WORDS
        bank = self.addr[14:] if n > 1 else Const(0, 1)
        rbank = Signal.like(bank)
        with m.If(self.re):
            m.d.sync += rbank.eq(bank)
        outs = []
        for i in range(n):
            o = Signal(SMEM_WIDTH, name=f"spram{i}_out")
            sel = bank == i
            m.submodules[f"spram{i}"] = Instance(
                "SB_SPRAM256KA",
                i_ADDRESS=self.addr[:14], i_DATAIN=self.wdata,
                i_MASKWREN=Const(0xF, 4), i_WREN=self.we & sel,
                i_CHIPSELECT=sel & (self.we | self.re), i_CLOCK=ClockSignal("sync"),
                i_STANDBY=0, i_SLEEP=0,
                i_POWEROFF=1, o_DATAOUT=o)
            outs.append(o)
        m.d.comb += self.rdata.eq(Array(outs)[rbank])
        return m


class Sequencer(wiring.Component):
    """Runs sequencer jobs on an engine (see the module doc).

    Parameters: ``config`` (the engine's), ``words`` (sample memory words).
    Ports: ``job`` (stream in, :func:`job_layout`; taken when idle); ``cmd``/``resp``/``xw``
    to the engine; ``mem_*`` (a :class:`SampleMemory` client with priority: ``mem_re`` data
    on ``mem_rdata`` one clock later); ``running``; ``events`` (4 one-clock strobes, what
    the SEQ_STATUS counters count: a job finished, a sample ran, its prediction was correct,
    a record was skipped for a label >= rows); ``cur``: the running job's fields (for the
    overlap checks).
    """

    def __init__(self, config: EngineConfig, words: int):
        if not isinstance(config, EngineConfig):
            raise TypeError(f"Sequencer needs an EngineConfig, not {config!r}")
        self.config, self.words = config, words
        self.layout = RecordLayout(config)
        a = _addr_width(words)
        super().__init__({
            "job": In(stream.Signature(job_layout(config, words))),
            "cmd": Out(stream.Signature(command_layout(config))),
            "resp": In(stream.Signature(unsigned(config.resp_width))),
            "xw": Out(stream.Signature(x_chunk_layout(config))),
            "mem_addr": Out(a), "mem_wdata": Out(SMEM_WIDTH), "mem_we": Out(1),
            "mem_re": Out(1), "mem_rdata": In(SMEM_WIDTH),
            "running": Out(1), "events": Out(4),
            "cur": Out(job_layout(config, words)),
        })

    def elaborate(self, platform):
        cfg, lay = self.config, self.layout
        P, K, R, xw = cfg.lanes, cfg.chunks, cfg.rows, cfg.x_width
        CB = P * xw                       # bits per chunk
        W = CB + 3 * SMEM_WIDTH           # bit buffer (reads decided a clock ahead)
        rw = lay.rec_words
        a = _addr_width(self.words)
        m = Module()

        job = self.cur
        i = Signal(16)                    # sample index in the job
        k = Signal(16)                    # record index
        lfsr = Signal(16)
        widths = {w: galois_mask(w) for w in range(3, 17)}
        masks = Array(Const(widths.get(w, 0), 16) for w in range(17))
        lmask = Signal(16)                # the job's LFSR taps (its width's Galois mask)
        lnext = Signal(16)
        m.d.comb += lnext.eq((lfsr >> 1) ^ Mux(lfsr[0], lmask, 0))

        label = Signal(SMEM_WIDTH)
        pred = Signal(cfg.row_width)
        ptr = Signal(a)                   # next word to read
        words_left = Signal(range(rw + 1))
        chunk = Signal(range(K + 1))
        buf = Signal(W)
        nbits = Signal(range(W + 1))
        inflight = Signal()
        best = Signal(signed(cfg.acc_width))
        row = Signal(range(R + 1))
        flags = job.flags
        room = Signal()                   # a word read issued now will fit when it lands
        # sample-memory addresses from registers (a clock behind i / k: the states that use
        # them come at least a clock after i or k changed)
        a_order, a_pred, a_rec = Signal(a), Signal(a), Signal(a)
        m.d.sync += [a_order.eq(job.order_base + i), a_pred.eq(job.pred_base + i),
                     a_rec.eq(job.rec_base + mul_const(k, rw))]

        m.d.comb += [self.cmd.payload.row.eq(0), self.cmd.payload.col.eq(0)]

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.job.ready.eq(1)
                with m.If(self.job.valid):
                    cnt = self.job.payload.count
                    m.d.sync += [job.eq(self.job.payload), i.eq(0),
                                 lfsr.eq(self.job.payload.lfsr_seed), self.running.eq(1)]
                    # LFSR width: max(3, clog2(count + 1))
                    sel = Const(3, 5)
                    for w in range(4, 17):
                        sel = Mux(cnt >= (1 << (w - 1)), w, sel)
                    m.d.sync += lmask.eq(masks[sel])
                    m.next = "NEXT"

            with m.State("NEXT"):
                with m.If(i == job.count):
                    m.d.comb += self.events[0].eq(1)
                    m.d.sync += self.running.eq(0)
                    m.next = "IDLE"
                with m.Elif(flags & JobFlag.ORDER):
                    m.next = "ORDER_READ"
                with m.Elif(flags & JobFlag.LFSR):
                    m.d.sync += lfsr.eq(lnext)
                    with m.If((lnext <= job.count) & (lnext != 0)):
                        m.d.sync += k.eq(lnext - 1)
                        m.next = "REC_ADDR"
                with m.Else():
                    m.d.sync += k.eq(i)
                    m.next = "REC_ADDR"

            with m.State("ORDER_READ"):
                m.d.comb += [self.mem_addr.eq(a_order), self.mem_re.eq(1)]
                m.next = "ORDER"

            with m.State("ORDER"):
                m.d.sync += k.eq(self.mem_rdata)
                m.next = "REC_ADDR"

            with m.State("REC_ADDR"):          # a_rec follows k
                m.next = "RECORD"

            with m.State("RECORD"):
                m.d.comb += [self.mem_addr.eq(a_rec), self.mem_re.eq(1)]
                m.d.sync += [ptr.eq(a_rec + 1), words_left.eq(rw - 1), chunk.eq(0),
                             nbits.eq(0), buf.eq(0), inflight.eq(0), room.eq(1)]
                m.next = "LABEL"

            with m.State("LABEL"):
                m.d.sync += label.eq(self.mem_rdata)
                with m.If(self.mem_rdata >= R):
                    m.d.comb += self.events[3].eq(1)
                    m.d.sync += i.eq(i + 1)
                    m.next = "NEXT"
                with m.Else():
                    m.next = "X"

            with m.State("X"):
                # bit buffer: emit a chunk when CB bits are present; a read lands 1 clock
                # after it is issued; ``room`` (a register) says the landing word will fit
                # even if nothing is emitted meanwhile
                emit = Signal()
                m.d.comb += [self.xw.valid.eq((nbits >= CB) & (chunk != K)),
                             self.xw.payload.chunk.eq(chunk)]
                for l in range(P):
                    m.d.comb += self.xw.payload.x[l].eq(buf[l * xw:(l + 1) * xw])
                m.d.comb += emit.eq(self.xw.valid & self.xw.ready)
                kept = Signal(range(W + 1))
                m.d.comb += kept.eq(nbits - Mux(emit, CB, 0))
                shifted = Mux(emit, buf >> CB, buf)
                # the fill level is always a multiple of g = gcd(CB, 16) bits: say so, and
                # the shifter has only W / g positions
                gb = (math.gcd(CB, SMEM_WIDTH)).bit_length() - 1
                kept_al = Cat(Const(0, gb), kept[gb:]) if gb else kept
                landed = Mux(inflight, (self.mem_rdata << kept_al)[:W], 0)
                n_after = Signal(range(W + SMEM_WIDTH + 1))
                m.d.comb += n_after.eq(kept + Mux(inflight, SMEM_WIDTH, 0))
                issue = room & (words_left != 0)
                m.d.sync += [buf.eq(shifted | landed), nbits.eq(n_after), inflight.eq(issue),
                             room.eq(nbits + Mux(inflight, SMEM_WIDTH, 0)
                                     + Mux(issue, SMEM_WIDTH, 0) + SMEM_WIDTH <= W)]
                with m.If(issue):
                    m.d.comb += [self.mem_addr.eq(ptr), self.mem_re.eq(1)]
                    m.d.sync += [ptr.eq(ptr + 1), words_left.eq(words_left - 1)]
                with m.If(emit):
                    m.d.sync += chunk.eq(chunk + 1)
                    with m.If(chunk == K - 1):
                        m.next = "ISSUE"

            with m.State("ISSUE"):
                m.d.comb += [self.cmd.valid.eq(1),
                             self.cmd.payload.op.eq(Mux(flags & JobFlag.LEARN, Op.LEARN,
                                                        Op.FORWARD)),
                             self.cmd.payload.arg.eq(label)]
                with m.If(self.cmd.ready):
                    m.d.sync += row.eq(0)
                    m.next = "WAIT"

            with m.State("WAIT"):
                m.d.comb += self.resp.ready.eq(1)
                y = self.resp.payload[:cfg.acc_width].as_signed()
                with m.If(self.resp.valid):
                    with m.If(flags & JobFlag.LEARN):
                        m.d.sync += pred.eq(self.resp.payload)
                        m.next = "POST"
                    with m.Else():
                        with m.If((row == 0) | (y > best)):
                            m.d.sync += [best.eq(y), pred.eq(row)]
                        m.d.sync += row.eq(row + 1)
                        with m.If(row == R - 1):
                            m.next = "POST"

            with m.State("POST"):
                m.d.comb += [self.events[1].eq(1), self.events[2].eq(pred == label)]
                m.d.sync += i.eq(i + 1)
                with m.If(flags & JobFlag.PRED):
                    m.d.comb += [self.mem_addr.eq(a_pred), self.mem_we.eq(1),
                                 self.mem_wdata.eq(pred)]
                with m.If(job.ticks != 0):
                    m.next = "TICK"
                with m.Else():
                    m.next = "NEXT"

            with m.State("TICK"):
                m.d.comb += [self.cmd.valid.eq(1), self.cmd.payload.op.eq(Op.TICK),
                             self.cmd.payload.arg.eq(job.ticks)]
                with m.If(self.cmd.ready):
                    m.next = "NEXT"
        return m
