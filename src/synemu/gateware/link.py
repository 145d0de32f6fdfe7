"""Board-side host link in Amaranth: UART, framer with CRC-32 (:mod:`amaranth.lib.crc`),
sequence numbers, replay of the last reply, and the top-level :class:`LinkTop` wrapping
:class:`~synemu.gateware.engine.ArrayEngine`.

The frame format and behaviour are specified (byte-exactly) by
:class:`synemu.link.protocol.BoardModel`. :class:`SimHarness` adds a host-side UART with
byte FIFOs around :class:`LinkTop`, so a cocotb test exchanges *bytes* with the real serial
top-level without waking Python for every clock.
"""


import struct

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import enum, stream, wiring
from amaranth.lib.crc import catalog as crc_catalog
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..spec.sequencer import STATUS_FMT
from ..link.protocol import (BAD, BUSY, CMDS, COUNTERS, COUNTERS_FMT, HELLO, NAK, OLD, REJECT,
                             REQ_SYNC, RSP_SYNC, RX_QUEUE, SEQ_RUN, SEQ_STATUS, SMEM_READ,
                             SMEM_WRITE, LinkSpec, Reject)
from .core import HEAD_BYTES, SEQ_COUNTS, STATUS_FIELDS, EngineCore, core_signature, fits
from .counters import CounterBank
from .sequencer import SampleMemory

__all__ = ["UARTTx", "UARTRx", "LINK_CRC", "Verdict", "SeqGate", "LinkTop", "SimHarness"]

#: The frames' CRC-32: CRC-32/ISO-HDLC (poly 0x04C11DB7, init and xor-out 0xFFFFFFFF,
#: reflected in and out), i.e. :func:`zlib.crc32` as :func:`synemu.link.protocol.crc32`
#: computes it on the host, over 8-bit words: each byte enters LSB first and the 32-bit
#: result is sent (and received) little-endian, byte 0 = bits 0..7.
LINK_CRC = crc_catalog.CRC32_ISO_HDLC(data_width=8)
JOB_BYTES = HEAD_BYTES                  #: SEQ_RUN payload (kept in registers, ``head``)
#: LinkTop's event counters (48 bits, in a :class:`~synemu.gateware.counters.CounterBank`):
#: those of the COUNTERS block, then (with a sample memory) those of SEQ_STATUS
LINK_EVENTS = ("cycles", "busy", "frames", "crc_errors", "replays", "commands")
SEQ_EVENTS = SEQ_COUNTS + ("queued", "active", "job_busy", "learn_act", "learn_busy")


class UARTTx(wiring.Component):
    """8N1 transmitter, ``divisor`` clocks per bit; ``data`` stream in, ``tx`` line out."""

    data: In(stream.Signature(8))
    tx: Out(1, init=1)

    def __init__(self, divisor: int):
        if divisor < 2:
            raise ValueError(f"UART divisor must be >= 2 clocks per bit, not {divisor}")
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        cnt = Signal(range(self.divisor))
        shreg = Signal(10)
        left = Signal(range(11))
        m.d.comb += self.data.ready.eq(left == 0)
        with m.If(left == 0):
            with m.If(self.data.valid):
                m.d.sync += [shreg.eq(Cat(Const(0, 1), self.data.payload, Const(1, 1))),
                             left.eq(10), cnt.eq(0)]
        with m.Else():
            m.d.sync += self.tx.eq(shreg[0])
            with m.If(cnt == self.divisor - 1):
                m.d.sync += [cnt.eq(0), shreg.eq(shreg >> 1), left.eq(left - 1)]
            with m.Else():
                m.d.sync += cnt.eq(cnt + 1)
        with m.If(left == 0):
            m.d.sync += self.tx.eq(1)
        return m


