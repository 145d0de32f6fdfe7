"""Design clocks from the FPGA's PLL: parameter search and the ``sync`` clock domain.

:func:`ice40_pll` and :func:`ecp5_pll` reimplement the searches of IceStorm's ``icepll``
(SB_PLL40_*, SIMPLE feedback) and Project Trellis' ``ecppll`` (EHXPLLL, CLKOP feedback)
exactly, including ``ecppll``'s single-precision arithmetic, so the parameters are computed
in process without running a tool; :func:`run_icepll` / :func:`run_ecppll` run the
``yowasp-icepll`` / ``yowasp-ecppll`` tools of the pinned YoWASP wheels for comparison
(``tests/test_pll.py`` checks both agree for every board clock).

:class:`PLLDomain` instantiates the PLL on the platform's default (crystal) clock, drives the
``sync`` domain from its output, holds ``sync`` in reset until the PLL has locked and adds the
output's clock constraint, so nextpnr checks timing at the design clock.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from amaranth.hdl import (ClockDomain, ClockSignal, Const, Elaboratable, Instance, Module,
                          Signal)
from amaranth.lib.cdc import FFSynchronizer

__all__ = ["ICE40PLL", "ECP5PLL", "ice40_pll", "ecp5_pll", "pll_for", "run_icepll",
           "run_ecppll", "PLLDomain"]


@dataclass(frozen=True)
class ICE40PLL:
    """SB_PLL40_PAD / SB_PLL40_CORE in SIMPLE feedback:
    f_out = f_in / (DIVR + 1) * (DIVF + 1) / 2**DIVQ (Hz)."""

    f_in_hz: float
    divr: int
    divf: int
    divq: int
    filter_range: int
    pad: bool = True         # SB_PLL40_PAD (input straight from the package pin)

    family = "ice40"
    #: icepll's limits, MHz: input, phase detector, VCO, output
    LIMITS = {"in": (10.0, 133.0), "pfd": (10.0, 133.0), "vco": (533.0, 1066.0),
              "out": (16.0, 275.0)}

    @property
    def primitive(self) -> str:
        return "SB_PLL40_PAD" if self.pad else "SB_PLL40_CORE"

    @property
    def f_pfd_hz(self) -> float:
        return self.f_in_hz / (self.divr + 1)

    @property
    def f_vco_hz(self) -> float:
        return self.f_pfd_hz * (self.divf + 1)

    @property
    def f_out_hz(self) -> float:
        return self.f_vco_hz / 2 ** self.divq

    @property
    def params(self) -> dict:
        """The primitive's parameters (as icepll writes them)."""
        return {"FEEDBACK_PATH": "SIMPLE", "DIVR": Const(self.divr, 4),
                "DIVF": Const(self.divf, 7), "DIVQ": Const(self.divq, 3),
                "FILTER_RANGE": Const(self.filter_range, 3)}

    def to_dict(self) -> dict:
        return {"primitive": self.primitive, "f_in_mhz": self.f_in_hz / 1e6,
                "f_pfd_mhz": self.f_pfd_hz / 1e6, "f_vco_mhz": self.f_vco_hz / 1e6,
                "f_out_mhz": self.f_out_hz / 1e6, "DIVR": self.divr, "DIVF": self.divf,
                "DIVQ": self.divq, "FILTER_RANGE": self.filter_range}


