"""``synemu`` command line (argparse and formatting only; the work is done in
:mod:`synemu.runtime`, :mod:`synemu.boards`, :mod:`synemu.demo` and the device folders).

Shared verbs take ``--device NAME``: ``verify`` (lockstep golden vs hardware), ``train``
(on-chip learning), ``demo`` (the main job), ``devices`` (what is installed) and the board
verbs ``build``, ``flash``, ``run``, ``capacity`` (:mod:`synemu.cli.boards`). A device's own
experiments are ``synemu <device> <experiment>`` (registered by its plugin's ``commands``);
the old flat names (``fn-trajectory``, ``snn``, ...) still work for one release, with a
note on stderr. Every command prints a readable summary; with ``--json`` one JSON object is
printed last, on success and on failure (``"ok": false, "error": ...``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from ..runtime.report import dumps, emit, file_stem, out_dir, save_json
from .common import (CommandError, SynemuParser, add_campaign_args, add_common, add_device_args,
                     device_from_args, parse_param, positive_int)

__all__ = ["main", "build_parser", "add_device_args", "device_from_args"]


# -- verify ---------------------------------------------------------------------------------
def _parse_window(text: str):
    """``START:STOP`` command window (either side may be empty)."""
    a, sep, b = text.partition(":")
    try:
        start = int(a) if a else 0
        stop = int(b) if b else None
    except ValueError:
        raise argparse.ArgumentTypeError(f"--wave-window wants START:STOP, not {text!r}") from None
    if not sep or start < 0 or (stop is not None and stop <= start):
        raise argparse.ArgumentTypeError(f"--wave-window wants START:STOP with 0 <= START < STOP, "
                                         f"not {text!r}")
    return start, stop


class _Lockstep:
    """One lockstep runner per verify call: the design is built (or found in the cache) once
    and every seed starts from a fresh simulation of it."""

    def __init__(self, config, backend: str, driver: str, waves: bool, window, out: Path):
        self.config, self.backend, self.driver = config, backend, driver
        self.waves, self.window, self.out = waves, window, out
        self.session = None
        if backend == "verilator" and driver == "native":
            from ..sim.native_engine import NativeEngineSession
            self.session = NativeEngineSession(config, waves=waves)

    def run(self, seed: int, commands, progress=None):
        """Lockstep report of one seed, and its wave file (or None)."""
        from ..sim.lockstep import run_lockstep
        if self.backend == "amaranth":
            from ..sim.amaranth_sim import amaranth_lockstep
            return amaranth_lockstep(self.config, commands), None
        if self.session is not None:
            from ..sim.native_engine import native_lockstep
            self.session.restart()
            wave = None
            if self.waves:
                fmt = self.session.build.wave_format
                start, stop = self.window or (0, None)
                wave = self.session.trace_window(self.out / f"verify-seed{seed}.{fmt}", start, stop)
            rep = native_lockstep(self.config, commands, session=self.session, progress=progress)
            if wave is not None:
                self.session.restart()          # closes (flushes) the wave file
            return rep, wave
        # the cocotb testbench, on Verilator or Icarus (a fresh simulation per seed)
        simulator = "icarus" if self.backend == "icarus" else "verilator"
        if self.waves:    # the cocotb testbench writes one wave file per simulation
            from ..sim.remote import SessionDriver, VerilatorSession
            s = VerilatorSession(self.config, waves=True, simulator=simulator)
            with s:
                rep = asyncio.run(run_lockstep(SessionDriver(s), self.config, commands,
                                               progress=progress))
            return rep, (s.result.waves if s.result else None)
        from ..sim.lockstep import cocotb_lockstep
        return cocotb_lockstep(self.config, commands, simulator=simulator,
                               progress=progress)[0], None

    def close(self):
        if self.session is not None:
            self.session.close()


#: this process's last lockstep runner ``(key, _Lockstep)``: the next seed of the same design
#: (in process, or on the same dask worker) reuses its build and simulation session
_RUNNER: list = []


def _lockstep_runner(device, preset, params, engine, backend, driver, waves, window, out):
    """The cached runner of this design (built now if it is another one), and the seconds
    its build (or cache look-up) took (0 when reused)."""
    import json

    from ..spec.engine import EngineConfig
    from ..spec.registry import make_device
    key = json.dumps([device, preset, params, engine, backend, driver, waves, window, out],
                     sort_keys=True)
    if _RUNNER and _RUNNER[0][0] == key:
        return _RUNNER[0][1], 0.0
    close_lockstep_runner()
    t0 = time.perf_counter()
    config = EngineConfig(device=make_device(device, preset=preset, **params), **engine)
    runner = _Lockstep(config, backend, driver, waves, tuple(window) if window else None,
                       Path(out) if out else Path("."))
    _RUNNER.append((key, runner))
    return runner, time.perf_counter() - t0


def close_lockstep_runner():
    """Close this process's cached lockstep runner (its simulation session), if any."""
    while _RUNNER:
        _RUNNER.pop()[1].close()


