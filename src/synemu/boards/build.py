"""Bitstream builds with the YoWASP open toolchain (yosys + nextpnr + icepack/ecppack wheels).

:func:`build_board` elaborates :class:`~synemu.boards.top.BoardTop` (the design clocked by the
board's PLL at ``Board.sys_hz``), runs Amaranth's build script with the ``yowasp-*`` tools
(``synemu.sim.tools.yowasp_env``) and returns a report: resource use (LUT, FF, BRAM, SPRAM,
DSP; used / available), ``fmax_mhz`` per clock from nextpnr's ``--report`` JSON with the
constraint it must meet (``constraint_mhz``), the design clock (``clock_mhz``, the PLL
output; ``xtal_mhz``; ``pll`` parameters), the bitstream path, and the link parameters. A
design that does not fit or misses timing at the design clock raises :class:`BuildFailed`
naming the resource or the failing clock path.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

from ..spec.engine import EngineConfig
from ..gateware.link import RX_QUEUE
from .platforms import Board, get_board
from .top import BoardTop, board_spec

__all__ = ["BuildFailed", "build_board", "check_timing", "bram_estimate", "parse_nextpnr_report",
           "explain_failure", "capacity_sweep", "capacity_tasks", "capacity_point"]

NAME = "synemu_top"

#: nextpnr cell type -> report resource
_CELLS = {
    "ice40": {"ICESTORM_LC": "LUT", "ICESTORM_RAM": "BRAM", "ICESTORM_SPRAM": "SPRAM",
              "ICESTORM_DSP": "DSP"},
    "ecp5": {"TRELLIS_COMB": "LUT", "TRELLIS_FF": "FF", "DP16KD": "BRAM",
             "MULT18X18D": "DSP"},
}


class BuildFailed(RuntimeError):
    """The design does not fit the FPGA, misses timing, or a tool failed."""


def parse_nextpnr_report(path, family: str) -> dict:
    """``{"resources": {LUT: {used, available}, ...}, "fmax_mhz": {clock: MHz},
    "constraint_mhz": {clock: MHz}, "critical_path": [...]}`` from ``nextpnr --report``."""
    rep = json.loads(Path(path).read_text())
    res = {}
    for cell, name in _CELLS[family].items():
        u = rep.get("utilization", {}).get(cell)
        if u is not None:
            res[name] = {"used": int(u["used"]), "available": int(u["available"])}
    fmax = {k: round(float(v["achieved"]), 2) for k, v in rep.get("fmax", {}).items()}
    cons = {k: round(float(v["constraint"]), 2) for k, v in rep.get("fmax", {}).items()}
    crit = []
    for p in rep.get("critical_paths", [])[:1]:
        crit = [f"{p.get('from')} -> {p.get('to')}"] + [
            f"{s.get('from', {}).get('cell', '?')} -> {s.get('to', {}).get('cell', '?')}"
            for s in p.get("path", []) if s.get("type") == "routing"][-4:]
    return {"resources": res, "fmax_mhz": fmax, "constraint_mhz": cons, "critical_path": crit}


def _yosys_cells(rpt: Path) -> dict:
    """Cell counts from the last ``stat`` in yosys' log."""
    try:
        text = rpt.read_text(errors="replace")
    except OSError:
        return {}
    cells = {}
    for m in re.finditer(r"^\s+(\d+)\s+\S*\s*\$?((?:SB|TRELLIS|DP16KD|MULT18|LUT4|CCU2C|PFUMX|L6MUX)\w*)\s*$",
                         text, re.M):
        cells[m.group(2)] = int(m.group(1))
    if not cells:   # older format: "     SB_LUT4    123"
        for m in re.finditer(r"^\s+((?:SB|TRELLIS|DP16KD|MULT18|LUT4|CCU2C)\w*)\s+(\d+)\s*$",
                             text, re.M):
            cells[m.group(1)] = int(m.group(2))
    return cells


#: block RAM shapes (depth, width) per family
_BRAM_SHAPES = {"ice40": [(256, 16), (512, 8), (1024, 4), (2048, 2)],
                "ecp5": [(512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1)]}


