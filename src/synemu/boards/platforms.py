"""Board registry: which amaranth-boards platform, clocks and UART each target uses.

Every design runs from a PLL on the board's crystal (``xtal_hz``) at the design clock
``sys_hz``, chosen below the builds' Fmax and so that the UART divisor ``sys_hz / baud`` is
exact at the offered rates (``bauds``, all within the USB bridge's range).

========== ============== ======= ======================= ========= ================= ==========
name       FPGA           crystal design clock (PLL)      UART      baud              programmer
========== ============== ======= ======================= ========= ================= ==========
icebreaker iCE40UP5K      12 MHz  24 MHz (SB_PLL40_PAD)   FT2232H   115200, 1/2/3/6 M iceprog,
                                                          ch B                        openFPGALoader
ulx3s-85f  ECP5 LFE5U-85F 25 MHz  50 MHz (EHXPLLL)        FT231X    115200, 1/2 M     openFPGALoader
                                                                                      or fujprog
orangecrab ECP5 LFE5U-25F 48 MHz  66 MHz (EHXPLLL)        external  115200, 1/2/3 M   dfu-util,
                                                          USB-UART                    openFPGALoader
========== ============== ======= ======================= ========= ================= ==========

The default baud is 1 M everywhere. The OrangeCrab's UART is on feather pins 0 (RX) / 1 (TX):
connect an external 3.3 V USB-UART (FT232R/FT232H/CP2102N class, 3 Mbaud). The PLL
parameters come from :mod:`synemu.boards.pll`; clocks and rates: docs/boards.md, "Clocks".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

__all__ = ["Board", "BOARDS", "get_board", "exact_baud"]


def exact_baud(clk_hz: float, baud: int) -> bool:
    """``clk_hz / baud`` is within 0.5 % of an integer divisor >= 4."""
    div = round(clk_hz / baud)
    return div >= 4 and abs(clk_hz / div - baud) <= 0.005 * baud


@dataclass(frozen=True)
class Board:
    """One target. ``xtal_hz``: the crystal on the platform's default clock pin (Hz);
    ``sys_hz``: the design clock made from it by the PLL (Hz); ``baud``: the default UART
    rate; ``bauds``: the rates offered (exact rates of the ``bridge``, the board's USB-UART,
    each with ``sys_hz / baud`` within 0.5 % of an integer >= 4); ``bridge_bauds``: every
    rate the bridge can run (default ``bauds``), from which :meth:`with_clock` picks the
    exact ones at another design clock. ``smem_guard``: the sequencer top-level's
    :attr:`~synemu.link.protocol.LinkSpec.smem_guard` (``"jobs"`` where the exact range checks
    do not fit). ``sequencer_lanes``: the most lanes a sequencer build of the board's
    reference array fits with (``synemu run`` uses it unless ``--lanes`` says otherwise;
    0: no cap)."""

    name: str
    family: str              # "ice40" | "ecp5"
    fpga: str
    xtal_hz: int
    sys_hz: int
    baud: int
    bauds: tuple
    bridge: str
    make_platform: Callable
    programmers: tuple       # (tool, argv template with {bitstream}) in preference order
    bitstream_ext: str       # ".bin" (iCE40) or ".bit" (ECP5)
    resources: dict          # resource name -> available count (for reports)
    note: str = ""
    bridge_bauds: tuple = ()
    smem_guard: str = "ranges"
    sequencer_lanes: int = 0

    def __post_init__(self):
        if self.baud not in self.bauds:
            raise ValueError(f"{self.name}: default baud {self.baud} not in {self.bauds}")
        bad = [r for r in self.bauds if not exact_baud(self.sys_hz, r)]
        if bad:
            raise ValueError(f"{self.name}: {bad} baud not exact at {self.sys_hz} Hz")

    @property
    def clk_hz(self) -> int:
        """The design clock (Hz), = ``sys_hz``."""
        return self.sys_hz

    @property
    def pll(self):
        """The PLL making ``sys_hz`` from ``xtal_hz`` (:class:`~synemu.boards.pll.ICE40PLL` /
        :class:`~synemu.boards.pll.ECP5PLL`); None if the design runs at the crystal."""
        from .pll import pll_for
        if self.sys_hz == self.xtal_hz:
            return None
        return pll_for(self.family, self.xtal_hz, self.sys_hz)

    def with_clock(self, hz: float) -> "Board":
        """This board with the design clock the PLL makes nearest ``hz`` (e.g. for a design
        whose Fmax is below ``sys_hz``; ``xtal_hz``: the crystal, no PLL); ValueError if that
        is more than 1 % off."""
        from .pll import ecp5_pll, ice40_pll
        if hz == self.xtal_hz:
            f = self.xtal_hz
        else:
            p = (ice40_pll if self.family == "ice40" else ecp5_pll)(float(self.xtal_hz),
                                                                    float(hz))
            if abs(p.f_out_hz - hz) > 0.01 * hz:
                raise ValueError(f"{self.name}: the {p.primitive} cannot make {hz / 1e6:g} MHz "
                                 f"from the {self.xtal_hz / 1e6:g} MHz crystal; nearest "
                                 f"{p.f_out_hz / 1e6:.6g} MHz")
            f = int(round(p.f_out_hz))
        bauds = tuple(r for r in (self.bridge_bauds or self.bauds) if exact_baud(f, r))
        if not bauds:
            raise ValueError(f"{self.name}: no UART rate of its {self.bridge} is exact at "
                             f"{f / 1e6:g} MHz")
        baud = self.baud if self.baud in bauds else max(bauds)
        return replace(self, sys_hz=f, bauds=bauds, baud=baud)

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
    Board("icebreaker", "ice40", "iCE40UP5K-SG48", xtal_hz=12_000_000, sys_hz=24_000_000,
          baud=1_000_000, bauds=(115_200, 1_000_000, 2_000_000, 3_000_000, 6_000_000),
          bridge="FT2232H", make_platform=_icebreaker,
          programmers=(("iceprog", ["iceprog", "{bitstream}"]),
                       ("openFPGALoader", ["openFPGALoader", "-b", "ice40_generic",
                                           "{bitstream}"])),
          bitstream_ext=".bin",
          resources={"LUT": 5280, "FF": 5280, "BRAM": 30, "SPRAM": 4, "DSP": 8},
          smem_guard="jobs", sequencer_lanes=2),
    Board("ulx3s-85f", "ecp5", "LFE5U-85F-6BG381C", xtal_hz=25_000_000, sys_hz=50_000_000,
          baud=1_000_000, bauds=(115_200, 1_000_000, 2_000_000), bridge="FT231X",
          bridge_bauds=(115_200, 1_000_000, 2_000_000, 3_000_000),
          make_platform=_ulx3s_85f,
          programmers=(("openFPGALoader", ["openFPGALoader", "-b", "ulx3s", "{bitstream}"]),
                       ("fujprog", ["fujprog", "{bitstream}"])),
          bitstream_ext=".bit", resources={"LUT": 83640, "FF": 83640, "BRAM": 208, "DSP": 156}),
    Board("orangecrab", "ecp5", "LFE5U-25F-8MG285C", xtal_hz=48_000_000, sys_hz=66_000_000,
          baud=1_000_000, bauds=(115_200, 1_000_000, 2_000_000, 3_000_000),
          bridge="external 3.3 V USB-UART (up to 3 Mbaud)", make_platform=_orangecrab_25f,
          programmers=(("dfu-util", ["dfu-util", "-a", "0", "-D", "{bitstream}"]),
                       ("openFPGALoader", ["openFPGALoader", "-b", "orangecrab",
                                           "{bitstream}"])),
          bitstream_ext=".bit", resources={"LUT": 24288, "FF": 24288, "BRAM": 56, "DSP": 28},
          note="UART on feather pins 0 (RX) / 1 (TX): connect a 3.3 V USB-UART adapter"),
]}


def get_board(name: str) -> Board:
    try:
        return BOARDS[name]
    except KeyError:
        raise ValueError(f"unknown board {name!r}; available: {', '.join(BOARDS)}") from None
