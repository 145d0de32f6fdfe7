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