class UARTRx(wiring.Component):
    """8N1 receiver, ``divisor`` clocks per bit; ``data`` stream out (no back-pressure:
    a byte is presented for one clock), ``frame_error`` pulses on a bad stop bit."""

    rx: In(1, init=1)
    data: Out(stream.Signature(8, always_ready=True))
    frame_error: Out(1)

    def __init__(self, divisor: int, sync_stages: int = 2):
        if divisor < 2:
            raise ValueError(f"UART divisor must be >= 2 clocks per bit, not {divisor}")
        self.divisor, self.sync_stages = divisor, sync_stages
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        D = self.divisor
        line = self.rx
        for i in range(self.sync_stages):
            s = Signal(init=1, name=f"rx_sync{i}")
            m.d.sync += s.eq(line)
            line = s
        cnt = Signal(range(D))
        bit = Signal(range(10))
        shreg = Signal(8)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += cnt.eq(D // 2 - 1 if D > 2 else 0)
                    m.next = "START"
            with m.State("START"):
                with m.If(cnt == 0):
                    with m.If(line):
                        m.next = "IDLE"         # glitch, not a start bit
                    with m.Else():
                        m.d.sync += [cnt.eq(D - 1), bit.eq(0)]
                        m.next = "BITS"
                with m.Else():
                    m.d.sync += cnt.eq(cnt - 1)
            with m.State("BITS"):
                with m.If(cnt == 0):
                    m.d.sync += cnt.eq(D - 1)
                    with m.If(bit == 8):
                        with m.If(line):
                            m.d.comb += self.data.valid.eq(1)
                        with m.Else():
                            m.d.comb += self.frame_error.eq(1)
                        m.next = "IDLE"   # mid stop bit: the line stays high until a start
                    with m.Else():
                        m.d.sync += [shreg.eq(Cat(shreg[1:], line)), bit.eq(bit + 1)]
                with m.Else():
                    m.d.sync += cnt.eq(cnt - 1)
        m.d.comb += self.data.payload.eq(shreg)
        return m


class Verdict(enum.Enum, shape=3):
    """What :class:`SeqGate` decides for a received frame (LinkTop's reply in brackets)."""
    ACCEPT = 0      #: execute it and store its reply (the reply)
    CRC = 1         #: CRC failed (NAK)
    REPLAY = 2      #: same seq as the last executed frame (its stored reply, again)
    OLD = 3         #: behind the last executed frame: an old duplicate (OLD)
    AHEAD = 4       #: ahead of a lost frame (NAK: the host resends from the lost one)
    BUSY = 5        #: in order but the board cannot take it yet (BUSY; not executed)


class SeqGate(wiring.Component):
    """The link's acceptance rule (strict in-order, exactly-once; the rule of
    :meth:`synemu.link.protocol.BoardModel._frame`), used by :class:`LinkTop`'s CHECK state.

    Ports: ``check`` (in): a received frame is decided this clock; ``seq`` (in, 8 bits), its
    sequence number; ``hello`` (in): it is a HELLO (always executed when its CRC is good);
    ``crc_ok`` (in); ``busy`` (in): the frame's resources are in use; ``verdict`` (out,
    :class:`Verdict`, combinational); ``last_seq`` / ``have_last`` (out, registers): the seq
    of the last ACCEPTed frame, updated on the clock of a ``check`` that ACCEPTs.
    """

    check: In(1)
    seq: In(8)
    hello: In(1)
    crc_ok: In(1)
    busy: In(1)
    verdict: Out(Verdict)
    last_seq: Out(8)
    have_last: Out(1)

    def elaborate(self, platform):
        m = Module()
        diff = (self.seq - self.last_seq)[:8]
        ordered = self.hello | ~self.have_last
        with m.If(~self.crc_ok):
            m.d.comb += self.verdict.eq(Verdict.CRC)
        with m.Elif(~ordered & (diff == 0)):
            m.d.comb += self.verdict.eq(Verdict.REPLAY)
        with m.Elif(~ordered & (diff != 1)):
            m.d.comb += self.verdict.eq(Mux(diff[7], Verdict.OLD, Verdict.AHEAD))
        with m.Elif(~self.hello & self.busy):
            m.d.comb += self.verdict.eq(Verdict.BUSY)
        with m.Else():
            m.d.comb += self.verdict.eq(Verdict.ACCEPT)
            with m.If(self.check):
                m.d.sync += [self.last_seq.eq(self.seq), self.have_last.eq(1)]
        return m


class LinkTop(wiring.Component):
    """The board top-level core: ``rx``/``tx`` UART lines around a link core
    (:mod:`synemu.gateware.core`; default :class:`~synemu.gateware.core.EngineCore`, the
    synapse array) and, when ``spec.smem_words`` is set, a
    :class:`~synemu.gateware.sequencer.SampleMemory` shared with the core's sequencer.

    ``spec``: :class:`~synemu.link.protocol.LinkSpec` (or a subclass for another core:
    command and response bytes, reply buffer, HELLO block, UART divisor in clocks per bit,
    clock Hz, idle timeout, sample-memory words). Received bytes queue in a
    ``RX_QUEUE``-byte FIFO, so frames may arrive back to back while the board executes or
    replies. ``activity`` is high while a frame is being handled or a job runs (for an LED).
    The event counters (:data:`LINK_EVENTS`, :data:`SEQ_EVENTS`) live in a
    :class:`~synemu.gateware.counters.CounterBank`: a COUNTERS or SEQ_STATUS reply reads
    each counter once, after every event of the frame that asked for it.
    """

    rx: In(1, init=1)
    tx: Out(1, init=1)
    activity: Out(1)

    def __init__(self, spec: LinkSpec, core=None):
        if not isinstance(spec, LinkSpec):
            raise TypeError(f"LinkTop needs a LinkSpec, not {spec!r}")
        core = EngineCore(spec) if core is None else core
        resp_bits = len(core.resp.payload)
        want = core_signature(spec.cmd_bits, resp_bits,
                              (spec.smem_words - 1).bit_length() if spec.smem_words else 0)
        if core.signature.members != want.members:
            raise TypeError(f"LinkTop: the core's ports do not match its spec "
                            f"(core_signature({spec.cmd_bits}, ...)): {core.signature!r}")
        if 8 * spec.resp_bytes < resp_bits:
            raise ValueError("LinkTop: spec.resp_bytes is narrower than the core's responses")
        self.spec, self.core = spec, core
        super().__init__()

    def elaborate(self, platform):
        s = self.spec
        W = s.smem_words
        m = Module()
        m.submodules.core = core = self.core
        m.submodules.urx = urx = UARTRx(s.divisor)
        m.submodules.utx = utx = UARTTx(s.divisor)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx)]
        m.submodules.rxq = rxq = SyncFIFOBuffered(width=8, depth=RX_QUEUE)
        m.d.comb += [rxq.w_data.eq(urx.data.payload), rxq.w_en.eq(urx.data.valid)]
        # one CRC unit: of the received frame (seq .. payload) until the reply starts, then
        # of the reply being sent (``crc_tx``); the final CRC one clock after the last byte
        m.submodules.crc = crc = LINK_CRC.create()
        crc_tx = Signal()

        hello = s.hello_payload()
        m.submodules.rxbuf = rxbuf = Memory(shape=8, depth=256, init=[])
        m.submodules.txbuf = txbuf = Memory(shape=8, depth=s.tx_max, init=[])
        m.submodules.hello = hrom = Memory(shape=8, depth=len(hello), init=list(hello))
        rx_w, rx_r = rxbuf.write_port(), rxbuf.read_port(transparent_for=())
        tx_w, tx_r = txbuf.write_port(), txbuf.read_port(transparent_for=())
        h_r = hrom.read_port()

        # -- the core's commands come from the link's CMDS frames (its sequencer's, inside) --
        l_valid, l_resp_ready = Signal(), Signal()
        cmd_sh = Signal(8 * s.cmd_bytes)
        m.d.comb += [core.cmd.valid.eq(l_valid), core.cmd.payload.eq(cmd_sh[:s.cmd_bits]),
                     core.resp.ready.eq(l_resp_ready)]

        # -- event counters (block RAM), one increment strobe each -------------------------
        events = LINK_EVENTS + (SEQ_EVENTS if W else ())
        m.submodules.counters = bank = CounterBank(len(events), 48)
        ev = {name: Signal(name=f"ev_{name}") for name in events}
        m.d.comb += [bank.inc.eq(Cat(*(ev[n] for n in events))),
                     ev["cycles"].eq(1), ev["busy"].eq(core.busy)]
        if W:
            m.d.comb += [ev[n].eq(core.seq_events[k]) for k, n in enumerate(SEQ_COUNTS)]
            m.d.comb += [ev["queued"].eq(core.job_load), ev["active"].eq(core.running),
                         ev["job_busy"].eq(core.running & core.busy),
                         ev["learn_act"].eq(core.learning),
                         ev["learn_busy"].eq(core.learning & core.busy)]

        # -- receiver state ---------------------------------------------------------------
        seq_no = Signal(8)
        typ = Signal(8)
        length = Signal(8)
        idx = Signal(range(4096))
        crc_rx = Signal(32)
        idle = Signal(range(s.idle_clks + 1))
        m.submodules.gate = gate = SeqGate()      # last_seq / have_last live there
        take = Signal()                         # this state consumes the queued byte
        byte = rxq.r_data
        got = Signal()
        m.d.comb += [got.eq(take & rxq.r_rdy), rxq.r_en.eq(got)]
        head = Signal(8 * HEAD_BYTES)           # the first payload bytes, for frame fields
        # a payload byte enters head a clock after its receipt (settled before CHECK)
        h_we, h_idx, h_byte = Signal(), Signal(5), Signal(8)
        m.d.sync += h_we.eq(0)
        with m.If(h_we):
            m.d.sync += head.word_select(h_idx, 8).eq(h_byte)

        # reply state: stored reply = (r_seq, r_type, r_len) + txbuf; short replies (NAK,
        # OLD, BUSY: no payload, the received seq) are sent without touching it
        r_seq = Signal(8)
        r_type = Signal(8)
        r_len = Signal(range(s.tx_max + 1))
        short = Signal()
        short_type = Signal(8)
        t_idx = Signal(range(s.tx_max + 10))
        t_byte = Signal(8)
        m.d.comb += crc.data.eq(Mux(crc_tx, t_byte, byte))

        # executor
        cmd_bytes, resp_bytes = s.cmd_bytes, s.resp_bytes
        ck = Signal(range(cmd_bytes + 1))
        rd_addr = Signal(8)
        resp_sh = Signal(8 * resp_bytes)
        rk = Signal(range(resp_bytes + 1))
        len_mod = Signal(range(cmd_bytes))     # payload length mod cmd_bytes, counted on receipt

        m.d.comb += [rx_r.addr.eq(rd_addr), tx_w.addr.eq(r_len),
                     h_r.addr.eq(rd_addr)]
        checking = Signal()                   # first pass over a CMDS frame: validate only
        c_idx = Signal(8)                     # index of the command being validated
        rej_reason = Signal(8)
        fb = Signal(range(17))                # byte index within a COUNTERS / STATUS field

        # -- sample memory (shared with the core's sequencer) -----------------------------
        if W:
            m.submodules.smem = smem = SampleMemory(W)
            A = len(smem.addr)
            l_addr, l_wdata = Signal(A), Signal(16)
            l_we, l_re = Signal(), Signal()
            seq_mem = core.mem_re | core.mem_we
            grant = ~seq_mem
            with m.If(seq_mem):
                m.d.comb += [smem.addr.eq(core.mem_addr), smem.wdata.eq(core.mem_wdata),
                             smem.we.eq(core.mem_we), smem.re.eq(core.mem_re)]
            with m.Else():
                m.d.comb += [smem.addr.eq(l_addr), smem.wdata.eq(l_wdata), smem.we.eq(l_we),
                             smem.re.eq(l_re)]
            m.d.comb += [core.mem_rdata.eq(smem.rdata), core.head.eq(head)]

            # SMEM frame fields (little-endian, see synemu.link.protocol): exact but narrow
            # checks, an address must first fit a + 1 bits (W = 2**a words)
            f_addr = head[:24]
            f_n = head[24:32]
            nwords = (length - 3) >> 1
            addr_ok = fits(f_addr, A + 1)
            fa = f_addr[:A + 1]
            wr_ok = (length >= 5) & length[0] & addr_ok & (fa + nwords <= W)
            rd_ok = ((length == 4) & (f_n != 0) & (f_n <= s.tx_max // 2) & addr_ok
                     & (fa + f_n <= W))
            # the range a SMEM_WRITE / SMEM_READ touches (BUSY while a job uses any of it);
            # an address beyond a + 1 bits overlaps nothing (every range ends <= W)
            m.d.comb += [core.w_lo.eq(fa),
                         core.w_hi.eq(fa + Mux(typ == SMEM_READ, f_n, nwords))]
            overlap = core.overlap & addr_ok
            jobs_active = core.running | core.pending
            mem_word = Signal(16)
            n_left = Signal(9)

        with m.FSM() as fsm:
            # ---- receive a request ----
            with m.State("HUNT"):
                m.d.comb += take.eq(1)
                m.d.sync += crc_tx.eq(0)
                with m.If(got & (byte == REQ_SYNC)):
                    m.d.comb += crc.start.eq(1)
                    m.d.sync += idle.eq(0)
                    m.next = "SEQ"

            for name, nxt, reg in (("SEQ", "TYPE", seq_no), ("TYPE", "LEN", typ),
                                   ("LEN", "PAYLOAD", length)):
                with m.State(name):
                    m.d.comb += take.eq(1)
                    with m.If(got):
                        m.d.comb += crc.valid.eq(1)
                        m.d.sync += [idle.eq(0), reg.eq(byte), idx.eq(0), len_mod.eq(0)]
                        m.next = nxt
                    with m.Elif(idle == s.idle_clks):
                        m.next = "HUNT"
                    with m.Else():
                        m.d.sync += idle.eq(idle + 1)

            with m.State("PAYLOAD"):
                m.d.comb += take.eq(idx != length)
                with m.If(idx == length):
                    m.d.sync += idx.eq(0)
                    m.next = "CRC"
                with m.Elif(got):
                    m.d.comb += [rx_w.addr.eq(idx), rx_w.data.eq(byte), rx_w.en.eq(1),
                                 crc.valid.eq(1)]
                    m.d.sync += [idle.eq(0), idx.eq(idx + 1),
                                 len_mod.eq(Mux(len_mod == cmd_bytes - 1, 0, len_mod + 1))]
                    m.d.sync += [h_we.eq(idx < HEAD_BYTES), h_idx.eq(idx[:5]), h_byte.eq(byte)]
                with m.Elif(idle == s.idle_clks):
                    m.next = "HUNT"
                with m.Else():
                    m.d.sync += idle.eq(idle + 1)

            with m.State("CRC"):
                m.d.comb += take.eq(1)
                with m.If(got):
                    m.d.sync += [idle.eq(0), crc_rx.eq(Cat(crc_rx[8:], byte)), idx.eq(idx + 1)]
                    with m.If(idx == 3):
                        m.next = "VERDICT"
                with m.Elif(idle == s.idle_clks):
                    m.next = "HUNT"
                with m.Else():
                    m.d.sync += idle.eq(idle + 1)

            def short_reply(code):
                m.d.sync += [short.eq(1), short_type.eq(code)]
                m.next = "TX"

            def reject(reason, index=0):
                m.d.sync += [rej_reason.eq(reason), c_idx.eq(index), r_type.eq(REJECT)]
                m.next = "REJ_INDEX"

            # the frame's CRC check and whether its resources are busy, into registers
            crc_ok_r, busy_r, wr_ok_r, rd_ok_r = Signal(), Signal(), Signal(), Signal()
            with m.State("VERDICT"):
                busy_now = Const(0, 1)
                if W:
                    # SMEM_WRITE: BUSY on an overlap, or (guard "jobs") while a job is active
                    w_busy = jobs_active if s.smem_guard == "jobs" else overlap
                    busy_now = ((typ == CMDS) & jobs_active | (typ == SEQ_RUN) & core.pending
                                | (typ == SMEM_WRITE) & w_busy | (typ == SMEM_READ) & overlap)
                m.d.sync += [crc_ok_r.eq(crc_rx == crc.crc), busy_r.eq(busy_now)]
                if W:
                    m.d.sync += [wr_ok_r.eq(wr_ok), rd_ok_r.eq(rd_ok)]
                m.next = "GATE"

            # the gate's verdict and whether the frame is a job to queue, into registers
            v_r, load_r = Signal(Verdict), Signal()
            m.d.comb += [gate.seq.eq(seq_no), gate.hello.eq(typ == HELLO),
                         gate.crc_ok.eq(crc_ok_r), gate.busy.eq(busy_r)]
            with m.State("GATE"):
                m.d.sync += v_r.eq(gate.verdict)
                if W:
                    m.d.sync += load_r.eq((gate.verdict == Verdict.ACCEPT) & (typ == SEQ_RUN)
                                          & (length == JOB_BYTES) & core.job_ok)
                m.next = "CHECK"

            with m.State("CHECK"):
                m.d.sync += [rd_addr.eq(0), idx.eq(0), fb.eq(0)]
                m.d.comb += gate.check.eq(1)     # same inputs as in GATE: the same verdict
                v = v_r
                with m.If(v == Verdict.CRC):
                    m.d.comb += ev["crc_errors"].eq(1)
                    short_reply(NAK)
                with m.Elif(v == Verdict.REPLAY):
                    m.d.comb += ev["replays"].eq(1)
                    m.d.sync += short.eq(0)
                    m.next = "TX"
                with m.Elif(v == Verdict.OLD):
                    short_reply(OLD)              # an old duplicate (already executed)
                with m.Elif(v == Verdict.AHEAD):
                    short_reply(NAK)              # ahead of a lost frame (not executed)
                with m.Elif(v == Verdict.BUSY):
                    short_reply(BUSY)
                with m.Else():                    # ACCEPT (the gate stores seq_no)
                    m.d.comb += ev["frames"].eq(1)
                    m.d.sync += [short.eq(0), r_seq.eq(seq_no), r_len.eq(0)]
                    with m.Switch(typ):
                        with m.Case(HELLO):
                            m.d.sync += r_type.eq(HELLO | 0x80)
                            m.next = "COPY_HELLO"
                        with m.Case(COUNTERS):
                            m.d.sync += r_type.eq(COUNTERS | 0x80)
                            m.next = "COPY_CNT"
                        with m.Case(CMDS):
                            with m.If(len_mod == 0):
                                # first pass: validate every command; second: execute
                                m.d.sync += [r_type.eq(CMDS | 0x80), ck.eq(0),
                                             checking.eq(1), c_idx.eq(0)]
                                m.next = "EXEC_FETCH"
                            with m.Else():
                                m.d.sync += r_type.eq(BAD)
                                m.next = "TX"
                        if W:
                            with m.Case(SEQ_STATUS):
                                m.d.sync += r_type.eq(SEQ_STATUS | 0x80)
                                with m.If(length != 0):
                                    reject(Reject.LENGTH)
                                with m.Else():
                                    m.next = "COPY_STATUS"
                            with m.Case(SEQ_RUN):
                                with m.If(length != JOB_BYTES):
                                    reject(Reject.LENGTH)
                                with m.Elif(~core.job_ok):
                                    reject(Reject.JOB)
                                with m.Else():
                                    m.d.comb += core.job_load.eq(load_r)
                                    m.d.sync += r_type.eq(SEQ_RUN | 0x80)
                                    m.next = "COPY_STATUS"
                            with m.Case(SMEM_WRITE):
                                with m.If(~wr_ok_r):
                                    reject(Mux((length >= 5) & length[0], Reject.SMEM,
                                               Reject.LENGTH))
                                with m.Else():
                                    m.d.sync += [r_type.eq(SMEM_WRITE | 0x80), rd_addr.eq(3),
                                                 l_addr.eq(f_addr), n_left.eq(nwords)]
                                    m.next = "SMW_LO"
                            with m.Case(SMEM_READ):
                                with m.If(length != 4):
                                    reject(Reject.LENGTH)
                                with m.Elif(~rd_ok_r):
                                    reject(Reject.SMEM)
                                with m.Else():
                                    m.d.sync += [r_type.eq(SMEM_READ | 0x80),
                                                 l_addr.eq(f_addr), n_left.eq(f_n)]
                                    m.next = "SMR_REQ"
                        with m.Default():
                            m.d.sync += r_type.eq(BAD)
                            m.next = "TX"

            # ---- build the reply in txbuf ----
            with m.State("COPY_HELLO"):
                # rd_addr leads the write address by one clock (synchronous ROM read)
                m.d.sync += rd_addr.eq(rd_addr + 1)
                with m.If(rd_addr != 0):
                    m.d.comb += [tx_w.data.eq(h_r.data), tx_w.en.eq(1)]
                    m.d.sync += r_len.eq(r_len + 1)
                    with m.If(r_len == len(hello) - 1):
                        m.next = "TX"

            # the COUNTERS / SEQ_STATUS block into txbuf, field by field: registers of the
            # core byte by byte; a bank counter first read (held in bank.rd_value), then its
            # bytes; every field little-endian
            z = lambda n: Const(0, n)
            cnt_fields = [("reg", Cat(core.time, core.samples)), ("bank", "cycles", 8),
                          ("bank", "busy", 8)] + [("bank", n, 4) for n in LINK_EVENTS[2:]]
            copies = [("COPY_CNT", cnt_fields)]
            if W:
                flags = {"running": Cat(core.running, z(7)), "idle": Cat(~core.pending, z(7))}
                stat_fields = [("bank", n, k) for n, k in STATUS_FIELDS if n in events]
                stat_fields.append(("reg", Cat(*(flags[n] for n, _ in STATUS_FIELDS
                                                 if n not in events))))
                assert [n for n, _ in STATUS_FIELDS][-2:] == ["running", "idle"]
                copies.append(("COPY_STATUS", stat_fields))
            for (state, fields), fmt in zip(copies, (COUNTERS_FMT, STATUS_FMT)):
                assert sum(f[2] if f[0] == "bank" else len(f[1]) // 8
                           for f in fields) == struct.calcsize(fmt), state
            for state, fields in copies:
                for f, field in enumerate(fields):
                    name = state if f == 0 else f"{state}_{f}"
                    nxt = "TX" if f == len(fields) - 1 else f"{state}_{f + 1}"
                    if field[0] == "bank":
                        _, ev_name, nbytes = field
                        with m.State(name):
                            m.d.comb += [bank.rd_req.eq(1),
                                         bank.rd_index.eq(events.index(ev_name))]
                            m.d.sync += fb.eq(0)
                            with m.If(bank.rd_ack):
                                m.next = name + "_B"
                        src, name = Cat(bank.rd_value, z(16)), name + "_B"
                    else:
                        src, nbytes = field[1], len(field[1]) // 8
                    with m.State(name):
                        byte_of = src.word_select(fb[:max(1, (nbytes - 1).bit_length())], 8)
                        m.d.comb += [tx_w.data.eq(byte_of), tx_w.en.eq(1)]
                        m.d.sync += [r_len.eq(r_len + 1), fb.eq(fb + 1)]
                        with m.If(fb == nbytes - 1):
                            m.d.sync += fb.eq(0)
                            m.next = nxt

            if W:
                # SMEM_WRITE: payload bytes 3.. (lo, hi) -> words at l_addr..; rxbuf reads
                # take a clock (rd_addr is set one state ahead of the data)
                with m.State("SMW_LO"):
                    m.next = "SMW_LO_DATA"
                with m.State("SMW_LO_DATA"):
                    m.d.sync += [mem_word[:8].eq(rx_r.data), rd_addr.eq(rd_addr + 1)]
                    m.next = "SMW_HI"
                with m.State("SMW_HI"):
                    m.next = "SMW_HI_DATA"
                with m.State("SMW_HI_DATA"):
                    m.d.comb += [l_wdata.eq(Cat(mem_word[:8], rx_r.data)), l_we.eq(grant)]
                    with m.If(grant):
                        m.d.sync += [l_addr.eq(l_addr + 1), n_left.eq(n_left - 1),
                                     rd_addr.eq(rd_addr + 1)]
                        with m.If(n_left == 1):
                            m.next = "COPY_STATUS"
                        with m.Else():
                            m.next = "SMW_LO"

                # SMEM_READ: n_left words from l_addr, little-endian, into txbuf
                with m.State("SMR_REQ"):
                    m.d.comb += l_re.eq(1)
                    with m.If(grant):
                        m.next = "SMR_LO"
                with m.State("SMR_LO"):
                    m.d.comb += [tx_w.data.eq(smem.rdata[:8]), tx_w.en.eq(1)]
                    m.d.sync += [mem_word.eq(smem.rdata), r_len.eq(r_len + 1)]
                    m.next = "SMR_HI"
                with m.State("SMR_HI"):
                    m.d.comb += [tx_w.data.eq(mem_word[8:]), tx_w.en.eq(1)]
                    m.d.sync += [r_len.eq(r_len + 1), l_addr.eq(l_addr + 1),
                                 n_left.eq(n_left - 1)]
                    with m.If(n_left == 1):
                        m.next = "TX"
                    with m.Else():
                        m.next = "SMR_REQ"

            # ---- execute the command batch ----
            with m.State("EXEC_FETCH"):
                # read cmd_bytes bytes (sync read port: data one clock after the address)
                with m.If(rd_addr == length):
                    with m.If(checking):        # all valid: now execute from the start
                        m.d.sync += [checking.eq(0), rd_addr.eq(0)]
                    with m.Else():
                        m.next = "TX"
                with m.Else():
                    m.d.sync += [rd_addr.eq(rd_addr + 1), ck.eq(0)]
                    m.next = "EXEC_BYTE"
            with m.State("EXEC_BYTE"):
                m.d.sync += [cmd_sh.eq(Cat(cmd_sh[8:], rx_r.data)), ck.eq(ck + 1)]
                with m.If(ck == cmd_bytes - 1):
                    m.next = "EXEC_ISSUE"
                    with m.If(checking):
                        m.next = "VALIDATE"
                with m.Else():
                    m.d.sync += rd_addr.eq(rd_addr + 1)
            with m.State("VALIDATE"):
                # a command the engine cannot execute correctly: reply REJECT(index, reason)
                # and execute none of the frame (the rule of link.protocol.reject_reason)
                with m.If(core.reason != 0):
                    m.d.sync += [rej_reason.eq(core.reason), r_type.eq(REJECT),
                                 checking.eq(0)]
                    m.next = "REJ_INDEX"
                with m.Else():
                    m.d.sync += c_idx.eq(c_idx + 1)
                    m.next = "EXEC_FETCH"
            with m.State("REJ_INDEX"):
                m.d.comb += [tx_w.data.eq(c_idx), tx_w.en.eq(1)]
                m.d.sync += r_len.eq(r_len + 1)
                m.next = "REJ_REASON"
            with m.State("REJ_REASON"):
                m.d.comb += [tx_w.data.eq(rej_reason), tx_w.en.eq(1)]
                m.d.sync += r_len.eq(r_len + 1)
                m.next = "TX"
            with m.State("EXEC_ISSUE"):
                m.d.comb += l_valid.eq(1)
                with m.If(core.cmd.ready):
                    m.d.comb += ev["commands"].eq(1)
                    m.next = "EXEC_WAIT"
            with m.State("EXEC_WAIT"):
                m.d.comb += l_resp_ready.eq(1)
                with m.If(core.resp.valid):
                    m.d.sync += [resp_sh.eq(core.resp.payload), rk.eq(0)]
                    m.next = "EXEC_RESP"
                with m.Elif(core.cmd.ready):
                    m.next = "EXEC_FETCH"
            with m.State("EXEC_RESP"):
                with m.If(r_len < s.tx_max):
                    m.d.comb += [tx_w.data.eq(resp_sh[:8]), tx_w.en.eq(1)]
                    m.d.sync += r_len.eq(r_len + 1)
                m.d.sync += [resp_sh.eq(resp_sh >> 8), rk.eq(rk + 1)]
                with m.If(rk == resp_bytes - 1):
                    m.next = "EXEC_WAIT"

            # ---- transmit the reply (or a short reply) ----
            # TX_PREP decides the byte t_idx into registers (header byte, or body from
            # txbuf, or CRC byte k; whether it enters the CRC; whether it is the last), so
            # TX_SEND only picks among registers and txbuf's data
            n_len = Signal.like(r_len)
            t_hdr, t_head, t_body, t_last = Signal(8), Signal(), Signal(), Signal()
            t_k = Signal(2)
            with m.State("TX"):
                m.d.comb += crc.start.eq(1)
                m.d.sync += [crc_tx.eq(1), t_idx.eq(0), n_len.eq(Mux(short, 0, r_len))]
                m.next = "TX_PREP"
            with m.State("TX_PREP"):
                # txbuf data appears one clock after its address
                m.d.comb += tx_r.addr.eq(t_idx - 5)
                hdr = Array([Const(RSP_SYNC, 8), Mux(short, seq_no, r_seq),
                             Mux(short, short_type, r_type), n_len[:8],
                             (n_len >> 8)[:8]])[t_idx[:3]]
                m.d.sync += [t_hdr.eq(hdr), t_head.eq(t_idx < 5),
                             t_body.eq((t_idx >= 5) & (t_idx < 5 + n_len)),
                             t_k.eq((t_idx - 5 - n_len)[:2]), t_last.eq(t_idx == 5 + n_len + 3)]
                m.next = "TX_SEND"
            with m.State("TX_SEND"):
                m.d.comb += tx_r.addr.eq(t_idx - 5)
                m.d.comb += t_byte.eq(Mux(t_head, t_hdr,
                                          Mux(t_body, tx_r.data, crc.crc.word_select(t_k, 8))))
                m.d.comb += [utx.data.payload.eq(t_byte), utx.data.valid.eq(1)]
                with m.If(utx.data.ready):
                    m.d.sync += t_idx.eq(t_idx + 1)
                    with m.If((t_head & (t_idx != 0)) | t_body):
                        m.d.comb += crc.valid.eq(1)
                    with m.If(t_last):
                        m.next = "HUNT"
                    with m.Else():
                        m.next = "TX_PREP"

        m.d.comb += self.activity.eq(~fsm.ongoing("HUNT") | (core.running if W else 0))
        return m


class SimHarness(wiring.Component):
    """Simulation top: :class:`LinkTop` plus a host-side UART with ``window``-byte parallel
    buffers, so a testbench moves many bytes per wake-up.

    Host -> board: while ``in_busy`` is low, pulse ``in_load`` with ``in_len`` bytes in
    ``in_data`` (byte 0 in bits 0..7); they are sent in order. Board -> host: received bytes
    accumulate in ``out_data`` (byte i in bits 8i..8i+7), ``out_count`` of them;
    ``out_clear`` empties the buffer (a byte arriving in the same clock is kept as byte 0);
    ``out_overflow`` latches if a byte arrived with the buffer full. ``core``: the board
    side, an Elaboratable with 1-bit ``rx`` / ``tx`` (default ``LinkTop(spec)``; e.g. a
    gate-level netlist or bitstream of the board top, :mod:`synemu.boards.bitstream`).
    """

    def __init__(self, spec: LinkSpec, window: int = 64, core=None):
        self.spec, self.window, self.core = spec, window, core
        W = window
        super().__init__({
            "in_data": In(8 * W), "in_len": In(range(W + 1)), "in_load": In(1),
            "in_busy": Out(1),
            "out_data": Out(8 * W), "out_count": Out(range(W + 1)), "out_clear": In(1),
            "out_overflow": Out(1),
            "line_rx": Out(1), "line_tx": Out(1),
        })

    def elaborate(self, platform):
        s, W = self.spec, self.window
        m = Module()
        m.submodules.top = top = LinkTop(s) if self.core is None else self.core
        m.submodules.htx = htx = UARTTx(s.divisor)
        m.submodules.hrx = hrx = UARTRx(s.divisor)
        m.d.comb += [top.rx.eq(htx.tx), hrx.rx.eq(top.tx),
                     self.line_rx.eq(htx.tx), self.line_tx.eq(top.tx)]
        # host -> board
        buf = Signal(8 * W)
        left = Signal(range(W + 1))
        m.d.comb += [self.in_busy.eq(left != 0), htx.data.payload.eq(buf[:8]),
                     htx.data.valid.eq(left != 0)]
        with m.If(self.in_load & (left == 0)):
            m.d.sync += [buf.eq(self.in_data), left.eq(self.in_len)]
        with m.Elif(htx.data.valid & htx.data.ready):
            m.d.sync += [buf.eq(buf >> 8), left.eq(left - 1)]
        # board -> host
        got, byte = hrx.data.valid, hrx.data.payload
        with m.If(self.out_clear):
            m.d.sync += self.out_count.eq(got)
            with m.If(got):
                m.d.sync += self.out_data[:8].eq(byte)
        with m.Elif(got):
            with m.If(self.out_count == W):
                m.d.sync += self.out_overflow.eq(1)
            with m.Else():
                m.d.sync += [self.out_data.word_select(self.out_count, 8).eq(byte),
                             self.out_count.eq(self.out_count + 1)]
        return m
