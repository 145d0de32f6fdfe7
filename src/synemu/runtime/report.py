"""Output conventions shared by every CLI command.

* a readable summary on stdout; progress bars (tqdm) on stderr;
* with ``--json``, exactly one JSON object printed *last* on stdout;
* plots saved as PNG (matplotlib, Agg backend) and results as JSON under ``--out``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..campaign import progress  # noqa: F401  (the one progress bar of every long run)
from ..fsutil import file_stem  # noqa: F401  (file names from user-given names)

__all__ = ["emit", "out_dir", "file_stem", "progress", "save_json", "plt"]


def _default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def dumps(obj) -> str:
    return json.dumps(obj, default=_default)


def emit(result: dict, summary: str, as_json: bool) -> None:
    """Print the human summary, then (``as_json``) the JSON object as the last line."""
    print(summary, flush=True)
    if as_json:
        print(dumps(result), flush=True)


def out_dir(path, option: str = "--out") -> Path:
    """The output directory ``path``, created if needed and checked writable *before* any
    work is done (a ValueError naming ``option`` otherwise)."""
    from ..fsutil import writable_dir
    return writable_dir(path, option)


def save_json(obj, path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(obj, default=_default, indent=2) + "\n")
    return path


def plt():
    """matplotlib.pyplot with the non-interactive Agg backend."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot
    return pyplot
