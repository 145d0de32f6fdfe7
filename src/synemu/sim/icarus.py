"""Icarus Verilog: the project's second simulator for the cocotb testbenches (issue #16).

The generated Verilog is compiled with ``iverilog`` through ``cocotb_tools.runner``'s Icarus
runner and run by ``vvp`` with cocotb's VPI library, serving the same cocotb test modules
(:mod:`synemu.sim.cocotb_engine`, :mod:`synemu.sim.cocotb_uart`, the SNN controller's
``serve_snn``, ``tests/cocotb_lfsr.py``) over the same socket protocol as Verilator
(:class:`synemu.sim.remote.CocotbSession` picks the simulator from the build). Lockstep on
Icarus therefore uses the same session, driver, command streams and comparisons as the
Verilator cocotb path; only the simulator differs. Icarus is a Debian package, not a wheel:
``apt-get install iverilog`` (version 11 is what the suite is checked with).

**Language mode: IEEE 1364-2005 (``-g2005``), not cocotb's default ``-g2012``.** Amaranth's
Verilog comes from Yosys's ``write_verilog``, which writes Verilog-2005. Every combinational
``always @*`` block it emits starts with ``if (\\$auto$verilog_backend.cc:...:dump_module$1)
begin end`` and that register is declared with an initialiser (``reg \\$auto... = 0;``). In
Verilog-2005 a declaration initialiser is an assignment made at time 0 (1364-2005 §6.2.1:
"as if in an initial block"), so it is an X->0 event, every ``always @*`` block wakes once at
time 0 and the combinational outputs get their values even when no input changes. In
SystemVerilog a declaration initialiser is applied *before* any process starts and produces
no event (1800-2017 §6.8, §10.5), so under ``-g2012`` the blocks wait for an input change
that, for logic fed only by constants and by registers whose reset value equals their
initial value, never comes: ``busy`` and ``cmd__ready`` of the engine stay X forever.
Verilator hides the difference (two-state, and it evaluates all combinational logic at
start-up). Compiling Yosys's Verilog-2005 output as Verilog-2005 is the standard-conforming
choice (rewriting ``always @*`` into ``always_comb``, which SystemVerilog does run once at
time 0, would make Icarus simulate different text from the one Verilator and the FPGA tools
get), so :func:`build` passes ``-g2005`` after cocotb's ``-g2012`` (iverilog's last ``-g``
generation flag wins). The wave-dump helper module cocotb adds for ``waves=True`` is
SystemVerilog (a ``string``); it is replaced here by a Verilog-2005 one.

Caching is that of :func:`synemu.sim.verilator.build`: ``<build_root>/<toplevel>-icarus-
<hash>/`` (``hash`` of Verilog text, toplevel, waves, iverilog arguments, Icarus and cocotb
versions) under ``$SYNEMU_BUILD_DIR`` (default ``~/.cache/synemu/verilator``), a marker file
once complete, concurrent builds of one hash serialised on an ``fcntl`` lock, a half-built
directory rebuilt. :func:`run` never recompiles; each run gets a scratch directory, removed
after a passing run unless kept.

The clock: cocotb's runner does not set ``COCOTB_TRUST_INERTIAL_WRITES`` for Icarus, so
cocotb's ``Clock`` is a Python coroutine there (two Python wake-ups per clock on top of the
driver's); the drivers only wait on clock edges (see :mod:`synemu.sim.cocotb_stream`), so
they are correct under either clock implementation.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import ClassVar, Mapping, Sequence

from . import remote
from .remote import VerilatorSession
from .verilator import (_MARKER, Build, BuildError, RunResult, SimulationError, _build_root,
                        _flock, _parse_results, _tail)

__all__ = ["IcarusBuild", "IcarusNotFound", "INSTALL_HINT", "DEFAULT_BUILD_ARGS", "available",
           "require", "iverilog_version", "build", "run", "engine_build", "IcarusSession",
           "icarus_lockstep"]

_CACHE_FORMAT = 1   # bump to invalidate all cached Icarus builds
#: Yosys writes Verilog-2005; compile it as such (see the module docstring)
DEFAULT_BUILD_ARGS = ("-g2005",)
INSTALL_HINT = "`apt-get install iverilog` (Debian/Ubuntu; Icarus Verilog 11 or later)"


class IcarusNotFound(RuntimeError):
    """``iverilog``/``vvp`` are not on ``PATH`` (the message names the install command)."""


@dataclass(frozen=True)
class IcarusBuild(Build):
    """A compiled Icarus simulation: ``directory`` holds ``sim.vvp``."""
    simulator: ClassVar[str] = "icarus"


def available() -> bool:
    """True if ``iverilog`` and ``vvp`` are on ``PATH``."""
    return shutil.which("iverilog") is not None and shutil.which("vvp") is not None


def require() -> None:
    """Raise :class:`IcarusNotFound` naming the fix unless Icarus Verilog is installed."""
    missing = [t for t in ("iverilog", "vvp") if shutil.which(t) is None]
    if missing:
        raise IcarusNotFound(f"Icarus Verilog not found ({' and '.join(missing)} not on PATH): "
                             f"install it with {INSTALL_HINT}")


@lru_cache(maxsize=1)
def iverilog_version() -> str:
    """``iverilog -V`` version, e.g. ``11.0 (stable)``."""
    require()
    r = subprocess.run(["iverilog", "-V"], capture_output=True, text=True, timeout=60)
    m = re.search(r"version\s+(\S+(?:\s+\([^)]*\))?)", r.stdout + r.stderr)
    return m.group(1) if m else (r.stdout.splitlines() or ["unknown"])[0]


#: Verilog-2005 stand-in for cocotb's (SystemVerilog) ``cocotb_iverilog_dump`` module: dumps
#: the whole design to the file named by ``+dumpfile_path=...`` (vvp's ``-fst`` makes it FST)
_DUMP_MODULE = """module cocotb_iverilog_dump();
reg [8*4096-1:0] dumpfile_path;
initial begin
    if ($value$plusargs("dumpfile_path=%s", dumpfile_path)) begin
        $dumpfile(dumpfile_path);
    end else begin
        $dumpfile("dump.fst");
    end
    $dumpvars(0, {top});