@dataclass(frozen=True)
class ECP5PLL:
    """EHXPLLL with CLKOP feedback: f_out = f_in / CLKI_DIV * CLKFB_DIV,
    f_vco = f_out * CLKOP_DIV (Hz)."""

    f_in_hz: float
    clki_div: int
    clkfb_div: int
    clkop_div: int
    clkop_cphase: int

    family = "ecp5"
    primitive = "EHXPLLL"
    #: ecppll's limits, MHz
    LIMITS = {"in": (8.0, 400.0), "pfd": (3.125, 400.0), "vco": (400.0, 800.0),
              "out": (10.0, 400.0)}

    @property
    def f_pfd_hz(self) -> float:
        return self.f_in_hz / self.clki_div

    @property
    def f_out_hz(self) -> float:
        return self.f_pfd_hz * self.clkfb_div

    @property
    def f_vco_hz(self) -> float:
        return self.f_out_hz * self.clkop_div

    @property
    def params(self) -> dict:
        """The primitive's parameters (as ecppll writes them)."""
        return {"PLLRST_ENA": "DISABLED", "INTFB_WAKE": "DISABLED",
                "STDBY_ENABLE": "DISABLED", "DPHASE_SOURCE": "DISABLED",
                "OUTDIVIDER_MUXA": "DIVA", "OUTDIVIDER_MUXB": "DIVB",
                "OUTDIVIDER_MUXC": "DIVC", "OUTDIVIDER_MUXD": "DIVD",
                "CLKI_DIV": self.clki_div, "CLKOP_ENABLE": "ENABLED",
                "CLKOP_DIV": self.clkop_div, "CLKOP_CPHASE": self.clkop_cphase,
                "CLKOP_FPHASE": 0, "FEEDBK_PATH": "CLKOP", "CLKFB_DIV": self.clkfb_div}

    @property
    def attrs(self) -> dict:
        """The analog settings and frequency attributes ecppll puts on the instance."""
        return {"FREQUENCY_PIN_CLKI": f"{self.f_in_hz / 1e6:g}",
                "FREQUENCY_PIN_CLKOP": f"{self.f_out_hz / 1e6:g}", "ICP_CURRENT": "12",
                "LPF_RESISTOR": "8", "MFG_ENABLE_FILTEROPAMP": "1", "MFG_GMCREF_SEL": "2"}

    def to_dict(self) -> dict:
        return {"primitive": self.primitive, "f_in_mhz": self.f_in_hz / 1e6,
                "f_pfd_mhz": self.f_pfd_hz / 1e6, "f_vco_mhz": self.f_vco_hz / 1e6,
                "f_out_mhz": self.f_out_hz / 1e6, "CLKI_DIV": self.clki_div,
                "CLKFB_DIV": self.clkfb_div, "CLKOP_DIV": self.clkop_div,
                "CLKOP_CPHASE": self.clkop_cphase}


def _check_range(what, mhz, lim):
    if not lim[0] <= mhz <= lim[1]:
        raise ValueError(f"PLL {what} frequency {mhz:g} MHz is outside {lim[0]:g}..{lim[1]:g} MHz")


@lru_cache(maxsize=None)
def ice40_pll(f_in_hz: float, f_out_hz: float, pad: bool = True) -> ICE40PLL:
    """icepll's search (SIMPLE feedback): over DIVR 0..15, DIVF 0..127, DIVQ 1..6 with the
    phase detector and VCO in range, the first setting of least ``|f_out - target|``."""
    lim = ICE40PLL.LIMITS
    fin, fout = f_in_hz / 1e6, f_out_hz / 1e6
    _check_range("input", fin, lim["in"])
    _check_range("output", fout, lim["out"])
    best = None
    for divr in range(16):
        f_pfd = fin / (divr + 1)
        if not lim["pfd"][0] <= f_pfd <= lim["pfd"][1]:
            continue
        for divf in range(128):
            f_vco = f_pfd * (divf + 1)
            if not lim["vco"][0] <= f_vco <= lim["vco"][1]:
                continue
            for divq in range(1, 7):
                f = f_vco * 2.0 ** -divq
                if best is None or abs(f - fout) < abs(best[0] - fout):
                    best = (f, divr, divf, divq)
    if best is None:
        raise ValueError(f"no iCE40 PLL setting makes {fout:g} MHz from {fin:g} MHz")
    _, divr, divf, divq = best
    f_pfd = fin / (divr + 1)
    filt = 1 + sum(f_pfd >= hi for hi in (17, 26, 44, 66, 101))     # icepll's FILTER_RANGE
    return ICE40PLL(f_in_hz, divr, divf, divq, filt, pad)


@lru_cache(maxsize=None)
def ecp5_pll(f_in_hz: float, f_out_hz: float) -> ECP5PLL:
    """ecppll's search in its single precision: over CLKI_DIV 1..128, CLKFB_DIV 1..80,
    CLKOP_DIV 1..128 with the phase detector and VCO in range, least ``|f_out - target|``,
    ties to the VCO nearest 600 MHz, then the first found; CLKOP_CPHASE = a half output
    period in VCO cycles (truncated, as ecppll computes it)."""
    import numpy as np
    f32 = np.float32
    lim = ECP5PLL.LIMITS
    fin, fout = f32(f_in_hz / 1e6), f32(f_out_hz / 1e6)
    _check_range("input", float(fin), lim["in"])
    _check_range("output", float(fout), lim["out"])
    fb = np.arange(1, 81, dtype=f32)[:, None]
    od = np.arange(1, 129, dtype=f32)[None, :]
    best = None                     # (err, |vco - 600|, clki, clkfb, clkop, fout, fvco)
    for clki in range(1, 129):
        fpfd = f32(fin / f32(clki))
        if fpfd < f32(lim["pfd"][0]) or fpfd > f32(lim["pfd"][1]):
            continue
        fvco = (fpfd * fb).astype(f32) * od
        ok = (fvco >= f32(lim["vco"][0])) & (fvco <= f32(lim["vco"][1]))
        if not ok.any():
            continue
        fo = (fvco / od).astype(f32)
        err = np.where(ok, np.abs(fo - fout), np.inf).astype(f32)
        dist = np.abs(fvco - f32(600)).astype(f32)
        e = err.min()
        cand = np.argwhere(err == e)            # row-major: ecppll's loop order
        k = min(range(len(cand)), key=lambda i: (dist[tuple(cand[i])], i))
        i, j = cand[k]
        row = (e, dist[i, j], clki, i + 1, j + 1, fo[i, j], fvco[i, j])
        if best is None or row[0] < best[0] or (row[0] == best[0] and row[1] < best[1]):
            best = row
    if best is None:
        raise ValueError(f"no ECP5 PLL setting makes {float(fout):g} MHz from {float(fin):g} MHz")
    _, _, clki, clkfb, clkop, fo, fvco = best
    ns_phase = f32(1 / (float(fo) * 1e6) * 0.5)
    cphase = int(float(ns_phase) * (float(fvco) * 1e6))
    return ECP5PLL(f_in_hz, clki, int(clkfb), int(clkop), cphase)


