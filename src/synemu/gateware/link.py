"""Board-side host link in Amaranth: UART, framer with CRC-32 (:mod:`amaranth.lib.crc`),
sequence numbers, replay of the last reply, and the top-level :class:`LinkTop` wrapping
:class:`~synemu.gateware.engine.ArrayEngine`.

The frame format and behaviour are specified (byte-exactly) by
:class:`synemu.link.protocol.BoardModel`. :class:`SimHarness` adds a host-side UART with
byte FIFOs around :class:`LinkTop`, so a cocotb test exchanges *bytes* with the real serial
top-level without waking Python for every clock.
"""


import struct

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.crc import catalog as crc_catalog
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..spec.engine import OP_WIDTH, Op
from .engine import ArrayEngine
from ..link.protocol import (BAD, CMDS, COUNTERS, COUNTERS_FMT, HELLO, NAK, REJECT,
                             REQ_SYNC, RSP_SYNC, LinkSpec)
from .check import CommandCheck

__all__ = ["UARTTx", "UARTRx", "LINK_CRC", "LinkTop", "SimHarness"]

#: The frames' CRC-32: CRC-32/ISO-HDLC (poly 0x04C11DB7, init and xor-out 0xFFFFFFFF,
#: reflected in and out), i.e. :func:`zlib.crc32` as :func:`synemu.link.protocol.crc32`
#: computes it on the host, over 8-bit words: each byte enters LSB first and the 32-bit
#: result is sent (and received) little-endian, byte 0 = bits 0..7.
LINK_CRC = crc_catalog.CRC32_ISO_HDLC(data_width=8)


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


