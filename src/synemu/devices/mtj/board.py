"""The STDP network on a board: its link core, board builds (fit and timing) with the YoWASP
flow of :func:`synemu.boards.build.build_board`, and its cycle-accurate simulation.

:class:`SNNCore` puts :class:`~synemu.devices.mtj.network_gateware.SNNController`
(``debug=False``) and :class:`~synemu.devices.mtj.seq_gateware.SNNSequencer` behind the
protected link of the engine, :class:`synemu.gateware.link.LinkTop` (CRC-32 frames,
sequence numbers, exactly-once execution, windowed SMEM_WRITE / SEQ_RUN, a sample memory);
the host side and the frames' meaning for the network are :mod:`synemu.devices.mtj.link`.
On a board it sits in :class:`synemu.boards.top.BoardTop` (UART pins, LED 0 = activity,
the PLL clock of the board, the UART divisor following it).

:data:`SNN_BOARDS` holds the reference configuration of each board;
:func:`build_snn_board` builds one and returns a report like ``build_board``'s (resources
used / available, ``fmax_mhz``, cycles per STEP and sample, implied samples/s);
:func:`snn_harness_native_build` compiles the same link top in Verilator for
:class:`~synemu.boards.backend.NativeLink`.
``python -m synemu.devices.mtj.board BOARD OUT`` builds a reference configuration.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring

from .network import SNNConfig

__all__ = ["SNNCore", "snn_harness_native_build", "SNN_BOARDS", "snn_board_config",
           "snn_board_spec", "build_snn_board"]

NAME = "synemu_snn"

#: reference network per board: its dataset, SNNConfig overrides of that dataset's network
#: preset, controller parameters (banks, draws), the design clock (Hz) and UART rate: the
#: ULX3S runs at the 54.17 MHz its PLL makes from 25 MHz so that its FT231X's 3 Mbaud is
#: exact (divisor 18; an mnist5k sample is ~200 bytes on the wire). Device
#: ``rand_bits=16``: one 16x16 multiplier per lane's mixer. The iCEBreaker holds 100
#: neurons x 196 inputs (mnist5k-14) beside the protected link and its sample memory (5,177
#: of 5,280 logic cells, 24.15 MHz at 24 MHz; 3 Mbaud: divisor 8). ``synemu run`` takes
#: datasets whose network has at most the reference's synapses.
SNN_BOARDS = {
    "ulx3s-85f": dict(dataset="mnist5k", n_inputs=784, n_neurons=400, lanes=16, banks=25,
                      draws=4, clock_hz=54_000_000, baud=3_000_000,
                      device_params={"rand_bits": 16}),
    "icebreaker": dict(dataset="mnist5k-14", n_inputs=196, n_neurons=100, lanes=4, banks=5,
                       draws=1, clock_hz=24_000_000, baud=3_000_000,
                       device_params={"rand_bits": 16}),
}
HW_KEYS = ("banks", "draws", "clock_hz", "baud")


def snn_board_config(board: str, **overrides) -> tuple[SNNConfig, dict]:
    """(SNNConfig, {banks, draws, clock_hz, baud}) of ``board``'s reference network (its
    dataset's network preset), with ``overrides`` (network fields, ``device_params``,
    :data:`HW_KEYS`)."""
    from .experiments import snn_config
    if board not in SNN_BOARDS:
        raise ValueError(f"no reference SNN configuration for board {board!r}; known: "
                         f"{', '.join(SNN_BOARDS)}")
    kw = {**SNN_BOARDS[board], **overrides}
    hw = {k: kw.pop(k) for k in HW_KEYS if k in kw}
    C, N = kw.pop("n_inputs"), kw.pop("n_neurons")
    return snn_config(kw.pop("dataset"), C, N, **kw), hw


class SNNCore(wiring.Component):
    """The STDP network's link core (:func:`synemu.gateware.core.core_signature`) for
    :class:`synemu.gateware.link.LinkTop`: an :class:`SNNController` ``(config, banks,
    draws)``, the check of its commands (:func:`synemu.devices.mtj.link.snn_reject_reason`,
    bit for bit) and, with ``spec.smem_words``, an :class:`SNNSequencer` with one job
    running and one queued (:class:`~synemu.devices.mtj.records.SNNJob`, checked as
    ``SNNJob.validate``). COUNTERS: ``time`` = STEPs and ``samples`` = ENDs executed (32
    bits, the link's or the sequencer's)."""

    def __init__(self, spec, *, banks: int | None = None, draws: int = 1):
        from ...gateware.core import core_signature
        from .network_gateware import SNNController
        cfg = spec.config
        if not isinstance(cfg, SNNConfig):
            raise TypeError(f"SNNCore needs a spec of an SNNConfig, not {cfg!r}")
        self.spec = spec
        self.ctrl = SNNController(cfg, banks=banks, draws=draws)
        W = spec.smem_words
        self.addr_width = (W - 1).bit_length() if W else 0
        super().__init__(core_signature(spec.cmd_bits, cfg.resp_width, self.addr_width))

    def elaborate(self, platform):
        from ...gateware.core import fits, smem_overlap
        from ...gateware.fixed import mul_const
        from ...link.protocol import Reject
        from .network import SOp
        from .records import LEARN, PRED, TABLE_WORDS
        from .seq_gateware import SNNSequencer, snn_job_layout
        s, cfg = self.spec, self.spec.config
        W, A = s.smem_words, self.addr_width
        m = Module()
        m.submodules.ctrl = ctrl = self.ctrl
        m.d.comb += self.busy.eq(ctrl.busy)

        # the check of a wire command: op (3 bits), col, arg
        c = Signal(ctrl.cmd.payload.shape())
        m.d.comb += c.eq(self.cmd.payload)
        defined = (c.op >= SOp.PIX) & (c.op <= SOp.END)
        pix, step, end = c.op == SOp.PIX, c.op == SOp.STEP, c.op == SOp.END
        col_bad = pix & (c.col >= cfg.n_inputs) if cfg.n_inputs < 1 << len(c.col) else 0
        arg_bad = (pix & (c.arg > 1 << cfg.rate_bits) | step & (c.arg >= cfg.device.n_codes)
                   | end & (c.arg > 1))
        m.d.comb += self.reason.eq(Mux(~defined, Reject.OP, Mux(col_bad, Reject.COL,
                                                                 Mux(arg_bad, Reject.ARG, 0))))

        link = [ctrl.cmd.valid.eq(self.cmd.valid), ctrl.cmd.payload.eq(self.cmd.payload),
                self.cmd.ready.eq(ctrl.cmd.ready), self.resp.valid.eq(ctrl.resp.valid),
                self.resp.payload.eq(ctrl.resp.payload), ctrl.resp.ready.eq(self.resp.ready)]
        if W:
            m.submodules.seq = seq = SNNSequencer(cfg, W)
            with m.If(seq.running):
                m.d.comb += [ctrl.cmd.valid.eq(seq.cmd.valid),
                             ctrl.cmd.payload.eq(seq.cmd.payload),
                             seq.cmd.ready.eq(ctrl.cmd.ready),
                             seq.resp.valid.eq(ctrl.resp.valid),
                             seq.resp.payload.eq(ctrl.resp.payload),
                             ctrl.resp.ready.eq(seq.resp.ready)]
            with m.Else():
                m.d.comb += link
        else:
            m.d.comb += link

        steps, ends = Signal(32), Signal(32)
        with m.If(ctrl.cmd.valid & ctrl.cmd.ready):
            with m.If(ctrl.cmd.payload.op == SOp.STEP):
                m.d.sync += steps.eq(steps + 1)
            with m.If(ctrl.cmd.payload.op == SOp.END):
                m.d.sync += ends.eq(ends + 1)
        m.d.comb += [self.time.eq(steps), self.samples.eq(ends)]
        if not W:
            return m

        m.d.comb += [self.mem_addr.eq(seq.mem_addr), self.mem_wdata.eq(seq.mem_wdata),
                     self.mem_we.eq(seq.mem_we), self.mem_re.eq(seq.mem_re),
                     seq.mem_rdata.eq(self.mem_rdata)]
        pend = Signal(snn_job_layout(cfg, W))
        pend_valid = Signal()
        # range ends of the queued and the running job (a + 2 bits), for the overlap checks
        p_table, p_pred, r_table, r_pred = (Signal(A + 2, name=n) for n in (
            "pend_table_end", "pend_pred_end", "run_table_end", "run_pred_end"))
        m.d.comb += [seq.job.valid.eq(pend_valid), seq.job.payload.eq(pend),
                     self.running.eq(seq.running), self.pending.eq(pend_valid)]
        with m.If(seq.job.valid & seq.job.ready):
            m.d.sync += [pend_valid.eq(0), r_table.eq(p_table), r_pred.eq(p_pred)]
        m.d.comb += [self.learning.eq(seq.running & seq.cur.flags[0]),
                     self.seq_events.eq(seq.events)]      # (no "correct": bit 2 stays 0)

        # SNN_JOB_FMT fields, checked exactly as SNNJob.validate
        h = self.head
        j_flags, j_rec, j_count, j_end = h[0:8], h[8:40], h[40:72], h[72:104]
        j_pred, j_table, j_code = h[104:136], h[136:168], h[168:184]
        c16 = j_count[:16]
        table_end, pred_end = Signal(A + 2), Signal(max(A + 2, 17 + cfg.steps.bit_length()))
        m.d.comb += [table_end.eq(j_table[:A + 1] + TABLE_WORDS),
                     pred_end.eq(j_pred[:A + 1] + mul_const(c16, cfg.steps))]
        learn, is_pred = j_flags[0], j_flags[3]
        n_codes = cfg.device.n_codes
        m.d.sync += self.job_ok.eq(      # registered: head settles >= 4 clocks before CHECK
            ((j_flags & (0xFF ^ (LEARN | PRED))) == 0) & (c16 != 0) & fits(j_count, 16)
            & fits(j_rec, A) & fits(j_end, A + 1) & (j_end[:A + 1] <= W)
            & (j_rec[:A] < j_end[:A + 1])
            & fits(j_table, A + 1) & (table_end <= W)
            & (~is_pred | (fits(j_pred, A + 1) & (pred_end <= W)))
            & fits(j_code, 16) & (j_code < n_codes) & (~learn | (j_code != 0)))
        with m.If(self.job_load):
            m.d.sync += [pend_valid.eq(1),
                         pend.flags.eq(j_flags), pend.rec_base.eq(j_rec), pend.count.eq(j_count),
                         pend.rec_end.eq(j_end), pend.pred_base.eq(j_pred),
                         pend.table_base.eq(j_table), pend.code.eq(j_code),
                         p_table.eq(table_end), p_pred.eq(pred_end)]

        def ranges(j, t_end, p_end):
            return [(j.rec_base, j.rec_end, 1, False), (j.table_base, t_end, 1, False),
                    (j.pred_base, p_end, j.flags[3], True)]
        overlap = smem_overlap(s, self.w_lo, self.w_hi,
                               [(seq.running, ranges(seq.cur, r_table, r_pred)),
                                (pend_valid, ranges(pend, p_table, p_pred))])
        m.d.comb += self.overlap.eq(overlap)
        return m


def snn_harness_native_build(spec, *, banks: int | None = None, draws: int = 1,
                             waves: bool | str = False):
    """Native Verilator driver (:mod:`synemu.sim.native`) of the STDP network's board link,
    ``LinkTop(spec, SNNCore(spec, banks, draws))`` in :class:`~synemu.gateware.link.SimHarness`:
    for :class:`~synemu.boards.backend.NativeLink` ``(spec, build=...)``; cached by spec."""
    from ...boards.backend import TOPLEVEL, WINDOW, spec_id
    from ...gateware.link import LinkTop, SimHarness
    from ...sim import verilator

    def verilog():
        core = LinkTop(spec, SNNCore(spec, banks=banks, draws=draws))
        return verilator.verilog_of(SimHarness(spec, WINDOW, core=core), name=TOPLEVEL)
    return verilator.build_design(["SNNHarness", WINDOW, spec_id(spec), banks, draws],
                                  verilog, TOPLEVEL, waves=waves, target="native")


def snn_board_spec(board: str, config: SNNConfig, *, clock_hz: int | None = None,
                   baud: int | None = None, sequencer: bool = True):
    """The :class:`~synemu.devices.mtj.link.SNNLinkSpec` of ``config`` on ``board`` (design
    clock ``clock_hz``, default the board's; a UART rate the board's bridge offers; the
    family's sample memory unless ``sequencer=False``), as :func:`synemu.boards.top.board_spec`."""
    from ...boards.platforms import get_board
    from ...boards.top import board_spec
    from ...gateware.sequencer import SMEM_WORDS
    from .link import SNNLinkSpec
    b = get_board(board)
    if clock_hz:
        b = b.with_clock(clock_hz)
    return board_spec(b, config, baud, SMEM_WORDS[b.family] if sequencer else 0,
                      spec_type=SNNLinkSpec)


def build_snn_board(board: str, out, *, config: SNNConfig | None = None, banks: int | None = None,
                    draws: int | None = None, clock_hz: int | None = None, baud: int | None = None,
                    seed: int = 1, keep_going: bool = True, learn_spikes: float = 6.4) -> dict:
    """Build the STDP network's board top (:class:`~synemu.boards.top.BoardTop` around
    ``LinkTop(spec, SNNCore(spec, banks, draws))``, :func:`snn_board_spec`) for ``board``
    into ``out`` (default: the board's reference network, :data:`SNN_BOARDS`;
    ``config``/``banks``/``draws``/``clock_hz`` override it) with the same Amaranth build
    plan and YoWASP tools as :func:`synemu.boards.build.build_board`. Returns (and writes to
    ``out/report.json``) the resources, ``fmax_mhz``, whether timing is met at the clock,
    and ``cycles_per_step`` / ``cycles_per_sample`` (with ``learn_spikes`` learning spikes
    per sample) and ``samples_per_s`` at the clock and at Fmax. ``keep_going``: report a
    timing failure instead of raising."""
    from ...boards.build import BuildFailed, _yosys_cells, parse_nextpnr_report, run_plan
    from ...boards.platforms import get_board
    from ...boards.top import BoardTop
    from ...gateware.link import LinkTop
    from ...sim.tools import warm_yowasp, yowasp_tools
    b = get_board(board)
    ref_cfg, hw = snn_board_config(b.name) if b.name in SNN_BOARDS else (None, {})
    cfg = config or ref_cfg
    if cfg is None:
        raise ValueError(f"no reference SNN configuration for {b.name}: pass config=")
    banks = banks if banks is not None else hw.get("banks")
    draws = draws if draws is not None else hw.get("draws", 1)
    spec = snn_board_spec(b.name, cfg, clock_hz=clock_hz or hw.get("clock_hz"),
                          baud=baud or hw.get("baud"))
    clock_hz, divisor = spec.clk_hz, spec.divisor
    core = SNNCore(spec, banks=banks, draws=draws)
    top = BoardTop(spec, LinkTop(spec, core))
    ctrl = core.ctrl
    out = Path(out)
    bdir = out / f"build-snn-{b.name}"
    if bdir.exists():
        shutil.rmtree(bdir)
    out.mkdir(parents=True, exist_ok=True)
    warm_yowasp(yowasp_tools(b.family))
    plat = b.platform()
    opts = ["--report", f"{NAME}.report.json", "--seed", str(seed)]
    if keep_going:
        opts.append("--timing-allow-fail")
    kw = {"nextpnr_opts": opts}
    if b.family == "ice40":
        kw["synth_opts"] = ["-dsp"]
    t0 = time.perf_counter()
    plan = plat.prepare(top, name=NAME, **kw)
    run_plan(plan, bdir, b, NAME)
    seconds = time.perf_counter() - t0
    rep = parse_nextpnr_report(bdir / f"{NAME}.report.json", b.family)
    cells = _yosys_cells(bdir / f"{NAME}.rpt")
    res = rep["resources"]
    if b.family == "ice40":
        res["FF"] = {"used": sum(v for k, v in cells.items() if k.startswith("SB_DFF")),
                     "available": b.resources["FF"]}
    for k in ("LUT", "FF", "BRAM", "DSP"):
        res.setdefault(k, {"used": 0, "available": b.resources.get(k, 0)})
    sync = [v for k, v in rep["fmax_mhz"].items() if k.endswith("cd_sync.clk")]
    fmax = min(sync or rep["fmax_mhz"].values(), default=None)
    step, sample = ctrl.step_cycles(), ctrl.sample_cycles(learn_spikes)
    report = {
        "board": b.name, "fpga": b.fpga, "n_inputs": cfg.n_inputs, "n_neurons": cfg.n_neurons,
        "lanes": cfg.lanes, "banks": ctrl.banks, "draws": ctrl.draws,
        "synapses": cfg.n_inputs * cfg.n_neurons, "resources": res,
        "fmax_mhz": rep["fmax_mhz"], "constraint_mhz": rep["constraint_mhz"],
        "clock_mhz": clock_hz / 1e6, "timing_met": fmax is not None and fmax >= clock_hz / 1e6 - 1e-6,
        "critical_path": rep["critical_path"],
        "memory_cells": {k: v for k, v in cells.items()
                         if k in ("SB_RAM40_4K", "SB_SPRAM256KA", "DP16KD", "PDPW16KD",
                                  "TRELLIS_DPR16X4")},
        "cycles_per_step": step, "cycles_per_step_learning_spike": ctrl.step_cycles(True),
        "learn_spikes_per_sample": learn_spikes, "cycles_per_sample": sample,
        "samples_per_s": clock_hz / sample,
        "samples_per_s_at_fmax": fmax * 1e6 / sample if fmax else None,
        "uart_divisor": divisor, "baud": spec.baud, "smem_words": spec.smem_words,
        "config": cfg.to_dict(), "build_dir": str(bdir),
        "seconds": round(seconds, 1),
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    if not keep_going and not report["timing_met"]:
        raise BuildFailed(f"{b.name}: timing not met: {fmax} MHz achieved, "
                          f"{clock_hz / 1e6:g} MHz required")
    return report


def main(argv=None) -> int:   # pragma: no cover - runs a real build
    """``python -m synemu.devices.mtj.board BOARD OUT [KEY=VALUE ...]``: KEY is banks, draws,
    clock_hz or an SNNConfig field of the reference network (n_neurons=200 ...)."""
    import sys
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2:
        print(main.__doc__)
        return 2
    over = {}
    for a in args[2:]:
        k, _, v = a.partition("=")
        over[k] = int(v) if v.lstrip("-").isdigit() else v
    hw = {k: over.pop(k) for k in HW_KEYS if k in over}
    cfg = snn_board_config(args[0], **over)[0] if over else None
    r = build_snn_board(args[0], args[1], config=cfg, **hw)
    print(json.dumps({k: v for k, v in r.items() if k != "config"}, indent=2))
    return 0


if __name__ == "__main__":   # pragma: no cover
    raise SystemExit(main())


def spike_counts(winners: np.ndarray, n_neurons: int) -> np.ndarray:
    """(n, N) spike counts of STEP responses ``winners`` (n, steps; ``winner + 1``, 0: none)."""
    w = np.asarray(winners, dtype=np.int64)
    counts = np.zeros((len(w), n_neurons + 1), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(len(w)), w.shape[1]), w.ravel()), 1)
    return counts[:, 1:]


