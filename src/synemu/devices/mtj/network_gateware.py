"""On-chip STDP network controller (specification: :mod:`synemu.devices.mtj.network`).

:class:`SNNController` holds the whole network in block RAM and runs the host commands of
:class:`~synemu.devices.mtj.network.SOp` itself. Host commands arrive on ``cmd`` (payload
``op`` 3 bits, ``col`` ``clog2(C)`` bits, ``arg`` ``rate_bits + 1`` bits); a STEP (``arg`` =
learning pulse code, 0: inference) answers ``winner + 1`` (0: no spike, ``clog2(N + 1)``
bits) on ``resp``.

Memories (``amaranth.lib.memory.Memory``, synchronous read ports; N neurons, C inputs,
L = ``lanes``, K = C / L chunks per row, B = ``banks``, P = ceil(N / B) passes,
G = ``draws``):

========== ================= ============================================================
memory     words x bits      holds
========== ================= ============================================================
``bank{b}`` P*K x L          synapse bits (1 = P) of rows r = p*B + b, word p*K + k =
                             columns k*L .. k*L + L - 1 (lane l = column k*L + l)
``xmem``   K x L             this step's input spikes (the engine's ``x``)
``rate{j}`` C/G x (rate_bits+1) rate thresholds R of columns c = i*G + j
``vmem``   N x v_width       membranes (signed)
``thmem``  N x theta_width   thresholds (unsigned)
========== ================= ============================================================

A STEP, in clocks (K = C/L, Q = max(K, B), n_last = N - (P-1)*B rows in the last pass):

* accept 1, LOAD C/G + 3: G columns per clock; the input LFSR steps G times, each word goes
  through ``mix`` (registered) and is compared with its R; every L/G clocks a chunk of x
  is written to ``xmem``.
* FORWARD + LIF/WTA, (P-1)*Q + K + n_last + 6: pass p reads word p*K + k of every bank at
  once (k = 0..K-1), ANDs it with x chunk k and accumulates the popcount ``n1`` per bank;
  at the end of a pass the B counts move to a shift register that feeds one neuron per
  clock, in row order, to the LIF/WTA pipeline (``y = 2*n1 - #x``; read v[r], theta[r];
  ``v' = sat(v - (v >> leak) + y)``, write v back; margin ``v' - theta0 - (theta >>
  theta_frac)``; keep the best margin and its row, strictly larger wins, so ties go to the
  lowest index) while the next pass accumulates.
* DECIDE 1 (winner's theta update), RESP 1; on a learning spike also HEBB, K + 3: the
  winner's row, L synapses per clock with the device-LFSR bank of the engine (same seeds,
  words and order; the switching rule of :class:`~synemu.devices.mtj.gateware.MTJRule`
  with the threshold lookup done once per row, the code being the same for every lane).

So a STEP takes ``C/G + (P-1)*Q + K + n_last + 12`` clocks, ``+ K + 3`` with a learning
spike (:meth:`SNNController.step_cycles`); a sample of T steps with s learning spikes
(C PIX of 1 clock, the STEPs, END of 1 clock) ``C + 1 + T*step + s*(K + 3)``
(:meth:`SNNController.sample_cycles`). INIT is one sweep over all rows: ``N*K + 4``.
N = 400, C = 784, L = 16, B = 25, G = 4: 1017 clocks per STEP, 17.4 k per sample
(6.4 learning spikes), 2,875 samples/s at 50 MHz.

Resets cost no clocks: every STEP rewrites every membrane, so "``v[:] = 0``" (a spike's
lateral inhibition, END) only sets the flag ``vzero`` ("every v reads as 0"), which the next
STEP's LIF pass honours and then clears. END's ``theta -= theta >> decay`` is likewise
deferred: the flag ``decay_due`` makes the next STEP's pass (and the debug peek) read the
decayed value and write it back; only a second END(learn) before any STEP sweeps thetas
(N + 3 clocks) to apply the first.

``debug=True`` adds combinational peek ports (address in, word out): the engine's
``peek_addr``/``peek_words`` (address ``r*K + k``, one bit per lane) and
``peek_x_addr``/``peek_x`` (:func:`~synemu.gateware.engine.peek_members`),
``peek_r_addr``/``peek_r``, ``peek_v_addr``/``peek_v``, ``peek_theta_addr``/``peek_theta``
(effective values: the pending resets applied), and the LFSR states ``dev_rng``, ``in_rng``.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ...gateware.engine import peek_members
from ...gateware.fixed import saturate, tree_sum
from ...gateware.lfsr import LFSRBank
from ...spec.fixed import check_int, clog2
from ...spec.lfsr import galois_mask
from .gateware import mix
from .network import SOP_WIDTH, SNNConfig, SOp

__all__ = ["SNNController", "snn_command_layout", "default_banks"]


def snn_command_layout(config: SNNConfig) -> data.StructLayout:
    return data.StructLayout({"op": unsigned(SOP_WIDTH), "col": unsigned(clog2(config.n_inputs)),
                              "arg": unsigned(config.arg_width)})


def default_banks(config: SNNConfig) -> int:
    """``min(N, K)``: FORWARD then takes about ``max(N, K)`` clocks."""
    return min(config.n_neurons, config.n_inputs // config.lanes)


def _galois_steps(state, width: int, mask: int, n: int) -> list:
    """The ``n`` successive states after ``state`` of a Galois LFSR (as GaloisLFSR.next)."""
    out, s = [], state
    for _ in range(n):
        s = ((s >> 1) ^ Mux(s[0], Const(mask, width), 0))[:width]
        out.append(s)
    return out


class SNNController(wiring.Component):
    """The network of ``config`` (:class:`~synemu.devices.mtj.network.SNNConfig`) in block RAM
    (see module doc).

    ``banks`` B (1..N, default :func:`default_banks`): synapse memories read in parallel by
    FORWARD (B*L synapses per clock); ``draws`` G (power of two dividing ``lanes``, default
    1): input spikes drawn per clock (G input mixers). Neither changes any result, only
    clocks and resources. ``debug=True`` adds the peek ports of the module doc.
    """

    def __init__(self, config: SNNConfig, *, banks: int | None = None, draws: int = 1,
                 debug: bool = False):
        if not isinstance(config, SNNConfig):
            raise TypeError(f"SNNController needs an SNNConfig, not {config!r}")
        if banks is None:
            banks = default_banks(config)
        check_int("banks", banks, 1, config.n_neurons, "snn controller: ")
        check_int("draws", draws, 1, config.lanes, "snn controller: ")
        if draws & (draws - 1) or config.lanes % draws:
            raise ValueError(f"snn controller: draws ({draws}) must be a power of two dividing "
                             f"lanes ({config.lanes})")
        if not isinstance(debug, bool):
            raise TypeError(f"snn controller: debug must be a bool, not {debug!r}")
        if config.device.state_width != 1:    # pragma: no cover - MTJDevice has one bit
            raise ValueError("snn controller: needs a 1-bit synapse state")
        self.config = config
        self.banks, self.draws, self.debug = banks, draws, debug
        N, C, L = config.n_neurons, config.n_inputs, config.lanes
        ecfg, dev = config.engine_config, config.device
        sig = {
            "cmd": In(stream.Signature(snn_command_layout(config))),
            "resp": Out(stream.Signature(unsigned(config.resp_width))),
            "busy": Out(1),
        }
        if debug:
            sig.update(peek_members(ecfg))
            sig.update({
                "peek_r_addr": In(clog2(C)),
                "peek_r": Out(config.rate_bits + 1),
                "peek_v_addr": In(clog2(N)),
                "peek_v": Out(signed(config.v_width)),
                "peek_theta_addr": In(clog2(N)),
                "peek_theta": Out(unsigned(config.theta_width)),
                "dev_rng": Out(data.ArrayLayout(unsigned(dev.rand_width), L)),
                "in_rng": Out(config.in_rand_bits),
            })
        super().__init__(sig)

    # -- clocks ----------------------------------------------------------------------------
    @property
    def chunks(self) -> int:
        return self.config.n_inputs // self.config.lanes

    @property
    def passes(self) -> int:
        return -(-self.config.n_neurons // self.banks)

    @property
    def last_pass_rows(self) -> int:
        return self.config.n_neurons - (self.passes - 1) * self.banks

    def step_cycles(self, spike_learn: bool = False) -> int:
        """Clocks of one STEP from its acceptance to the next command's acceptance:
        ``C/G + (P-1)*max(K, B) + K + n_last + 12`` (n_last = N - (P-1)*B rows in the last
        pass), ``+ K + 3`` with a learning spike."""
        C, K = self.config.n_inputs, self.chunks
        return (C // self.draws + (self.passes - 1) * max(K, self.banks) + K
                + self.last_pass_rows + 12 + (K + 3) * bool(spike_learn))

    def sample_cycles(self, learn_spikes: float = 0) -> float:
        """Clocks of one sample (C PIX, ``steps`` STEPs with ``learn_spikes`` learning
        spikes, END): ``C + 1 + T*step_cycles() + s*(K + 3)``."""
        cfg = self.config
        return cfg.n_inputs + 1 + cfg.steps * self.step_cycles() + learn_spikes * (self.chunks + 3)

    def init_cycles(self) -> int:
        """Clocks of INIT: ``N*K + 4`` (1 without an init code)."""
        return self.config.n_neurons * self.chunks + 4 if self.config.init_code else 1

    # -- hardware ----------------------------------------------------------------------------
    def elaborate(self, platform):
        cfg, dev = self.config, self.config.device
        N, C, L = cfg.n_neurons, cfg.n_inputs, cfg.lanes
        K, B, P, G = self.chunks, self.banks, self.passes, self.draws
        Q = max(K, B)
        LG, CG = L // G, C // G
        gbits = G.bit_length() - 1
        m = Module()

        # -- storage ---------------------------------------------------------------------
        bank_rd, bank_wr = [], []
        banks = []
        for b in range(B):
            mem = Memory(shape=unsigned(L), depth=P * K, init=[])
            m.submodules[f"bank{b}"] = mem
            banks.append(mem)
            bank_rd.append(mem.read_port())
            bank_wr.append(mem.write_port())
        xmem = Memory(shape=unsigned(L), depth=K, init=[])
        m.submodules.xmem = xmem
        x_rd, x_wr = xmem.read_port(), xmem.write_port()
        rmems = []
        for j in range(G):
            mem = Memory(shape=unsigned(cfg.rate_bits + 1), depth=CG, init=[])
            m.submodules[f"rate{j}"] = mem
            rmems.append(mem)
        r_rd = [mem.read_port() for mem in rmems]
        r_wr = [mem.write_port() for mem in rmems]
        vmem = Memory(shape=signed(cfg.v_width), depth=N, init=[])
        thmem = Memory(shape=unsigned(cfg.theta_width), depth=N, init=[])
        m.submodules.vmem, m.submodules.thmem = vmem, thmem
        v_rd, v_wr = vmem.read_port(), vmem.write_port()
        th_rd, th_wr = thmem.read_port(), thmem.write_port()

        theta_max = (1 << cfg.theta_width) - 1
        decay = cfg.theta_decay

        def decayed(t):
            return (t - (t >> decay))[:cfg.theta_width] if decay else t

        # -- global state ----------------------------------------------------------------
        vzero = Signal()        # every membrane reads as 0 (a reset since the last LIF pass)
        decay_due = Signal()    # every threshold reads as decayed(theta) (an END(learn))
        learn = Signal()
        code = Signal(dev.pulse_bits - 1)    # HEBB pulse code of this STEP (0: inference)
        resp_data = Signal(cfg.resp_width)
        cnt_w = clog2(C + 1)
        nx = Signal(range(C + 1))            # input spikes of this step

        # -- input LFSR, G draws per clock -------------------------------------------------
        in_state = Signal(cfg.in_rand_bits, init=cfg.input_seed)
        in_next = _galois_steps(in_state, cfg.in_rand_bits, galois_mask(cfg.in_rand_bits), G)

        # -- device LFSR bank (the engine's, same seeds) -------------------------------------
        m.submodules.dev_rng = dev_rng = LFSRBank(dev.rand_width, cfg.engine_config.device_seeds())

        # -- shared read addresses ----------------------------------------------------------
        bank_addr = Signal(range(max(P * K, 2)))
        x_addr = Signal(range(max(K, 2)))
        for b in range(B):
            m.d.comb += bank_rd[b].addr.eq(bank_addr)
        m.d.comb += x_rd.addr.eq(x_addr)

        # == LOAD: input spikes ==============================================================
        ld_issue = Signal()
        ld_i = Signal(range(CG + 1))
        ld1_valid, ld2_valid = Signal(), Signal()
        ld1_words = [Signal(cfg.in_rand_bits, name=f"ld1_word{j}") for j in range(G)]
        ld2_u = [Signal(cfg.rate_bits, name=f"ld2_u{j}") for j in range(G)]
        ld2_r = [Signal(cfg.rate_bits + 1, name=f"ld2_r{j}") for j in range(G)]
        for j in range(G):
            m.d.comb += r_rd[j].addr.eq(ld_i)
        with m.If(ld_issue):
            m.d.sync += [in_state.eq(in_next[-1]), ld_i.eq(ld_i + 1)]
            m.d.sync += [ld1_words[j].eq(in_next[j]) for j in range(G)]
        m.d.sync += [ld1_valid.eq(ld_issue), ld2_valid.eq(ld1_valid)]
        shift = cfg.in_rand_bits - cfg.rate_bits
        for j in range(G):
            m.d.sync += [ld2_u[j].eq(mix(ld1_words[j], cfg.in_rand_bits)[shift:]),
                         ld2_r[j].eq(r_rd[j].data)]
        spikes = Cat(*[ld2_u[j] < ld2_r[j] for j in range(G)])
        ld_sub = Signal(range(max(LG, 2)))
        ld_k = Signal(range(max(K, 2)))
        xbuf = Signal(L)
        word = Cat(xbuf[G:], spikes) if LG > 1 else spikes
        with m.If(ld2_valid):
            m.d.sync += nx.eq(nx + tree_sum(list(spikes)))
            if LG > 1:
                m.d.sync += xbuf.eq(Cat(xbuf[G:], spikes))
                m.d.sync += ld_sub.eq(Mux(ld_sub == LG - 1, 0, ld_sub + 1))
            with m.If(ld_sub == LG - 1):
                m.d.comb += [x_wr.addr.eq(ld_k), x_wr.data.eq(word), x_wr.en.eq(1)]
                m.d.sync += ld_k.eq(ld_k + 1)
        ld_busy = ld_issue | ld1_valid | ld2_valid

        # == FORWARD: B rows per pass, popcount(s & x) per bank ===================================
        fw_run = Signal()       # the reader is active
        fw_issue = Signal()
        fw_k = Signal(range(Q))
        fw_base = Signal(range(max(P * K, 2)))
        fw_p = Signal(range(P))
        m.d.comb += fw_issue.eq(fw_run & (fw_k < K))
        f1_valid, f1_first, f1_last, f1_plast = Signal(), Signal(), Signal(), Signal()
        f2_valid, f2_first, f2_last, f2_plast = Signal(), Signal(), Signal(), Signal()
        m.d.sync += [f1_valid.eq(fw_issue), f1_first.eq(fw_k == 0), f1_last.eq(fw_k == K - 1),
                     f1_plast.eq(fw_p == P - 1),
                     f2_valid.eq(f1_valid), f2_first.eq(f1_first), f2_last.eq(f1_last),
                     f2_plast.eq(f1_plast)]
        with m.If(fw_run):
            with m.If(fw_k == Q - 1):
                m.d.sync += [fw_k.eq(0), fw_base.eq(fw_base + K), fw_p.eq(fw_p + 1)]
                with m.If(fw_p == P - 1):
                    m.d.sync += fw_run.eq(0)
            with m.Else():
                m.d.sync += fw_k.eq(fw_k + 1)
        pc = [Signal(range(L + 1), name=f"pc{b}") for b in range(B)]
        acc = [Signal(range(C + 1), name=f"acc{b}") for b in range(B)]
        cur = [Signal(range(C + 1), name=f"cur{b}") for b in range(B)]
        left = Signal(range(B + 1))
        for b in range(B):
            m.d.sync += pc[b].eq(tree_sum(list(bank_rd[b].data & x_rd.data)))
            total = Mux(f2_first, 0, acc[b]) + pc[b]
            with m.If(f2_valid):
                m.d.sync += acc[b].eq(total)
        # serial feed to the LIF pipeline: one neuron per clock, in row order
        e_r = Signal(range(N + 1))       # row of cur[0]
        e_b = Signal(range(B))           # its bank
        e_base = Signal(range(max(P * K, 2)))   # its row's first word in that bank
        e_valid = Signal()
        m.d.comb += e_valid.eq(left != 0)
        with m.If(f2_valid & f2_last):
            m.d.sync += [cur[b].eq(Mux(f2_first, 0, acc[b]) + pc[b]) for b in range(B)]
            m.d.sync += left.eq(Mux(f2_plast, N - (P - 1) * B, B))
        with m.Elif(e_valid):
            m.d.sync += [cur[b].eq(cur[b + 1]) for b in range(B - 1)]
            m.d.sync += left.eq(left - 1)
        with m.If(e_valid):
            m.d.sync += e_r.eq(e_r + 1)
            with m.If(e_b == B - 1):
                m.d.sync += [e_b.eq(0), e_base.eq(e_base + K)]
            with m.Else():
                m.d.sync += e_b.eq(e_b + 1)
        y_w = cnt_w + 2
        e_y = Signal(signed(y_w))
        m.d.comb += e_y.eq((cur[0] << 1) - nx)

        # LIF stage A: read v[r], theta[r]
        a_valid, a_last = Signal(), Signal()
        a_r = Signal(range(N))
        a_b = Signal(range(B))
        a_base = Signal(range(max(P * K, 2)))
        a_y = Signal(signed(y_w))
        lif_addr = Signal(range(max(N, 2)))
        m.d.comb += [v_rd.addr.eq(lif_addr), th_rd.addr.eq(lif_addr)]
        with m.If(e_valid):
            m.d.comb += lif_addr.eq(e_r)
        m.d.sync += [a_valid.eq(e_valid), a_last.eq(e_r == N - 1), a_r.eq(e_r), a_b.eq(e_b),
                     a_base.eq(e_base), a_y.eq(e_y)]
        # LIF stage B: integrate, write back v (and the decayed theta)
        v_eff = Mux(vzero, 0, v_rd.data)
        th_eff = Signal(unsigned(cfg.theta_width))
        m.d.comb += th_eff.eq(Mux(decay_due, decayed(th_rd.data), th_rd.data))
        v_new = Signal(signed(cfg.v_width))
        m.d.comb += v_new.eq(saturate(v_eff - (v_eff >> cfg.leak_shift) + a_y, cfg.v_width))
        b_valid, b_last = Signal(), Signal()
        b_r = Signal(range(N))
        b_b = Signal(range(B))
        b_base = Signal(range(max(P * K, 2)))
        b_v = Signal(signed(cfg.v_width))
        b_thr = Signal(cfg.theta_width + 1 + clog2(cfg.theta0 + 1))
        b_th = Signal(cfg.theta_width)
        m.d.sync += [b_valid.eq(a_valid), b_last.eq(a_last), b_r.eq(a_r), b_b.eq(a_b),
                     b_base.eq(a_base), b_v.eq(v_new),
                     b_thr.eq(cfg.theta0 + (th_eff >> cfg.theta_frac)), b_th.eq(th_eff)]
        th_w_addr = Signal(range(max(N, 2)))
        th_w_data = Signal(cfg.theta_width)
        th_w_en = Signal()
        m.d.comb += [th_wr.addr.eq(th_w_addr), th_wr.data.eq(th_w_data), th_wr.en.eq(th_w_en)]
        with m.If(a_valid):
            m.d.comb += [v_wr.addr.eq(a_r), v_wr.data.eq(v_new), v_wr.en.eq(1),
                         th_w_addr.eq(a_r), th_w_data.eq(th_eff), th_w_en.eq(decay_due)]
        # LIF stage C: margin
        c_valid, c_last = Signal(), Signal()
        c_r = Signal(range(N))
        c_b = Signal(range(B))
        c_base = Signal(range(max(P * K, 2)))
        c_margin = Signal(signed(cfg.margin_width))
        c_th = Signal(cfg.theta_width)
        m.d.sync += [c_valid.eq(b_valid), c_last.eq(b_last), c_r.eq(b_r), c_b.eq(b_b),
                     c_base.eq(b_base), c_margin.eq(b_v - b_thr), c_th.eq(b_th)]
        # LIF stage D: winner-take-all (ties to the lowest index: strictly larger wins)
        found = Signal()
        best = Signal(signed(cfg.margin_width))
        win_r = Signal(range(N))
        win_b = Signal(range(B))
        win_base = Signal(range(max(P * K, 2)))
        win_th = Signal(cfg.theta_width)
        lif_done = Signal()
        with m.If(c_valid & (c_margin >= 0) & (~found | (c_margin > best))):
            m.d.sync += [found.eq(1), best.eq(c_margin), win_r.eq(c_r), win_b.eq(c_b),
                         win_base.eq(c_base), win_th.eq(c_th)]
        with m.If(c_valid & c_last):
            m.d.sync += lif_done.eq(1)

        # == row updates: INIT (every row, +init_code) and HEBB (the winner, +-code) ============
        u_issue = Signal()
        u_hebb = Signal()                   # pulse +code where x, else -code; INIT: +code
        u_code = Signal(dev.pulse_bits - 1)
        u_k = Signal(range(max(K, 2)))
        u_b = Signal(range(B))
        u_base = Signal(range(max(P * K, 2)))
        u_rows = Signal(range(N + 1))       # rows left after the current one
        m.d.comb += dev_rng.en.eq(u_issue)
        with m.If(u_issue):
            with m.If(u_k == K - 1):
                m.d.sync += [u_k.eq(0), u_rows.eq(u_rows - 1)]
                with m.If(u_b == B - 1):
                    m.d.sync += [u_b.eq(0), u_base.eq(u_base + K)]
                with m.Else():
                    m.d.sync += u_b.eq(u_b + 1)
            with m.Else():
                m.d.sync += u_k.eq(u_k + 1)
        u1_valid, u2_valid = Signal(), Signal()
        u1_b, u2_b = Signal(range(B)), Signal(range(B))
        u1_addr, u2_addr = Signal(range(max(P * K, 2))), Signal(range(max(P * K, 2)))
        u2_s, u2_x = Signal(L), Signal(L)
        u2_dev = [Signal(dev.rand_width, name=f"u2_dev{l}") for l in range(L)]
        m.d.sync += [u1_valid.eq(u_issue), u1_b.eq(u_b), u1_addr.eq(u_base + u_k),
                     u2_valid.eq(u1_valid), u2_b.eq(u1_b), u2_addr.eq(u1_addr),
                     u2_s.eq(Array(p.data for p in bank_rd)[u1_b]),
                     u2_x.eq(Mux(u_hebb, x_rd.data, (1 << L) - 1))]
        # the lane's word for this slot: the LFSR state after the slot's step (as the engine)
        m.d.sync += [u2_dev[l].eq(dev_rng.words[l]) for l in range(L)]
        tw = dev.threshold_width
        t_ltp = Signal(tw)
        t_ltd = Signal(tw)
        m.d.sync += [t_ltp.eq(Array(Const(t, tw) for t in dev.ltp_thresholds)[u_code]),
                     t_ltd.eq(Array(Const(t, tw) for t in dev.ltd_thresholds)[u_code])]
        new_bits = []
        for l in range(L):
            # MTJRule.update with pulse = +code (x = 1) or -code (x = 0): same thresholds
            # table entry for every lane, so the lookup is done once (t_ltp / t_ltd)
            u = mix(u2_dev[l], dev.rand_bits)[dev.rand_bits - dev.prob_bits:]
            s, xl = u2_s[l], u2_x[l]
            to_p = xl & ~s & (u < t_ltp)
            to_ap = ~xl & s & (u < t_ltd)
            new_bits.append(Mux(to_p, 1, Mux(to_ap, 0, s)))
        new_word = Cat(*new_bits)
        for b in range(B):
            m.d.comb += [bank_wr[b].addr.eq(u2_addr), bank_wr[b].data.eq(new_word),
                         bank_wr[b].en.eq(u2_valid & (u2_b == b))]
        u_busy = u_issue | u1_valid | u2_valid

        # == END's deferred decay applied early (a second END(learn) before a STEP) ==========
        d_run = Signal()
        d_r = Signal(range(N + 1))
        d1_valid = Signal()
        d1_r = Signal(range(max(N, 2)))
        with m.If(d_run):
            m.d.comb += lif_addr.eq(d_r)
            m.d.sync += d_r.eq(d_r + 1)
            with m.If(d_r == N - 1):
                m.d.sync += d_run.eq(0)
        m.d.sync += [d1_valid.eq(d_run), d1_r.eq(d_r)]
        with m.If(d1_valid):
            m.d.comb += [th_w_addr.eq(d1_r), th_w_data.eq(decayed(th_rd.data)), th_w_en.eq(1)]

        # == control ===========================================================================
        c = self.cmd.payload
        c_j = c.col[:gbits] if gbits else Const(0, 1)
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.cmd.ready.eq(1)
                with m.If(self.cmd.valid):
                    m.d.sync += [learn.eq(Mux(c.op == SOp.STEP, c.arg[:len(code)] != 0, c.arg[0])),
                                 code.eq(c.arg[:len(code)])]
                    with m.Switch(c.op):
                        with m.Case(SOp.PIX):
                            for j in range(G):
                                m.d.comb += [r_wr[j].addr.eq(c.col >> gbits),
                                             r_wr[j].data.eq(c.arg), r_wr[j].en.eq(c_j == j)]
                        with m.Case(SOp.INIT):
                            if cfg.init_code:
                                m.d.sync += [u_k.eq(0), u_b.eq(0), u_base.eq(0), u_rows.eq(N - 1),
                                             u_hebb.eq(0), u_code.eq(cfg.init_code)]
                                m.next = "INIT"
                        with m.Case(SOp.STEP):
                            m.d.sync += [ld_i.eq(0), ld_sub.eq(0), ld_k.eq(0), nx.eq(0)]
                            m.next = "LOAD"
                        with m.Case(SOp.END):
                            m.d.sync += vzero.eq(1)
                            if decay:
                                with m.If(c.arg[0]):
                                    m.d.sync += decay_due.eq(1)
                                    with m.If(decay_due):
                                        m.d.sync += [d_run.eq(1), d_r.eq(0)]
                                        m.next = "DECAY"

            with m.State("INIT"):
                m.d.comb += u_issue.eq(1)
                with m.If((u_k == K - 1) & (u_rows == 0)):
                    m.next = "UPD_DRAIN"

            with m.State("UPD_DRAIN"):
                with m.If(~u_busy):
                    with m.If(u_hebb):
                        m.next = "RESP"
                    with m.Else():
                        m.next = "IDLE"

            with m.State("DECAY"):
                with m.If(~d_run & ~d1_valid):
                    m.next = "IDLE"

            with m.State("LOAD"):
                m.d.comb += ld_issue.eq(ld_i != CG)
                with m.If(~ld_busy & (ld_i == CG)):
                    m.d.sync += [fw_run.eq(1), fw_k.eq(0), fw_base.eq(0), fw_p.eq(0),
                                 e_r.eq(0), e_b.eq(0), e_base.eq(0), found.eq(0),
                                 lif_done.eq(0)]
                    m.next = "FWD"

            with m.State("FWD"):
                m.d.comb += bank_addr.eq(fw_base + fw_k)
                m.d.comb += x_addr.eq(fw_k)
                with m.If(lif_done):
                    m.next = "DECIDE"

            with m.State("DECIDE"):
                # every v and theta has been rewritten: the pending resets are done
                m.d.sync += [vzero.eq(found), decay_due.eq(0),
                             resp_data.eq(Mux(found, win_r + 1, 0))]
                with m.If(found & learn):
                    m.d.comb += [th_w_addr.eq(win_r), th_w_en.eq(1),
                                 th_w_data.eq(Mux(win_th + cfg.theta_plus > theta_max, theta_max,
                                                  win_th + cfg.theta_plus))]
                    m.d.sync += [u_k.eq(0), u_b.eq(win_b), u_base.eq(win_base), u_rows.eq(0),
                                 u_hebb.eq(1), u_code.eq(code)]
                    m.next = "HEBB"
                with m.Else():
                    m.d.sync += u_hebb.eq(0)
                    m.next = "RESP"

            with m.State("HEBB"):
                m.d.comb += u_issue.eq(1)
                with m.If(u_k == K - 1):
                    m.next = "UPD_DRAIN"

            with m.State("RESP"):
                m.d.comb += [self.resp.valid.eq(1), self.resp.payload.eq(resp_data)]
                with m.If(self.resp.ready):
                    m.next = "IDLE"

        with m.If(~fw_run):
            m.d.comb += [bank_addr.eq(u_base + u_k), x_addr.eq(u_k)]
        m.d.comb += self.busy.eq(~self.cmd.ready)

        if self.debug:
            self._peeks(m, banks, xmem, rmems, vmem, thmem, vzero, decay_due, decayed)
            m.d.comb += [self.dev_rng.eq(dev_rng.words), self.in_rng.eq(in_state)]
        return m

    def _peeks(self, m, banks, xmem, rmems, vmem, thmem, vzero, decay_due, decayed):
        cfg = self.config
        K, B, G = self.chunks, self.banks, self.draws
        gbits = G.bit_length() - 1
        row = self.peek_addr // K
        loc = (row // B) * K + self.peek_addr % K
        datas = []
        for b, mem in enumerate(banks):
            p = mem.read_port(domain="comb")
            m.d.comb += p.addr.eq(loc)
            datas.append(p.data)
        word = Array(datas)[row % B]
        m.d.comb += [self.peek_words[l].eq(word[l]) for l in range(cfg.lanes)]
        xp = xmem.read_port(domain="comb")
        m.d.comb += xp.addr.eq(self.peek_x_addr)
        m.d.comb += [self.peek_x[l].eq(xp.data[l]) for l in range(cfg.lanes)]
        rdat = []
        for mem in rmems:
            p = mem.read_port(domain="comb")
            m.d.comb += p.addr.eq(self.peek_r_addr >> gbits)
            rdat.append(p.data)
        m.d.comb += self.peek_r.eq(Array(rdat)[self.peek_r_addr[:gbits]] if gbits else rdat[0])
        vp = vmem.read_port(domain="comb")
        tp = thmem.read_port(domain="comb")
        m.d.comb += [vp.addr.eq(self.peek_v_addr), tp.addr.eq(self.peek_theta_addr),
                     self.peek_v.eq(Mux(vzero, 0, vp.data)),
                     self.peek_theta.eq(Mux(decay_due, decayed(tp.data), tp.data))]
