"""Board top-level: the platform's clock and UART pins around :class:`LinkTop`."""

from __future__ import annotations

from amaranth.hdl import Elaboratable, Module

from ..spec.engine import EngineConfig
from ..link.protocol import LinkSpec
from .platforms import Board

__all__ = ["BoardTop", "board_spec"]


def board_spec(board: Board, config: EngineConfig, baud: int | None = None) -> LinkSpec:
    """The link spec of ``config`` on ``board``: divisor = clock / baud (must divide exactly
    within 2 %, else the UART would be off-speed)."""
    baud = baud or board.baud
    div = round(board.clk_hz / baud)
    if div < 2 or abs(board.clk_hz / div - baud) / baud > 0.02:
        raise ValueError(f"{board.name}: a {board.clk_hz / 1e6:g} MHz clock cannot make "
                         f"{baud} baud (divisor {board.clk_hz / baud:.2f})")
    return LinkSpec(config, divisor=div, clk_hz=board.clk_hz,
                    idle_clks=max(32 * 10 * div, board.clk_hz // 1000))


class BoardTop(Elaboratable):
    """``LinkTop(spec)`` with rx/tx on the platform's ``uart`` 0 and activity on ``led`` 0."""

    def __init__(self, spec: LinkSpec):
        self.spec = spec

    def elaborate(self, platform):
        from amaranth.build import ResourceError
        from amaranth.lib import io

        from ..gateware.link import LinkTop
        m = Module()
        m.submodules.link = link = LinkTop(self.spec)
        uart = platform.request("uart", 0, dir={"rx": "-", "tx": "-"})
        m.submodules.rx_buf = rx_buf = io.Buffer("i", uart.rx)
        m.submodules.tx_buf = tx_buf = io.Buffer("o", uart.tx)
        m.d.comb += [link.rx.eq(rx_buf.i), tx_buf.o.eq(link.tx)]
        try:
            led = platform.request("led", 0, dir="-")
        except ResourceError:   # boards without a plain LED (OrangeCrab has an RGB LED)
            led = None
        if led is not None:
            m.submodules.led_buf = led_buf = io.Buffer("o", led)
            m.d.comb += led_buf.o.eq(link.activity)
        return m
