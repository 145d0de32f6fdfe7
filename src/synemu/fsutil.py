"""File-system checks shared by every layer (no synemu imports)."""

from __future__ import annotations

import tempfile
from pathlib import Path

__all__ = ["writable_dir"]


def writable_dir(path, what: str, *, doing: str = "write there", hint: str = "") -> Path:
    """``path`` as a directory, created if needed and proven writable (a temporary file is
    made in it) before any work starts; otherwise a ValueError naming ``what`` (the option
    or variable it came from), e.g. ``--out runs/x: is a file, not a directory``."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ValueError(f"{what} {p}: is a file, not a directory")
    try:
        p.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=p):
            pass
    except OSError as e:
        raise ValueError(f"{what} {p}: cannot {doing} ({e.strerror or e}){hint}") from None
    return p


def source_fingerprint(subpackages: tuple[str, ...] | None = None) -> str:
    """Hash of the non-test sources of synemu's ``subpackages`` (None: all of synemu), of
    every installed device plugin's package and of Amaranth's version: results keyed by it
    (Verilator builds, campaign records) are redone after any code change."""
    import hashlib
    import sys
    from importlib import metadata

    from .spec.registry import plugins
    pkg = Path(__file__).resolve().parent
    roots = [pkg] if subpackages is None else [pkg / sub for sub in subpackages]
    for plug in plugins().values():
        mod = sys.modules[plug.device.__module__]
        roots.append(Path(mod.__file__).resolve().parent)
    # paths relative to each root's parent: the same sources hash the same wherever they
    # are installed (a cluster worker's copy, a fresh clone)
    files = sorted({(f.relative_to(r.parent).as_posix(), f) for r in roots for f in r.rglob("*.py")
                    if not f.name.startswith("test_")})
    h = hashlib.sha256(metadata.version("amaranth").encode())
    for rel, f in files:
        h.update(rel.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def file_stem(name: str) -> str:
    """A file-name-safe form of a user-given name (a dataset's name, never its path)."""
    import re
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", Path(str(name)).name).strip("._") or "data"
