"""Board targets: registry, real YoWASP builds of one tiny design per FPGA family, build and
flash error messages, and the CLI."""

import json
import os
from pathlib import Path

import pytest

from synemu.boards.build import (BuildFailed, bram_estimate, build_board, check_timing,
                                 explain_failure)
from synemu.boards.flash import FlashError, find_programmer, flash
from synemu.boards.platforms import BOARDS, get_board
from synemu.boards.top import board_spec
from synemu.cli.main import main
from synemu.spec.registry import make_device
from synemu.spec.engine import EngineConfig


def tiny(lanes=2):
    return EngineConfig(device=make_device("ideal", weight_bits=4, pulse_bits=4), rows=2,
                        cols=4, lanes=lanes, x_width=3, eta=2, err_width=8, t_pos=8, t_neg=-8,
                        time_width=16, tick_width=8, sample_width=16)


def test_registry_and_platforms():
    assert {"icebreaker", "ulx3s-85f", "orangecrab"} <= set(BOARDS)
    with pytest.raises(ValueError, match="unknown board 'nope'; available: icebreaker"):
        get_board("nope")
    for b in BOARDS.values():
        p = b.platform()
        assert p.default_clk_frequency == b.xtal_hz      # the crystal feeds the PLL
        p.lookup("uart", 0)          # every target has UART pins
        spec = board_spec(b, tiny())
        assert spec.divisor == b.sys_hz // b.baud and spec.clk_hz == b.sys_hz
    assert get_board("orangecrab").platform().device == "LFE5U-25F"
    assert get_board("ulx3s-85f").platform().device == "LFE5U-85F"
    with pytest.raises(ValueError, match="cannot make 5000000 baud"):
        board_spec(get_board("icebreaker"), tiny(), baud=5_000_000)


def test_preflight_names_bram(tmp_path):
    big = EngineConfig(device=make_device("femfet"), rows=128, cols=128, lanes=4)
    assert bram_estimate("ice40", big) > 30
    with pytest.raises(BuildFailed, match="does not fit: out of BRAM.*iCE40UP5K-SG48 has 30"):
        build_board("icebreaker", big, tmp_path)


def test_failure_messages():
    log = ("Info: foo\nERROR: Unable to place cell 'x', no BELs remaining to implement cell "
           "type 'ICESTORM_LC'\n")
    assert explain_failure(log, "ice40").startswith("design does not fit: out of LUT (ICESTORM_LC)")
    log = "ERROR: Max frequency for clock 'cd_sync.clk': 10.50 MHz (FAIL at 12.00 MHz)\n"
    assert explain_failure(log, "ice40").startswith(
        "timing not met on clock cd_sync.clk: 10.50 MHz achieved, 12.00 MHz required")
    log = "2.32.1. Executing OPT_EXPR pass (perform const folding).\nCaused by:\n    thrown Wasm exception\n"
    assert explain_failure(log, "ecp5").endswith("too large to synthesise; last step: OPT_EXPR "
                                                 "pass (perform const folding).")
    rep = {"board": "icebreaker", "timing_met": False, "fmax_mhz": {"clk": 9.0},
           "clock_mhz": 12.0, "critical_path": ["a -> b"], "build_dir": "x"}
    with pytest.raises(BuildFailed, match="timing not met on clock clk: 9.0 MHz achieved, "
                                          "12 MHz required.*a -> b"):
        check_timing(rep)


def test_flash_errors(tmp_path):
    with pytest.raises(FlashError, match="bitstream .* not found: run `synemu build"):
        flash("icebreaker", out=tmp_path, which=lambda t: "/usr/bin/" + t)
    (tmp_path / "synemu-icebreaker.bin").write_bytes(b"\0" * 16)
    with pytest.raises(FlashError, match="no programmer for icebreaker found on PATH: "
                                         "install iceprog or openFPGALoader"):
        flash("icebreaker", out=tmp_path, which=lambda t: None)
    # a programmer that finds no board
    fake = tmp_path / "iceprog"
    fake.write_text("#!/bin/sh\necho Cannot find iCE FTDI USB device >&2\nexit 2\n")
    fake.chmod(0o755)
    which = lambda t: str(fake) if t == "iceprog" else None
    assert find_programmer("icebreaker", which=which)[0] == "iceprog"
    with pytest.raises(FlashError, match="(?s)iceprog failed .exit 2.; no icebreaker found.*FTDI"):
        flash("icebreaker", out=tmp_path, which=which)
    assert main(["flash", "--board", "icebreaker", "--out", str(tmp_path / "none")]) == 1


