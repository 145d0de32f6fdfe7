"""On-chip STDP network controller (specification: :mod:`synemu.devices.mtj.network`).

:class:`SNNController` contains an :class:`~synemu.gateware.engine.ArrayEngine` (rows = neurons,
cols = inputs, MTJ synapses) and drives its command stream itself: ``LOAD_X`` of the input
spikes (one column per clock, drawn from the input LFSR and the rate-threshold memory),
``FORWARD``, the LIF/WTA/threshold update as the ``n_neurons`` currents stream back, and
``HEBB_ROW`` on the winner's row. Host commands arrive on ``cmd`` (payload ``op`` 3 bits
(:class:`~synemu.devices.mtj.network.SOp`), ``col``, ``arg`` = ``rate_bits + 1`` bits); a STEP
(``arg`` = learning pulse code, 0: inference) answers ``winner + 1`` (0: no spike) on
``resp``. Membranes (signed ``v_width``) and
thresholds (unsigned ``theta_width``) are registers (one per neuron), so this suits the
reduced networks simulated in lockstep; the golden model runs the full-size ones.
"""

from amaranth.hdl import Array, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ...spec.engine import Op
from ...spec.fixed import clog2
from .network import SOP_WIDTH, SNNConfig, SOp
from ...gateware.engine import ArrayEngine, peek_members
from ...gateware.fixed import saturate
from ...gateware.lfsr import GaloisLFSR
from .gateware import mix

__all__ = ["SNNController", "snn_command_layout"]


def snn_command_layout(config: SNNConfig) -> data.StructLayout:
    return data.StructLayout({"op": unsigned(SOP_WIDTH), "col": unsigned(clog2(config.n_inputs)),
                              "arg": unsigned(config.arg_width)})