def verify_seed(*, device: str, preset, params: dict, engine: dict, backend: str, driver,
                seed: int, ops: int, waves: bool = False, window=None, out=None) -> dict:
    """One ``synemu verify`` seed, a campaign task (JSON arguments and result): the
    ``EngineConfig`` of ``device``/``preset``/``params`` and the ``engine`` fields, the
    lockstep of ``random_commands(config, seed, ops)`` on ``backend`` (amaranth | verilator |
    icarus; ``driver``: Verilator native | cocotb, Icarus always cocotb), from a fresh
    simulation. Returns seed, ok, commands, compared_words,
    cycles, mismatches (0 or 1: the lockstep stops at the first), first_mismatch (its
    fields) and first_mismatch_text, wave (a file, with ``waves``), build_seconds."""
    import json

    from ..sim import lockstep
    runner, build_s = _lockstep_runner(device, preset, params, engine, backend, driver,
                                       waves, window, out)
    rep, wave = runner.run(seed, lockstep.random_commands(runner.config, seed, ops))
    mism = json.loads(dumps(rep.to_dict()["mismatches"]))
    return {"seed": seed, "ok": rep.ok, "commands": rep.commands,
            "compared_words": rep.compared_words, "cycles": rep.cycles,
            "mismatches": len(mism), "first_mismatch": mism[0] if mism else None,
            "first_mismatch_text": str(rep.mismatches[0]) if mism else None,
            "wave": str(wave) if wave else None, "build_seconds": build_s}