def run_snn_board(board: str, dataset: str = "mnist5k", *, mode: str = "auto",
                  port: str | None = None, sim: str = "verilator", limit: int | None = None,
                  epochs: int | None = None, seed: int = 0, check: bool = False,
                  baud: int | None = None, window: int = 16, evaluate: bool = True,
                  progress=None) -> dict:
    """Train the STDP network of ``board``'s reference hardware (:data:`SNN_BOARDS`: lanes,
    banks, draws, clock, UART rate) on ``dataset`` (its network preset, the dataset's input
    count) through the protected link: on a board at ``port``, or its exact top-level in
    Verilator (``sim="verilator"``, the board's PLL clock and UART divisor) or the byte-exact
    model (``sim="model"``). ``mode``: ``stream`` (records through ring buffers),
    ``resident`` (records written once, one job per epoch; ValueError naming the sizes if
    they do not fit), ``host`` (CMDS per input), ``auto`` (resident if it fits). The
    training order is a NumPy permutation per epoch (``seed``); then, learning off, the
    train split labels the neurons and the test split is classified (``evaluate``).
    ``check``: the golden model runs the same presentations; ``identical_to_golden`` = every
    STEP response equal (training and both evaluation passes). Returns a JSON-ready dict
    (rates from the board's cycle counter)."""
    from ...link.protocol import ModelTransport, SerialTransport
    from ...runtime.datasets import load_dataset
    from .experiments import snn_config
    from .link import SNNBoardModel, SNNLinkHost
    from .network import GoldenSNN, assign_labels, classify, rate_codes
    from .records import TABLE_WORDS, encode_record, rate_table
    if mode not in ("auto", "stream", "resident", "host"):
        raise ValueError(f"snn run: mode must be auto, stream, resident or host, not {mode!r}")
    if board not in SNN_BOARDS:
        raise ValueError(f"snn run: no STDP network configuration for board {board!r}; "
                         f"known: {', '.join(SNN_BOARDS)}")
    ref = dict(SNN_BOARDS[board])
    hw = {k: ref.pop(k) for k in HW_KEYS}
    ds = load_dataset(dataset, seed=0)
    xtr, ytr, xte, yte = ds.x_train, ds.y_train, ds.x_test, ds.y_test
    if limit:
        xtr, ytr, xte, yte = xtr[:limit], ytr[:limit], xte[:limit], yte[:limit]
    C = xtr.shape[1]
    lanes = ref.pop("lanes")
    while C % lanes:
        lanes //= 2
    ref_c, n = ref.pop("n_inputs"), ref.pop("n_neurons")
    if C > ref_c:                    # more synapses than the board's network holds
        raise ValueError(f"snn run: {ds.name} has {C} inputs: {C} x {n} neurons = {C * n} "
                         f"synapses, the {board}'s network holds {ref_c * n} ({ref_c} x {n}): "
                         f"use a dataset with at most {ref_c} inputs (e.g. {ref['dataset']}) "
                         f"or a larger board")
    cfg = snn_config(ds.name, C, n, seed, lanes=lanes, device_params=ref.pop("device_params"))
    draws = min(hw["draws"], cfg.lanes)
    codes = cfg.epoch_codes(epochs or 1) if not (epochs and cfg.schedule) else \
        cfg.schedule[:epochs]
    Rtr, Rte = rate_codes(xtr, cfg), rate_codes(xte, cfg)
    table = rate_table(np.concatenate([Rtr, Rte]), cfg) if mode != "host" else None
    order = np.random.default_rng(seed)
    perms = [order.permutation(len(Rtr)) for _ in codes]
    spec0 = snn_board_spec(board, cfg, clock_hz=hw["clock_hz"], baud=baud or hw["baud"])
    W = spec0.smem_words
    rec_words = (sum(len(encode_record(r, table[1])) for r in Rtr) if table else 0)
    res_need = TABLE_WORDS + rec_words + len(Rtr) * cfg.steps
    if mode in ("auto", "resident"):
        if res_need <= W:
            mode = "resident"
        elif mode == "resident":
            raise ValueError(f"snn run: {len(Rtr)} training records ({rec_words} words) with "
                             f"the rate table ({TABLE_WORDS}) and their predictions "
                             f"({len(Rtr) * cfg.steps}) need {res_need} words, the {board}'s "
                             f"sample memory holds {W}: use --mode stream (or --limit)")
        else:
            mode = "stream"
    spec = spec0
    if mode == "resident":           # the STDP sequencer has no order table: record order
        perms = [np.arange(len(Rtr)) for _ in codes]
    if port:
        transport, where = SerialTransport(port, round(spec.baud)), f"{board} on {port}"
    elif sim == "model":
        transport, where = ModelTransport(SNNBoardModel(spec)), "byte-exact board model"
    elif sim == "verilator":
        from ...boards.backend import NativeLink
        build = snn_harness_native_build(spec, banks=hw["banks"], draws=draws)
        transport = NativeLink(spec, build=build)
        where = (f"simulated {board} top-level (verilator, {spec.clk_hz / 1e6:.6g} MHz, "
                 f"UART divisor {spec.divisor})")
    else:
        raise ValueError(f"snn run: sim must be verilator or model, not {sim!r}")
    t0 = time.perf_counter()
    try:
        host = SNNLinkHost(transport, spec)
        host.init()
        c0 = host.counters()
        b0, r0 = host.stats.bytes_out, host.stats.bytes_resent
        got = []
        if mode == "resident":
            job = host.load_resident(Rtr, table=table, window=window)
        for code, perm in zip(codes, perms):
            R = Rtr[perm]
            if mode == "host":
                got.append(host.host_run(R, True, code))
            elif mode == "stream":
                got.append(host.stream(R, True, code, window=window, table=table,
                                       progress=progress))
            else:
                got.append(host.run_resident(job, True, code))
        c1 = host.counters()
        sent = host.stats.bytes_out - b0     # resident: the records' one upload included
        wire = sent - (host.stats.bytes_resent - r0)    # what the run needs, sent once
        if evaluate:
            run = {"host": lambda R: host.host_run(R, False),
                   "stream": lambda R: host.stream(R, False, window=window, table=table),
                   "resident": lambda R: host.stream(R, False, window=window, table=table)}[mode]
            ev_tr, ev_te = run(Rtr), run(Rte)
    finally:
        transport.close()
    seconds = time.perf_counter() - t0
    n = len(codes) * len(Rtr)
    cyc, busy = c1.cycles - c0.cycles, c1.busy_cycles - c0.busy_cycles
    out = {"device": "mtj", "board": board, "dataset": ds.name, "mode": mode, "where": where,
           "n_inputs": C, "n_neurons": cfg.n_neurons, "lanes": cfg.lanes,
           "banks": hw["banks"], "draws": draws, "epochs": len(codes), "codes": list(codes),
           "samples": n, "seconds": seconds, "board_clk_hz": spec.clk_hz,
           "baud": round(spec.baud), "board_cycles": cyc,
           "board_samples_per_s": n / (cyc / spec.clk_hz) if cyc else None,
           "engine_bound_samples_per_s": n / (busy / spec.clk_hz) if busy else None,
           "wire_bytes_per_sample": wire / n,
           "wire_bound_samples_per_s": spec.baud / 10 / (wire / n) if wire else None,
           "link_utilisation": sent / (spec.baud / 10 * cyc / spec.clk_hz) if cyc else None,
           "board_steps": c1.time, "board_samples": c1.samples,
           "board_crc_errors": c1.crc_errors - c0.crc_errors,
           "link": {k: getattr(host.stats, k) for k in ("frames", "retries", "crc_errors",
                                                         "timeouts", "busy", "go_backs",
                                                         "bytes_out", "bytes_resent",
                                                         "bytes_in")},
           "identical_to_golden": None}
    if evaluate:
        assigned = assign_labels(spike_counts(ev_tr, cfg.n_neurons), ytr, ds.n_classes)
        pred = classify(spike_counts(ev_te, cfg.n_neurons), assigned, ds.n_classes)
        out["test_accuracy"] = float(np.mean(pred == yte))
    if check:
        g = GoldenSNN(cfg)
        g.init()
        same = True
        tg = time.perf_counter()
        for code, perm, hw_w in zip(codes, perms, got):
            for r, w in zip(Rtr[perm], hw_w):
                g.present(r, True, code)
                same = same and np.array_equal(g.last_winners, w)
        gs = time.perf_counter() - tg
        out.update(golden_samples_per_s=n / gs)
        if evaluate:
            same = (same and np.array_equal(g.evaluate(Rtr), spike_counts(ev_tr, cfg.n_neurons))
                    and np.array_equal(g.evaluate(Rte), spike_counts(ev_te, cfg.n_neurons)))
        out["identical_to_golden"] = bool(same)
        if out["board_samples_per_s"]:
            out["board_over_golden"] = out["board_samples_per_s"] / out["golden_samples_per_s"]
    return out
