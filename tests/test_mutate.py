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


def test_rule_module_and_rule_proof(ideal_design):
    """The mutation design keeps the device rule in a module of its own (every rule-owned
    site is there), so a rule mutant is proven on that module alone: saturate(w + pulse)'s
    clamp test moved by one also clamps the bound to the bound (SAT proves it), the
    adder's + -> - is not equivalent (SAT finds an input), and an engine mutant is not
    tried."""
    d, muts = ideal_design
    assert any(m.name == mutate.RULE_MODULE for m in d.modules)
    assert all(m.module == mutate.RULE_MODULE for m in muts if m.owner == "rule")
    assert any(m.module != mutate.RULE_MODULE for m in muts if m.owner == "engine")
    rule = [m for m in muts if m.module == mutate.RULE_MODULE]
    bound = next(m for m in rule if m.kind == "relational" and "value > fmt.max" in m.code
                 and m.change == "> -> >=")
    add = next(m for m in rule if m.kind == "arith"
               and m.src.startswith("devices/ideal/gateware.py:"))
    eng = next(m for m in muts if m.module != mutate.RULE_MODULE)
    res = mutate.prove_rule_equivalent(d, muts, [bound.id, add.id, eng.id])
    assert res == {bound.id: True, add.id: False, eng.id: False}


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


def _u_next(g, cfg):
    """The MTJ switching draw the next UPDATE of each lane will use (golden state)."""
    import copy

    import numpy as np

    from synemu.devices.mtj.golden import mix
    dev = cfg.device
    bank = copy.deepcopy(g.dev_rng)
    w = np.array(bank._step_ints(), dtype=np.uint64)
    return mix(w, dev.rand_bits) >> np.uint64(dev.rand_bits - dev.prob_bits)


def test_mtj_edge_stream_lands_on_thresholds():
    cfg = _cfg("mtj")
    dev = cfg.device
    cmds = dev.edge_commands(cfg, 0, 6000)
    assert len(cmds) == 6000
    inner = [t for t in (*dev.ltp_thresholds[1:], *dev.ltd_thresholds[1:])
             if 0 < t < 1 << dev.prob_bits]
    g = GoldenEngine(cfg)
    on, exact, hebb = 0, 0, 0
    for i, c in enumerate(cmds):
        if c.op == Op.UPDATE and c.arg != 0:
            # the synapse was just written to the state this pulse can switch
            assert cmds[i - 1].op == Op.WRITE and cmds[i - 1][1:3] == c[1:3]
            assert cmds[i + 1].op == Op.READ and cmds[i + 1][1:3] == c[1:3]
            u = int(_u_next(g, cfg)[c.col % cfg.lanes])
            table = dev.ltp_thresholds if c.arg > 0 else dev.ltd_thresholds
            t = table[abs(c.arg)]
            assert t - 2 <= u <= t + 1 or (t < 256 and u < t) or \
                (t > (1 << dev.prob_bits) - 256 and u >= t), (i, c, u, t)
            on += 1
            exact += u in (t - 1, t)
        elif c.op == Op.HEBB_ROW:
            # pulse_min: pulse_max on the x = 0 column just written to 0, on a draw where
            # pulse_max switches and pulse_max - 1 does not
            pf = dev.pulse_fmt
            wr, rd = cmds[i - 1], cmds[i + 1]
            assert c.arg == pf.min and wr.op == Op.WRITE and wr.row == c.row and wr.arg == 0
            assert rd.op == Op.READ and rd[1:3] == wr[1:3] and wr.col < cfg.lanes
            u = int(_u_next(g, cfg)[wr.col])
            assert dev.ltp_thresholds[pf.max - 1] <= u < dev.ltp_thresholds[pf.max], (i, u)
            hebb += 1
        elif c.op not in (Op.WRITE, Op.READ):
            assert c.arg == 0                 # the draws in between are zero pulses
        g.execute(c)
    assert on >= 40 and exact >= 10 and len(inner) >= 10 and hebb >= 3


