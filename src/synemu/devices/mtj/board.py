"""Board builds of the STDP network controller (fit and timing), with the YoWASP flow of
:func:`synemu.boards.build.build_board`.

:class:`SNNBoardTop` wraps :class:`~synemu.devices.mtj.network_gateware.SNNController`
(``debug=False``) in a plain UART link (8N1, :class:`~synemu.gateware.link.UARTRx` /
:class:`~synemu.gateware.link.UARTTx`): a command is ``ceil(W/8)`` bytes, little-endian,
W = 3 + clog2(C) + rate_bits + 1 (the ``cmd`` payload: op, col, arg); a STEP answers
``ceil(clog2(N+1)/8)`` bytes (``winner + 1``). A 64-byte FIFO absorbs bytes sent while the
controller is busy; there is no CRC or replay (that is :mod:`synemu.link`'s engine
protocol). LED 0 shows ``busy``. The design clock is the board's (``Board.clk_hz``, e.g.
50 MHz on the ULX3S, 24 MHz on the iCEBreaker), made by the FPGA's PLL
(:mod:`synemu.boards.pll`) when it differs from the crystal; the UART divisor follows it.

:data:`SNN_BOARDS` holds the reference configuration of each board;
:func:`build_snn_board` builds one and returns a report like ``build_board``'s (resources
used / available, ``fmax_mhz``, cycles per STEP and sample, implied samples/s).
``python -m synemu.devices.mtj.board BOARD OUT`` builds a reference configuration.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from amaranth.hdl import Cat, Elaboratable, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from .network import SNNConfig

__all__ = ["SNNLinkCore", "SNNBoardTop", "SNN_BOARDS", "snn_board_config", "build_snn_board"]

NAME = "synemu_snn"

#: reference network per board: SNNConfig overrides of the mnist5k preset, controller
#: parameters (banks, draws) and the clock. Device ``rand_bits=16``: one 16x16 multiplier
#: per lane's mixer.
SNN_BOARDS = {
    "ulx3s-85f": dict(n_inputs=784, n_neurons=400, lanes=16, banks=25, draws=4,
                      device_params={"rand_bits": 16}),
    "icebreaker": dict(n_inputs=196, n_neurons=400, lanes=4, banks=20, draws=1,
                       device_params={"rand_bits": 16}),
}


def snn_board_config(board: str, **overrides) -> tuple[SNNConfig, dict]:
    """(SNNConfig, {banks, draws}) of ``board``'s reference network (mnist5k preset), with
    ``overrides`` (network fields, ``device_params``, banks, draws)."""
    from .experiments import snn_config
    if board not in SNN_BOARDS:
        raise ValueError(f"no reference SNN configuration for board {board!r}; known: "
                         f"{', '.join(SNN_BOARDS)}")
    kw = {**SNN_BOARDS[board], **overrides}
    hw = {k: kw.pop(k) for k in ("banks", "draws") if k in kw}
    C, N = kw.pop("n_inputs"), kw.pop("n_neurons")
    return snn_config("mnist5k", C, N, **kw), hw


class SNNLinkCore(wiring.Component):
    """UART link around ``SNNController(config, banks, draws)`` (see module doc); ``divisor``
    clocks per UART bit. Ports ``rx`` (in), ``tx``, ``activity`` (= controller busy) (out),
    as :class:`synemu.boards.top.BoardTop` expects of a core."""

    def __init__(self, config: SNNConfig, *, banks: int | None, draws: int, divisor: int):
        from .network_gateware import SNNController
        self.config = config
        self.ctrl = SNNController(config, banks=banks, draws=draws)
        self.divisor = divisor
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "activity": Out(1)})

    def elaborate(self, platform):
        from ...gateware.link import UARTRx, UARTTx
        m = Module()
        cfg = self.config
        m.submodules.ctrl = ctrl = self.ctrl
        m.submodules.urx = urx = UARTRx(self.divisor)
        m.submodules.utx = utx = UARTTx(self.divisor)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx), self.activity.eq(ctrl.busy)]

        # bytes -> commands
        m.submodules.rxq = rxq = SyncFIFOBuffered(width=8, depth=64)
        m.d.comb += [rxq.w_data.eq(urx.data.payload), rxq.w_en.eq(urx.data.valid)]
        cmd_bits = len(ctrl.cmd.payload.as_value())
        nb = -(-cmd_bits // 8)
        shreg = Signal(8 * nb)
        got = Signal(range(nb + 1))
        pending = Signal()
        m.d.comb += [ctrl.cmd.payload.eq(shreg[:cmd_bits]), ctrl.cmd.valid.eq(pending),
                     rxq.r_en.eq(~pending)]
        with m.If(pending):
            with m.If(ctrl.cmd.ready):
                m.d.sync += pending.eq(0)
        with m.Elif(rxq.r_rdy):
            m.d.sync += shreg.eq(Cat(shreg[8:], rxq.r_data) if nb > 1 else rxq.r_data)
            with m.If(got == nb - 1):
                m.d.sync += [got.eq(0), pending.eq(1)]
            with m.Else():
                m.d.sync += got.eq(got + 1)

        # responses -> bytes
        rb = -(-cfg.resp_width // 8)
        out = Signal(8 * rb)
        left = Signal(range(rb + 1))
        m.d.comb += [ctrl.resp.ready.eq(left == 0), utx.data.payload.eq(out[:8]),
                     utx.data.valid.eq(left != 0)]
        with m.If(left == 0):
            with m.If(ctrl.resp.valid):
                m.d.sync += [out.eq(ctrl.resp.payload), left.eq(rb)]
        with m.Elif(utx.data.ready):
            m.d.sync += [out.eq(out >> 8), left.eq(left - 1)]
        return m


class SNNBoardTop(Elaboratable):
    """``core`` (:class:`SNNLinkCore`) on the platform's ``uart`` 0 and ``led`` 0, clocked at
    ``clk_hz``: from the FPGA's PLL (:class:`synemu.boards.pll.PLLDomain`) when that differs
    from the platform's default clock, else from the crystal."""

    def __init__(self, core: SNNLinkCore, clk_hz: float):
        self.core, self.clk_hz = core, clk_hz
        self.pll = None

    def elaborate(self, platform):
        from amaranth.build import ResourceError
        from amaranth.lib import io
        m = Module()
        m.submodules.core = core = self.core
        uart = platform.request("uart", 0, dir={io_.name: "-" for io_ in
                                                platform.lookup("uart", 0).ios})
        m.submodules.rx_buf = rx_buf = io.Buffer("i", uart.rx)
        m.submodules.tx_buf = tx_buf = io.Buffer("o", uart.tx)
        m.d.comb += [core.rx.eq(rx_buf.i), tx_buf.o.eq(core.tx)]
        try:
            led = platform.request("led", 0, dir="-")
        except ResourceError:   # pragma: no cover - boards without a plain LED
            led = None
        if led is not None:
            m.submodules.led_buf = led_buf = io.Buffer("o", led)
            m.d.comb += led_buf.o.eq(core.activity)
        f_in = platform.default_clk_frequency
        if abs(self.clk_hz - f_in) > 1:
            from ...boards.pll import PLLDomain, pll_for
            self.pll = pll_for(platform.family, f_in, self.clk_hz)
            m.submodules.cd_sync = clocks = PLLDomain(self.pll)
            m.domains += clocks.domain
        return m