def _cli_json(capsys, argv):
    rc = main(argv)
    out = capsys.readouterr().out.strip().splitlines()
    return rc, json.loads(out[-1])


def test_build_ice40_cli(tmp_path, capsys):
    """A real iCE40 bitstream through `synemu build --json` (YoWASP yosys/nextpnr/icepack)."""
    rc, rep = _cli_json(capsys, ["build", "--board", "icebreaker", "--device", "ideal",
                                 "--param", "weight_bits=4", "--param", "pulse_bits=4",
                                 "--engine", "x_width=3", "--engine", "t_pos=16",
                                 "--engine", "t_neg=-16",
                                 "--rows", "2", "--cols", "4", "--lanes", "2",
                                 "--out", str(tmp_path), "--json"])
    assert rc == 0 and rep["ok"], rep
    assert rep["engine"]["x_width"] == 3
    bit = Path(rep["bitstream"])
    assert bit.suffix == ".bin" and bit.stat().st_size > 100_000   # UP5K image ~104 kB
    r = rep["resources"]
    assert 0 < r["LUT"]["used"] < r["LUT"]["available"] == 5280
    assert r["FF"]["used"] > 0 and r["BRAM"]["used"] >= 1
    fmax = rep["fmax_mhz"]["cd_sync.clk"]
    assert rep["constraint_mhz"]["cd_sync.clk"] == 24.0 and fmax > 24.0 and rep["timing_met"]
    assert rep["clock_mhz"] == 24.0 and rep["xtal_mhz"] == 12.0      # PLL clock
    assert rep["synapse_updates_per_s"] == 2 * 24_000_000
    # host mode only by default on the UP5K (the sequencer top-level does not fit it yet)
    assert not rep["sequencer"] and rep["smem_words"] == 0 and r["SPRAM"]["used"] == 0
    assert json.loads((tmp_path / "report.json").read_text())["fmax_mhz"] == rep["fmax_mhz"]


def test_build_engine_override_errors(tmp_path, capsys):
    assert main(["build", "--board", "icebreaker", "--engine", "bogus=1", "--out",
                 str(tmp_path)]) == 2
    assert "unknown engine parameter(s) bogus" in capsys.readouterr().err
    assert main(["capacity", "--board", "icebreaker", "--engine", "rows=4", "--out",
                 str(tmp_path)]) == 2
    assert "unknown engine parameter(s) rows" in capsys.readouterr().err


def test_build_ecp5(tmp_path):
    """A real ECP5 bitstream for the OrangeCrab (timing reported, not raised)."""
    rep = build_board("orangecrab", tiny(), tmp_path, keep_going=True)
    bit = Path(rep["bitstream"])
    assert bit.suffix == ".bit" and bit.stat().st_size > 10_000
    assert rep["resources"]["LUT"]["available"] == 24288
    assert rep["resources"]["LUT"]["used"] > 0
    # the sequencer top-level: 32 k x 16-bit sample memory in block RAM (32 DP16KD)
    assert rep["sequencer"] and rep["smem_words"] == 32768
    assert rep["resources"]["BRAM"]["used"] >= 32
    (clk, fmax), = rep["fmax_mhz"].items()
    assert fmax > 10 and rep["constraint_mhz"][clk] == 66.0 == rep["clock_mhz"]   # PLL clock
    assert rep["timing_met"] == (fmax >= 66.0)
    if not rep["timing_met"]:
        with pytest.raises(BuildFailed, match=f"timing not met on clock .*{fmax} MHz achieved"):
            check_timing(rep)