class SNNController(wiring.Component):
    """The network of ``config`` (:class:`~synemu.devices.mtj.network.SNNConfig`); ``debug=True``
    exposes the engine's peek ports and every controller register for lockstep."""

    def __init__(self, config: SNNConfig, *, debug: bool = False):
        if not isinstance(config, SNNConfig):
            raise TypeError(f"SNNController needs an SNNConfig, not {config!r}")
        self.config = config
        self.debug = debug
        self.engine = ArrayEngine(config.engine_config, debug=debug)
        ecfg, dev = config.engine_config, config.device
        N = config.n_neurons
        sig = {
            "cmd": In(stream.Signature(snn_command_layout(config))),
            "resp": Out(stream.Signature(unsigned(config.resp_width))),
            "busy": Out(1),
        }
        if debug:
            sig.update(peek_members(ecfg))
            sig.update({
                "peek_r_addr": In(clog2(config.n_inputs)),
                "peek_r": Out(config.rate_bits + 1),
                "dev_rng": Out(data.ArrayLayout(unsigned(dev.rand_width), ecfg.lanes)),
                "in_rng": Out(config.in_rand_bits),
                "v": Out(data.ArrayLayout(signed(config.v_width), N)),
                "theta": Out(data.ArrayLayout(unsigned(config.theta_width), N)),
            })
        super().__init__(sig)

    def elaborate(self, platform):
        cfg = self.config
        ecfg = cfg.engine_config
        N, C = cfg.n_neurons, cfg.n_inputs
        m = Module()
        m.submodules.engine = eng = self.engine
        ec, er = eng.cmd, eng.resp

        pix = Memory(shape=unsigned(cfg.rate_bits + 1), depth=C, init=[])
        m.submodules.pix = pix
        pix_w = pix.write_port()
        pix_r = pix.read_port(domain="comb")
        m.submodules.in_lfsr = lfsr = GaloisLFSR(cfg.in_rand_bits, cfg.input_seed)

        v = [Signal(signed(cfg.v_width), name=f"v{i}") for i in range(N)]
        theta = [Signal(unsigned(cfg.theta_width), name=f"theta{i}") for i in range(N)]
        v_arr, th_arr = Array(v), Array(theta)

        learn = Signal()
        code = Signal(cfg.device.pulse_bits - 1)   # HEBB pulse code of this STEP (0: infer)
        col = Signal(range(C))
        row = Signal(range(N))
        found = Signal()
        best = Signal(signed(cfg.margin_width))
        win = Signal(range(N))
        resp_data = Signal(cfg.resp_width)
        theta_max = (1 << cfg.theta_width) - 1

        # input spike of column ``col`` from the LFSR word after its step
        u = mix(lfsr.next, cfg.in_rand_bits)[cfg.in_rand_bits - cfg.rate_bits:]
        spike = Signal()
        m.d.comb += [pix_r.addr.eq(col), spike.eq(u < pix_r.data)]

        # leaky integration of the current of neuron ``row``
        y = er.payload.as_signed()
        v_cur = v_arr[row]
        v_new = Signal(signed(cfg.v_width))
        m.d.comb += v_new.eq(saturate(v_cur - (v_cur >> cfg.leak_shift) + y, cfg.v_width))
        margin = Signal(signed(cfg.margin_width))
        m.d.comb += margin.eq(v_new - cfg.theta0 - (th_arr[row] >> cfg.theta_frac))

        c = self.cmd.payload
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.cmd.ready.eq(1)
                with m.If(self.cmd.valid):
                    m.d.sync += [learn.eq(Mux(c.op == SOp.STEP, c.arg[:len(code)] != 0, c.arg[0])),
                                 code.eq(c.arg[:len(code)]), col.eq(0), row.eq(0), found.eq(0)]
                    with m.Switch(c.op):
                        with m.Case(SOp.PIX):
                            m.d.comb += [pix_w.addr.eq(c.col), pix_w.data.eq(c.arg), pix_w.en.eq(1)]
                        with m.Case(SOp.INIT):
                            if cfg.init_code:
                                m.next = "INIT"
                        with m.Case(SOp.STEP):
                            m.next = "LOADX"
                        with m.Case(SOp.END):
                            m.d.sync += [s.eq(0) for s in v]
                            if cfg.theta_decay:
                                with m.If(c.arg[0]):
                                    m.d.sync += [t.eq(t - (t >> cfg.theta_decay)) for t in theta]

            with m.State("INIT"):
                m.d.comb += [ec.valid.eq(1), ec.payload.op.eq(Op.UPD_ROW),
                             ec.payload.row.eq(row), ec.payload.arg.eq(cfg.init_code)]
                with m.If(ec.ready):
                    m.d.sync += row.eq(row + 1)
                    with m.If(row == N - 1):
                        m.next = "IDLE"

            with m.State("LOADX"):
                m.d.comb += [ec.valid.eq(1), ec.payload.op.eq(Op.LOAD_X),
                             ec.payload.col.eq(col), ec.payload.arg.eq(spike)]
                with m.If(ec.ready):
                    m.d.comb += lfsr.en.eq(1)
                    m.d.sync += col.eq(col + 1)
                    with m.If(col == C - 1):
                        m.next = "FWD"

            with m.State("FWD"):
                m.d.comb += [ec.valid.eq(1), ec.payload.op.eq(Op.FORWARD)]
                with m.If(ec.ready):
                    m.next = "RECV"

            with m.State("RECV"):
                m.d.comb += er.ready.eq(1)
                with m.If(er.valid):
                    m.d.sync += [v_arr[row].eq(v_new), row.eq(row + 1)]
                    with m.If((margin >= 0) & (~found | (margin > best))):
                        m.d.sync += [found.eq(1), best.eq(margin), win.eq(row)]
                    with m.If(row == N - 1):
                        m.next = "DECIDE"

            with m.State("DECIDE"):
                with m.If(found):
                    m.d.sync += resp_data.eq(win + 1)
                    with m.If(learn):
                        t = th_arr[win]
                        m.d.sync += t.eq(Mux(t + cfg.theta_plus > theta_max, theta_max,
                                             t + cfg.theta_plus))
                        m.next = "HEBB"
                    with m.Else():
                        m.d.sync += [s.eq(0) for s in v]
                        m.next = "RESP"
                with m.Else():
                    m.d.sync += resp_data.eq(0)
                    m.next = "RESP"

            with m.State("HEBB"):
                m.d.comb += [ec.valid.eq(1), ec.payload.op.eq(Op.HEBB_ROW),
                             ec.payload.row.eq(win), ec.payload.arg.eq(code)]
                with m.If(ec.ready):
                    m.d.sync += [s.eq(0) for s in v]
                    m.next = "RESP"

            with m.State("RESP"):
                m.d.comb += [self.resp.valid.eq(1), self.resp.payload.eq(resp_data)]
                with m.If(self.resp.ready):
                    m.next = "IDLE"

        m.d.comb += self.busy.eq(~self.cmd.ready | eng.busy)
        if self.debug:
            pix_p = pix.read_port(domain="comb")
            m.d.comb += [
                eng.peek_addr.eq(self.peek_addr), self.peek_words.eq(eng.peek_words),
                eng.peek_x_addr.eq(self.peek_x_addr), self.peek_x.eq(eng.peek_x),
                pix_p.addr.eq(self.peek_r_addr), self.peek_r.eq(pix_p.data),
                self.dev_rng.eq(eng.dev_rng), self.in_rng.eq(lfsr.state),
            ]
            m.d.comb += [self.v[i].eq(v[i]) for i in range(N)]
            m.d.comb += [self.theta[i].eq(theta[i]) for i in range(N)]
        return m