def cmd_verify(args):
    """Lockstep golden vs hardware, one campaign task per seed (:func:`verify_seed`):
    ``--workers 1`` in this process, one build shared by every seed; ``--workers N`` /
    ``--scheduler`` on dask workers (each builds the design once, or finds it in the shared
    Verilator cache). Finished seeds are kept under ``--out``/campaign: a rerun skips them."""
    from ..spec.engine import EngineConfig
    from ..campaign import RecordStore, Task
    from .common import run_tasks
    if args.seeds < 1:
        raise ValueError(f"--seeds must be at least 1, not {args.seeds}")
    if args.ops < 1:
        raise ValueError(f"--ops must be at least 1, not {args.ops}")
    if args.netlist or args.bitstream or args.board:
        return _verify_netlist(args)
    if args.engine:
        raise ValueError("--engine is for the gate-level checks (--netlist, --bitstream, "
                         "--board)")
    if args.driver is None:              # the backend's own: native on Verilator
        args.driver = "cocotb" if args.backend == "icarus" else "native"
    if args.backend == "icarus" and args.driver != "cocotb":
        raise ValueError("--backend icarus runs the cocotb testbench (the native driver is "
                         "Verilator's compiled C++ driver): use --driver cocotb or leave "
                         "--driver out")
    if args.wave_window and not args.waves:
        raise ValueError("--wave-window needs --waves")
    if args.wave_window and (args.backend, args.driver) != ("verilator", "native"):
        raise ValueError("--wave-window needs the native Verilator driver")
    if args.workers is None:             # waves are written here: in process by default
        from ..campaign import default_workers
        args.workers = 1 if args.waves else min(default_workers(), args.seeds)
    in_process = args.workers == 1 and args.scheduler is None
    if args.waves and not in_process:
        raise ValueError("--waves writes the wave files in this process: use it with "
                         "--workers 1 and no --scheduler")
    device = device_from_args(args)
    engine = dict(rows=args.rows, cols=args.cols, lanes=args.lanes, rounding=args.rounding,
                  eta=args.eta, seed=args.engine_seed)
    config = EngineConfig(device=device, **engine)
    from ..sim.limits import check_sim_size
    check_sim_size(config, args.backend, force=args.force)
    if args.backend == "icarus":         # a missing simulator is named up front, with the fix
        from ..sim.icarus import IcarusNotFound, require
        try:
            require()
        except IcarusNotFound as e:
            raise CommandError(str(e)) from None
    if args.backend in ("verilator", "icarus"):  # a bad SYNEMU_BUILD_DIR: usage error, up front
        from ..sim.verilator import _build_root
        _build_root(None)
    out = out_dir(args.out) if args.waves else Path(args.out)
    # the stream seed varies the commands; the LFSR seeds (reset values baked into the
    # hardware) stay those of --engine-seed, so all seeds share one Verilator build
    spec = dict(device=args.device, preset=args.preset, params=dict(args.param), engine=engine,
                backend=args.backend,
                driver=args.driver if args.backend == "verilator" else None)
    if args.waves:
        spec.update(waves=True, window=list(args.wave_window) if args.wave_window else None,
                    out=str(out.resolve()))
    tasks = [Task("synemu.cli.main:verify_seed", {**spec, "seed": seed, "ops": args.ops},
                  label=f"seed {seed}") for seed in range(args.seeds)]
    if args.waves:          # a debugging run: the wave files are wanted, so rerun every seed
        args.no_resume = True
    t0 = time.perf_counter()
    interrupted = False
    campaign = None
    try:
        res = run_tasks(args, tasks, f"verify {args.device}/{args.backend}")
        results = res.results()
        campaign = res.summary()
    except KeyboardInterrupt:
        # Ctrl-C: report the seeds that finished (a partly checked seed is not counted)
        root = Path(args.out) / "campaign"
        store = RecordStore(root) if root.is_dir() else None
        recs = [store.get(t.key) if store else None for t in tasks]
        results = [r["result"] for r in recs if r is not None]
        if not results:
            raise
        interrupted = True
    finally:
        close_lockstep_runner()
    wall = time.perf_counter() - t0
    results = [r for r in results if r is not None]
    total = {k: sum(r[k] for r in results) for k in ("commands", "compared_words", "cycles")}
    if total["commands"] == 0:
        raise ValueError("verify checked no command")
    failed_seeds = [r["seed"] for r in results if not r["ok"]]
    first = next(({"seed": r["seed"], **r["first_mismatch"]} for r in results if not r["ok"]),
                 None)
    waves = [r["wave"] for r in results if r.get("wave")]
    t_build = max((r["build_seconds"] for r in results), default=0.0) \
        if campaign is None or campaign["ran"] else 0.0
    secs = max(wall - t_build, 1e-9)
    result = {"command": "verify", "ok": not failed_seeds, "device": args.device,
              "preset": args.preset, "backend": args.backend,
              "driver": args.driver if args.backend in ("verilator", "icarus") else None,
              "rows": args.rows, "cols": args.cols,
              "lanes": args.lanes, "seeds": args.seeds, "ops": args.ops, **total,
              "mismatches": len(failed_seeds), "failed_seeds": failed_seeds,
              "first_mismatch": first, "seconds": secs, "build_seconds": t_build,
              "commands_per_s": total["commands"] / secs, "cycles_per_s": total["cycles"] / secs,
              "ops_per_s": total["commands"] / secs, "waves": waves,
              "interrupted": interrupted, "campaign": campaign}
    verdict = "PASS: bit-exact" if not failed_seeds else f"FAIL on seeds {failed_seeds}"
    drv = f" ({args.driver} driver)" if args.backend in ("verilator", "icarus") else ""
    summary = (f"verify {args.device} on {args.backend}{drv}: {args.rows}x{args.cols} array, "
               f"{args.lanes} lanes, {args.seeds} seeds x {args.ops} commands\n"
               f"  {total['commands']} commands; every synapse, input, counter and LFSR compared "
               f"after each ({total['compared_words']} synapse-word comparisons); "
               f"{total['cycles']} clock cycles; {secs:.1f} s "
               f"({total['commands'] / secs:,.0f} commands/s, {total['cycles'] / secs:,.0f} cycles/s)"
               f"\n  {verdict}")
    if first:
        summary += f"\n  first mismatch: {first}"
    if waves:
        summary += "\n  waves: " + ", ".join(waves)
    if campaign and not in_process:
        where = args.scheduler or f"{args.workers} local worker processes"
        summary += f"\n  seeds run on {where}"
    if campaign and campaign["skipped"]:
        summary += (f"\n  {campaign['skipped']} of {campaign['tasks']} seed(s) skipped: done "
                    f"before (records under {campaign['records']}; --no-resume reruns them)")
    if interrupted:
        summary += "\n  interrupted (Ctrl-C): the seeds above finished, the rest did not run"
    emit(result, summary, args.json)
    return 1 if failed_seeds else 130 if interrupted else 0