def pll_for(family: str, f_in_hz: float, f_out_hz: float, *, tol_hz: float = 1.0):
    """The PLL making ``f_out_hz`` from ``f_in_hz`` on ``family`` ("ice40" | "ecp5");
    ValueError if its output is more than ``tol_hz`` from the request."""
    fam = family.lower()
    if fam == "ice40":
        p = ice40_pll(float(f_in_hz), float(f_out_hz))
    elif fam == "ecp5":
        p = ecp5_pll(float(f_in_hz), float(f_out_hz))
    else:
        raise ValueError(f"no PLL support for FPGA family {family!r} (ice40, ecp5)")
    if abs(p.f_out_hz - f_out_hz) > tol_hz:
        raise ValueError(f"the {p.primitive} cannot make {f_out_hz / 1e6:g} MHz from "
                         f"{f_in_hz / 1e6:g} MHz; nearest: {p.f_out_hz / 1e6:.6g} MHz")
    return p


# -- the YoWASP tools, for comparison --------------------------------------------------------

def _tool(name):
    from ..sim.tools import venv_bin_dir
    exe = venv_bin_dir() / name
    if not exe.is_file():
        raise RuntimeError(f"{name} not found in {exe.parent}: pip install yowasp-nextpnr-"
                           f"{'ice40' if 'ice' in name else 'ecp5'}")
    return str(exe)


def _mhz(hz):
    return repr(hz / 1e6)


def run_icepll(f_in_hz: float, f_out_hz: float) -> dict:
    """``yowasp-icepll -i IN -o OUT``: ``{f_out_mhz, f_pfd_mhz, f_vco_mhz, DIVR, DIVF, DIVQ,
    FILTER_RANGE}`` parsed from its report."""
    out = subprocess.run([_tool("yowasp-icepll"), "-i", _mhz(f_in_hz), "-o", _mhz(f_out_hz)],
                         capture_output=True, text=True, check=True).stdout
    num = lambda key: float(re.search(rf"^{key}:\s*([\d.]+)", out, re.M).group(1))
    return {"f_out_mhz": float(re.search(r"F_PLLOUT:\s*([\d.]+) MHz \(achieved\)", out)
                               .group(1)),
            "f_pfd_mhz": num("F_PFD"), "f_vco_mhz": num("F_VCO"),
            **{k: int(num(k)) for k in ("DIVR", "DIVF", "DIVQ", "FILTER_RANGE")}}


def run_ecppll(f_in_hz: float, f_out_hz: float) -> dict:
    """``yowasp-ecppll -i IN -o OUT -f pll.v``: ``{f_out_mhz, f_vco_mhz, CLKI_DIV, CLKFB_DIV,
    CLKOP_DIV, CLKOP_CPHASE}`` from its report and the Verilog it writes."""
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run([_tool("yowasp-ecppll"), "-i", _mhz(f_in_hz), "-o",
                              _mhz(f_out_hz), "-f", "pll.v"], cwd=d, capture_output=True,
                             text=True, check=True).stdout
        v = (Path(d) / "pll.v").read_text()
    par = lambda key: int(re.search(rf"\.{key}\((\d+)\)", v).group(1))
    return {"f_out_mhz": float(re.search(r"clkout0 frequency: ([\d.]+) MHz", out).group(1)),
            "f_vco_mhz": float(re.search(r"VCO frequency: ([\d.]+)", out).group(1)),
            **{k: par(k) for k in ("CLKI_DIV", "CLKFB_DIV", "CLKOP_DIV", "CLKOP_CPHASE")}}


# -- the clock domain ------------------------------------------------------------------------

