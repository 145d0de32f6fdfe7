"""The compiled Verilator driver (synemu.sim.native): bit packing, identity with the cocotb
driver for every device (responses, cycles, whole state), the vectorised lockstep and its
mismatch report, waves for a window of commands, and the Tile / verify CLI on it."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest

from synemu.spec.registry import make_device
from synemu.spec.engine import Command, EngineConfig, GoldenEngine, Op
from synemu.devices.probe.golden import ProbeDevice
from synemu.sim.lockstep import n_responses, random_commands
from synemu.sim.native import cxx_member, pack_fields, parse_ports, split_lanes, words_to_ints


# -- host-side packing (no build) ------------------------------------------------------------
def test_pack_fields_matches_python_ints():
    rng = np.random.default_rng(0)
    for width, fields in [(41, [(4, 0), (2, 4), (3, 6), (32, 9)]),
                          (100, [(4, 0), (16, 4), (16, 20), (64, 36)]),
                          (7, [(7, 0)]), (64, [(1, 0), (63, 1)])]:
        n = 200
        vals = [rng.integers(0, 2 ** min(fw, 63), n, dtype=np.uint64) * (1 + (fw == 64))
                for fw, _ in fields]
        vals[0][:3] = [0, 1, (1 << fields[0][0]) - 1]
        words = pack_fields([(v, sh, fw) for v, (fw, sh) in zip(vals, fields)], n, width)
        assert words.shape == (n, (width + 31) // 32)
        got = words_to_ints(words)
        for i in range(n):
            exp = sum(int(v[i]) << sh for v, (fw, sh) in zip(vals, fields))
            assert got[i] == exp


@pytest.mark.parametrize("width,n,signed", [(8, 2, False), (5, 4, True), (41, 3, False),
                                            (16, 16, True), (64, 1, False), (1, 7, False)])
def test_split_lanes_matches_python_ints(width, n, signed):
    rng = np.random.default_rng(width * n)
    rows = 50
    elems = [[int(rng.integers(0, 2 ** min(width, 62))) | ((1 << (width - 1)) if r % 3 == 0 else 0)
              for _ in range(n)] for r in range(rows)]
    packed = [sum(e << (i * width) for i, e in enumerate(row)) for row in elems]
    nw = (width * n + 31) // 32
    words = np.array([[(p >> (32 * k)) & 0xFFFFFFFF for k in range(nw)] for p in packed],
                     dtype=np.uint32)
    got = split_lanes(words, width, n, signed)
    for r in range(rows):
        for i in range(n):
            e = elems[r][i]
            if signed and e >> (width - 1):
                e -= 1 << width
            assert int(got[r, i]) == e


def test_port_parsing_and_cxx_names():
    v = ("module top(a, b__c, clk);\n  input [40:0] a;\n  output b__c;\n  input clk;\n"
         "  wire [3:0] inner;\nendmodule\nmodule other(x);\n  input [7:0] x;\nendmodule\n")
    ports = parse_ports(v, "top")
    assert [(p.name, p.width, p.input) for p in ports] == [("a", 41, True), ("b__c", 1, False),
                                                           ("clk", 1, True)]
    assert cxx_member("resp__ready") == "resp___05Fready"
    assert cxx_member("a$b") == "a__024b"
    with pytest.raises(ValueError, match="no module"):
        parse_ports(v, "missing")


# -- against the cocotb driver ------------------------------------------------------------------
def _configs():
    from synemu.devices.femfet.test_femfet import engine_config as femfet_config
    from synemu.devices.fn.test_fn import tiny_config
    from synemu.devices.mtj.test_mtj import LOCKSTEP
    return {
        "ideal": EngineConfig(device=make_device("ideal", weight_bits=8, pulse_bits=8), rows=4,
                              cols=8, lanes=2, rounding="stochastic", eta=3),
        "probe": EngineConfig(device=ProbeDevice(), rows=5, cols=4, lanes=1, rounding="floor",
                              eta=1),
        "femfet": femfet_config("6bit-periodic", rows=2, cols=4, lanes=2),
        "fn": tiny_config(),
        "mtj": EngineConfig(seed=4, rounding="stochastic", eta=3, **LOCKSTEP[0]),
    }


@pytest.mark.verilator
@pytest.mark.parametrize("name", ["ideal", "probe", "femfet", "fn", "mtj"])
def test_native_equals_cocotb_driver(name):
    """Same command batches through both drivers: identical responses, cycle counts and
    whole states (every word, x, time, samples, since, both LFSR banks)."""
    from synemu.sim.native_engine import NativeEngineSession
    from synemu.sim.remote import VerilatorSession
    cfg = _configs()[name]
    cmds = [cfg.encode(c) for c in random_commands(cfg, 7, 400)]
    nr = [n_responses(cfg, c.op) for c in cmds]
    cuts = [0, 1, 2, 30, 31, 100, 250, 400]
    outs = []
    for cls in (NativeEngineSession, VerilatorSession):
        with cls(cfg) as s:
            res = []
            for a, b in zip(cuts, cuts[1:]):
                resp, snap = s.run(cmds[a:b], nr[a:b], snapshot=True)
                res.append((resp, snap, s.cycle))
            outs.append(res)
    checked = 0
    for (ra, sa, ca), (rb, sb, cb) in zip(*outs):
        assert ra == rb
        assert ca == cb and sa.cycle == sb.cycle
        np.testing.assert_array_equal(np.asarray(sa.words, np.uint64), np.asarray(sb.words, np.uint64))
        np.testing.assert_array_equal(sa.x, sb.x)
        assert sa.globals == sb.globals
        checked += 1
    assert checked == len(cuts) - 1
    # the batches did something: responses were collected and the state moved
    assert sum(len(r) for r in outs[0][-1][0]) > 0
    assert outs[0][-1][1].cycle > 1000


@pytest.mark.verilator
@pytest.mark.parametrize("name", ["ideal", "femfet", "fn", "mtj"])
def test_native_lockstep_many_seeds(name):
    from synemu.sim.native_engine import NativeEngineSession, native_lockstep
    cfg = _configs()[name]
    total = 0
    with NativeEngineSession(cfg) as s:
        for seed in range(4):
            s.restart()
            rep = native_lockstep(cfg, random_commands(cfg, 100 + seed, 2500), session=s,
                                  batch=700)
            assert rep.ok, rep.mismatches[0]
            total += rep.commands
            assert rep.compared_words == rep.commands * cfg.rows * cfg.cols
    assert total == 10_000


@pytest.mark.verilator
def test_native_lockstep_reports_first_mismatch():
    """A golden model that disagrees in one synapse field, in the rounding LFSR, or in a
    response is caught at the right command, with the field and both values."""
    from synemu.sim.native_engine import NativeEngineSession, native_lockstep
    cfg = _configs()["ideal"]
    cmds = random_commands(cfg, 3, 600)
    with NativeEngineSession(cfg) as s:
        # 1. one synapse differs from the start: reported at command 0 unless overwritten
        g = GoldenEngine(cfg)
        g.state["w"][2, 5] = 17
        rep = native_lockstep(cfg, [Command(Op.TICK, 0, 0, 1)] + cmds, session=s, golden=g,
                              batch=64)
        assert not rep.ok and rep.commands == 1
        m = rep.mismatches[0]
        assert (m.index, m.what, m.where, m.expected, m.actual) == (
            0, "synapse", "row 2 col 5 field 'w'", 17, 0)
        # 2. the mismatch sits in a later batch: index counts across batches
        s.restart()
        g = GoldenEngine(cfg)
        bad_at = 150
        stream = [Command(Op.TICK, 0, 0, 1)] * bad_at + [Command(Op.WRITE, 1, 3, 9)]
        ref = GoldenEngine(cfg)
        for c in stream[:bad_at]:
            ref.execute(c)

        class Off(GoldenEngine):
            def execute(self, cmd):
                if Op(cmd.op) is Op.WRITE:
                    cmd = cmd._replace(arg=10)
                return super().execute(cmd)
        rep = native_lockstep(cfg, stream, session=s, golden=Off(cfg), batch=64)
        m = rep.mismatches[0]
        assert (m.index, m.what, m.where, m.expected, m.actual) == (
            bad_at, "synapse", "row 1 col 3 field 'w'", 10, 9)
        assert m.cycle > 0 and "WRITE" in m.command
        # 3. a golden engine with other LFSR seeds: the first stochastic LEARN gives away
        s.restart()
        other = GoldenEngine(dataclasses.replace(cfg, seed=99))
        rep = native_lockstep(cfg, cmds, session=s, golden=other)
        assert not rep.ok
        first_learn = next(i for i, c in enumerate(cmds) if c.op is Op.LEARN)
        assert rep.mismatches[0].index <= first_learn


@pytest.mark.verilator
def test_native_waves_window(tmp_path):
    """Waves dump only the chosen command window (VCD: its timestamps fall in it)."""
    from synemu.sim.native_engine import NativeEngineSession
    cfg = _configs()["ideal"]
    cmds = [cfg.encode(c) for c in random_commands(cfg, 1, 60)]
    nr = [n_responses(cfg, c.op) for c in cmds]
    with NativeEngineSession(cfg, waves="vcd") as s:
        path = s.trace_window(tmp_path / "w.vcd", 20, 40)
        s.run(cmds[:20], nr[:20])
        t20 = s.cycle * 10_000          # ps at the window's start (10 ns clock)
        s.run(cmds[20:40], nr[20:40])
        t40 = s.cycle * 10_000
        s.run(cmds[40:], nr[40:])
        s.restart()                      # closes the file
    stamps = [int(t) for t in re.findall(r"^#(\d+)", path.read_text(), re.M)]
    assert len(stamps) > 40
    assert min(stamps) >= t20 - 10_000 and max(stamps) <= t40 + 10_000


@pytest.mark.verilator
def test_native_tile_learn_and_predict_equal_golden():
    from synemu.runtime.tile import Tile
    rng = np.random.default_rng(5)
    xs = rng.integers(-16, 16, (40, 16))
    labels = rng.integers(0, 4, 40)
    out = {}
    for backend in ("golden", "verilator"):
        with Tile("ideal", rows=4, cols=16, lanes=4, backend=backend, rounding="stochastic",
                  eta=4) as t:
            out[backend] = (t.learn_batch(xs, labels), t.predict(xs), t.state_words(),
                            t.forward(xs[0]))
    for a, b in zip(out["golden"], out["verilator"]):
        np.testing.assert_array_equal(a, b)
    with Tile("ideal", rows=4, cols=16, lanes=4, backend="verilator") as t:
        with pytest.raises(ValueError, match="input x"):
            t.learn_batch(xs * 4, labels)
        with pytest.raises(ValueError, match="labels"):
            t.learn_batch(xs, labels + 4)


@pytest.mark.verilator
def test_verify_cli_campaign_json(capsys, tmp_path):
    from synemu.cli.main import main
    rc = main(["verify", "--device", "ideal", "--seeds", "2", "--ops", "3000", "--json",
               "--out", str(tmp_path)])
    out = capsys.readouterr().out.strip().splitlines()
    res = json.loads(out[-1])
    assert rc == 0 and res["ok"] and res["driver"] == "native"
    assert res["mismatches"] == 0 and res["commands"] == 6000
    assert res["commands_per_s"] > 0 and res["cycles_per_s"] > 0 and res["cycles"] > 6000
    for bad, msg in ((["--seeds", "0"], "--seeds"), (["--ops", "-5"], "--ops")):
        assert main(["verify", *bad]) == 2
        assert msg in capsys.readouterr().err
