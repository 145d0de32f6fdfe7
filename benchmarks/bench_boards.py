"""Capacity and speed of the board targets: for each board x device, real YoWASP builds of
square arrays, resource use and nextpnr Fmax; synapse-updates/s = lanes x f_clk; for FN the
real-time factor (emulated seconds per wall second) at full tick resolution, one TICK sweep
per tick: ``tick_s x f_clk / (depth + 3 + L)`` (L = the rule's latency).

``run(quick=True)``: one tiny iCE40 build. ``run()``: the table below (long: many builds).
``python -m benchmarks.bench_boards [--quick] [--record] [--workers N] [--out DIR]
[BOARD:DEVICE:N:P[:PRESET[:K=V,...]]] ...]`` (``K=V``: engine parameters, e.g.
``x_width=2``; ``--record`` merges the rows into ``results.json``/``REPORT.md``, keeping the
other rows; ``--workers N``: N builds at a time, a campaign of dask worker processes;
``--out DIR``: keep the builds and the campaign records there, so a rerun skips the
targets done)
"""

from __future__ import annotations

import json
import os
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


def _row(cap: dict, board, device, n, lanes, preset=None, engine=None) -> dict:
    """The benchmark row of one capacity point (``cap``: its capacity_point row)."""
    from synemu.boards.platforms import get_board
    from synemu.spec.registry import make_device
    from synemu.spec.engine import EngineConfig
    from synemu.spec.registry import rule_for
    r = cap
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


def _error_row(key: str, error: str, seconds: float) -> dict:
    return {"key": key, "fits": False, "error": error, "seconds": seconds}


def run(quick: bool = False, only=None, workers: int = 1, out=None, scheduler=None) -> dict:
    """name -> row dict (units in the field names).

    The builds are a campaign (:mod:`synemu.campaign`; one
    ``synemu.boards.build:capacity_point`` task per target, each in its own build
    directory): ``workers`` local processes or a dask ``scheduler``. ``out``: the build
    directory, records under ``out/campaign`` (a rerun with the same ``out`` skips the
    targets done); default a new temporary directory."""
    from synemu.boards.build import capacity_tasks
    from synemu.campaign import run_campaign
    todo = QUICK if quick else FULL
    if only:
        todo = [_parse(s) for s in only]
    out = out or tempfile.mkdtemp(prefix="synemu-bench-boards-")
    entries = []     # (key, target, task or None, error)
    for board, device, n, lanes, *extra in todo:
        key = _key(board, device, n, lanes, *extra)
        t0 = time.perf_counter()
        try:
            task, = capacity_tasks(board, device, lanes=lanes, sizes=[n], out=out,
                                   preset=extra[0] if extra else None,
                                   engine=extra[1] if len(extra) > 1 else None)
            entries.append((key, (board, device, n, lanes, *extra), task, None))
        except Exception as e:   # a bad target: report, go on
            entries.append((key, None, None, _error_row(key, f"{type(e).__name__}: {e}",
                                                        time.perf_counter() - t0)))
    tasks = list({e[2].key: e[2] for e in entries if e[2] is not None}.values())
    camp = run_campaign(tasks, os.path.join(out, "campaign"), workers=workers,
                        scheduler=scheduler, desc="bench boards")
    recs = {r["key"]: r for r in camp.records if r is not None}
    recs.update({f["key"]: f for f in camp.failed})
    res = {}
    for key, target, task, row in entries:
        if task is not None:
            rec = recs[task.key]
            if rec["ok"]:
                try:
                    row = _row(rec["result"], *target)
                except Exception as e:   # a device without hardware rule etc.: report, go on
                    row = _error_row(key, f"{type(e).__name__}: {e}", 0.0)
            else:
                row = _error_row(key, rec["error"], 0.0)
            row["seconds"] = rec["seconds"]
        res[row.pop("key")] = row
        print(json.dumps({k: v for k, v in row.items() if k != "error"} | {"error": (row.get("error") or "")[:200]}),
              file=sys.stderr, flush=True)
    return res


def main(argv=None) -> dict:
    import argparse
    ap = argparse.ArgumentParser(description="board capacity and speed (YoWASP builds)")
    ap.add_argument("targets", nargs="*", metavar="BOARD:DEVICE:N:P[:PRESET[:K=V,...]]")
    ap.add_argument("--quick", action="store_true", help="one tiny iCE40 build")
    ap.add_argument("--record", action="store_true",
                    help="merge the rows into results.json/REPORT.md")
    ap.add_argument("--workers", type=int, default=1,
                    help="parallel builds (local dask worker processes; default 1)")
    ap.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                    help="run the builds on an existing dask cluster")
    ap.add_argument("--out", default=None,
                    help="build directory, campaign records under OUT/campaign (a rerun "
                         "skips the targets done); default a temporary directory")
    args = ap.parse_args(argv)
    bad = [t for t in args.targets if t.count(":") not in (3, 4, 5)]
    if bad:
        ap.error(f"targets are BOARD:DEVICE:N:P[:PRESET[:K=V,...]], not {', '.join(bad)}")
    rows = run(quick=args.quick, only=args.targets or None, workers=args.workers,
               out=args.out, scheduler=args.scheduler)
    print(json.dumps(rows, indent=1))
    if args.record:
        from benchmarks.run import record_rows
        record_rows("boards", rows)
    return rows


if __name__ == "__main__":
    main()
