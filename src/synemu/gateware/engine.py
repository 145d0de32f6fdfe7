"""The synapse-array engine in Amaranth (specification: :mod:`synemu.spec.engine`).

State lives in ``lanes`` memories (``amaranth.lib.memory``), each ``rows*cols/lanes`` words
of ``device.state_width`` bits; the input vector ``x`` in ``lanes`` memories of
``cols/lanes`` signed ``x_width``-bit words. Commands arrive on the ``cmd`` stream
(payload: ``op`` 4 bits, ``row``, ``col``, ``arg``), responses leave on ``resp``
(``resp_width`` bits). All array work is a *sweep*: a 3-stage pipeline that reads one
address of every lane memory per clock (stage 0), registers each lane's operands -- pulse,
weight x input, device-LFSR word (stage 1) -- and hands them to the device rule (stage 2),
whose result is written back ``L = rule.latency`` clocks later (stage 2 + L; the write
address, lane mask and enable are delayed alongside). A sweep of n slots takes n + 2
clocks, n + 2 + L if it writes. Addresses within a sweep are distinct and a sweep ends only
when its pipeline, including pending writes, is empty, so there are no read/write hazards.
"""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..spec.engine import OP_WIDTH, EngineConfig, Op
from ..spec.fixed import Rounding, clog2
from .fixed import mul, round_shift, saturate, tree_sum
from .lfsr import LFSRBank
from ..spec.registry import rule_for

__all__ = ["ArrayEngine", "command_layout", "peek_members", "x_chunk_layout"]


def command_layout(config: EngineConfig) -> data.StructLayout:
    return data.StructLayout({
        "op": unsigned(OP_WIDTH),
        "row": unsigned(config.row_width),
        "col": unsigned(config.col_width),
        "arg": unsigned(config.arg_width),
    })


def x_chunk_layout(config: EngineConfig) -> data.StructLayout:
    """Payload of the engine's ``xw`` stream: one chunk of ``lanes`` inputs (columns
    ``chunk * lanes + l``), as that many LOAD_X commands at once."""
    return data.StructLayout({
        "chunk": unsigned(clog2(config.chunks)),
        "x": data.ArrayLayout(signed(config.x_width), config.lanes),
    })


def peek_members(config: EngineConfig) -> dict:
    """Debug ports reading the state and x memories combinationally (``peek_words``: one
    state word per lane at ``peek_addr``; ``peek_x``: one x per lane at ``peek_x_addr``);
    components that contain an engine re-export them under the same names."""
    P, dev = config.lanes, config.device
    return {
        "peek_addr": In(clog2(config.depth)),
        "peek_words": Out(data.ArrayLayout(unsigned(dev.state_width), P)),
        "peek_x_addr": In(clog2(config.chunks)),
        "peek_x": Out(data.ArrayLayout(signed(config.x_width), P)),
    }


class SweepKind(enum.Enum, shape=3):
    """What a sweep of the engine does (its ``kind`` register; named in waveforms)."""
    READ = 0        #: READ one synapse word
    MOD = 1         #: WRITE / UPDATE / UPD_ROW / UPD_COL: rewrite words
    TICK = 2        #: device.tick over the array
    SAMPLE = 3      #: device.on_sample over the array
    FWD_INFER = 4   #: FORWARD: accumulate one row with the inference read-out
    FWD_TRAIN = 5   #: LEARN, forward half: accumulate with the training read-out
    LEARN_UPD = 6   #: LEARN, update half: pulse the row by its error
    HEBB = 7        #: HEBB_ROW: pulse where x != 0