def test_failure_message_lc_region():
    log = "ERROR: Failed to expand region (0, 0) |_> (25, 31) of 5726 ICESTORM_LCs\n"
    assert explain_failure(log, "ice40").startswith("design does not fit: out of LUT (ICESTORM_LC)")


@pytest.mark.parametrize("board", ["icebreaker", "orangecrab"])
def test_build_fn_block_ram(tmp_path, board):
    """A tiny FN design (pipelined rule, 6-bit codes) builds on both families; its 64-word
    ROMs sit in block RAM."""
    dev = make_device("fn", code_bits=6, lsb_exp=6, tick_s=16.0, rom_shift=0, pulse_bits=3,
                      frac_bits=5)
    cfg = EngineConfig(device=dev, rows=2, cols=2, lanes=1, x_width=3, err_width=8, t_pos=8,
                       t_neg=-8, tick_width=16, time_width=16, sample_width=16)
    rep = build_board(board, cfg, tmp_path, keep_going=True)
    assert Path(rep["bitstream"]).stat().st_size > 10_000
    cells = rep["memory_cells"]
    # per lane: enter_rom twice + level 0 (32 words, logic) ... dwell ROM, pulse ROM
    assert cells.get("SB_RAM40_4K" if board == "icebreaker" else "DP16KD", 0) >= 4
    assert rep["resources"]["LUT"]["used"] < rep["resources"]["LUT"]["available"]


def test_run_cli_model_identical(tmp_path, capsys):
    """`synemu run` through the host protocol (Python board model): predictions and final
    weights identical to the golden model, counters read back."""
    rc, res = _cli_json(capsys, ["run", "--sim", "model", "--limit", "24", "--epochs", "1",
                                 "--chunk", "8", "--check", "--out", str(tmp_path), "--json"])
    assert rc == 0 and res["identical_to_golden"] is True
    assert res["board_samples"] == 24 and res["link"]["frames"] > 24
    assert (tmp_path / "run-ideal-digits.json").is_file()
    # the iCEBreaker's sequencer build fits 2 lanes: the recipe's 4 are clamped, the inputs
    # padded to the 2-lane array (64 pixels + bias -> 66), unless --lanes says otherwise
    assert res["board"] == "icebreaker" and res["mode"] == "resident"
    assert (res["engine"]["lanes"], res["engine"]["cols"]) == (2, 66)
    rc, res = _cli_json(capsys, ["run", "--sim", "model", "--limit", "8", "--epochs", "1",
                                 "--lanes", "4", "--check", "--out", str(tmp_path), "--json"])
    assert rc == 0 and res["identical_to_golden"] is True
    assert (res["engine"]["lanes"], res["engine"]["cols"]) == (4, 68)


@pytest.mark.verilator
@pytest.mark.parametrize("driver", ["native", "cocotb"])
def test_run_cli_verilator_identical(tmp_path, capsys, driver):
    """`synemu run --sim verilator --driver D --check`: the simulated serial top-level
    trains exactly like the golden model with either Verilator driver."""
    rc, res = _cli_json(capsys, ["run", "--sim", "verilator", "--driver", driver,
                                 "--mode", "host", "--limit", "12", "--epochs", "1", "--chunk",
                                 "6", "--check", "--out", str(tmp_path), "--json"])
    assert rc == 0 and res["identical_to_golden"] is True and res["driver"] == driver
    assert "verilator" in res["where"] and res["mode"] == "host"
    assert res["board_samples"] == 12 and res["link"]["retries"] == 0
    assert res["board_cycles"] > 10_000 and res["board_cycles_per_s"] > 0


def test_run_cli_no_board(capsys):
    rc = main(["run", "--port", "/dev/nonexistent-synemu-tty", "--limit", "4", "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    assert rc == 1 and "cannot open serial port /dev/nonexistent-synemu-tty" in json.loads(out[-1])["error"]