def test_edge_streams():
    """Device.edge_streams: none for ideal, FN's one edge stream, and the MTJ's edge stream
    plus an 8x longer one whose every switching UPDATE has u's lowest bit deciding
    (u in {t - 1, t}, t odd)."""
    assert _cfg("ideal").device.edge_streams(_cfg("ideal"), 1000) == []
    fcfg = EngineConfig(device=make_device("fn", preset="ice40"), **CFG)
    [(name, cmds)] = fcfg.device.edge_streams(fcfg, 500)
    assert name == "edge stream" and cmds == fcfg.device.edge_commands(fcfg, 0, 500)
    cfg = _cfg("mtj")
    dev = cfg.device
    (n1, s1), (n2, s2) = dev.edge_streams(cfg, 1000)
    assert (n1, len(s1), n2, len(s2)) == ("edge stream", 1000, "lowest-bit edge stream", 8000)
    g = GoldenEngine(cfg)
    hits = 0
    for c in s2:
        if c.op == Op.UPDATE and c.arg != 0:
            u = int(_u_next(g, cfg)[c.col % cfg.lanes])
            t = (dev.ltp_thresholds if c.arg > 0 else dev.ltd_thresholds)[abs(c.arg)]
            assert t % 2 and u in (t - 1, t), (c, u, t)
            hits += 1
        g.execute(c)
    assert hits >= 20


def test_learn_edge_stream_puts_pulses_next_to_rails():
    import numpy as np

    from synemu.sim.lockstep import learn_edge_commands, random_commands
    for name in ("ideal", "femfet"):     # (the MTJ's products never get there: _eq_learn_far)
        cfg = _cfg(name)
        pf = cfg.device.pulse_fmt

        def near_rails(cmds):
            g, n, learns = GoldenEngine(cfg), 0, 0
            for c in cmds:
                if c.op == Op.LEARN:
                    y = g.forward_values(train=True)
                    t = np.full(cfg.rows, cfg.t_neg)
                    t[c.arg] = cfg.t_pos
                    q = (cfg._err_fmt.saturate(t - y)[:, None] * g.x[None, :]) >> cfg.eta
                    n += int(np.isin(q, [pf.min - 2, pf.min - 1, pf.min, pf.min + 1,
                                         pf.max - 2, pf.max - 1, pf.max, pf.max + 1]).sum())
                    learns += 1
                g.execute(c)
            return n / max(learns, 1)

        edge = learn_edge_commands(cfg, 0, 1500)
        assert sum(c.op == Op.LEARN for c in edge) > 150
        heavy = random_commands(cfg, 1000, 1500, weights=mutate._LEARN_HEAVY)
        assert near_rails(edge) > 3 * near_rails(heavy), name


@pytest.fixture(scope="module")
def mtj_schema():
    cfg = _cfg("mtj")
    d = mutate.design(cfg)
    muts = mutate.discover(d)
    return cfg, muts, mutate.build_schema(d, muts)


def test_mtj_edge_stream_kills_what_random_streams_miss(mtj_schema):
    """A switching comparison moved by one (``u < t`` -> ``u <= t``: it differs on u = t,
    1 draw in 65,536) survives random streams; the edge stream (draws on the thresholds)
    kills it. HEBB_ROW's rail clamp one lower (``saturate(-pulse)`` at 6, not 7: pulse 6
    stays on 63 draws in 65,536) dies on the stream's HEBB_ROWs of pulse_min."""
    import copy

    from synemu.sim.lockstep import random_commands
    cfg, muts, build = mtj_schema
    cmp_ = [m for m in muts if m.kind == "relational" and "u < t_l" in m.code
            and "[31:16]" in m.original]
    hebb = [m for m in muts if "saturate(-pulse_arg" in m.owner_code
            and m.change == "5'h07 -> 5'h06"]
    assert len(cmp_) == 4 and len(hebb) == 2
    rnd = [copy.deepcopy(m) for m in cmp_]
    mutate.run_mutants(cfg, rnd, build, [random_commands(cfg, s, 1500) for s in range(2)])
    assert all(m.status == "survived" for m in rnd), [(m.id, m.how) for m in rnd]
    mutate.run_mutants(cfg, cmp_ + hebb, build, [cfg.device.edge_commands(cfg, 0, 40000)])
    assert all(m.status == "killed" and "field 's'" in m.how for m in cmp_ + hebb), \
        [(m.id, m.change, m.how) for m in cmp_ + hebb]
    assert all("HEBB_ROW" in m.how for m in hebb)