class PLLDomain(Elaboratable):
    """Drives the ``sync`` domain at ``pll.f_out_hz`` from the platform's default clock pin.

    ``pll``: :class:`ICE40PLL` or :class:`ECP5PLL` whose input is that clock. ``domain`` (the
    :class:`ClockDomain` it drives) must be added by the parent module (Amaranth wants a
    domain defined above all its users): ``m.domains += pll_domain.domain``. ``sync`` is held
    in reset until the PLL has locked: on iCE40 by its synchronous reset, released ``por_s``
    (s) after lock (block RAMs read as zero for ~3 us after configuration); on ECP5 by the
    global set/reset (SGSR), released two clocks after lock, with ``sync`` reset-less as in
    Amaranth's own ECP5 clocking. ``locked`` (out) is the PLL's lock output.
    """

    def __init__(self, pll, *, por_s: float = 15e-6):
        if not isinstance(pll, (ICE40PLL, ECP5PLL)):
            raise TypeError(f"PLLDomain needs an ICE40PLL or ECP5PLL, not {pll!r}")
        if not 0 <= por_s <= 1:
            raise ValueError(f"por_s must be in 0..1 s, not {por_s!r}")
        self.pll, self.por_s = pll, por_s
        self.domain = ClockDomain("sync", reset_less=pll.family == "ecp5")
        self.locked = Signal()

    def elaborate(self, platform):
        from amaranth.lib import io
        p = self.pll
        m = Module()
        if platform is None:
            raise ValueError("PLLDomain needs a platform (its default clock feeds the PLL)")
        if platform.family.lower() != p.family:
            raise ValueError(f"{p.primitive} on a {platform.family} platform")
        f_in = platform.default_clk_frequency
        if abs(f_in - p.f_in_hz) > 1:
            raise ValueError(f"the PLL expects a {p.f_in_hz / 1e6:g} MHz input, the "
                             f"platform's {platform.default_clk} is {f_in / 1e6:g} MHz")
        clk_pin = platform.request(platform.default_clk, dir="-")
        # the PLL output drives the sync clock (driven here, the net is named after this
        # module, e.g. cd_sync.clk as the platform's own domain)
        clk, locked = self.domain.clk, self.locked
        pll_out = Signal()
        m.d.comb += clk.eq(pll_out)
        if p.family == "ice40":
            if p.pad:       # the pin drives the PLL directly (it is the PLL's own pad)
                ref = {"io_PACKAGEPIN": clk_pin.io}
            else:
                m.submodules.clk_buf = clk_buf = io.Buffer("i", clk_pin)
                ref = {"i_REFERENCECLK": clk_buf.i}
            m.submodules.pll = Instance(
                p.primitive, **{f"p_{k}": v for k, v in p.params.items()}, **ref,
                i_RESETB=Const(1), i_BYPASS=Const(0), o_PLLOUTGLOBAL=pll_out, o_LOCK=locked)
        else:
            m.submodules.clk_buf = clk_buf = io.Buffer("i", clk_pin)
            m.submodules.pll = Instance(
                p.primitive, **{f"p_{k}": v for k, v in p.params.items()},
                **{f"a_{k}": v for k, v in p.attrs.items()},
                i_CLKI=clk_buf.i, o_CLKOP=pll_out, i_CLKFB=pll_out, i_RST=Const(0),
                i_STDBY=Const(0), i_PHASESEL0=Const(0), i_PHASESEL1=Const(0),
                i_PHASEDIR=Const(1), i_PHASESTEP=Const(1), i_PHASELOADREG=Const(1),
                i_PLLWAKESYNC=Const(0), i_ENCLKOP=Const(0), o_LOCK=locked)
        platform.add_clock_constraint(clk, p.f_out_hz)

        if p.family == "ice40":
            m.domains.por = ClockDomain("por", reset_less=True, local=True)
            m.d.comb += ClockSignal("por").eq(clk)
            lock_s = Signal()
            m.submodules.lock_sync = FFSynchronizer(locked, lock_s, o_domain="por")
            delay = max(1, int(self.por_s * p.f_out_hz))
            timer = Signal(range(delay + 1))
            ready = Signal()
            with m.If(~lock_s):
                m.d.por += [timer.eq(0), ready.eq(0)]
            with m.Elif(timer == delay):
                m.d.por += ready.eq(1)
            with m.Else():
                m.d.por += timer.eq(timer + 1)
            m.d.comb += self.domain.rst.eq(~ready)
        else:
            gsr0, gsr1 = Signal(), Signal()
            m.submodules += [
                Instance("FD1S3AX", p_GSR="DISABLED", i_CK=clk, i_D=locked, o_Q=gsr0),
                Instance("FD1S3AX", p_GSR="DISABLED", i_CK=clk, i_D=gsr0, o_Q=gsr1),
                Instance("SGSR", i_CLK=clk, i_GSR=gsr1),
            ]
        return m