class LinkTop(wiring.Component):
    """The board top-level core: ``rx``/``tx`` UART lines around an :class:`ArrayEngine`.

    ``spec``: :class:`~synemu.link.protocol.LinkSpec` (engine config, UART divisor in clocks
    per bit, clock Hz, idle timeout). ``activity`` is high while a frame is being executed
    (for an LED).
    """

    rx: In(1, init=1)
    tx: Out(1, init=1)
    activity: Out(1)

    def __init__(self, spec: LinkSpec):
        if not isinstance(spec, LinkSpec):
            raise TypeError(f"LinkTop needs a LinkSpec, not {spec!r}")
        self.spec = spec
        super().__init__()

    def elaborate(self, platform):
        s, cfg = self.spec, self.spec.config
        m = Module()
        m.submodules.engine = eng = ArrayEngine(cfg)
        m.submodules.urx = urx = UARTRx(s.divisor)
        m.submodules.utx = utx = UARTTx(s.divisor)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx)]
        # CRC of the received frame (seq .. payload) and of the reply being sent; each is the
        # final CRC one clock after its last byte
        m.submodules.rx_crc = rx_crc = LINK_CRC.create()
        m.submodules.tx_crc = tx_crc = LINK_CRC.create()

        hello = s.hello_payload()
        n_cnt = struct.calcsize(COUNTERS_FMT)
        m.submodules.rxbuf = rxbuf = Memory(shape=8, depth=256, init=[])
        m.submodules.txbuf = txbuf = Memory(shape=8, depth=s.tx_max, init=[])
        m.submodules.hello = hrom = Memory(shape=8, depth=len(hello), init=list(hello))
        rx_w, rx_r = rxbuf.write_port(), rxbuf.read_port(transparent_for=())
        tx_w, tx_r = txbuf.write_port(), txbuf.read_port(transparent_for=())
        h_r = hrom.read_port()

        # -- counters ---------------------------------------------------------------------
        cycles = Signal(48)
        busy_cycles = Signal(48)
        frames = Signal(32)
        crc_errors = Signal(32)
        replays = Signal(32)
        commands = Signal(32)
        time = Signal(cfg.time_width)
        samples = Signal(cfg.sample_width)
        snap_cycles = Signal(48)
        snap_busy = Signal(48)
        m.d.sync += cycles.eq(cycles + 1)
        with m.If(eng.busy):
            m.d.sync += busy_cycles.eq(busy_cycles + 1)
        counter_block = Cat(time, Const(0, 64 - cfg.time_width), samples,
                            Const(0, 64 - cfg.sample_width), snap_cycles, Const(0, 16),
                            snap_busy, Const(0, 16), frames, crc_errors, replays, commands)
        assert len(counter_block) == 8 * n_cnt

        # -- receiver state ---------------------------------------------------------------
        seq = Signal(8)
        typ = Signal(8)
        length = Signal(8)
        idx = Signal(range(4096))
        crc_rx = Signal(32)
        idle = Signal(range(s.idle_clks + 1))
        last_seq = Signal(8)
        have_last = Signal()
        byte = urx.data.payload
        got = urx.data.valid
        m.d.comb += rx_crc.data.eq(byte)

        # reply state: stored reply = (r_seq, r_type, r_len) + txbuf; NAK is sent separately
        r_seq = Signal(8)
        r_type = Signal(8)
        r_len = Signal(range(s.tx_max + 1))
        nak = Signal()
        t_idx = Signal(range(s.tx_max + 10))
        t_byte = Signal(8)
        m.d.comb += tx_crc.data.eq(t_byte)

        # executor
        cmd_bytes, resp_bytes = s.cmd_bytes, s.resp_bytes
        cmd_sh = Signal(8 * cmd_bytes)
        ck = Signal(range(cmd_bytes + 1))
        rd_addr = Signal(8)
        resp_sh = Signal(8 * resp_bytes)
        rk = Signal(range(resp_bytes + 1))
        copy_n = Signal(range(max(len(hello), n_cnt) + 1))
        len_mod = Signal(range(cmd_bytes))     # payload length mod cmd_bytes, counted on receipt

        m.d.comb += [rx_r.addr.eq(rd_addr), tx_w.addr.eq(r_len),
                     h_r.addr.eq(rd_addr)]
        c_op = cmd_sh[:OP_WIDTH]
        c_arg = cmd_sh[OP_WIDTH + cfg.row_width + cfg.col_width:][:cfg.arg_width]
        m.d.comb += eng.cmd.payload.eq(cmd_sh[:s.cmd_bits])
        m.submodules.check = chk = CommandCheck(cfg)
        m.d.comb += chk.cmd.eq(cmd_sh[:s.cmd_bits])
        checking = Signal()                   # first pass over a CMDS frame: validate only
        c_idx = Signal(8)                     # index of the command being validated
        rej_reason = Signal(3)

        with m.FSM() as fsm:
            # ---- receive a request ----
            with m.State("HUNT"):
                with m.If(got & (byte == REQ_SYNC)):
                    m.d.comb += rx_crc.start.eq(1)
                    m.d.sync += idle.eq(0)
                    m.next = "SEQ"

            for name, nxt, reg in (("SEQ", "TYPE", seq), ("TYPE", "LEN", typ),
                                   ("LEN", "PAYLOAD", length)):
                with m.State(name):
                    with m.If(got):
                        m.d.comb += rx_crc.valid.eq(1)
                        m.d.sync += [idle.eq(0), reg.eq(byte), idx.eq(0), len_mod.eq(0)]
                        m.next = nxt
                    with m.Elif(idle == s.idle_clks):
                        m.next = "HUNT"
                    with m.Else():
                        m.d.sync += idle.eq(idle + 1)

            with m.State("PAYLOAD"):
                with m.If(idx == length):
                    m.d.sync += idx.eq(0)
                    m.next = "CRC"
                with m.Elif(got):
                    m.d.comb += [rx_w.addr.eq(idx), rx_w.data.eq(byte), rx_w.en.eq(1),
                                 rx_crc.valid.eq(1)]
                    m.d.sync += [idle.eq(0), idx.eq(idx + 1),
                                 len_mod.eq(Mux(len_mod == cmd_bytes - 1, 0, len_mod + 1))]
                with m.Elif(idle == s.idle_clks):
                    m.next = "HUNT"
                with m.Else():
                    m.d.sync += idle.eq(idle + 1)

            with m.State("CRC"):
                with m.If(got):
                    m.d.sync += [idle.eq(0), crc_rx.eq(Cat(crc_rx[8:], byte)), idx.eq(idx + 1)]
                    with m.If(idx == 3):
                        m.next = "CHECK"
                with m.Elif(idle == s.idle_clks):
                    m.next = "HUNT"
                with m.Else():
                    m.d.sync += idle.eq(idle + 1)

            with m.State("CHECK"):
                m.d.sync += [rd_addr.eq(0), copy_n.eq(0)]
                with m.If(crc_rx != rx_crc.crc):
                    m.d.sync += [crc_errors.eq(crc_errors + 1), nak.eq(1)]
                    m.next = "TX"
                with m.Elif((typ != HELLO) & have_last & (seq == last_seq)):
                    m.d.sync += [replays.eq(replays + 1), nak.eq(0)]
                    m.next = "TX"
                with m.Else():
                    m.d.sync += [frames.eq(frames + 1), nak.eq(0), last_seq.eq(seq),
                                 have_last.eq(1), r_seq.eq(seq), r_len.eq(0),
                                 snap_cycles.eq(cycles), snap_busy.eq(busy_cycles)]
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

            with m.State("COPY_CNT"):
                m.d.comb += [tx_w.data.eq(counter_block.word_select(r_len[:6], 8)),
                             tx_w.en.eq(1)]
                m.d.sync += r_len.eq(r_len + 1)
                with m.If(r_len == n_cnt - 1):
                    m.next = "TX"

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
                with m.If(chk.reason != 0):
                    m.d.sync += [rej_reason.eq(chk.reason), r_type.eq(REJECT),
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
                m.d.comb += eng.cmd.valid.eq(1)
                with m.If(eng.cmd.ready):
                    m.d.sync += commands.eq(commands + 1)
                    with m.If(c_op == Op.TICK):
                        m.d.sync += time.eq(time + c_arg[:cfg.tick_width])
                    with m.If((c_op == Op.LEARN) | (c_op == Op.SAMPLE)):
                        m.d.sync += samples.eq(samples + 1)
                    m.next = "EXEC_WAIT"
            with m.State("EXEC_WAIT"):
                m.d.comb += eng.resp.ready.eq(1)
                with m.If(eng.resp.valid):
                    m.d.sync += [resp_sh.eq(eng.resp.payload), rk.eq(0)]
                    m.next = "EXEC_RESP"
                with m.Elif(eng.cmd.ready):
                    m.next = "EXEC_FETCH"
            with m.State("EXEC_RESP"):
                with m.If(r_len < s.tx_max):
                    m.d.comb += [tx_w.data.eq(resp_sh[:8]), tx_w.en.eq(1)]
                    m.d.sync += r_len.eq(r_len + 1)
                m.d.sync += [resp_sh.eq(resp_sh >> 8), rk.eq(rk + 1)]
                with m.If(rk == resp_bytes - 1):
                    m.next = "EXEC_WAIT"

            # ---- transmit the reply (or a NAK) ----
            with m.State("TX"):
                m.d.comb += tx_crc.start.eq(1)
                m.d.sync += t_idx.eq(0)
                m.next = "TX_PREP"
            n_len = Mux(nak, 0, r_len)
            with m.State("TX_PREP"):
                # choose the byte; txbuf data appears one clock after its address
                m.d.comb += tx_r.addr.eq(t_idx - 5)
                m.next = "TX_SEND"
            with m.State("TX_SEND"):
                m.d.comb += tx_r.addr.eq(t_idx - 5)
                crc_out = tx_crc.crc
                k = t_idx - 5 - n_len
                with m.If(t_idx == 0):
                    m.d.comb += t_byte.eq(RSP_SYNC)
                with m.Elif(t_idx == 1):
                    m.d.comb += t_byte.eq(Mux(nak, seq, r_seq))
                with m.Elif(t_idx == 2):
                    m.d.comb += t_byte.eq(Mux(nak, NAK, r_type))
                with m.Elif(t_idx == 3):
                    m.d.comb += t_byte.eq(n_len[:8])
                with m.Elif(t_idx == 4):
                    m.d.comb += t_byte.eq(n_len >> 8)
                with m.Elif(t_idx < 5 + n_len):
                    m.d.comb += t_byte.eq(tx_r.data)
                with m.Else():
                    m.d.comb += t_byte.eq(crc_out.word_select(k[:2], 8))
                m.d.comb += [utx.data.payload.eq(t_byte), utx.data.valid.eq(1)]
                with m.If(utx.data.ready):
                    m.d.sync += t_idx.eq(t_idx + 1)
                    with m.If((t_idx != 0) & (t_idx < 5 + n_len)):
                        m.d.comb += tx_crc.valid.eq(1)
                    with m.If(t_idx == 5 + n_len + 3):
                        m.next = "TX_DRAIN"
                    with m.Else():
                        m.next = "TX_PREP"
            with m.State("TX_DRAIN"):
                # bytes that arrived while busy were dropped; start hunting afresh
                with m.If(utx.data.ready):
                    m.next = "HUNT"

        m.d.comb += self.activity.eq(~fsm.ongoing("HUNT"))
        return m


class SimHarness(wiring.Component):
    """Simulation top: :class:`LinkTop` plus a host-side UART with ``window``-byte parallel
    buffers, so a testbench moves many bytes per wake-up.

    Host -> board: while ``in_busy`` is low, pulse ``in_load`` with ``in_len`` bytes in
    ``in_data`` (byte 0 in bits 0..7); they are sent in order. Board -> host: received bytes
    accumulate in ``out_data`` (byte i in bits 8i..8i+7), ``out_count`` of them;
    ``out_clear`` empties the buffer (a byte arriving in the same clock is kept as byte 0);
    ``out_overflow`` latches if a byte arrived with the buffer full.
    """

    def __init__(self, spec: LinkSpec, window: int = 64):
        self.spec, self.window = spec, window
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
        m.submodules.top = top = LinkTop(s)
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
