"""Board registry: which amaranth-boards platform, clock and UART each target uses.

=========== ============== ============ ======== =====================================
name        FPGA           clock        UART     programmer
=========== ============== ============ ======== =====================================
icebreaker  iCE40UP5K      12 MHz       FTDI ch B iceprog (or openFPGALoader -b ice40_generic)
ulx3s-85f   ECP5 LFE5U-85F 25 MHz       FTDI      openFPGALoader -b ulx3s
orangecrab  ECP5 LFE5U-25F 48 MHz       feather pins 0 (RX) / 1 (TX): an external 3.3 V USB-UART
                                                  dfu-util (bootloader) / openFPGALoader
=========== ============== ============ ======== =====================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

__all__ = ["Board", "BOARDS", "get_board"]


@dataclass(frozen=True)
class Board:
    name: str
    family: str              # "ice40" | "ecp5"
    fpga: str
    clk_hz: int
    baud: int
    make_platform: Callable
    programmers: tuple       # (tool, argv template with {bitstream}) in preference order
    bitstream_ext: str       # ".bin" (iCE40) or ".bit" (ECP5)
    resources: dict          # resource name -> available count (for reports)
    note: str = ""

    def platform(self):
        return self.make_platform()


def _icebreaker():
    from amaranth_boards.icebreaker import ICEBreakerPlatform
    return ICEBreakerPlatform()


def _ulx3s_85f():
    from amaranth_boards.ulx3s import ULX3S_85F_Platform
    return ULX3S_85F_Platform()


def _orangecrab_25f():
    from amaranth.build import Attrs
    from amaranth_boards.orangecrab_r0_2 import OrangeCrabR0_2_25FPlatform
    from amaranth_boards.resources import UARTResource

    class OrangeCrabUART(OrangeCrabR0_2_25FPlatform):
        """OrangeCrab r0.2 (25F) with a UART on feather pins 0/1 and no dfu-suffix step
        (``synemu flash`` adds the DFU suffix when it uses dfu-util)."""

        resources = OrangeCrabR0_2_25FPlatform.resources + [
            UARTResource(0, rx="0", tx="1", conn=("io", 0), attrs=Attrs(IO_TYPE="LVCMOS33")),
        ]

        @property
        def required_tools(self):
            return [t for t in super().required_tools if t != "dfu-suffix"]

        @property
        def command_templates(self):
            return [t for t in super().command_templates if "dfu-suffix" not in t]

    return OrangeCrabUART()


BOARDS: dict[str, Board] = {b.name: b for b in [
    Board("icebreaker", "ice40", "iCE40UP5K-SG48", 12_000_000, 1_000_000, _icebreaker,
          (("iceprog", ["iceprog", "{bitstream}"]),
           ("openFPGALoader", ["openFPGALoader", "-b", "ice40_generic", "{bitstream}"])),
          ".bin", {"LUT": 5280, "FF": 5280, "BRAM": 30, "SPRAM": 4, "DSP": 8}),
    Board("ulx3s-85f", "ecp5", "LFE5U-85F-6BG381C", 25_000_000, 1_000_000, _ulx3s_85f,
          (("openFPGALoader", ["openFPGALoader", "-b", "ulx3s", "{bitstream}"]),
           ("fujprog", ["fujprog", "{bitstream}"])),
          ".bit", {"LUT": 83640, "FF": 83640, "BRAM": 208, "DSP": 156}),
    Board("orangecrab", "ecp5", "LFE5U-25F-8MG285C", 48_000_000, 1_000_000, _orangecrab_25f,
          (("dfu-util", ["dfu-util", "-a", "0", "-D", "{bitstream}"]),
           ("openFPGALoader", ["openFPGALoader", "-b", "orangecrab", "{bitstream}"])),
          ".bit", {"LUT": 24288, "FF": 24288, "BRAM": 56, "DSP": 28},
          note="UART on feather pins 0 (RX) / 1 (TX): connect a 3.3 V USB-UART adapter"),
]}


def get_board(name: str) -> Board:
    try:
        return BOARDS[name]
    except KeyError:
        raise ValueError(f"unknown board {name!r}; available: {', '.join(BOARDS)}") from None
