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

from ..runtime.report import dumps, emit, file_stem, out_dir, progress, save_json
from .common import (CommandError, SynemuParser, add_common, add_device_args, device_from_args,
                     positive_int)

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
        from ..sim.lockstep import verilator_lockstep
        if self.waves:    # the cocotb testbench writes one wave file per simulation
            from ..sim.remote import SessionDriver, VerilatorSession
            s = VerilatorSession(self.config, waves=True)
            with s:
                rep = asyncio.run(run_lockstep(SessionDriver(s), self.config, commands))
            return rep, (s.result.waves if s.result else None)
        return verilator_lockstep(self.config, commands, driver="cocotb")[0], None

    def close(self):
        if self.session is not None:
            self.session.close()


def cmd_verify(args):
    from ..spec.engine import EngineConfig
    from ..sim.lockstep import random_commands
    if args.seeds < 1:
        raise ValueError(f"--seeds must be at least 1, not {args.seeds}")
    if args.ops < 1:
        raise ValueError(f"--ops must be at least 1, not {args.ops}")
    if args.wave_window and not args.waves:
        raise ValueError("--wave-window needs --waves")
    if args.wave_window and (args.backend, args.driver) != ("verilator", "native"):
        raise ValueError("--wave-window needs the native Verilator driver")
    device = device_from_args(args)
    config = EngineConfig(device=device, rows=args.rows, cols=args.cols, lanes=args.lanes,
                          rounding=args.rounding, eta=args.eta, seed=args.engine_seed)
    from ..sim.limits import check_sim_size
    check_sim_size(config, args.backend, force=args.force)
    out = out_dir(args.out) if args.waves else Path(args.out)
    t_build = time.perf_counter()
    runner = _Lockstep(config, args.backend, args.driver, args.waves, args.wave_window, out)
    t_build = time.perf_counter() - t_build
    t0 = time.perf_counter()
    total = dict(commands=0, compared_words=0, cycles=0)
    first = None
    failed_seeds = []
    waves = []
    per_command = args.backend == "verilator" and args.driver == "native"
    bar = progress(total=args.seeds * args.ops if per_command else args.seeds,
                   desc=f"verify {args.device}/{args.backend}")
    interrupted = False
    try:
        for seed in range(args.seeds):
            # the stream seed varies the commands; the LFSR seeds (reset values baked into the
            # hardware) stay those of --engine-seed, so all seeds share one Verilator build
            rep, wave = runner.run(seed, random_commands(config, seed, args.ops),
                                   progress=bar.update if per_command else None)
            if wave:
                waves.append(str(wave))
            for k in total:
                total[k] += getattr(rep, k)
            if not rep.ok:
                failed_seeds.append(seed)
                first = first or {"seed": seed, **rep.to_dict()["mismatches"][0]}
            if not per_command:
                bar.update(1)
    except KeyboardInterrupt:
        # Ctrl-C: report the seeds that finished (a partly checked seed is not counted)
        if total["commands"] == 0:
            raise
        interrupted = True
    finally:
        bar.close()
        runner.close()
    secs = time.perf_counter() - t0
    if total["commands"] == 0:
        raise ValueError("verify checked no command")
    result = {"command": "verify", "ok": not failed_seeds, "device": args.device,
              "preset": args.preset, "backend": args.backend,
              "driver": args.driver if args.backend == "verilator" else None,
              "rows": args.rows, "cols": args.cols,
              "lanes": args.lanes, "seeds": args.seeds, "ops": args.ops, **total,
              "mismatches": len(failed_seeds), "failed_seeds": failed_seeds,
              "first_mismatch": first, "seconds": secs, "build_seconds": t_build,
              "commands_per_s": total["commands"] / secs, "cycles_per_s": total["cycles"] / secs,
              "ops_per_s": total["commands"] / secs, "waves": waves,
              "interrupted": interrupted}
    verdict = "PASS: bit-exact" if not failed_seeds else f"FAIL on seeds {failed_seeds}"
    drv = f" ({args.driver} driver)" if args.backend == "verilator" else ""
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
    if interrupted:
        summary += "\n  interrupted (Ctrl-C): the seeds above finished, the rest did not run"
    emit(result, summary, args.json)
    return 1 if failed_seeds else 130 if interrupted else 0


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
    v.add_argument("--backend", choices=["verilator", "amaranth"], default="verilator")
    v.add_argument("--driver", choices=["native", "cocotb"], default="native",
                   help="Verilator: compiled C++ driver (default) or the cocotb testbench")
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
                   help="Verilator: keep an FST (VCD without lz4 headers) trace per seed")
    v.add_argument("--wave-window", type=_parse_window, default=None, metavar="START:STOP",
                   help="native driver: dump waves only for commands START..STOP-1 of each seed")
    add_common(v, "runs")
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
