"""The layering of the package, enforced: every module imports only its own or lower layers
(function-level imports included), devices import no other device (their tests may), and the golden side
(``spec``, every device's golden model, physics, presets and plugin registration) runs
without Amaranth."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "src" / "synemu"

#: layer of each top-level unit, lowest first; a module may import its own layer or lower
LAYERS = {"__init__": 0, "fsutil": 0, "spec": 0, "link": 1, "campaign": 1, "gateware": 2, "plugin": 2, "sim": 3,
          "boards": 4, "runtime": 5, "devices": 6, "demo": 7, "cli": 8}

#: golden-side modules of a device (importable without Amaranth)
GOLDEN_SIDE = ("__init__", "golden", "physics", "presets", "network")


def _modules():
    for f in sorted(PKG.rglob("*.py")):
        rel = f.relative_to(PKG).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        yield f, "synemu." + ".".join(parts) if parts != ["__init__"] else "synemu", \
            rel.name == "__init__"


def _imports(path: Path, module: str, is_pkg: bool):
    """(line, imported synemu module) of every import statement in the file."""
    pkg = module if is_pkg else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "synemu":
                    yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "synemu":
                continue
            for a in node.names:      # "from synemu.x import y" may import module x.y
                sub = f"{target}.{a.name}"
                yield node.lineno, sub if _is_module(sub) else target


def _is_module(name: str) -> bool:
    p = PKG.parent.joinpath(*name.split("."))
    return p.with_suffix(".py").exists() or (p / "__init__.py").exists()


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _layer(module: str) -> int:
    """A device's ``cli`` module and its tests sit on the CLI layer (they are the device's
    command line and its test bench); everything else has the layer of its unit."""
    leaf = module.rpartition(".")[2]
    if _device(module) and (leaf == "cli" or leaf.startswith("test_")):
        return LAYERS["cli"]
    return LAYERS[_unit(module)]


def _device(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "devices" else None


def test_every_unit_has_a_layer():
    units = {_unit(m) for _, m, _ in _modules()}
    assert units <= set(LAYERS), units - set(LAYERS)


def test_no_module_imports_an_upper_layer():
    bad = []
    for f, mod, is_pkg in _modules():
        for line, imp in _imports(f, mod, is_pkg):
            if imp == "synemu":
                continue
            if _layer(imp) > _layer(mod):
                bad.append(f"{f.relative_to(PKG)}:{line}: {mod} ({_unit(mod)}) imports {imp}")
    assert not bad, "\n".join(bad)


def test_devices_import_no_other_device():
    bad = []
    for f, mod, is_pkg in _modules():
        dev = _device(mod)
        if mod.rpartition(".")[2].startswith("test_"):
            continue              # a device's tests may compare it with another device
        for line, imp in _imports(f, mod, is_pkg):
            other = _device(imp)
            if dev and other and other != dev:
                bad.append(f"{f.relative_to(PKG)}:{line}: device {dev} imports {imp}")
    assert not bad, "\n".join(bad)


def test_layer_checker_sees_a_violation(tmp_path):
    """The checker itself: a function-level upward import is found."""
    f = tmp_path / "engine.py"
    f.write_text("def f():\n    from ..runtime.tile import Tile\n")
    imps = list(_imports(f, "synemu.spec.engine", False))
    assert imps == [(2, "synemu.runtime.tile")]
    assert LAYERS[_unit(imps[0][1])] > LAYERS["spec"]


def test_golden_side_runs_without_amaranth():
    mods = ["synemu.plugin", "synemu.spec.registry"]
    mods += [f"synemu.spec.{f.stem}" for f in sorted((PKG / "spec").glob("*.py"))]
    for d in sorted(p for p in (PKG / "devices").iterdir() if (p / "__init__.py").exists()):
        mods += [f"synemu.devices.{d.name}" + ("" if s == "__init__" else f".{s}")
                 for s in GOLDEN_SIDE if (d / f"{s}.py").exists()]
    code = ("import sys\n"
            f"for m in {mods!r}: __import__(m)\n"
            "from synemu.plugin import plugins, make_device\n"
            "from synemu.spec.engine import EngineConfig, GoldenEngine\n"
            "for n in plugins(): GoldenEngine(EngineConfig(device=make_device(n), rows=2, cols=8, lanes=2))\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'amaranth')\n"
            "assert not bad, bad\n"
            "print(len(plugins()))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert int(r.stdout) >= 5