class ArrayEngine(wiring.Component):
    """R x C synapse array with P lanes, command-stream driven.

    Parameters: ``config`` (:class:`~synemu.spec.engine.EngineConfig`), ``rule`` (defaults
    to the registered rule of ``config.device``), ``debug`` (adds combinational peek ports
    and exposes every global register, for lockstep verification), ``wide_x`` (adds the
    ``xw`` stream: a whole chunk of inputs per clock while idle, for the on-chip
    sequencer; same effect as LOAD_X of its columns), ``rule_module`` (puts every lane's
    device-rule logic in one submodule ``rule`` instead of the engine's own module: the same
    logic, another hierarchy; the mutation campaign proves rule mutants on it alone).
    """

    def __init__(self, config: EngineConfig, rule=None, *, debug: bool = False,
                 wide_x: bool = False, rule_module: bool = False):
        if not isinstance(config, EngineConfig):
            raise TypeError(f"ArrayEngine needs an EngineConfig, not {config!r}")
        self.config = config
        self.rule = rule if rule is not None else rule_for(config.device)
        lat = self.rule.latency
        if not isinstance(lat, int) or isinstance(lat, bool) or lat < 0:
            raise ValueError(f"{type(self.rule).__name__}.latency must be an int >= 0, "
                             f"not {lat!r}")
        self.debug = debug
        self.wide_x = wide_x
        self.rule_module = rule_module
        dev = config.device
        P = config.lanes
        sig = {
            "cmd": In(stream.Signature(command_layout(config))),
            "resp": Out(stream.Signature(unsigned(config.resp_width))),
            "busy": Out(1),
        }
        if wide_x:
            sig["xw"] = In(stream.Signature(x_chunk_layout(config)))
        if debug:
            sig.update(peek_members(config))
            sig.update({
                "time_now": Out(config.time_width),
                "samples": Out(config.sample_width),
                "rng": Out(data.ArrayLayout(unsigned(config.rng_width), P)),
            })
            if dev.sample_period:
                sig["since"] = Out(range(max(dev.sample_period, 2)))
            if dev.rand_width:
                sig["dev_rng"] = Out(data.ArrayLayout(unsigned(dev.rand_width), P))
        super().__init__(sig)

    def elaborate(self, platform):
        cfg, dev, rule = self.config, self.config.device, self.rule
        P, K, R = cfg.lanes, cfg.chunks, cfg.rows
        lane_bits = (P - 1).bit_length()
        m = Module()

        # -- storage -----------------------------------------------------------------
        rd, wr, xrd, xwr = [], [], [], []
        for l in range(P):
            mem = Memory(shape=unsigned(dev.state_width), depth=cfg.depth,
                         init=[rule.init_word] * cfg.depth)
            xmem = Memory(shape=signed(cfg.x_width), depth=K, init=[])
            m.submodules[f"mem{l}"] = mem
            m.submodules[f"xmem{l}"] = xmem
            rd.append(mem.read_port())
            wr.append(mem.write_port())
            xrd.append(xmem.read_port())
            xwr.append(xmem.write_port())
            if self.debug:
                peek = mem.read_port(domain="comb")
                xpeek = xmem.read_port(domain="comb")
                m.d.comb += [peek.addr.eq(self.peek_addr), self.peek_words[l].eq(peek.data),
                             xpeek.addr.eq(self.peek_x_addr), self.peek_x[l].eq(xpeek.data)]

        time = Signal(cfg.time_width)
        samples = Signal(cfg.sample_width)
        since = Signal(range(max(dev.sample_period, 2)))  # samples since the last sample sweep

        stochastic = cfg.rounding == Rounding.STOCHASTIC.value
        m.submodules.rng = rng = LFSRBank(cfg.rng_width, cfg.rng_seeds())
        dev_rng = None
        if dev.rand_width:
            m.submodules.dev_rng = dev_rng = LFSRBank(dev.rand_width, cfg.device_seeds())

        # -- latched command -----------------------------------------------------------
        op = Signal(OP_WIDTH)
        arg = Signal(cfg.arg_width)
        col = Signal(cfg.col_width)
        label = Signal(cfg.row_width)
        pulse_arg = arg[:dev.pulse_width].as_signed()
        neg_pulse_arg = saturate(-pulse_arg, dev.pulse_width)
        tick_n = arg[:cfg.tick_width]

        # -- sweep pipeline ------------------------------------------------------------
        kind = Signal(SweepKind)
        s_addr = Signal(range(cfg.depth + K + 1))
        s_stride = Signal(range(K + 1))
        s_left = Signal(range(cfg.depth + 1))
        s_chunk = Signal(range(K))
        s_mask = Signal(P)
        p_valid = Signal()
        p_addr = Signal(range(cfg.depth))
        p_mask = Signal(P)
        q_valid = Signal()
        q_addr = Signal(range(cfg.depth))
        q_mask = Signal(P)
        # stage 2 + k (k = 1..L): writes in flight through a pipelined rule
        lat = rule.latency
        w_valid = [Signal(name=f"w_valid{k}") for k in range(1, lat + 1)]
        w_addr = [Signal(range(cfg.depth), name=f"w_addr{k}") for k in range(1, lat + 1)]
        w_mask = [Signal(P, name=f"w_mask{k}") for k in range(1, lat + 1)]
        sweeping = Signal()
        issue = Signal()
        done = Signal()
        drained = sweeping & (s_left == 0) & ~p_valid & ~q_valid
        if lat:
            drained = drained & ~Cat(*w_valid).any()
        m.d.comb += [
            issue.eq(sweeping & (s_left != 0)),
            done.eq(drained),
        ]
        for l in range(P):
            m.d.comb += [rd[l].addr.eq(s_addr), xrd[l].addr.eq(s_chunk)]
        m.d.sync += p_valid.eq(issue)
        with m.If(issue):
            m.d.sync += [
                s_addr.eq(s_addr + s_stride),
                s_left.eq(s_left - 1),
                s_chunk.eq(Mux(s_chunk == K - 1, 0, s_chunk + 1)),
                p_addr.eq(s_addr),
                p_mask.eq(s_mask),
            ]
        modifying = Signal()
        m.d.comb += modifying.eq((kind == SweepKind.MOD) | (kind == SweepKind.TICK) |
                                 (kind == SweepKind.SAMPLE) | (kind == SweepKind.LEARN_UPD) |
                                 (kind == SweepKind.HEBB))
        if stochastic:
            m.d.comb += rng.en.eq(issue & (kind == SweepKind.LEARN_UPD))
        if dev_rng is not None:
            m.d.comb += dev_rng.en.eq(issue & modifying)

        # -- stage 1: per-lane operands (pulse, weight x input), registered -----------------
        # -- stage 2: device rule + write-back, and the FORWARD adder tree ------------------
        err = Signal(signed(cfg.err_width))
        acc = Signal(signed(cfg.acc_width))
        m.d.sync += [q_valid.eq(p_valid), q_addr.eq(p_addr), q_mask.eq(p_mask)]
        products = []
        write_now = Signal()
        if lat:
            # a write's address and lane mask travel with the rule's pipeline
            prev = (q_valid & modifying, q_addr, q_mask)
            for k in range(lat):
                m.d.sync += [w_valid[k].eq(prev[0]), w_addr[k].eq(prev[1]),
                             w_mask[k].eq(prev[2])]
                prev = (w_valid[k], w_addr[k], w_mask[k])
            m.d.comb += write_now.eq(w_valid[-1])
            wb_addr, wb_mask = w_addr[-1], w_mask[-1]
        else:
            m.d.comb += write_now.eq(q_valid & modifying)
            wb_addr, wb_mask = q_addr, q_mask
        rm = Module() if self.rule_module else m     # where the rule's logic goes
        if rm is not m:
            m.submodules.rule = rm

        def out(value, name):
            """A rule result; in the rule module, a signal driven there."""
            if rm is m:
                return value
            v = Value.cast(value)
            sig = Signal(v.shape(), name=name)
            rm.d.comb += sig.eq(v)
            return sig
        for l in range(P):
            # stage 1
            state1 = data.View(rule.layout, rd[l].data)
            x_l = xrd[l].data
            prod = Signal(signed(cfg.err_width + cfg.x_width), name=f"prod{l}")
            m.d.comb += prod.eq(mul(err, x_l))
            learn_pulse = saturate(round_shift(prod, cfg.eta, cfg.rounding, rng.words[l]),
                                   dev.pulse_width)
            pulse = Signal(signed(dev.pulse_width), name=f"pulse{l}")
            with m.If(kind == SweepKind.LEARN_UPD):
                m.d.comb += pulse.eq(learn_pulse)
            with m.Elif((kind == SweepKind.HEBB) & (x_l == 0)):
                m.d.comb += pulse.eq(neg_pulse_arg)
            with m.Else():
                m.d.comb += pulse.eq(pulse_arg)
            w = Mux(kind == SweepKind.FWD_TRAIN,
                    out(rule.train_weight(rm, state1, time), f"w_train{l}"),
                    out(rule.infer_weight(rm, state1, time), f"w_infer{l}"))
            q_state = Signal(dev.state_width, name=f"q_state{l}")
            q_pulse = Signal(signed(dev.pulse_width), name=f"q_pulse{l}")
            q_prod = Signal(signed(dev.weight_width + cfg.x_width), name=f"q_prod{l}")
            m.d.sync += [q_state.eq(rd[l].data), q_pulse.eq(pulse), q_prod.eq(mul(w.as_signed(), x_l))]
            if dev_rng is not None:
                # the lane's word for this slot (the LFSR steps again for the next slot)
                q_dev = Signal(dev.rand_width, name=f"q_dev{l}")
                m.d.sync += q_dev.eq(dev_rng.words[l])
            else:
                q_dev = Const(0, 1)
            products.append(q_prod)
            # stage 2
            state = data.View(rule.layout, q_state)
            new = Signal(dev.state_width, name=f"new{l}")
            m.d.comb += new.eq(out(rule.update(rm, state, q_pulse, q_dev, time), f"new_upd{l}"))
            if dev.tick_sweeps:
                with m.If(kind == SweepKind.TICK):
                    m.d.comb += new.eq(out(rule.tick(rm, state, tick_n, time, q_dev),
                                           f"new_tick{l}"))
            if dev.sample_period:
                with m.If(kind == SweepKind.SAMPLE):
                    m.d.comb += new.eq(out(rule.on_sample(rm, state, samples, q_dev),
                                           f"new_smp{l}"))
            m.d.comb += [wr[l].addr.eq(wb_addr), wr[l].data.eq(new),
                         wr[l].en.eq(write_now & wb_mask[l])]
        lane_sum = Signal(signed(cfg.acc_width))
        m.d.comb += lane_sum.eq(tree_sum(products))
        with m.If(q_valid & ((kind == SweepKind.FWD_INFER) | (kind == SweepKind.FWD_TRAIN))):
            m.d.sync += acc.eq(acc + lane_sum)

        # -- control -------------------------------------------------------------------
        resp_data = Signal(cfg.resp_width)
        cur_row = Signal(range(R + 1))
        row_base = Signal(range(cfg.depth + 1))
        best_idx = Signal(cfg.row_width)
        best_val = Signal(signed(cfg.acc_width))
        read_lane = Signal(max(lane_bits, 1))
        with m.If(p_valid & (kind == SweepKind.READ)):
            m.d.sync += resp_data.eq(Array(rd[l].data for l in range(P))[read_lane])

        def start_sweep(k, addr, stride, count, mask):
            m.d.sync += [kind.eq(k), s_addr.eq(addr), s_stride.eq(stride), s_left.eq(count),
                         s_mask.eq(mask), s_chunk.eq(0)]

        def start_row(k, base):
            start_sweep(k, base, 1, K, (1 << P) - 1)
            if k in (SweepKind.FWD_INFER, SweepKind.FWD_TRAIN):
                m.d.sync += acc.eq(0)

        full = (1 << P) - 1
        target = Mux(cur_row == label, cfg.t_pos, cfg.t_neg)
        c = self.cmd.payload
        c_lane = c.col[:lane_bits] if lane_bits else Const(0, 1)
        c_chunk = c.col >> lane_bits
        c_addr = c.row * K + c_chunk
        c_mask = (Const(1, P) << c_lane)[:P]

        idle = Signal()
        # with wide_x, an xw chunk has priority over a command (it comes from the
        # sequencer, which issues none meanwhile): xw.ready depends on no command port
        take_cmd = self.cmd.valid & ~self.xw.valid if self.wide_x else self.cmd.valid
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += [idle.eq(1),
                             self.cmd.ready.eq(~self.xw.valid if self.wide_x else 1)]
                with m.If(take_cmd):
                    m.d.sync += [op.eq(c.op), arg.eq(c.arg), col.eq(c.col),
                                 read_lane.eq(c_lane), label.eq(c.arg[:cfg.row_width])]
                    with m.Switch(c.op):
                        with m.Case(Op.WRITE):
                            for l in range(P):
                                m.d.comb += [wr[l].addr.eq(c_addr), wr[l].data.eq(c.arg),
                                             wr[l].en.eq(c_lane == l)]
                        with m.Case(Op.LOAD_X):  # (never in the same clock as an xw chunk)
                            for l in range(P):
                                m.d.comb += [xwr[l].addr.eq(c_chunk), xwr[l].data.eq(c.arg),
                                             xwr[l].en.eq(c_lane == l)]
                        with m.Case(Op.READ):
                            start_sweep(SweepKind.READ, c_addr, 0, 1, c_mask)
                            m.next = "SWEEP"
                        with m.Case(Op.UPDATE):
                            start_sweep(SweepKind.MOD, c_addr, 0, 1, c_mask)
                            m.next = "SWEEP"
                        with m.Case(Op.UPD_ROW):
                            start_sweep(SweepKind.MOD, c.row * K, 1, K, full)
                            m.next = "SWEEP"
                        with m.Case(Op.HEBB_ROW):
                            start_sweep(SweepKind.HEBB, c.row * K, 1, K, full)
                            m.next = "SWEEP"
                        with m.Case(Op.SAMPLE):
                            m.next = "SAMPLE_END"
                        with m.Case(Op.UPD_COL):
                            start_sweep(SweepKind.MOD, c_chunk, K, R, c_mask)
                            m.next = "SWEEP"
                        with m.Case(Op.TICK):
                            if dev.tick_sweeps:
                                start_sweep(SweepKind.TICK, 0, 1, cfg.depth, full)
                                m.next = "SWEEP"
                            else:
                                m.d.sync += time.eq(time + c.arg[:cfg.tick_width])
                        with m.Case(Op.FORWARD):
                            m.d.sync += [cur_row.eq(0), row_base.eq(0)]
                            start_row(SweepKind.FWD_INFER, 0)
                            m.next = "SWEEP"
                        with m.Case(Op.LEARN):
                            m.d.sync += [cur_row.eq(0), row_base.eq(0)]
                            start_row(SweepKind.FWD_TRAIN, 0)
                            m.next = "SWEEP"
                if self.wide_x:
                    m.d.comb += self.xw.ready.eq(1)
                    with m.If(self.xw.valid):
                        for l in range(P):
                            m.d.comb += [xwr[l].addr.eq(self.xw.payload.chunk),
                                         xwr[l].data.eq(self.xw.payload.x[l]), xwr[l].en.eq(1)]

            with m.State("SWEEP"):
                m.d.comb += sweeping.eq(1)
                with m.If(done):
                    with m.Switch(kind):
                        with m.Case(SweepKind.READ):
                            m.next = "RESP"
                        with m.Case(SweepKind.MOD):
                            m.next = "IDLE"
                        with m.Case(SweepKind.TICK):
                            m.d.sync += time.eq(time + tick_n)
                            m.next = "IDLE"
                        with m.Case(SweepKind.FWD_INFER):
                            m.d.sync += resp_data.eq(acc)
                            m.next = "RESP"
                        with m.Case(SweepKind.FWD_TRAIN):
                            with m.If((cur_row == 0) | (acc > best_val)):
                                m.d.sync += [best_idx.eq(cur_row), best_val.eq(acc)]
                            m.d.sync += err.eq(saturate(target - acc, cfg.err_width))
                            start_row(SweepKind.LEARN_UPD, row_base)
                        with m.Case(SweepKind.LEARN_UPD):
                            with m.If(cur_row == R - 1):
                                m.next = "SAMPLE_END"
                            with m.Else():
                                m.d.sync += [cur_row.eq(cur_row + 1), row_base.eq(row_base + K)]
                                start_row(SweepKind.FWD_TRAIN, row_base + K)
                        with m.Case(SweepKind.SAMPLE):
                            m.next = "AFTER_SAMPLE"
                        with m.Case(SweepKind.HEBB):
                            m.next = "IDLE"

            with m.State("SAMPLE_END"):
                # tail of LEARN and the SAMPLE command: count the sample, sweep when due
                m.d.sync += [samples.eq(samples + 1), resp_data.eq(best_idx)]
                if dev.sample_period:
                    last = since == dev.sample_period - 1
                    m.d.sync += since.eq(Mux(last, 0, since + 1))
                    with m.If(last):
                        start_sweep(SweepKind.SAMPLE, 0, 1, cfg.depth, full)
                        m.next = "SWEEP"
                    with m.Else():
                        m.next = "AFTER_SAMPLE"
                else:
                    m.next = "AFTER_SAMPLE"

            with m.State("AFTER_SAMPLE"):
                with m.If(op == Op.LEARN):
                    m.next = "RESP"
                with m.Else():
                    m.next = "IDLE"

            with m.State("RESP"):
                m.d.comb += [self.resp.valid.eq(1), self.resp.payload.eq(resp_data)]
                with m.If(self.resp.ready):
                    with m.If((op == Op.FORWARD) & (cur_row != R - 1)):
                        m.d.sync += [cur_row.eq(cur_row + 1), row_base.eq(row_base + K)]
                        start_row(SweepKind.FWD_INFER, row_base + K)
                        m.next = "SWEEP"
                    with m.Else():
                        m.next = "IDLE"

        m.d.comb += self.busy.eq(~idle)
        if self.debug:
            m.d.comb += [self.time_now.eq(time), self.samples.eq(samples)]
            if dev.sample_period:
                m.d.comb += self.since.eq(since)
            m.d.comb += self.rng.eq(rng.words)
            if dev_rng is not None:
                m.d.comb += self.dev_rng.eq(dev_rng.words)
        return m