def build_snn_board(board: str, out, *, config: SNNConfig | None = None, banks: int | None = None,
                    draws: int | None = None, clock_hz: int | None = None, baud: int | None = None,
                    seed: int = 1, keep_going: bool = True, learn_spikes: float = 6.4) -> dict:
    """Build ``SNNBoardTop`` for ``board`` into ``out`` (default: the board's reference
    network, :data:`SNN_BOARDS`; ``config``/``banks``/``draws``/``clock_hz`` override it) with
    the same Amaranth build plan and YoWASP tools as :func:`synemu.boards.build.build_board`.
    Returns (and writes to ``out/report.json``) the resources, ``fmax_mhz``, whether timing
    is met at the clock, and ``cycles_per_step`` / ``cycles_per_sample`` (with
    ``learn_spikes`` learning spikes per sample) and ``samples_per_s`` at the clock and at
    Fmax. ``keep_going``: report a timing failure instead of raising."""
    from ...boards.build import BuildFailed, _yosys_cells, parse_nextpnr_report, run_plan
    from ...boards.platforms import get_board
    from ...sim.tools import warm_yowasp, yowasp_tools
    from .network_gateware import SNNController
    b = get_board(board)
    ref_cfg, hw = snn_board_config(b.name) if b.name in SNN_BOARDS else (None, {})
    cfg = config or ref_cfg
    if cfg is None:
        raise ValueError(f"no reference SNN configuration for {b.name}: pass config=")
    banks = banks if banks is not None else hw.get("banks")
    draws = draws if draws is not None else hw.get("draws", 1)
    clock_hz = clock_hz or b.clk_hz          # the board's design clock (its PLL output)
    baud = baud or b.baud
    divisor = round(clock_hz / baud)
    core = SNNLinkCore(cfg, banks=banks, draws=draws, divisor=divisor)
    top = SNNBoardTop(core, clock_hz)
    ctrl: SNNController = core.ctrl
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
        "uart_divisor": divisor, "config": cfg.to_dict(), "build_dir": str(bdir),
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
    hw = {k: over.pop(k) for k in ("banks", "draws", "clock_hz") if k in over}
    cfg = snn_board_config(args[0], **over)[0] if over else None
    r = build_snn_board(args[0], args[1], config=cfg, **hw)
    print(json.dumps({k: v for k, v in r.items() if k != "config"}, indent=2))
    return 0


if __name__ == "__main__":   # pragma: no cover
    raise SystemExit(main())
