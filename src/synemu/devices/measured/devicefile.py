"""The measured-device file: one JSON object holding a fitted device.

``format``      ``"synemu-measured-device"``; ``version`` 1
``label``       display name
``device``      :class:`~.golden.MeasuredDevice` parameters (the integer tables)
``grid``        ``g_min_s``/``g_max_s``: conductance (S) of state 0 and state K-1 (uniform grid)
``fit``         float curves per state (units: states per pulse) and derived parameters
``errors``      fit errors (% of the conductance range)
``provenance``  source (citation, parameters), ``csv`` (name, sha256, rows), date, synemu version
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

__all__ = ["FORMAT", "VERSION", "load", "load_params", "save", "sha256_file"]

FORMAT = "synemu-measured-device"
VERSION = 1


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def load(path) -> dict:
    """The whole device file (validated header)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"measured device file {str(p)!r} does not exist "
                                f"(make one with `synemu device fit DATA.csv --out FILE.json`)")
    try:
        doc = json.loads(p.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"measured device file {str(p)!r} is not valid JSON: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"{str(p)!r} is not a synemu measured-device file (no "
                         f"\"format\": \"{FORMAT}\")")
    if doc.get("version") != VERSION:
        raise ValueError(f"{str(p)!r} is device-file version {doc.get('version')!r}; this "
                         f"synemu reads version {VERSION}")
    if not isinstance(doc.get("device"), dict):
        raise ValueError(f"{str(p)!r} has no \"device\" parameters")
    return doc


def load_params(path) -> dict:
    """The :class:`~.golden.MeasuredDevice` parameters of a device file."""
    doc = load(path)
    params = dict(doc["device"])
    params.setdefault("label", doc.get("label"))
    params.pop("file", None)
    return params


def _round(v):
    return float(f"{v:.6g}") if isinstance(v, float) else v


def _dumps(obj, ind: int = 0) -> str:
    """JSON with one line per list of scalars (tables stay readable and diffable)."""
    pad, pad1 = " " * ind, " " * (ind + 1)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{pad1}{json.dumps(str(k))}: {_dumps(v, ind + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, (list, tuple)):
        if all(not isinstance(v, (dict, list, tuple)) for v in obj):
            return json.dumps([_round(v) for v in obj])
        return "[\n" + ",\n".join(pad1 + _dumps(v, ind + 1) for v in obj) + "\n" + pad + "]"
    return json.dumps(_round(obj))


def save(path, doc: dict) -> Path:
    """Write a device file (``doc`` without the header keys; they are added)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    full = {"format": FORMAT, "version": VERSION, **doc}
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(_dumps(full) + "\n")
    tmp.replace(p)
    return p
