"""Board clocks from the PLL: parameters equal to the YoWASP icepll/ecppll tools, the
registry's clocks and baud rates, UART divisors, BoardTop elaboration with the PLL and a
pluggable core, and one real build per FPGA family timed at the PLL clock."""

import pytest
from dataclasses import replace
from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from synemu.boards.build import build_board, check_timing
from synemu.boards.platforms import BOARDS, get_board
from synemu.boards.pll import (ECP5PLL, ICE40PLL, PLLDomain, ecp5_pll, ice40_pll, pll_for,
                               run_ecppll, run_icepll)
from synemu.boards.top import BoardTop, board_spec
from synemu.link.protocol import LinkSpec
from synemu.spec.engine import EngineConfig
from synemu.spec.registry import make_device

MHZ = 1_000_000


def tiny(lanes=2, rows=4, cols=4):
    return EngineConfig(device=make_device("ideal", weight_bits=4, pulse_bits=4), rows=rows,
                        cols=cols, lanes=lanes, x_width=3, eta=2, err_width=8, t_pos=8,
                        t_neg=-8, time_width=16, tick_width=8, sample_width=16)


# -- PLL parameters ------------------------------------------------------------------------

@pytest.mark.parametrize("f_out", [24, 25, 27, 30, 16, 48, 100.5])
def test_ice40_pll_equals_icepll(f_out):
    p = ice40_pll(12e6, f_out * 1e6)
    t = run_icepll(12e6, f_out * 1e6)
    assert (p.divr, p.divf, p.divq, p.filter_range) == (t["DIVR"], t["DIVF"], t["DIVQ"],
                                                         t["FILTER_RANGE"])
    assert p.f_out_hz / MHZ == pytest.approx(t["f_out_mhz"], abs=1e-3)   # %.3f
    assert p.f_vco_hz / MHZ == pytest.approx(t["f_vco_mhz"], abs=1e-3)
    lo, hi = ICE40PLL.LIMITS["vco"]
    assert lo <= p.f_vco_hz / MHZ <= hi
    assert abs(p.f_out_hz - f_out * MHZ) / (f_out * MHZ) < 0.01


@pytest.mark.parametrize("f_in,f_out", [(25, 50), (48, 66), (25, 51), (48, 60), (25, 53),
                                        (48, 72), (25, 40), (25, 33.3), (48, 77.7), (12, 48)])
def test_ecp5_pll_equals_ecppll(f_in, f_out):
    p = ecp5_pll(f_in * 1e6, f_out * 1e6)
    t = run_ecppll(f_in * 1e6, f_out * 1e6)
    assert (p.clki_div, p.clkfb_div, p.clkop_div, p.clkop_cphase) == (
        t["CLKI_DIV"], t["CLKFB_DIV"], t["CLKOP_DIV"], t["CLKOP_CPHASE"])
    assert p.f_out_hz / MHZ == pytest.approx(t["f_out_mhz"], rel=1e-5)
    assert p.f_vco_hz / MHZ == pytest.approx(t["f_vco_mhz"], rel=1e-5)
    for key, f in (("vco", p.f_vco_hz), ("pfd", p.f_pfd_hz)):
        lo, hi = ECP5PLL.LIMITS[key]
        assert lo <= f / MHZ <= hi
    assert abs(p.f_out_hz - f_out * MHZ) / (f_out * MHZ) < 0.025   # 51 from 25: 50 MHz


def test_pll_errors():
    with pytest.raises(ValueError, match="PLL output frequency 300 MHz is outside 16..275 MHz"):
        ice40_pll(12e6, 300e6)
    with pytest.raises(ValueError, match="EHXPLLL cannot make 51 MHz from 25 MHz; nearest: 50 MHz"):
        pll_for("ecp5", 25e6, 51e6)
    with pytest.raises(ValueError, match="no PLL support for FPGA family 'gowin'"):
        pll_for("gowin", 25e6, 50e6)
    with pytest.raises(TypeError, match="PLLDomain needs an ICE40PLL or ECP5PLL"):
        PLLDomain(50e6)


# -- the registry and UART divisors --------------------------------------------------------

#: board -> (crystal MHz, design MHz, {baud: divisor})
CLOCKS = {
    "icebreaker": (12, 24, {115_200: 208, 1_000_000: 24, 2_000_000: 12, 3_000_000: 8,
                            6_000_000: 4}),
    "ulx3s-85f": (25, 50, {115_200: 434, 1_000_000: 50, 2_000_000: 25}),
    "orangecrab": (48, 66, {115_200: 573, 1_000_000: 66, 2_000_000: 33, 3_000_000: 22}),
}