#: whether ``synemu build`` includes the sample memory and sequencer by default. Not yet on
#: the iCE40UP5K: with them the link core needs 5,330 logic cells for a 2x4 array and 6,387
#: for the digits array (10x68, 4 lanes), of the UP5K's 5,280 (docs/boards.md)
SEQUENCER_DEFAULT = {"ice40": False, "ecp5": True}


def bram_estimate(family: str, config: EngineConfig, tx_max: int = 64, smem_words: int = 0) -> int:
    """Block RAMs the design needs if every memory maps to BRAM: lanes x state memory,
    link buffers (receive FIFO and frame buffer, ``tx_max`` B reply, hello ROM) and, on
    the ECP5, a sample memory of ``smem_words`` 16-bit words (the iCE40UP5K's is in its
    SPRAM)."""
    def blocks(depth, width):
        return min(-(-depth // d) * -(-width // w) for d, w in _BRAM_SHAPES[family])
    c = config
    smem = blocks(smem_words, 16) if smem_words and family == "ecp5" else 0
    return (c.lanes * blocks(c.depth, c.device.state_width) + blocks(RX_QUEUE, 8)
            + blocks(256, 8) + blocks(tx_max, 8) + 1 + smem)


def explain_failure(log_text: str, family: str) -> str:
    """The first nextpnr/yosys ERROR line, translated to the resource or clock it names."""
    errs = [l.strip() for l in log_text.splitlines() if "ERROR" in l]
    if not errs and ("Wasm exception" in log_text or "wasm trap" in log_text.lower()):
        steps = re.findall(r"^[\d.]+\. Executing (.+)$", log_text, re.M)
        return ("the YoWASP tool crashed (32-bit WebAssembly: at most 4 GB of memory), most "
                "likely the design is too large to synthesise"
                + (f"; last step: {steps[-1]}" if steps else ""))
    if not errs:
        return "build tool failed (no ERROR line in the log)"
    e = errs[0]
    m = (re.search(r"cell type '(\w+)'", e) or re.search(r"requires (\d+) (\w+) cells", e)
         or re.search(r"Failed to expand region .* of \d+ (\w+?)s?$", e))
    if "no BELs remaining" in e or "Unable to place" in e or "Design uses" in e or m:
        cell = m.group(1) if m else "?"
        name = _CELLS.get(family, {}).get(cell, cell)
        return f"design does not fit: out of {name} ({cell}) - {e}"
    m = re.search(r"Max frequency for clock '([^']+)': ([\d.]+) MHz \(FAIL at ([\d.]+) MHz\)", e)
    if m:
        return (f"timing not met on clock {m.group(1)}: {m.group(2)} MHz achieved, "
                f"{m.group(3)} MHz required - {e}")
    return e


def run_plan(plan, bdir: Path, board: Board, name: str) -> None:
    """Extract an Amaranth build ``plan`` into the new directory ``bdir`` and run it with the
    YoWASP tools (output in ``bdir/build-output.log``); BuildFailed names the resource or
    clock of the first error (:func:`explain_failure`)."""
    from ..sim.tools import yowasp_env
    env = yowasp_env()
    for tool in ("OPENFPGALOADER", "DFU_SUFFIX", "ICEPROG", "DFU_UTIL"):
        env.setdefault(tool, "true")      # not run during a build, but named by the script
    log_out = bdir / "build-output.log"
    try:
        bdir.mkdir(parents=True)
        plan.extract(str(bdir))
        with open(log_out, "w") as lf:
            subprocess.run(["sh", f"{plan.script}.sh"], cwd=bdir, env=env, check=True,
                           stdout=lf, stderr=subprocess.STDOUT)
    except subprocess.CalledProcessError:
        text = ""
        for f in (bdir / f"{name}.tim", bdir / f"{name}.rpt", log_out):
            if f.is_file():
                text += f.read_text(errors="replace") + "\n"
        raise BuildFailed(f"{board.name}: {explain_failure(text, board.family)} "
                          f"(logs in {bdir})") from None


def build_board(board: str | Board, config: EngineConfig, out, *, baud: int | None = None,
                sys_hz: float | None = None, seed: int = 1, keep_going: bool = False,
                make_core=None, sequencer: bool | None = None,
                netlist: bool = False) -> dict:
    """Build the bitstream of ``config`` for ``board`` into ``out``; returns the report dict
    (also written to ``out/report.json``). ``sys_hz``: run the design at the PLL frequency
    nearest this instead of ``Board.sys_hz`` (Hz; :meth:`Board.with_clock`). ``keep_going``:
    report a timing failure instead of raising (for capacity sweeps). ``make_core``: a
    callable ``LinkSpec -> Elaboratable`` with ``rx``/``tx``/``activity`` ports (default
    :class:`~synemu.gateware.link.LinkTop`). ``sequencer``: include the sample memory
    (:data:`~synemu.gateware.sequencer.SMEM_WORDS` of the family) and the on-chip training
    sequencer (``synemu run --mode resident|stream``); False: host mode only; None: the
    family's default, :data:`SEQUENCER_DEFAULT`. ``netlist``:
    also write the synthesised netlist (``write_verilog -noattr`` right after ``synth_*`` in
    the same yosys run; ``report["netlist"]``) for gate-level simulation
    (:mod:`synemu.boards.bitstream`)."""
    from ..gateware.sequencer import SMEM_WORDS
    b = get_board(board) if isinstance(board, str) else board
    if sys_hz is not None:
        b = b.with_clock(sys_hz)
    if sequencer is None:
        sequencer = SEQUENCER_DEFAULT[b.family]
    spec = board_spec(b, config, baud, SMEM_WORDS[b.family] if sequencer else 0)
    need = bram_estimate(b.family, config, spec.tx_max, spec.smem_words)
    have = b.resources["BRAM"]
    if need > have:
        raise BuildFailed(
            f"{b.name}: design does not fit: out of BRAM - the {config.lanes} lane memories of "
            f"{config.depth} x {config.device.state_width}-bit {config.device.name} state words "
            f"plus link buffers{' and sample memory' if spec.smem_words and b.family == 'ecp5' else ''} "
            f"need about {need} block RAMs, the {b.fpga} has {have} "
            f"(use fewer synapses or a narrower device"
            f"{', or build without the sequencer' if spec.smem_words else ''})")
    out = Path(out)
    bdir = out / f"build-{b.name}"
    if bdir.exists():
        shutil.rmtree(bdir)
    out.mkdir(parents=True, exist_ok=True)
    plat = b.platform()
    t0 = time.perf_counter()
    opts = ["--report", f"{NAME}.report.json", "--seed", str(seed)]
    if keep_going:
        opts.append("--timing-allow-fail")
    kw = {"nextpnr_opts": opts}
    if b.family == "ice40":
        kw["synth_opts"] = ["-dsp"]     # map multipliers to SB_MAC16
    if netlist:
        kw["script_after_synth"] = f"write_verilog -noattr {NAME}.netlist.v"
    top = BoardTop(spec, make_core(spec) if make_core is not None else None)
    plan = plat.prepare(top, name=NAME, **kw)
    run_plan(plan, bdir, b, NAME)
    seconds = time.perf_counter() - t0
    rep = parse_nextpnr_report(bdir / f"{NAME}.report.json", b.family)
    cells = _yosys_cells(bdir / f"{NAME}.rpt")
    res = rep["resources"]
    if b.family == "ice40":
        ff = sum(v for k, v in cells.items() if k.startswith("SB_DFF"))
        res["FF"] = {"used": ff, "available": b.resources["FF"]}
        res.setdefault("SPRAM", {"used": 0, "available": b.resources["SPRAM"]})
    else:
        res.setdefault("SPRAM", {"used": 0, "available": 0})
    for k in ("LUT", "FF", "BRAM", "DSP"):
        res.setdefault(k, {"used": 0, "available": b.resources.get(k, 0)})
    src = bdir / f"{NAME}{b.bitstream_ext}"
    bit = out / f"synemu-{b.name}{b.bitstream_ext}"
    shutil.copyfile(src, bit)
    clock_mhz = spec.clk_hz / 1e6
    clock = _design_clock(rep, clock_mhz)
    fmax = rep["fmax_mhz"].get(clock) if clock else None
    report = {
        "board": b.name, "fpga": b.fpga, "family": b.family,
        "device": config.device.name, "rows": config.rows, "cols": config.cols,
        "lanes": config.lanes, "synapses": config.rows * config.cols,
        "resources": res, "fmax_mhz": rep["fmax_mhz"], "constraint_mhz": rep["constraint_mhz"],
        "clock_mhz": clock_mhz, "clock_net": clock, "xtal_mhz": b.xtal_hz / 1e6,
        "pll": top.pll.to_dict() if top.pll is not None else None,
        "timing_met": fmax is not None and fmax >= clock_mhz,
        "critical_path": rep["critical_path"],
        "memory_cells": {k: v for k, v in cells.items()
                         if k in ("SB_RAM40_4K", "SB_SPRAM256KA", "DP16KD", "TRELLIS_DPR16X4")},
        "synapse_updates_per_s": config.lanes * spec.clk_hz,
        "baud": int(round(spec.baud)), "uart_divisor": spec.divisor,
        "sequencer": bool(spec.smem_words), "smem_words": spec.smem_words,
        "engine": config.to_dict(), "bitstream": str(bit), "build_dir": str(bdir),
        "seconds": round(seconds, 1),
    }
    if netlist:
        report["netlist"] = str(bdir / f"{NAME}.netlist.v")
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    if not keep_going:
        check_timing(report)
    return report


def _design_clock(rep: dict, clock_mhz: float) -> str | None:
    """The nextpnr clock net of the design clock: ``cd_sync.clk`` (``$glbnet$cd_sync.clk``
    once nextpnr-ecp5 put it on a global) if reported, else the clock constrained nearest
    ``clock_mhz``."""
    for k in rep["fmax_mhz"]:
        if k.split("$")[-1] == "cd_sync.clk":
            return k
    cons = rep["constraint_mhz"]
    return min(cons, key=lambda k: abs(cons[k] - clock_mhz), default=None)


def check_timing(report: dict) -> None:
    """Raise :class:`BuildFailed` naming the clock and critical path if timing is not met at
    the design clock."""
    if report["timing_met"]:
        return
    clock = report.get("clock_net") or next(iter(report["fmax_mhz"]), "?")
    fmax = report["fmax_mhz"].get(clock)
    raise BuildFailed(f"{report['board']}: timing not met on clock {clock}: {fmax} MHz "
                      f"achieved, {report['clock_mhz']:g} MHz required (critical path: "
                      f"{'; '.join(report['critical_path'][:3]) or 'see ' + report['build_dir']})")


def _capacity_dir(board: str, device: str, n: int, lanes: int, preset=None,
                  device_params=None, engine=None) -> str:
    """Build directory name of one capacity point: distinct for every preset, device
    parameter and engine override, so parallel builds never share a directory."""
    import hashlib

    from ..fsutil import file_stem
    name = f"cap-{board}-{device}" + (f"-{file_stem(preset)}" if preset else "")
    name += f"-{n}x{n}x{lanes}"
    if device_params or engine:
        tag = json.dumps({"params": device_params or {}, "engine": engine or {}},
                         sort_keys=True, default=str)
        name += "-" + hashlib.sha256(tag.encode()).hexdigest()[:8]
    return name


def capacity_point(board: str, device: str, n: int, lanes: int, out: str,
                   preset: str | None = None, device_params: dict | None = None,
                   engine: dict | None = None) -> dict:
    """One capacity point (a campaign task; JSON arguments and result): warm the YoWASP
    cache (:func:`synemu.sim.tools.warm_yowasp`), build the ``n x n`` array into ``out``
    (timing failures reported, not raised) and return its row (see :func:`capacity_sweep`).
    The engine is built host-mode only (no sample memory: ``synemu build --host-only``), so
    the sweep measures what the array itself can reach."""
    from ..sim.tools import warm_yowasp, yowasp_tools
    from ..spec.registry import make_device
    b = get_board(board)
    dev = make_device(device, preset=preset, **(device_params or {}))
    cfg = EngineConfig(device=dev, rows=n, cols=n, lanes=lanes, **(engine or {}))
    row = {"board": b.name, "device": device, "rows": n, "cols": n, "lanes": lanes}
    warm_yowasp(yowasp_tools(b.family))
    try:
        rep = build_board(b, cfg, out, keep_going=True, sequencer=False)
    except BuildFailed as e:
        return {**row, "fits": False, "error": str(e)}
    r = rep["resources"]
    fmax = next(iter(rep["fmax_mhz"].values()), 0.0)
    return {**row, "fits": True, "fmax_mhz": fmax, "clock_mhz": rep["clock_mhz"],
            "timing_met": rep["timing_met"], "lut": r["LUT"]["used"],
            "lut_available": r["LUT"]["available"], "ff": r["FF"]["used"],
            "bram": r["BRAM"]["used"], "bram_available": r["BRAM"]["available"],
            "dsp": r["DSP"]["used"],
            "synapse_updates_per_s_at_fmax": lanes * fmax * 1e6,
            "seconds": rep["seconds"], "error": None}


def capacity_tasks(board: str, device: str, *, lanes: int = 4, sizes=(16, 32, 64),
                   out="build", preset: str | None = None, device_params: dict | None = None,
                   engine: dict | None = None) -> list:
    """The campaign tasks (:class:`synemu.campaign.Task`) of a capacity sweep, one
    :func:`capacity_point` per distinct size, each building in its own directory under
    ``out``. The board, device and every engine configuration are checked here, in the
    calling process (a ValueError before any build)."""
    from ..campaign import Task
    from ..spec.registry import make_device
    b = get_board(board)
    dev = make_device(device, preset=preset, **(device_params or {}))
    root = Path(out).resolve()
    tasks = []
    for n in dict.fromkeys(sizes):
        EngineConfig(device=dev, rows=n, cols=n, lanes=lanes, **(engine or {}))
        d = root / _capacity_dir(b.name, device, n, lanes, preset, device_params, engine)
        tasks.append(Task("synemu.boards.build:capacity_point",
                          {"board": b.name, "device": device, "n": n, "lanes": lanes,
                           "out": str(d), "preset": preset,
                           "device_params": dict(device_params or {}),
                           "engine": dict(engine or {})},
                          label=f"{b.name} {device}{'-' + preset if preset else ''} "
                                f"{n}x{n}x{lanes}"))
    return tasks


def capacity_sweep(board: str, device: str, *, lanes: int = 4, sizes=(16, 32, 64), out="build",
                   preset: str | None = None, device_params: dict | None = None,
                   engine: dict | None = None, workers: int = 1, scheduler: str | None = None,
                   records=None, resume: bool = True, show_progress: bool = False) -> list[dict]:
    """Build square ``n x n`` arrays (timing failures reported, not raised) for each size;
    one row per size: fits, fmax_mhz, lut, ff, bram, dsp, synapse_updates_per_s (lanes x
    min(Fmax, board clock)), error.

    The sizes are a campaign (:mod:`synemu.campaign`, one YoWASP build per task in
    its own directory): ``workers`` local processes or a dask ``scheduler`` address;
    ``records``: a directory keeping finished points (a rerun skips them; None: none kept).
    A point that fails other than by not fitting raises RuntimeError after the others."""
    from ..campaign import run_campaign
    tasks = capacity_tasks(board, device, lanes=lanes, sizes=sizes, out=out, preset=preset,
                           device_params=device_params, engine=engine)
    res = run_campaign(tasks, records, workers=workers, scheduler=scheduler, resume=resume,
                       desc=f"capacity {board}/{device}", show_progress=show_progress)
    res.raise_on_failure()
    return res.results()