end
endmodule
"""


def _cocotb_runner_class():
    from cocotb_tools.runner import Icarus

    class _SynemuIcarus(Icarus):
        """cocotb's Icarus runner with a clear error when Icarus is missing, a
        Verilog-2005 wave-dump module, per-run env overrides, extra PYTHONPATH entries
        and a simulator timeout."""

        def __init__(self, *, extra_env=None, pythonpath=(), timeout=None):
            super().__init__()
            self._synemu_env = dict(extra_env or {})
            self._synemu_pythonpath = [str(p) for p in pythonpath]
            self._synemu_timeout = timeout

        def _simulator_in_path(self) -> None:
            require()

        def _create_iverilog_dump_file(self) -> None:
            self.iverilog_dump_file.write_text(_DUMP_MODULE.format(top=self.hdl_toplevel))

        def _set_env_test(self) -> None:
            super()._set_env_test()
            if self._synemu_pythonpath:
                self.env["PYTHONPATH"] = os.pathsep.join(
                    self._synemu_pythonpath + [self.env.get("PYTHONPATH", "")])
            self.env.update(self._synemu_env)

        def _get_sim_cmd_prefix(self) -> list[str]:
            prefix = super()._get_sim_cmd_prefix()
            if self._synemu_timeout is not None:
                timeout_exe = shutil.which("timeout")
                if timeout_exe is None:
                    raise RuntimeError("run(timeout=...) needs coreutils `timeout`")
                prefix = [timeout_exe, "-k", "5", str(float(self._synemu_timeout))] + prefix
            return prefix

    return _SynemuIcarus


def _wave_format(waves) -> str | None:
    if waves is False or waves is None:
        return None
    if waves is True or waves == "fst":
        return "fst"
    raise ValueError(f"Icarus waves must be False, True or 'fst', got {waves!r}")


def build(verilog_text: str, toplevel: str = "top", *, build_root=None,
          waves: bool | str = False, build_args: Sequence[str] = ()) -> IcarusBuild:
    """Compile ``verilog_text`` (top module ``toplevel``) with ``iverilog -g2005``, or reuse
    the cache (the rules of :func:`synemu.sim.verilator.build`). ``waves``: ``True``/``"fst"``
    compiles the dump module in (runs with ``waves=True`` then write ``dump.fst``).
    ``build_args``: extra ``iverilog`` arguments. Raises :class:`IcarusNotFound` if Icarus
    is not installed, :class:`~synemu.sim.verilator.BuildError` with the log tail if the
    compile fails."""
    import cocotb

    require()
    root = _build_root(build_root)
    fmt = _wave_format(waves)
    args = list(DEFAULT_BUILD_ARGS) + list(build_args)
    ident = ["icarus", _CACHE_FORMAT, verilog_text, toplevel, fmt, args, iverilog_version(),
             cocotb.__version__]
    key = hashlib.sha256(json.dumps(ident).encode()).hexdigest()
    directory = (root / f"{toplevel}-icarus-{key[:20]}").absolute()
    verilog_path = directory / f"{toplevel}.v"
    result = IcarusBuild(directory, toplevel, key, fmt, verilog_path, cached=True)
    if (directory / _MARKER).is_file():
        return result
    with _flock(root / ".locks" / f"{directory.name}.lock"):
        if (directory / _MARKER).is_file():
            return result
        if directory.exists():
            shutil.rmtree(directory)          # interrupted earlier build
        directory.mkdir(parents=True)
        verilog_path.write_text(verilog_text)
        log = directory / "build.log"
        t0 = time.monotonic()
        runner = _cocotb_runner_class()()
        try:
            runner.build(sources=[verilog_path], hdl_toplevel=toplevel, build_dir=directory,
                         waves=fmt is not None, build_args=args, timescale=("1ns", "1ps"),
                         log_file=log, always=True)
        except (RuntimeError, SystemExit, OSError) as e:
            raise BuildError(f"Icarus build of {toplevel!r} in {directory} failed ({e}); "
                             f"tail of {log}:\n{_tail(log)}") from None
        if not (directory / "sim.vvp").is_file():
            raise BuildError(f"Icarus build of {toplevel!r} produced no sim.vvp; see {log}")
        (directory / _MARKER).write_text(json.dumps(
            {"toplevel": toplevel, "key": key, "simulator": "icarus", "waves": fmt,
             "args": args, "iverilog": iverilog_version(),
             "seconds": round(time.monotonic() - t0, 2)}))
    return IcarusBuild(directory, toplevel, key, fmt, verilog_path, cached=False)


def run(build: IcarusBuild, test_module: str, *, testcase: str | Sequence[str] | None = None,
        env: Mapping[str, str] | None = None, test_dir=None, waves: bool = False,
        timeout: float | None = None, seed: int | None = None, work_dir=None,
        keep: bool = False) -> RunResult:
    """Run cocotb ``test_module`` on a prebuilt Icarus simulation (never rebuilds); the
    arguments, scratch directory, result and errors are those of
    :func:`synemu.sim.verilator.run`. ``waves`` (needs a ``waves`` build) writes
    ``<work_dir>/dump.fst``."""
    if waves and not build.waves:
        raise ValueError("run(waves=True) needs a simulation built with build(..., waves=True)")
    if work_dir is None:
        (build.directory / "runs").mkdir(exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f"run-{os.getpid()}-", dir=build.directory / "runs"))
    else:
        work = Path(work_dir).absolute()
        work.mkdir(parents=True, exist_ok=True)
    results = work / "results.xml"
    log = work / "sim.log"
    wave = work / "dump.fst"
    runner = _cocotb_runner_class()(
        extra_env={k: str(v) for k, v in (env or {}).items()},
        pythonpath=[Path(test_dir).absolute()] if test_dir is not None else [],
        timeout=timeout)
    t0 = time.monotonic()
    exit_info = ""
    try:
        runner.test(test_module=test_module, hdl_toplevel=build.toplevel,
                    hdl_toplevel_lang="verilog", build_dir=build.directory, test_dir=work,
                    results_xml=str(results), testcase=testcase, waves=waves, seed=seed,
                    plusargs=[f"+dumpfile_path={wave}"] if waves else [], log_file=log)
    except SystemExit as e:      # the cocotb runner sys.exit()s on failures under pytest
        exit_info = f"exit status {e.code}"
    except RuntimeError as e:    # nonzero simulator exit status
        exit_info = str(e)
    duration = time.monotonic() - t0
    if timeout is not None and "124" in exit_info:
        exit_info += f" (timed out after {timeout} s)"
    where = f"test module {test_module!r} on {build.directory.name} (Icarus; scratch: {work})"
    if not results.is_file():
        raise SimulationError(f"simulation of {where} terminated abnormally "
                              f"({exit_info or 'no results.xml'}); tail of {log}:\n{_tail(log)}")
    cases = _parse_results(results)
    failed = [c for c in cases if c["status"] in ("failed", "error")]
    skipped = sum(c["status"] == "skipped" for c in cases)
    if failed or not cases:
        details = "\n".join(f"--- {c['name']}: {c['message']}" for c in failed)
        raise SimulationError(f"{len(failed)} of {len(cases)} cocotb tests failed in {where}"
                              f"{' [' + exit_info + ']' if exit_info else ''}\n{details}\n"
                              f"--- tail of {log}:\n{_tail(log, 25)}")
    result = RunResult(total=len(cases), passed=len(cases) - skipped, failed=0,
                       skipped=skipped, results_xml=results, work_dir=work, log=log,
                       duration=duration, waves=wave if waves else None, testcases=cases)
    if not (keep or waves):
        shutil.rmtree(work, ignore_errors=True)
    return result


# -- the engine ------------------------------------------------------------------------------
def engine_build(config, *, waves: bool = False) -> IcarusBuild:
    """Icarus simulation of ``ArrayEngine(config, debug=True)`` (the Verilog Verilator gets)."""
    return remote.engine_build(config, waves=waves, simulator="icarus")


class IcarusSession(VerilatorSession):
    """:class:`synemu.sim.remote.VerilatorSession` (``run(cmds, n_resps, snapshot)``,
    ``cycle``) on Icarus: the same cocotb testbench, driver and socket protocol."""

    def __init__(self, config, *, waves: bool = False, connect_timeout: float = 600):
        super().__init__(config, waves=waves, connect_timeout=connect_timeout,
                         simulator="icarus")


def icarus_lockstep(config, streams, *, waves: bool = False, progress=None):
    """:func:`synemu.sim.lockstep.cocotb_lockstep` on Icarus: one simulation, one report
    per stream (each continuing from the state the previous one left)."""
    from .lockstep import cocotb_lockstep
    return cocotb_lockstep(config, streams, simulator="icarus", waves=waves, progress=progress)
