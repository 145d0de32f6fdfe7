"""Board top-level: the PLL clock, UART pins and LED around a link core (:class:`LinkTop`)."""

from __future__ import annotations

from amaranth.hdl import Elaboratable, Module

from ..spec.engine import EngineConfig
from ..link.protocol import LinkSpec
from .platforms import Board

__all__ = ["BoardTop", "board_spec", "MAX_BAUD_ERROR", "MIN_DIVISOR"]

#: largest relative error of the UART bit rate, clk / divisor vs the requested baud
MAX_BAUD_ERROR = 0.02
#: fewest clocks per bit on a board: the receiver samples bits 1.5 .. 1.5 + 1/divisor bits
#: after the start edge it sees, so 2 or 3 clocks leave no margin against the sender's edges
MIN_DIVISOR = 4


def board_spec(board: Board, config: EngineConfig, baud: int | None = None,
               smem_words: int = 0, *, spec_type: type = LinkSpec) -> LinkSpec:
    """The link spec (``spec_type``: :class:`LinkSpec` or a subclass for another link core,
    e.g. the STDP network's) of ``config`` on ``board`` at its design clock
    ``board.sys_hz`` (the PLL output), with a sample memory of ``smem_words`` 16-bit words
    (0: none, host mode only; :data:`synemu.gateware.sequencer.SMEM_WORDS` is the board
    family's): divisor = sys_hz / baud, which must be a rate of ``board.bauds`` (what the
    board's USB bridge offers) and exact within 2 % with at least :data:`MIN_DIVISOR`
    clocks per bit; ``smem_guard`` is the board's. ValueError otherwise, naming the board,
    its bridge and the rates."""
    baud = baud or board.baud
    clk = board.sys_hz
    div = round(clk / baud)
    if baud not in board.bauds:
        raise ValueError(
            f"{board.name}: cannot make {baud} baud: its {board.bridge} USB-UART link runs "
            f"at {', '.join(map(str, board.bauds))} baud (design clock {clk / 1e6:g} MHz)")
    if div < MIN_DIVISOR or abs(clk / div - baud) / baud > MAX_BAUD_ERROR:
        raise ValueError(f"{board.name}: a {clk / 1e6:g} MHz clock cannot make "
                         f"{baud} baud (divisor {clk / baud:.2f}; at least {MIN_DIVISOR} "
                         f"clocks per bit within {MAX_BAUD_ERROR:.0%})")
    return spec_type(config, divisor=div, clk_hz=clk, idle_clks=max(32 * 10 * div, clk // 1000),
                    smem_words=smem_words, smem_guard=board.smem_guard)


class BoardTop(Elaboratable):
    """``core`` with ``rx``/``tx`` on the platform's ``uart`` 0 and ``activity`` on ``led`` 0,
    clocked at ``spec.clk_hz``.

    ``spec``: :class:`LinkSpec` (from :func:`board_spec`). ``core``: an Elaboratable with 1-bit
    ``rx`` (in), ``tx`` and ``activity`` (out) ports, clocked by ``sync``; default
    ``LinkTop(spec)``. If ``spec.clk_hz`` differs from the platform's default clock (the
    crystal), ``sync`` comes from the FPGA's PLL (:class:`~synemu.boards.pll.PLLDomain`),
    else straight from the crystal (the platform's own ``sync``).
    """

    def __init__(self, spec: LinkSpec, core: Elaboratable | None = None):
        if not isinstance(spec, LinkSpec):
            raise TypeError(f"BoardTop needs a LinkSpec, not {spec!r}")
        if core is not None:
            if not isinstance(core, Elaboratable):
                raise TypeError(f"BoardTop core must be an Elaboratable, not {core!r}")
            missing = [n for n in ("rx", "tx", "activity") if not hasattr(core, n)]
            if missing:
                raise TypeError(f"BoardTop core {type(core).__name__} has no "
                                f"{', '.join(missing)} port(s); it needs rx, tx and activity")
            bad = [n for n in ("rx", "tx", "activity") if len(getattr(core, n)) != 1]
            if bad:
                raise TypeError(f"BoardTop core {type(core).__name__}: {', '.join(bad)} must "
                                f"be 1 bit wide")
        self.spec = spec
        self.core = core
        self.pll = None          # the PLL used by the last elaboration (None: the crystal)

    def elaborate(self, platform):
        from amaranth.build import ResourceError
        from amaranth.lib import io

        from ..gateware.link import LinkTop
        from .pll import PLLDomain, pll_for
        m = Module()
        core = self.core if self.core is not None else LinkTop(self.spec)
        m.submodules.link = core
        # every subsignal raw (the ULX3S's also has rts/dtr, unused here)
        uart = platform.request("uart", 0, dir={io_.name: "-" for io_ in
                                                platform.lookup("uart", 0).ios})
        m.submodules.rx_buf = rx_buf = io.Buffer("i", uart.rx)
        m.submodules.tx_buf = tx_buf = io.Buffer("o", uart.tx)
        m.d.comb += [core.rx.eq(rx_buf.i), tx_buf.o.eq(core.tx)]
        try:
            led = platform.request("led", 0, dir="-")
        except ResourceError:   # boards without a plain LED (OrangeCrab has an RGB LED)
            led = None
        if led is not None:
            m.submodules.led_buf = led_buf = io.Buffer("o", led)
            m.d.comb += led_buf.o.eq(core.activity)
        f_in = platform.default_clk_frequency
        if abs(self.spec.clk_hz - f_in) > 1:
            self.pll = pll_for(platform.family, f_in, self.spec.clk_hz)
            # added last, the clock net is named cd_sync.clk (as the platform's own domain)
            m.submodules.cd_sync = clocks = PLLDomain(self.pll)
            m.domains += clocks.domain
        return m
