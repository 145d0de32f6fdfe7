"""Mutation testing of the lockstep (synemu.sim.mutate, `synemu mutate`)."""

import json
import re

import pytest

from synemu.sim import mutate
from synemu.sim.lockstep import directed_commands
from synemu.spec.engine import EngineConfig, GoldenEngine, Op
from synemu.spec.registry import make_device

# the CLI defaults: every test shares one Verilator build of the mutant schema
CFG = dict(rows=3, cols=6, lanes=2, rounding="stochastic", eta=3)


def _cfg(device="ideal", **kw):
    return EngineConfig(device=make_device(device), **{**CFG, **kw})


@pytest.fixture(scope="module")
def ideal_design():
    d = mutate.design(_cfg())
    return d, mutate.discover(d)


@pytest.fixture(scope="module")
def ideal_run():
    return mutate.campaign(_cfg(), seeds=2, ops=1500, directed=3)


def test_discovery_finds_every_class_and_maps_sources(ideal_design):
    d, muts = ideal_design
    kinds = {m.kind for m in muts}
    for k in ("relational", "arith", "const", "saturation", "bitswap", "bitsel", "lfsr_tap"):
        assert k in kinds, k
    assert [m.id for m in muts] == list(range(1, len(muts) + 1))
    # the ideal rule's adder (devices/ideal/gateware.py) and its saturation are the rule's
    rule = [m for m in muts if m.owner == "rule"]
    assert any(m.kind == "arith" and m.src.startswith("devices/ideal/gateware.py:")
               for m in rule)
    sat = [m for m in rule if m.kind == "saturation"]
    assert sat and all(m.where.startswith("gateware/fixed.py:") and
                       "<- devices/ideal/gateware.py:" in m.where for m in sat)
    assert all(m.owner == "lfsr" for m in muts if m.kind == "lfsr_tap")
    # every LFSR tap mutant clears exactly one set bit of the tap constant
    for m in (m for m in muts if m.kind == "lfsr_tap"):
        a = int(re.search(r"16'h([0-9a-f]+)", m.original).group(1), 16)
        b = int(re.search(r"16'h([0-9a-f]+)", m.mutated).group(1), 16)
        assert a & ~b and bin(a ^ b).count("1") == 1 and b & ~a == 0


def test_schema_selector(ideal_design):
    d, muts = ideal_design
    text = mutate.schema_verilog(d, muts)
    assert "(* src" not in text
    assert text.count(f"input [15:0] {mutate.SEL};") == len(d.modules)
    for m in muts[::37]:
        assert f"{mutate.SEL} == 16'd{m.id} ?" in text


def test_directed_stream_covers_every_op_and_rail():
    cfg = _cfg()
    cmds = directed_commands(cfg)
    ops = {Op(c.op) for c in cmds}
    assert ops == set(Op)
    pf = cfg.device.pulse_fmt
    pulses = {c.arg for c in cmds if c.op in (Op.UPDATE, Op.UPD_ROW, Op.UPD_COL)}
    assert {pf.min, pf.max, 0, 1, -1} <= pulses
    assert {0, 1, (1 << cfg.tick_width) - 1} <= {c.arg for c in cmds if c.op == Op.TICK}
    g = GoldenEngine(cfg)
    for c in cmds:                       # every command is valid for the golden model
        cfg.encode(c)
        g.execute(c)
    assert directed_commands(cfg, 1) != cmds


def test_campaign_kills_non_equivalent_mutants(ideal_run):
    run = ideal_run
    c = run.counts()
    assert run.sanity_ok and c["untested"] == 0
    assert c["killed"] + c["equivalent"] + c["survived"] == c["total"] > 200
    by = {m.id: m for m in run.mutants}
    # a known non-equivalent mutant: the ideal rule's w + pulse becomes w - pulse
    m = next(m for m in run.mutants if m.kind == "arith" and m.owner == "rule"
             and "q_state0" in m.original)
    assert m.status == "killed"
    assert m.how.startswith("mismatch after command #") and "field 'w'" in m.how
    # dropping the rule's saturation is noticed, every LFSR tap too
    assert all(x.status == "killed" for x in run.mutants
               if x.kind == "lfsr_tap" or (x.kind == "saturation" and x.owner == "rule"))
    assert any(x.how.startswith("hang:") for x in run.mutants)
    # equivalents carry their reason; the saturate() boundary ones are there
    eq = [x for x in run.mutants if x.status == "equivalent"]
    assert eq and all(x.how for x in eq)
    assert any(x.how.startswith("saturate_boundary") for x in eq)
    # a FORWARD that sweeps a 4th row (a spurious response) changes no state: the cycle
    # count against the unmutated design notices it
    extra = next(x for x in run.mutants if "cur_row != R - 1" in x.code and x.kind == "const"
                 and x.change.endswith("2'h3"))
    assert extra.status == "killed" and extra.how.startswith("timing:")
    assert c["score"] >= 0.97, (c, [(x.id, x.where, x.change) for x in run.mutants
                                    if x.status == "survived"])
    assert by[1].commands > 0


def test_equivalence_rules_are_specific(ideal_design):
    _, muts = ideal_design
    cfg = _cfg()
    bound = [m for m in muts if "value > fmt.max" in m.code and m.kind == "relational"]
    assert bound and all(mutate.equivalence_reason(m, cfg).startswith("saturate_boundary")
                         for m in bound)
    # moving the upper bound *up* or to the other rail is not equivalent
    up = [m for m in muts if "value > fmt.max" in m.code and m.kind == "const"
          and "?" not in m.original]
    assert any(not mutate.equivalence_reason(m, cfg) for m in up)
    # the err saturation is unreachable only while |t - y| stays inside err_width
    err = [m for m in muts if "saturate(target - acc" in m.owner_code and m.kind == "saturation"]
    assert err and all(mutate.equivalence_reason(m, cfg) for m in err)
    narrow = _cfg(err_width=12)
    assert all(not mutate.equivalence_reason(m, narrow).startswith("err_saturation")
               for m in err)


def test_cli_json_and_errors(capsys, ideal_run):
    from synemu.cli.main import main
    rc = main(["mutate", "--device", "ideal", "--seeds", "1", "--ops", "200", "--directed",
               "1", "--json"])
    out = capsys.readouterr()
    res = json.loads(out.out.strip().splitlines()[-1])
    assert res["command"] == "mutate" and res["device"] == "ideal"
    assert res["total"] == len(ideal_run.mutants)
    assert res["killed"] + res["equivalent"] + res["survived"] == res["total"]
    assert rc == (0 if res["survived"] == 0 else 1) and res["ok"] == (rc == 0)
    assert "mutant" in out.err
    assert all({"id", "where", "change"} <= set(s) for s in res["survivors"])

    assert main(["mutate", "--device", "nosuch", "--json"]) == 2
    err = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert not err["ok"] and "unknown device 'nosuch'" in err["error"]
    assert main(["mutate", "--limit", "0", "--json"]) == 2
    out = capsys.readouterr()
    assert "--limit" in out.err and "--limit" in json.loads(out.out.strip().splitlines()[-1])["error"]
    assert main(["mutate", "--directed", "-1"]) == 2
    assert "--directed" in capsys.readouterr().err
