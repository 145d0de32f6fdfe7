"""Capacity and speed of the board targets: for each board x device, real YoWASP builds of
square arrays, resource use and nextpnr Fmax; synapse-updates/s = lanes x f_clk; for FN the
real-time factor (emulated seconds per wall second) at full tick resolution, one TICK sweep
per tick: ``tick_s x f_clk / (depth + 3 + L)`` (L = the rule's latency).

``run(quick=True)``: one tiny iCE40 build. ``run()``: the table below (long: many builds).
``python -m benchmarks.bench_boards [--quick] [--record] [BOARD:DEVICE:N:P[:PRESET[:K=V,...]]] ...]``
(``K=V``: engine parameters, e.g. ``x_width=2``; ``--record`` merges the rows into
``results.json``/``REPORT.md``, keeping the other rows)
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

#: spike inputs: 2-bit x, so the engine's products take no DSP (hdl.fixed.mul)
_SPIKES = {"x_width": 2}

#: (board, device, n (square n x n), lanes[, preset[, engine overrides]]): the targets of
#: issue 6 and the largest tried (FN, MTJ: the largest that fits, with their board presets)
FULL = [
    ("icebreaker", "ideal", 64, 4),
    ("icebreaker", "femfet", 32, 2),
    ("icebreaker", "mtj", 64, 4, "board", _SPIKES),
    ("icebreaker", "fn", 32, 1, "ice40"),
    ("ulx3s-85f", "femfet", 256, 16),
    ("ulx3s-85f", "ideal", 256, 16),
    ("ulx3s-85f", "mtj", 1024, 32, "board", _SPIKES),
    ("ulx3s-85f", "fn", 32, 4, "board"),
    ("ulx3s-85f", "fn", 128, 8, "board"),
    ("orangecrab", "ideal", 256, 8),
    ("orangecrab", "femfet", 128, 8),
    ("orangecrab", "mtj", 512, 16, "board", _SPIKES),
    ("orangecrab", "fn", 64, 2, "board"),
    ("icebreaker", "measured", 32, 2, "reram-gong2018"),
    ("icebreaker", "measured", 32, 2, "ecram-tang2018"),
    ("icebreaker", "measured", 32, 2, "fefet-jerry2017"),
    ("ulx3s-85f", "measured", 256, 16, "reram-gong2018"),
    ("ulx3s-85f", "measured", 256, 16, "ecram-tang2018"),
    ("ulx3s-85f", "measured", 256, 16, "fefet-jerry2017"),
]
QUICK = [("icebreaker", "ideal", 8, 2)]


def _key(board, device, n, lanes, preset=None, engine=None) -> str:
    eng = "".join(f"/{k}={v}" for k, v in sorted((engine or {}).items()))
    return f"{board}/{device}{'-' + preset if preset else ''}/{n}x{n}/P{lanes}{eng}"


def _parse(spec: str) -> tuple:
    """``BOARD:DEVICE:N:P[:PRESET[:K=V,...]]`` -> a FULL-style tuple."""
    b, d, n, p, *rest = spec.split(":")
    preset = rest[0] or None if rest else None
    engine = {}
    for kv in (rest[1].split(",") if len(rest) > 1 and rest[1] else []):
        k, v = kv.split("=", 1)
        engine[k] = int(v)
    return (b, d, int(n), int(p), preset, engine)


def _row(board, device, n, lanes, out, preset=None, engine=None) -> dict:
    from synemu.boards.build import capacity_sweep
    from synemu.boards.platforms import get_board
    from synemu.spec.registry import make_device
    from synemu.spec.engine import EngineConfig
    from synemu.spec.registry import rule_for
    r = capacity_sweep(board, device, lanes=lanes, sizes=[n], out=out, preset=preset,
                       engine=engine)[0]
    b = get_board(board)
    key = _key(board, device, n, lanes, preset, engine)
    row = {"key": key, "fits": r["fits"], "error": r.get("error")}
    if r["fits"]:
        f_run = min(r["fmax_mhz"], b.clk_hz / 1e6) * 1e6
        row.update({
            "fmax_mhz": r["fmax_mhz"], "board_clock_mhz": b.clk_hz / 1e6,
            "timing_met": r["timing_met"], "lut_used": r["lut"], "lut_available": r["lut_available"],
            "ff_used": r["ff"], "bram_used": r["bram"], "bram_available": r["bram_available"],
            "dsp_used": r["dsp"], "synapses": n * n,
            "synapse_updates_per_s_at_fmax": lanes * r["fmax_mhz"] * 1e6,
            "synapse_updates_per_s_at_board_clock": lanes * f_run,
            "build_seconds": r["seconds"]})
        dev = make_device(device, preset=preset)
        if getattr(dev, "tick_s", None):
            cfg = EngineConfig(device=dev, rows=n, cols=n, lanes=lanes, **(engine or {}))
            latency = rule_for(dev).latency
            sweep_s = (cfg.depth + 3 + latency) / f_run
            row["fn_tick_s"] = dev.tick_s
            row["rule_latency_clocks"] = latency
            row["fn_real_time_factor_per_tick"] = dev.tick_s / sweep_s
    return row


def run(quick: bool = False, only=None) -> dict:
    """name -> row dict (units in the field names)."""
    todo = QUICK if quick else FULL
    if only:
        todo = [_parse(s) for s in only]
    out = tempfile.mkdtemp(prefix="synemu-bench-boards-")
    res = {}
    for board, device, n, lanes, *preset in todo:
        t0 = time.perf_counter()
        try:
            row = _row(board, device, n, lanes, out, *preset)
        except Exception as e:   # a device without hardware rule etc.: report, go on
            row = {"key": _key(board, device, n, lanes, *preset), "fits": False,
                   "error": f"{type(e).__name__}: {e}"}
        row["seconds"] = time.perf_counter() - t0
        res[row.pop("key")] = row
        print(json.dumps({k: v for k, v in row.items() if k != "error"} | {"error": (row.get("error") or "")[:200]}),
              file=sys.stderr, flush=True)
    return res


if __name__ == "__main__":
    args = sys.argv[1:]
    quick = "--quick" in args
    only = [a for a in args if a.count(":") in (3, 4, 5)] or None
    rows = run(quick=quick, only=only)
    print(json.dumps(rows, indent=1))
    if "--record" in args:
        from benchmarks.run import record_rows
        record_rows("boards", rows)