def test_mtj_equivalence_rules(mtj_schema, monkeypatch):
    cfg, muts, _ = mtj_schema
    # a pulse-sign test that also takes p = 0: the zero-pulse thresholds are 0
    zero = [m for m in muts if m.code.startswith("neg = pulse < 0") and m.change == "< -> <="]
    assert zero and all(mutate.equivalence_reason(m, cfg).startswith("zero_pulse") for m in zero)
    # ... but p < -1 (the 1-bit signed constant 0 -> 1 on the < test) is not
    minus = [m for m in muts if m.code.startswith("neg = pulse < 0") and m.kind == "const"]
    assert minus and not any(mutate.equivalence_reason(m, cfg) for m in minus)
    # the argument rests on the device's zero-pulse thresholds (mtj validates t[0] == 0):
    # without that predicate nothing is covered
    assert mutate._mtj_zero_inert(cfg.device)
    monkeypatch.setattr(mutate, "ZERO_PULSE_TESTS",
                        [(n, c, lambda dev: False, w) for n, c, _, w in mutate.ZERO_PULSE_TESTS])
    assert not any(mutate.equivalence_reason(m, cfg).startswith("zero_pulse") for m in zero)
    monkeypatch.undo()
    # the +-1 weight (01 / 11) times x: bit 0 is set in every weight, so the shift-and-add
    # term of bit 0 always takes its x arm; the sign bit's term takes both
    terms = [m for m in muts if "term = Mux(b[i], a << i, 0)" in m.code
             and "mul(w.as_signed(), x_l)" in m.owner_code
             and (m.kind == "clamp" or (m.kind == "const" and m.change.startswith("6'h00")))]
    bit0 = [m for m in terms if re.match(r"\S+ ?\[0\] \?", m.original)]
    bit1 = [m for m in terms if re.match(r"\S+ ?\[1\] \?", m.original)]
    assert bit0 and bit1
    assert all(mutate.equivalence_reason(m, cfg).startswith("weight_bit_set") for m in bit0)
    assert not any(mutate._eq_weight_bit_set(m, cfg) for m in bit1)
    # LEARN's rounding copies read only by the clamp tests: |e| >= 256 - 6 * 1 * 16, so
    # no product lands near the 4-bit pulse rails
    far = [m for m in muts if m.code == "total = q + up" and m.checks]
    assert far and all(mutate.equivalence_reason(m, cfg).startswith("learn_far") for m in far)
    wide = EngineConfig(device=cfg.device, **{**CFG, "cols": 12})   # |e| >= 64: q can be 8
    assert not any(mutate.equivalence_reason(m, wide).startswith("learn_far") for m in far)
    # ... and its value copy (read where no clamp test fires: x = 0, q = up = 0) for the
    # changes that keep 0 + 0 at 0; {1, up} (-2 at x = 0) is not covered
    val = [m for m in muts if m.code == "total = q + up" and not m.checks]
    keep0 = [m for m in val if m.change == "+ -> -" or m.change.startswith("swap 1'h0 <-> ")]
    assert keep0 and all(mutate._eq_learn_far(m, cfg) for m in keep0)
    assert not any(mutate._eq_learn_far(m, cfg) for m in val if m.change == "1'h0 -> 1'h1")
    assert not any(mutate._eq_learn_far(m, wide) for m in keep0)
    # LEARN's target moved by one, or e = t + y: every LEARN pulse saturates anyway
    tgt = [m for m in muts if ("target = Mux(cur_row == label" in m.code and m.kind == "const")
           or ("err.eq(saturate(target - acc" in m.code and m.change == "- -> +")]
    assert len(tgt) >= 5 and all(mutate._eq_learn_target(m, cfg) for m in tgt)
    assert not any(mutate._eq_learn_target(m, wide) for m in tgt)
    # the rounding LFSR stepping in LEARN's forward half: the same steps per LEARN, and
    # no LEARN pulse reads the words; stepping in FORWARD's or HEBB's sweeps is not that
    en = [m for m in muts if "rng.en.eq(issue & (kind == SweepKind.LEARN_UPD))" in m.code
          and m.kind == "const"]
    fwd = [m for m in en if m.change == "3'h6 -> 3'h5"]
    assert fwd and all(mutate._eq_round_words(m, cfg) for m in fwd)
    assert not any(mutate._eq_round_words(m, wide) for m in fwd)
    assert not any(mutate._eq_round_words(m, cfg) for m in en if m.change != "3'h6 -> 3'h5")


