"""Gate-level checks of what the boards get (issue #16, part 2): the engine's yosys netlists
with the vendor cell models (``synemu.sim.netlist``) and the iCE40 bitstream through the
UART link (``synemu.boards.bitstream``), each in lockstep with the golden model; every check
is shown to fail on a broken cell model, a missing model or a wrong expectation.

``SYNEMU_NETLIST_OPS`` sets the random commands per stream (default 100, two streams).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess

import pytest

from synemu.sim import icarus
from synemu.sim import netlist as N
from synemu.sim.lockstep import random_commands
from synemu.spec.engine import EngineConfig
from synemu.spec.registry import make_device

pytestmark = pytest.mark.skipif(not icarus.available(),
                                reason=f"Icarus Verilog not installed: {icarus.INSTALL_HINT}")

OPS = int(os.environ.get("SYNEMU_NETLIST_OPS", "100"))
HAVE_ICESTORM = shutil.which("iceunpack") is not None and shutil.which("icebox_vlog") is not None


def _ideal():
    return EngineConfig(device=make_device("ideal"), rows=2, cols=4, lanes=2)


def _streams(cfg, n=OPS, seeds=(0, 1)):
    return [random_commands(cfg, s, n) for s in seeds]


@pytest.mark.parametrize("family,dsp", [("ice40", "SB_MAC16"), ("ecp5", "MULT18X18D")])
def test_engine_netlist_lockstep(family, dsp):
    """The ideal engine's netlist (its products in the family's DSP cells) equals golden
    after every command, with the cycle counts of the RTL on Icarus."""
    from synemu.sim.lockstep import cocotb_lockstep
    cfg = _ideal()
    nl = N.engine_netlist(cfg, family)
    assert nl.cells.get(dsp, 0) >= 1 and nl.text.count("endmodule") == 1
    streams = _streams(cfg)
    reps = N.netlist_lockstep(cfg, streams, family)
    for r in reps:
        assert r.ok, r.mismatches[0]
    assert [r.commands for r in reps] == [OPS, OPS]
    rtl = cocotb_lockstep(cfg, streams, simulator="icarus")
    assert [r.cycles for r in reps] == [r.cycles for r in rtl]


@pytest.mark.parametrize("family", ["ice40", "ecp5"])
def test_femfet_netlist_lockstep(family):
    from synemu.devices.femfet.test_femfet import engine_config
    cfg = engine_config("6bit-carry", rows=2, cols=4, lanes=2)
    reps = N.netlist_lockstep(cfg, _streams(cfg, seeds=(3,)), family)
    assert reps[0].ok, reps[0].mismatches[0]


def test_broken_or_missing_cell_models_are_caught():
    """A multiplier model off by one is a FORWARD/LEARN response mismatch; a cell without a
    model, or only yosys's blackbox (its outputs undriven), is refused before simulating."""
    cfg = _ideal()
    models = N.cell_models("ecp5")
    bad = models.replace("wire signed [73:0] prod = a_x * b_x;",
                         "wire signed [73:0] prod = a_x * b_x + 1;")
    assert bad != models
    rep, = N.netlist_lockstep(cfg, _streams(cfg, seeds=(0,)), "ecp5", models=bad)
    assert not rep.ok and rep.mismatches[0].what == "response"
    assert rep.mismatches[0].command.split()[0] in ("FORWARD", "LEARN")
    with pytest.raises(N.NetlistError, match="no model for SB_MAC16"):
        N.engine_build(cfg, "ice40", models=N._drop_modules(N.cell_models("ice40"),
                                                            ["SB_MAC16"]))
    shipped = (N._yosys_share() / "lattice" / "cells_bb_ecp5.v").read_text()
    blackbox = N._drop_modules(models, ["MULT18X18D"]) + shipped
    with pytest.raises(N.NetlistError, match="only a blackbox for MULT18X18D"):
        N.check_models(N.engine_netlist(cfg, "ecp5").cells, blackbox, "ecp5")


def test_fn_on_ecp5_is_a_named_yosys_limitation():
    """yosys's synth_ecp5 gives the FN debug engine a net with two drivers (ABC9 name
    collision): refused with the yosys limitation named, never simulated."""
    from synemu.devices.fn.test_fn import tiny_config
    with pytest.raises(N.NetlistError, match=r"driven by more than one cell.*rng"):
        N.engine_netlist(tiny_config(), "ecp5")