@pytest.mark.parametrize("name", sorted(CLOCKS))
def test_board_clocks_and_divisors(name):
    b = get_board(name)
    xtal, sys_mhz, divs = CLOCKS[name]
    assert (b.xtal_hz, b.sys_hz, b.clk_hz) == (xtal * MHZ, sys_mhz * MHZ, sys_mhz * MHZ)
    assert b.platform().default_clk_frequency == b.xtal_hz
    assert b.sys_hz >= (24 if b.family == "ice40" else 50) * MHZ
    p = b.pll
    assert p.f_out_hz == b.sys_hz and p.f_in_hz == b.xtal_hz
    assert p.primitive == ("SB_PLL40_PAD" if b.family == "ice40" else "EHXPLLL")
    assert b.baud == 1_000_000 and set(b.bauds) == set(divs)
    for baud, div in divs.items():
        spec = board_spec(b, tiny(), baud)
        assert (spec.divisor, spec.clk_hz) == (div, b.sys_hz)
        assert abs(spec.baud - baud) / baud < 0.005
        assert spec.idle_clks == max(320 * div, b.sys_hz // 1000)
    assert board_spec(b, tiny()).divisor == b.sys_hz // 1_000_000     # default: exact


def test_baud_errors():
    with pytest.raises(ValueError, match=r"icebreaker: cannot make 12000000 baud: its FT2232H "
                                         r"USB-UART link runs at 115200, 1000000, 2000000, "
                                         r"3000000, 6000000 baud \(design clock 24 MHz\)"):
        board_spec(get_board("icebreaker"), tiny(), 12_000_000)
    with pytest.raises(ValueError, match="ulx3s-85f: cannot make 3000000 baud: its FT231X "
                                         "USB-UART link runs at 115200, 1000000, 2000000 baud"):
        board_spec(get_board("ulx3s-85f"), tiny(), 3_000_000)
    with pytest.raises(ValueError, match="orangecrab: cannot make 9600 baud: its external"):
        board_spec(get_board("orangecrab"), tiny(), 9600)
    # another design clock offers the bridge's rates exact there, and no other
    slow = get_board("icebreaker").with_clock(16.5e6)
    assert slow.sys_hz == 16_500_000 and slow.pll.f_out_hz == 16.5e6
    assert slow.bauds == (115_200,) and slow.baud == 115_200      # 16.5 / 1 M: not exact
    with pytest.raises(ValueError, match="cannot make 6000000 baud: its FT2232H USB-UART "
                                         r"link runs at 115200 baud \(design clock 16.5 MHz"):
        board_spec(slow, tiny(), 6_000_000)
    fast = get_board("ulx3s-85f").with_clock(54e6)      # the STDP network's ULX3S clock
    assert fast.sys_hz == 54_166_667 and 3_000_000 in fast.bauds
    assert board_spec(fast, tiny(), 3_000_000).divisor == 18
    assert 3_000_000 not in get_board("ulx3s-85f").bauds     # 50 MHz / 3 M = 16.67
    # a board listing a rate its clock cannot make exactly is refused
    with pytest.raises(ValueError, match=r"icebreaker: \[1000000\] baud not exact at 16500000"):
        replace(slow, bauds=(115_200, 1_000_000))
    assert get_board("ulx3s-85f").with_clock(40e6).pll.clkop_div == 15
    xtal = get_board("icebreaker").with_clock(12e6)     # the crystal itself: no PLL
    assert xtal.pll is None and board_spec(xtal, tiny()).divisor == 12
    with pytest.raises(ValueError, match="outside 16..275 MHz"):
        get_board("icebreaker").with_clock(400e6)


# -- elaboration -----------------------------------------------------------------------------

def _prepare(board, top):
    plan = board.platform().prepare(top, name="t")
    text = lambda f: plan.files[f] if isinstance(plan.files[f], str) else plan.files[f].decode()
    cons = text("t.pcf" if board.family == "ice40" else "t.lpf")
    return text("t.il"), cons


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_boardtop_pll_elaborates(name):
    b = get_board(name)
    top = BoardTop(board_spec(b, tiny()))
    il, cons = _prepare(b, top)
    assert top.pll == b.pll
    mhz = b.sys_hz / MHZ
    if b.family == "ice40":
        assert f"set_frequency cd_sync.clk {mhz}" in cons
        assert "cell \\SB_PLL40_PAD \\pll" in il
        for line in ("parameter \\DIVR 4'0000", "parameter \\DIVF 7'0111111",
                     "parameter \\DIVQ 3'101", "parameter \\FILTER_RANGE 3'001",
                     "connect \\PACKAGEPIN \\clk12_0__io"):
            assert line in il
    else:
        assert f'FREQUENCY NET "cd_sync.clk" {float(b.sys_hz)} HZ;' in cons
        assert "cell \\EHXPLLL \\pll" in il and "cell \\SGSR" in il
        for k, v in (("CLKI_DIV", b.pll.clki_div), ("CLKFB_DIV", b.pll.clkfb_div),
                     ("CLKOP_DIV", b.pll.clkop_div), ("CLKOP_CPHASE", b.pll.clkop_cphase)):
            assert f"parameter \\{k} {v}\n" in il
    assert "ArrayEngine" in il or "engine" in il


class Loopback(wiring.Component):
    """A core echoing rx to tx (a stand-in for other link cores)."""

    rx: In(1, init=1)
    tx: Out(1, init=1)
    activity: Out(1)

    def elaborate(self, platform):
        m = Module()
        m.d.sync += [self.tx.eq(self.rx), self.activity.eq(~self.rx)]
        return m


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_boardtop_pluggable_core_and_crystal_clock():
    b = get_board("icebreaker")
    spec = board_spec(b, tiny())
    il, _ = _prepare(b, BoardTop(spec, core=Loopback()))
    assert "SB_PLL40_PAD" in il and "module \\t.link\n" in il and "t.link.engine" not in il

    class NoTx(Elaboratable):
        rx, activity = Signal(), Signal()

        def elaborate(self, platform):
            return Module()
    with pytest.raises(TypeError, match="BoardTop core NoTx has no tx port"):
        BoardTop(spec, core=NoTx())
    with pytest.raises(TypeError, match="BoardTop needs a LinkSpec"):
        BoardTop(b)
    # a spec at the crystal frequency runs from the crystal (no PLL), as before
    top = BoardTop(LinkSpec(tiny(), divisor=12, clk_hz=12_000_000))
    il, cons = _prepare(b, top)
    assert top.pll is None and "SB_PLL40" not in il and "set_frequency clk12_0__io 12.0" in cons


def test_check_timing_names_the_pll_clock():
    rep = {"board": "ulx3s-85f", "timing_met": False, "clock_net": "cd_sync.clk",
           "fmax_mhz": {"clk25_0__io": 300.0, "cd_sync.clk": 47.5}, "clock_mhz": 50.0,
           "critical_path": ["a -> b"], "build_dir": "x"}
    with pytest.raises(Exception, match="timing not met on clock cd_sync.clk: 47.5 MHz "
                                        "achieved, 50 MHz required"):
        check_timing(rep)


# -- real builds -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["icebreaker", "ulx3s-85f"])
def test_build_at_pll_clock(tmp_path, name):
    """A real YoWASP build of a tiny design (ideal 4x4, 2 lanes) meets timing at the PLL
    clock, and the report states that clock, the crystal and the PLL parameters."""
    b = get_board(name)
    rep = build_board(b, tiny(), tmp_path)
    mhz = b.sys_hz / MHZ
    assert rep["clock_mhz"] == mhz and rep["xtal_mhz"] == b.xtal_hz / MHZ
    clk = rep["clock_net"]      # nextpnr-ecp5 names the global "$glbnet$cd_sync.clk"
    assert clk == ("cd_sync.clk" if b.family == "ice40" else "$glbnet$cd_sync.clk")
    assert rep["constraint_mhz"][clk] == mhz
    assert rep["timing_met"] and rep["fmax_mhz"][clk] >= mhz
    assert rep["pll"] == b.pll.to_dict() and rep["pll"]["f_out_mhz"] == mhz
    assert rep["synapse_updates_per_s"] == 2 * b.sys_hz
    assert rep["uart_divisor"] == b.sys_hz // 1_000_000 and rep["baud"] == 1_000_000
    assert 0 < rep["resources"]["LUT"]["used"] < rep["resources"]["LUT"]["available"]