def _verify_netlist(args):
    """``verify --netlist FAMILY`` (the engine's gate-level netlist on Icarus), with
    ``--board`` (the board top's netlist through the UART link) or ``--bitstream`` (the
    iCE40 bitstream, icebox_vlog, through the UART link): every seed's stream continues
    from the previous one's state in one simulation."""
    from ..spec.engine import EngineConfig
    from ..sim import netlist as N
    from ..sim.lockstep import random_commands
    family = args.netlist
    if args.bitstream:
        family = family or "ice40"
        if family != "ice40":
            raise ValueError(f"--bitstream: bitstream simulation exists for iCE40 only "
                             f"(IceStorm's icebox_vlog), not {family}; check ECP5 boards "
                             f"with --netlist ecp5 --board BOARD")
    board = None
    if args.board or args.bitstream:
        from ..boards.platforms import get_board
        board = get_board(args.board or {"ice40": "icebreaker", "ecp5": "ulx3s-85f"}[
            family or "ice40"])
        if family is None:
            family = board.family
        if board.family != family:
            raise ValueError(f"--board {board.name} is an {board.family} board, not {family}")
    if args.waves or args.wave_window:
        raise ValueError("--netlist/--bitstream write no waves: leave out --waves")
    device = device_from_args(args)
    from .boards import _engine_overrides
    engine = {**dict(rows=args.rows, cols=args.cols, lanes=args.lanes,
                     rounding=args.rounding, eta=args.eta, seed=args.engine_seed),
              **_engine_overrides(args)}
    config = EngineConfig(device=device, **engine)
    from ..sim.limits import check_sim_size
    check_sim_size(config, "icarus", force=args.force)
    source = "bitstream" if args.bitstream else "board-netlist" if board else "netlist"
    try:
        if source == "netlist":
            from ..sim.icarus import require
            require()
        elif source == "bitstream":
            from ..boards.bitstream import require_icestorm
            require_icestorm()
    except RuntimeError as e:
        raise CommandError(str(e)) from None
    from ..sim.verilator import _build_root
    _build_root(None)
    streams = [random_commands(config, seed, args.ops) for seed in range(args.seeds)]
    t0 = time.perf_counter()
    info = {}
    try:
        if source == "netlist":
            nl = N.engine_netlist(config, family)
            t_build = time.perf_counter() - t0
            t1 = time.perf_counter()
            reports = N.netlist_lockstep(config, streams, family)
            info = {"cells": nl.cells, "synth_seconds": nl.seconds}
        else:
            from ..boards.bitstream import BitstreamError, board_lockstep
            try:
                reports, info = board_lockstep(
                    board, config, streams,
                    source="bitstream" if source == "bitstream" else "netlist",
                    snapshot_every=max(1, args.ops // 4))
            except BitstreamError as e:
                raise CommandError(str(e)) from None
            t_build = time.perf_counter() - t0 - info["sim_seconds"]
            t1 = time.perf_counter() - info["sim_seconds"]
    except N.NetlistError as e:
        raise CommandError(str(e), code=1) from None
    secs = max(time.perf_counter() - t1, 1e-9)
    total = {k: sum(getattr(r, k) for r in reports) for k in ("commands", "compared_words")}
    total["cycles"] = reports[-1].cycles if reports else 0
    failed = [i for i, r in enumerate(reports) if not r.ok]
    first = ({"seed": failed[0], **reports[failed[0]].to_dict()["mismatches"][0]}
             if failed else None)
    what = {"netlist": f"the {family} netlist of the engine (yosys {N.SYNTH_COMMANDS[family]}, "
                       f"vendor cell models, Icarus)",
            "board-netlist": f"the {board.name if board else ''} board top's {family} netlist "
                             f"through the UART link (Verilator)",
            "bitstream": f"the {board.name if board else ''} bitstream (iceunpack + icebox_vlog) "
                         f"through the UART link (Verilator)"}[source]
    result = {"command": "verify", "ok": not failed, "device": args.device,
              "preset": args.preset, "netlist": family, "source": source,
              "board": board.name if board else None, "rows": args.rows, "cols": args.cols,
              "lanes": args.lanes, "seeds": args.seeds, "ops": args.ops, **total,
              "mismatches": len(failed), "failed_seeds": failed, "first_mismatch": first,
              "seconds": secs, "build_seconds": round(t_build, 2),
              "commands_per_s": total["commands"] / secs,
              "cycles_per_s": total["cycles"] / secs, "cells": info.get("cells", {})}
    if source != "netlist":
        result.update(uart_divisor=info["uart_divisor"], clock_mhz=info["clock_mhz"])
    verdict = "PASS: bit-exact" if not failed else f"FAIL on seeds {failed}"
    checked = ("every synapse, input, counter and LFSR compared after each command"
               if source == "netlist" else
               "every response compared, every synapse word, time and samples read back "
               f"over the link every {max(1, args.ops // 4)} commands")
    summary = (f"verify {args.device} on {what}: {args.rows}x{args.cols} array, {args.lanes} "
               f"lanes, {args.seeds} seeds x {args.ops} commands\n"
               f"  {total['commands']} commands; {checked} ({total['compared_words']} "
               f"synapse-word comparisons); {total['cycles']} clock cycles; {secs:.1f} s "
               f"({total['commands'] / secs:,.0f} commands/s); build {t_build:.0f} s\n"
               f"  cells: {', '.join(f'{k} {v}' for k, v in result['cells'].items())}\n"
               f"  {verdict}")
    if first:
        summary += f"\n  first mismatch: {first}"
    emit(result, summary, args.json)
    return 1 if failed else 0


# -- train ----------------------------------------------------------------------------------
def cmd_train(args):
    from ..spec.registry import get_plugin, load_object
    plug = get_plugin(args.device)
    if plug.trainer:
        return load_object(plug.trainer)(args)
    from ..runtime.train import plot_curves, train_onchip
    out = out_dir(args.out)
    params = dict(args.param)
    if args.preset:
        from ..spec.registry import get_plugin
        params = {**get_plugin(args.device).presets.get(args.preset, {}), **params}
        device_from_args(args)  # validates the preset name
    res = train_onchip(args.device, args.dataset, backend=args.backend, seed=args.seed,
                       device_params=params, epochs=args.epochs, driver=args.driver)
    preset = f"-{args.preset}" if args.preset else ""
    stem = f"train-{args.device}{preset}-{file_stem(args.dataset)}-{args.backend}"
    png = plot_curves([res], out / f"{stem}.png",
                      title=f"{args.device} on {args.dataset} ({args.backend})")
    res.update(command="train", preset=args.preset, plot=str(png))
    save_json(res, out / f"{stem}.json")
    lines = [f"train {args.device} on {args.dataset} with the {args.backend} backend "
             f"({res['epochs']} epochs, {res['seconds']:.1f} s, {res['samples_per_s']:.0f} samples/s)"]
    for i, (a, b) in enumerate(zip(res["train_accuracy_per_epoch"], res["test_accuracy_per_epoch"])):
        lines.append(f"  epoch {i + 1:2d}: train {a:.3f}  test {b:.3f}")
    lines.append(f"  test accuracy {res['test_accuracy']:.4f}; learning curve: {png}")
    if res["interrupted"]:
        lines.append(f"  interrupted (Ctrl-C) after {res['epochs']} epoch(s); those are saved")
    emit({k: v for k, v in res.items() if k != "predictions"}, "\n".join(lines), args.json)
    return 130 if res["interrupted"] else 0


# -- devices --------------------------------------------------------------------------------
def cmd_devices(args):
    """``synemu devices``: every installed device plugin, where it came from, its presets."""
    from ..spec.registry import plugins
    rows = []
    for name, p in sorted(plugins().items()):
        rows.append({"name": name, "summary": p.summary, "origin": p.origin,
                     "presets": sorted(p.presets), "datasets": sorted(p.recipes),
                     "golden": f"{p.device.__module__}:{p.device.__qualname__}",
                     "rule": p.rule, "experiments": bool(p.commands),
                     "trainer": p.trainer})
    width = max(len(r["name"]) for r in rows)
    lines = [f"{len(rows)} devices installed (entry-point group synemu.devices)"]
    for r in rows:
        lines.append(f"  {r['name']:{width}s}  {r['summary']}")
        lines.append(f"  {'':{width}s}  presets: {', '.join(r['presets']) or '-'}; "
                     f"from {r['origin']}")
    emit({"command": "devices", "ok": True, "devices": rows}, "\n".join(lines), args.json)
    return 0


# -- demo -----------------------------------------------------------------------------------
def cmd_demo(args):
    """The main job (runtime in :mod:`synemu.demo`): every seed device and the ideal
    baseline trained on digits with the golden model and in Verilator, side by side."""
    from ..demo import DemoSettings, run_demo, summary_table
    st = DemoSettings(epochs=args.epochs, seed=args.seed, quick=args.quick,
                      neurons=args.neurons, snn_epochs=args.snn_epochs, sample_s=args.sample_s)
    res = run_demo(st, out=args.out)
    ds = res["dataset"]
    verdict = "YES" if res["identical"] else "NO: " + ", ".join(
        f"{k} ({', '.join(d['differences'])})" for k, d in res["devices"].items() if not d["identical"])
    summary = "\n".join([
        f"synemu demo: on-chip learning of sklearn digits ({ds['n_train']} train / "
        f"{ds['n_test']} test), golden model vs the generated hardware in Verilator "
        f"(native driver), {res['seconds']:.1f} s",
        summary_table(res),
        "  (legs run concurrently: golden on one thread, Verilator models built and run on "
        "others; seconds are each leg's wall time)",
        f"  bit-identical everywhere (final state words, every epoch's accuracy, every "
        f"prediction; MTJ: states, labels, every spike count; trajectory: every TICK): {verdict}",
        f"  figure: {res['plot']}",
        f"  results: {res['json']}",
    ])
    emit(res, summary, args.json)
    return 0 if res["identical"] else 1


def build_parser() -> argparse.ArgumentParser:
    p = SynemuParser(prog="synemu", description="synemu: emulate emerging-device "
                                "synapse arrays on FPGAs, bit-exact with their golden models")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    v = sub.add_parser("verify", help="lockstep golden vs hardware on random command streams")
    add_device_args(v)
    v.add_argument("--backend", choices=["verilator", "amaranth", "icarus"], default="verilator",
                   help="simulator: verilator (default), amaranth (Python), or icarus (Icarus "
                        "Verilog, `apt-get install iverilog`; the cocotb testbench)")
    v.add_argument("--driver", choices=["native", "cocotb"], default=None,
                   help="Verilator: compiled C++ driver (default) or the cocotb testbench; "
                        "Icarus: cocotb only")
    v.add_argument("--seeds", type=positive_int, default=3)
    v.add_argument("--ops", type=positive_int, default=500)
    v.add_argument("--rows", type=positive_int, default=4)
    v.add_argument("--cols", type=positive_int, default=8)
    v.add_argument("--lanes", type=positive_int, default=2)
    v.add_argument("--rounding", default="stochastic")
    v.add_argument("--eta", type=int, default=3)
    v.add_argument("--engine-seed", type=int, default=1, help="seed of the hardware LFSRs")
    v.add_argument("--force", action="store_true",
                   help="simulate an array above the simulator's size guard")
    v.add_argument("--waves", action="store_true",
                   help="Verilator: keep an FST (VCD without lz4 headers) trace per seed; "
                        "Icarus: FST (in this process: --workers 1; every seed is rerun)")
    v.add_argument("--wave-window", type=_parse_window, default=None, metavar="START:STOP",
                   help="native driver: dump waves only for commands START..STOP-1 of each seed")
    v.add_argument("--netlist", choices=["ice40", "ecp5"], default=None,
                   help="gate-level: the engine synthesised as for the board (synth_ice40 -dsp "
                        "/ synth_ecp5), simulated with the vendor cell models on Icarus; with "
                        "--board: the board top's netlist through the UART link")
    v.add_argument("--bitstream", action="store_true",
                   help="iCE40: the board's bitstream (iceunpack + icebox_vlog, `apt-get "
                        "install fpga-icestorm`) through the UART link (default board "
                        "icebreaker)")
    v.add_argument("--board", default=None,
                   help="with --netlist/--bitstream: the board whose top-level is checked")
    v.add_argument("--engine", type=parse_param, action="append", default=[],
                   metavar="KEY=VALUE", help="with --netlist/--bitstream/--board: engine "
                   "parameter override, e.g. x_width=2 (repeatable)")
    add_common(v, "runs")
    add_campaign_args(v)
    v.set_defaults(func=cmd_verify)

    t = sub.add_parser("train", help="on-chip delta-rule learning of a built-in dataset")
    add_device_args(t)
    t.add_argument("--dataset", default="digits")
    t.add_argument("--backend", choices=["golden", "amaranth", "verilator"], default="golden")
    t.add_argument("--epochs", type=positive_int, default=None)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--driver", choices=["native", "cocotb"], default="native",
                   help="Verilator driver (--backend verilator): the compiled C++ driver "
                        "(default) or the cocotb testbench (identical results)")
    add_common(t, "runs")
    t.set_defaults(func=cmd_train)

    ls = sub.add_parser("devices", help="list the installed device plugins")
    add_common(ls, None)
    ls.set_defaults(func=cmd_devices)

    d = sub.add_parser("demo", help="main job: every device learns digits on golden and "
                                    "Verilator, side by side")
    d.add_argument("--epochs", type=positive_int, default=None,
                   help="epochs of the delta-rule legs (default: their recipes, 8)")
    d.add_argument("--seed", type=int, default=0,
                   help="run seed (sample order; LFSR seeds = seed + 1, so a new seed builds "
                        "new Verilator models)")
    d.add_argument("--neurons", type=positive_int, default=50, help="MTJ STDP network size")
    d.add_argument("--snn-epochs", type=positive_int, default=1, help="MTJ STDP training epochs")
    d.add_argument("--sample-s", type=float, default=10.0,
                   help="FN-DAM: emulated seconds per training sample (TICK)")
    d.add_argument("--quick", action="store_true",
                   help="reduced run (300 train / 120 test samples, 2 epochs; same hardware)")
    add_common(d, "runs")
    d.set_defaults(func=cmd_demo)

    from . import boards
    boards.register(sub)
    from . import mutate
    mutate.register(sub)
    from . import formal
    formal.register(sub)
    _register_devices(sub)
    return p


def _device_commands():
    """(plugin, its command module) of every device with CLI experiments."""
    import importlib

    from ..spec.registry import plugins
    for plug in plugins().values():
        if plug.commands:
            mod, _, fn = plug.commands.partition(":")
            yield plug, importlib.import_module(mod), fn


def _register_devices(sub):
    tools = []
    for plug, mod, fn in _device_commands():
        dp = sub.add_parser(plug.name, help=f"{plug.name} experiments: {plug.summary}")
        dsub = dp.add_subparsers(dest="experiment", required=True, metavar="EXPERIMENT")
        getattr(mod, fn)(dsub)
        if hasattr(mod, "register_tools"):
            tools.append(mod.register_tools)
    if tools:   # device-independent tools a plugin provides: ``synemu device fit``
        tp = sub.add_parser("device", help="device tools (fit a device from measured data)")
        tsub = tp.add_subparsers(dest="experiment", required=True, metavar="TOOL")
        for register in tools:
            register(tsub)


def _legacy(argv: list[str]) -> list[str]:
    """Old flat command names (``fn-trajectory``) -> ``fn trajectory``, with a note."""
    if not argv:
        return argv
    for plug, mod, _ in _device_commands():
        new = getattr(mod, "LEGACY", {}).get(argv[0])
        if new:
            print(f"synemu: note: `{argv[0]}` is now `{plug.name} {new}` (the old name goes "
                  f"away in the next release)", file=sys.stderr)
            return [plug.name, new, *argv[1:]]
    return argv


def _command_name(args) -> str:
    return " ".join(x for x in (args.command, getattr(args, "experiment", None)) if x)


def main(argv=None) -> int:
    argv = _legacy(list(sys.argv[1:] if argv is None else argv))
    SynemuParser.argv = argv
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:          # --help (0) or a usage error (2, already reported)
        return e.code if isinstance(e.code, int) else 2
    try:
        return args.func(args) or 0
    except (CommandError, ValueError, FileNotFoundError) as e:
        return fail(args, str(e), getattr(e, "code", 2))
    except KeyboardInterrupt:
        return fail(args, "interrupted", 130)


def fail(args, message: str, code: int = 2) -> int:
    """The one error path: ``synemu <command>: error: ...`` on stderr and, with ``--json``,
    ``{"ok": false, "error": ...}`` as the last line on stdout."""
    name = _command_name(args)
    print(f"synemu {name}: error: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        print(dumps({"command": name, "ok": False, "error": message}), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