def _memory_design(transparent_addr: bool):
    """Memories of every DP16KD width (1, 2, 4, 9, 18 bits; random initial contents): a
    write port and a read port with its own address and enable, and a second memory whose
    read shares the write address (transparent: WRITETHROUGH; else READBEFOREWRITE)."""
    from amaranth.hdl import Module
    from amaranth.lib import wiring
    from amaranth.lib.memory import Memory
    from amaranth.lib.wiring import In, Out
    rnd = random.Random(5)
    shapes = [(1, 2048), (2, 1024), (4, 1024), (9, 1024), (18, 512)]
    ports = {}
    for w, d in shapes:
        a = (d - 1).bit_length()
        ports.update({f"wa{w}": In(a), f"ra{w}": In(a), f"wd{w}": In(w), f"we{w}": In(1),
                      f"re{w}": In(1), f"q{w}": Out(w), f"p{w}": Out(w)})

    class Mems(wiring.Component):
        def __init__(self):
            super().__init__(ports)

        def elaborate(self, platform):
            m = Module()
            for w, d in shapes:
                for name in ("a", "b"):
                    init = [rnd.randrange(1 << w) for _ in range(d)]
                    m.submodules[f"m{name}{w}"] = mem = Memory(shape=w, depth=d, init=init)
                    wp = mem.write_port()
                    rp = (mem.read_port(transparent_for=(wp,) if transparent_addr else ())
                          if name == "b" else mem.read_port())
                    m.d.comb += [wp.addr.eq(getattr(self, f"wa{w}")), wp.data.eq(
                        getattr(self, f"wd{w}")), wp.en.eq(getattr(self, f"we{w}")),
                        rp.en.eq(getattr(self, f"re{w}"))]
                    if name == "a":
                        m.d.comb += [rp.addr.eq(getattr(self, f"ra{w}")),
                                     getattr(self, f"q{w}").eq(rp.data)]
                    else:
                        m.d.comb += [rp.addr.eq(getattr(self, f"wa{w}")),
                                     getattr(self, f"p{w}").eq(rp.data)]
            return m
    return Mems, shapes


def _compare_memories(tmp_path, transparent: bool, models: str | None = None) -> tuple:
    """RTL and ECP5 netlist of :func:`_memory_design` side by side on Icarus, 3000 random
    cycles (addresses mostly in a small window, so writes are read back): (mismatching
    cycles, DP16KD cells, write modes used)."""
    from amaranth.back import rtlil, verilog
    Mems, shapes = _memory_design(transparent)
    rtl = verilog.convert(Mems(), name="rtl", emit_src=False)
    Mems2, _ = _memory_design(transparent)
    nl = N.synthesize(rtlil.convert(Mems2(), name="net", emit_src=False), "ecp5", "net")
    text = N.simulation_text(nl, models=models)
    names = []
    for w, d in shapes:
        names += [(f"wa{w}", (d - 1).bit_length()), (f"ra{w}", (d - 1).bit_length()),
                  (f"wd{w}", w), (f"we{w}", 1), (f"re{w}", 1)]
    outs = [(f"{n}{w}", w) for w, _ in shapes for n in ("q", "p")]
    decl = "".join(f"  reg [{b - 1}:0] {n} = 0;\n" for n, b in names)
    decl += "".join(f"  wire [{b - 1}:0] r_{n}, n_{n};\n" for n, b in outs)
    conn = ", ".join(f".{n}({n})" for n, _ in names)
    rc = ", ".join(f".{n}(r_{n})" for n, _ in outs)
    nc = ", ".join(f".{n}(n_{n})" for n, _ in outs)
    drive = "".join(
        f"      {n} = (k % 3 == 0) ? $random : ($random & 7);\n" if n.startswith(("wa", "ra"))
        else f"      {n} = $random;\n" for n, _ in names)
    # (an RTL output still x before its first read: unspecified, not compared)
    check = " || ".join(f"(r_{n} !== n_{n} && ^r_{n} !== 1'bx)" for n, _ in outs)
    tb = f"""module tb;
  reg clk = 0, rst = 1;
{decl}  rtl r(.clk(clk), .rst(rst), {conn}, {rc});
  net n(.clk(clk), .rst(rst), {conn}, {nc});
  integer k, bad = 0;
  initial begin
    #1 rst = 0;
    for (k = 0; k < 3000; k = k + 1) begin
{drive}      #5 clk = 1; #5 clk = 0;
      if ({check}) bad = bad + 1;
    end
    $display("MISMATCHES %0d", bad);
    $finish;
  end
endmodule
"""
    (tmp_path / "tb.v").write_text(tb + rtl + text)
    subprocess.run(["iverilog", "-g2005", "-o", str(tmp_path / "tb.vvp"), str(tmp_path / "tb.v")],
                   check=True, capture_output=True, timeout=600)
    out = subprocess.run(["vvp", "-n", str(tmp_path / "tb.vvp")], capture_output=True,
                         text=True, timeout=600).stdout
    modes = sorted(set(re.findall(r'WRITEMODE_[AB]\("(\w+)"\)', nl.text)))
    return int(re.search(r"MISMATCHES (\d+)", out).group(1)), nl.cells.get("DP16KD", 0), modes