def test_femfet_round_alias():
    """FeMFET: pulses -128, -127 and -126 give the same state, so a LEARN rounding copy
    that makes the lower clamp fire one or two early changes nothing; not so for ideal."""
    cfg = _cfg("femfet")
    muts = mutate.discover(mutate.design(cfg))
    low = [m for m in muts if m.code == "total = q + up" and m.reader_exprs
           and all(" < $signed(8'h80)" in e for e in m.reader_exprs)]
    assert {m.kind for m in low} >= {"arith", "const", "bitswap"}
    assert all(mutate.equivalence_reason(m, cfg).startswith("round_alias") for m in low
               if m.kind != "relational")
    up = [m for m in muts if m.code == "total = q + up" and m.reader_exprs
          and all(" > $signed(8'h7f)" in e for e in m.reader_exprs)]
    assert up and not any(mutate.equivalence_reason(m, cfg).startswith("round_alias")
                          for m in up)
    icfg = _cfg("ideal")
    assert not any(mutate._eq_round_alias(m, icfg) for m in mutate.discover(mutate.design(icfg)))


def test_prove_equivalent_proves_and_refutes():
    """FeMFET's carry, ``l_new = clamp(over ? tv + l_mid : S, 0, l_max)``, has three copies
    of ``tv + l_mid``: in the one that becomes the level, ``tv - l_mid`` is equivalent (the
    level is 4 bits and -8 = +8 mod 16), and Yosys proves it; in the one read by the
    ``< 0`` clamp test it is not (the test then always fires), and the proof fails."""
    cfg = _cfg("femfet")
    d = mutate.design(cfg)
    muts = mutate.discover(d)
    copies = sorted((m for m in muts if m.kind == "arith" and "tv + d.l_mid" in m.code
                     and "q_state0" not in m.original and m.lhs.startswith("\\$")),
                    key=lambda m: m.line)[:3]
    assert len(copies) == 3
    low, value = copies[0], copies[2]
    res = mutate.prove_equivalent(d, muts, [value.id, low.id])
    assert res == {value.id: True, low.id: False}


def test_fn_edge_stream_lands_on_the_decay_rom():
    """Every live node the FN edge stream writes expires in the next TICK at an age on (or
    one off) an entry of enter_rom, so every level of the binary search sees ties."""
    import numpy as np
    cfg = EngineConfig(device=make_device("fn", preset="ice40"), **CFG)
    dev = cfg.device
    e = dev.enter_rom.astype(np.int64)
    cmds = dev.edge_commands(cfg, 0, 3000)
    assert len(cmds) == 3000
    g = GoldenEngine(cfg)
    pending, ages, exact = [], 0, 0
    for c in cmds:
        if c.op == Op.WRITE:
            pending.append(dev.unpack(np.array([c.arg], dtype=np.uint64)))
        elif c.op == Op.TICK:
            for st in pending:
                for node in "lr":
                    code, cnt = int(st["n" + node][0]), int(st["c" + node][0])
                    if code == 0:
                        continue
                    assert cnt <= c.arg               # it expires
                    age = int(e[code - 1]) + c.arg - cnt
                    assert np.abs(e - age).min() <= 1, (code, cnt, c.arg)
                    ages += 1
                    exact += int(age in e)
            pending = []
        g.execute(c)                                  # valid for the golden model
    assert ages > 1000 and exact > ages // 4


def test_fn_reduction_and_zero_bit_rules():
    cfg = EngineConfig(device=make_device("fn", preset="ice40"), **CFG)
    dev = cfg.device
    muts = mutate.discover(mutate.design(cfg))
    # the pipelined rule's drain test: Cat(*w_valid).any() does not care about bit order
    drain = [m for m in muts if m.kind == "bitswap" and "Cat(*w_valid).any()" in m.code]
    assert len(drain) >= 8 and all(
        mutate.equivalence_reason(m, cfg).startswith("reduction_order") for m in drain)
    # q >> frac_bits and (f * dwell) >> frac_bits: their top bits are never set
    zero = [m for m in muts if m.kind == "bitswap" and re.search(r"fn_(q|prod)_\d+\[", m.change)]
    assert zero and all(mutate.equivalence_reason(m, cfg).startswith("zero_bit") for m in zero)
    assert int(dev.pulse_rom.max()) < 1 << 15 and mutate._fn_prod_max(dev) < 1 << 19
    # ... a bit that can be set is not taken as zero
    assert not mutate.ZERO_BITS[0][2](dev, 6)          # pulse_rom.max() = 76 >= 64
    # a swap inside a concatenation that is not a reduction's operand is not reordered
    other = [m for m in muts if m.kind == "bitswap" and not m.original.lstrip().startswith("|")]
    assert other and not any(mutate._eq_reduction_order(m, cfg) for m in other)