def test_dp16kd_model_equals_the_rtl_memories(tmp_path):
    """The DP16KD model (every data width, initial contents, read enable, the write modes
    yosys uses) against the RTL memories yosys mapped onto it, cycle by cycle; a model that
    swaps the two bytes of an x18 word is caught."""
    bad, cells, modes = _compare_memories(tmp_path, transparent=True)
    assert cells >= 10 and bad == 0
    assert "WRITETHROUGH" in modes or "READBEFOREWRITE" in modes
    bad2, _, modes2 = _compare_memories(tmp_path, transparent=False)
    assert bad2 == 0
    broken = N.cell_models("ecp5").replace("18: rd = word;", "18: rd = {word[8:0], word[17:9]};")
    bad3, _, _ = _compare_memories(tmp_path, transparent=True, models=broken)
    assert bad3 > 0


@pytest.mark.skipif(not HAVE_ICESTORM, reason="iceunpack/icebox_vlog not installed")
@pytest.mark.verilator
def test_icebreaker_bitstream_through_the_uart():
    """The iCEBreaker bitstream of a tiny design, unpacked and turned back into Verilog
    (LUTs, carries, flip-flops, block RAMs with the hello ROM, the PLL, and its 4 SB_MAC16
    DSPs decoded from their configuration bits), driven by LinkHost through the UART at
    the board divisor: every response and the whole state read back (after 25, 50, ..
    commands) equal golden; a golden model of another engine config (other learning rate
    and targets) is reported as a mismatch; without the DSP model the bitstream is refused."""
    from synemu.boards.bitstream import (BitstreamError, bitstream_verilog, board_build,
                                         board_lockstep)
    cfg = _ideal()
    rep = board_build("icebreaker", cfg)
    assert rep["resources"]["DSP"]["used"] == 4 and rep["uart_divisor"] == 24
    with pytest.raises(BitstreamError, match=r"uses 4 SB_MAC16 DSP\(s\) \(SB_MAC16 at tile"):
        bitstream_verilog(rep, dsp_model=False)
    streams = _streams(cfg, n=100)
    reps, info = board_lockstep("icebreaker", cfg, streams, source="bitstream", report=rep,
                                snapshot_every=25)
    for r in reps:
        assert r.ok, r.mismatches[0]
    assert [r.commands for r in reps] == [100, 100] and reps[0].compared_words >= 4 * 8
    assert info["cells"]["SB_MAC16"] == 4 and info["cells"].get("SB_RAM40_4K", 0) >= 2
    assert "SB_PLL40_PAD" in info["cells"]
    other = EngineConfig.from_dict({**cfg.to_dict(), "eta": cfg.eta + 1, "t_pos": 50,
                                    "t_neg": -50})
    reps2, _ = board_lockstep("icebreaker", other, streams[:1], source="bitstream", report=rep)
    assert not reps2[0].ok


def test_dsps_in_a_bitstream_are_refused():
    """icebox_vlog only comments the nets reaching a DSP tile: any such net is a DSP in use
    (decoded from its configuration bits, or the bitstream refused without the DSP model:
    FORWARD would read zeros), a tile with only constants is not."""
    from synemu.boards import bitstream as B
    used = ("/* DSP0    0  5 0*/ assign dsp0_0_5_in_0_0 = n123;\n"
            "/* DSP1    0  6 */ assign dsp1_0_6_clk = n5;\n")
    idle = "/* DSP0    0  5 0*/ assign dsp0_0_5_in_0_0 = 1'b0;\n"
    assert B.dsp_uses(used) == ["SB_MAC16 at tile (0, 5)"]
    assert B.dsp_uses(idle) == []


def _cli(capsys, argv):
    from synemu.cli.main import main
    rc = main(argv)
    out = capsys.readouterr()
    return rc, json.loads(out.out.strip().splitlines()[-1]), out.err


def test_verify_cli_netlist(tmp_path, capsys):
    rc, res, _ = _cli(capsys, ["verify", "--device", "ideal", "--netlist", "ice40", "--rows", "2",
                               "--cols", "4", "--seeds", "2", "--ops", "40", "--out",
                               str(tmp_path), "--json"])
    assert rc == 0 and res["ok"] and res["source"] == "netlist" and res["commands"] == 80
    assert res["cells"]["SB_MAC16"] >= 1 and res["mismatches"] == 0
    rc, res, err = _cli(capsys, ["verify", "--device", "ideal", "--netlist", "ecp5",
                                 "--bitstream", "--out", str(tmp_path), "--json"])
    assert rc == 2 and "iCE40 only" in res["error"] and "Traceback" not in err
    rc, res, _ = _cli(capsys, ["verify", "--device", "ideal", "--netlist", "ice40", "--board",
                               "ulx3s-85f", "--out", str(tmp_path), "--json"])
    assert rc == 2 and "ecp5 board" in res["error"]


def test_missing_icestorm_names_the_fix(tmp_path, capsys, monkeypatch):
    from synemu.boards import bitstream as B
    monkeypatch.setattr(B.shutil, "which", lambda name, *a, **k: None)
    rc, res, err = _cli(capsys, ["verify", "--device", "ideal", "--bitstream", "--out",
                                 str(tmp_path), "--json"])
    assert rc == 2 and "apt-get install fpga-icestorm" in res["error"]
