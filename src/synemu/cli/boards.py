"""Board subcommands: ``build``, ``flash``, ``run``, ``capacity``."""

from __future__ import annotations

__all__ = ["register"]


def _engine_overrides(args) -> dict:
    """``--engine KEY=VALUE`` pairs (EngineConfig fields), unknown keys named."""
    import dataclasses

    from ..spec.engine import EngineConfig
    kw = dict(getattr(args, "engine", None) or [])
    fixed = {"device", "rows", "cols", "lanes"}
    known = {f.name for f in dataclasses.fields(EngineConfig)} - fixed
    bad = sorted(set(kw) - known)
    if bad:
        raise ValueError(f"--engine: unknown engine parameter(s) {', '.join(bad)}; "
                         f"known: {', '.join(sorted(known))}")
    return kw


def _engine_config(args, device, **engine):
    from ..spec.engine import EngineConfig
    return EngineConfig(device=device, rows=args.rows, cols=args.cols, lanes=args.lanes,
                        **{**_engine_overrides(args), **engine})


def cmd_build(args):
    from .common import device_from_args
    from ..runtime.report import emit
    from ..boards.build import BuildFailed, build_board
    cfg = _engine_config(args, device_from_args(args))
    try:
        rep = build_board(args.board, cfg, args.out, baud=args.baud,
                          keep_going=args.allow_timing_fail, sequencer=args.sequencer)
    except BuildFailed as e:
        emit({"command": "build", "ok": False, "error": str(e)}, f"build FAILED: {e}", args.json)
        return 1
    r = rep["resources"]
    use = ", ".join(f"{k} {v['used']}/{v['available']}" for k, v in r.items())
    summary = (f"built {rep['device']} {rep['rows']}x{rep['cols']} ({rep['lanes']} lanes) for "
               f"{rep['board']} ({rep['fpga']}) in {rep['seconds']} s\n  {use}\n"
               f"  Fmax {rep['fmax_mhz']} MHz, clock {rep['clock_mhz']:g} MHz: "
               f"{'met' if rep['timing_met'] else 'NOT MET'}\n"
               f"  {rep['synapse_updates_per_s'] / 1e6:g} M synapse-updates/s; UART "
               f"{rep['baud']} baud; "
               + (f"sample memory {rep['smem_words']} words + sequencer (run --mode "
                  "resident|stream)" if rep["sequencer"] else "host mode only (--host-only)")
               + f"\n  bitstream: {rep['bitstream']}")
    emit({"command": "build", "ok": True, **rep}, summary, args.json)
    return 0


def cmd_flash(args):
    from ..runtime.report import emit
    from ..boards.flash import FlashError, flash
    try:
        res = flash(args.board, args.bitstream, out=args.out)
    except FlashError as e:
        emit({"command": "flash", "ok": False, "error": str(e)}, f"flash FAILED: {e}", args.json)
        return 1
    emit({"command": "flash", "ok": True, **res},
         f"programmed {res['board']} with {res['bitstream']} using {res['programmer']}", args.json)
    return 0


def cmd_run(args):
    """On-chip training over the link: a board (``--port``) or its simulated top-level, in
    resident, stream or host mode."""
    from dataclasses import replace

    from ..runtime.datasets import load_dataset
    from ..runtime.report import emit, out_dir, save_json
    from ..runtime.resident import resident_plan, train_sequenced
    from ..runtime.tile import Tile
    from ..runtime.train import prepare_inputs, train_onchip
    from .common import CommandError
    from ..spec.registry import get_plugin, make_device
    from ..spec.engine import EngineConfig
    from ..spec.sequencer import RecordLayout
    from ..boards.backend import BoardBackend
    from ..link.protocol import LinkError, LinkSpec
    from ..boards.platforms import get_board
    from ..boards.top import board_spec
    from ..gateware.sequencer import SMEM_WORDS

    plug = get_plugin(args.device)
    if plug.board_runner:            # a board of its own (the MTJ STDP network)
        from ..spec.registry import load_object
        return load_object(plug.board_runner)(args)
    if args.chunk < 1:
        raise ValueError(f"--chunk must be at least 1, not {args.chunk}")
    for name in ("epochs", "limit"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ValueError(f"--{name} must be at least 1, not {getattr(args, name)}")
    if args.ticks < 0:
        raise ValueError(f"--ticks must be >= 0, not {args.ticks}")
    out = out_dir(args.out)
    ds = load_dataset(args.dataset, seed=0)
    device = make_device(args.device, preset=args.preset, **dict(args.param))
    recipe = get_plugin(args.device).recipe(ds.name, device)
    recipe = replace(recipe, lanes=args.lanes or recipe.lanes,
                     epochs=args.epochs or recipe.epochs)
    board = get_board(args.board)
    cap = board.sequencer_lanes
    if args.mode != "host" and not args.lanes and cap and recipe.lanes > cap:
        # the board's sequencer build fits only so many lanes: run what can be flashed
        recipe = replace(recipe, lanes=cap)
    cols = prepare_inputs(ds.x_train[:1], recipe).shape[1]
    cfg = EngineConfig(device=device, rows=ds.n_classes, cols=cols, lanes=recipe.lanes,
                       seed=args.seed + 1, **recipe.engine_kwargs())
    words = SMEM_WORDS[board.family]
    mode = args.mode
    if mode == "auto":
        n_tr, n_te = len(ds.x_train), len(ds.x_test)
        if args.limit:
            n_tr, n_te = min(n_tr, args.limit), min(n_te, args.limit)
        try:
            resident_plan(RecordLayout(cfg), n_tr, n_te, words, args.order == "host")
            mode = "resident"
        except ValueError:
            mode = "stream"
    spec = board_spec(board, cfg, args.baud)
    if args.port:
        where = f"{args.board} on {args.port}"
    elif args.fast_uart:
        spec = LinkSpec(cfg)
        where = f"simulated {args.sim} top-level (UART divisor {spec.divisor}, nominal clock)"
    else:
        where = (f"simulated {args.board} top-level ({args.sim}, {spec.clk_hz / 1e6:g} MHz, "
                 f"UART divisor {spec.divisor})")
    if mode != "host":
        spec = replace(spec, smem_words=words)
    try:
        backend = BoardBackend(cfg, port=args.port, sim=args.sim, spec=spec, driver=args.driver)
    except (LinkError, RuntimeError) as e:
        raise CommandError(str(e), 1) from e
    with Tile(config=cfg, backend=backend) as tile:
        c0 = backend.counters()
        if mode == "host":
            r = train_onchip(args.device, ds, backend=where, seed=args.seed, recipe=recipe,
                             tile=tile, limit=args.limit, chunk=args.chunk, check=args.check,
                             show_progress=not args.json)
        else:
            try:
                r = train_sequenced(backend, ds, recipe, mode=mode, seed=args.seed,
                                    limit=args.limit, check=args.check, ticks=args.ticks,
                                    order=args.order, window=args.window,
                                    show_progress=not args.json, device=args.device)
            except LinkError as e:
                raise CommandError(str(e), 1) from e
        c1 = backend.counters()
        stats = backend.host.stats
    seconds, n, identical = r["seconds"], r["samples"], r["identical_to_golden"]
    engine_s = (c1.busy_cycles - c0.busy_cycles) / spec.clk_hz
    board_cycles = c1.cycles - c0.cycles
    hist_te = r["test_accuracy_per_epoch"]
    res = {"command": "run", "ok": identical is not False, "mode": mode, "where": where,
           "device": args.device, "board": args.board,
           "driver": args.driver if not args.port and args.sim == "verilator" else None,
           "dataset": ds.name, "engine": cfg.to_dict(), "epochs": recipe.epochs,
           "samples": n, "train_accuracy_per_epoch": r["train_accuracy_per_epoch"],
           "test_accuracy_per_epoch": hist_te, "test_accuracy": hist_te[-1],
           "weights_sha": r["weights_sha"], "identical_to_golden": identical,
           "seconds": seconds, "samples_per_s": n / seconds,
           "engine_busy_s": engine_s,
           "board_clk_hz": spec.clk_hz, "baud": round(spec.baud),
           "board_cycles": board_cycles, "board_cycles_per_s": board_cycles / seconds,
           "board_samples": c1.samples, "board_time": c1.time,
           "link": {"frames": stats.frames, "retries": stats.retries,
                    "crc_errors": stats.crc_errors, "timeouts": stats.timeouts,
                    "busy": stats.busy, "go_backs": stats.go_backs,
                    "bytes_out": stats.bytes_out, "bytes_in": stats.bytes_in}}
    if mode == "host":
        wire_bytes = stats.bytes_out / max(n, 1)
        res.update({
            "board_samples_per_s": n / (board_cycles / spec.clk_hz) if board_cycles else None,
            "engine_bound_samples_per_s": n / engine_s if engine_s else None,
            "wire_bound_samples_per_s": spec.baud / 10 / wire_bytes if wire_bytes else None,
            "link_utilisation": stats.bytes_out / (spec.baud / 10 * board_cycles / spec.clk_hz)
            if board_cycles else None})
    else:
        for k in ("board_samples_per_s", "engine_bound_samples_per_s", "wire_bound_samples_per_s",
                  "link_utilisation", "board_efficiency", "ticks_per_sample", "order",
                  "sequencer", "record_words"):
            res[k] = r[k]
    res["on_chip_samples_per_s"] = res["engine_bound_samples_per_s"]
    save_json(res, out / f"run-{args.device}-{ds.name}.json")

    def rate(v):
        return f"{v:,.0f}" if v else "-"
    summary = (f"run {args.device} on {ds.name} ({mode} mode) via {where}: {n} training "
               f"samples, {seconds:.1f} s\n"
               f"  board {rate(res['board_samples_per_s'])} samples/s of board time (engine "
               f"bound {rate(res['engine_bound_samples_per_s'])}, wire bound "
               f"{rate(res['wire_bound_samples_per_s'])}; link utilisation "
               f"{(res['link_utilisation'] or 0) * 100:.1f} %)\n"
               f"  test accuracy per epoch: {', '.join(f'{a:.3f}' for a in hist_te)}\n"
               f"  link: {stats.frames} frames, {stats.retries} retries, {stats.busy} busy\n"
               + (f"  identical to the golden model: {'YES' if identical else 'NO'}"
                  if identical is not None else ""))
    emit(res, summary, args.json)
    return 0 if identical is not False else 1


def cmd_capacity(args):
    """One YoWASP build per array size, as a campaign (``--workers``/``--scheduler``;
    finished sizes kept under ``--out``/campaign, so a rerun skips them)."""
    from ..runtime.report import emit, out_dir, save_json
    from ..boards.build import capacity_tasks
    from .common import run_tasks
    out = out_dir(args.out)
    tasks = capacity_tasks(args.board, args.device, lanes=args.lanes, sizes=args.sizes,
                           out=out, preset=args.preset, device_params=dict(args.param),
                           engine=_engine_overrides(args))
    res = run_tasks(args, tasks, f"capacity {args.board}/{args.device}")
    rows = res.results()
    save_json(rows, out / f"capacity-{args.board}-{args.device}.json")
    lines = [f"capacity of {args.board} for {args.device} ({args.lanes} lanes):"]
    for r in rows:
        lines.append(f"  {r['rows']}x{r['cols']}: " + (
            f"fits, Fmax {r['fmax_mhz']:.1f} MHz, LUT {r['lut']}, BRAM {r['bram']}"
            if r["fits"] else f"FAILS: {r['error'][:100]}"))
    if res.skipped:
        lines.append(f"  ({res.skipped} of {len(tasks)} size(s) from earlier records under "
                     f"{res.root}; --no-resume rebuilds them)")
    emit({"command": "capacity", "rows": rows, "campaign": res.summary()}, "\n".join(lines),
         args.json)
    return 0


def register(sub):
    from .common import (add_campaign_args, add_common, add_device_args, parse_param,
                         positive_int)
    from ..boards.platforms import BOARDS

    def engine_args(p):
        p.add_argument("--engine", type=parse_param, action="append", default=[], metavar="KEY=VALUE",
                       help="engine parameter override, e.g. x_width=2 (repeatable)")

    def shape(p, rows=8, cols=16, lanes=2):
        p.add_argument("--rows", type=positive_int, default=rows)
        p.add_argument("--cols", type=positive_int, default=cols)
        p.add_argument("--lanes", type=positive_int, default=lanes)

    b = sub.add_parser("build", help="bitstream + resource/Fmax report for a board (YoWASP)")
    b.add_argument("--board", required=True, choices=sorted(BOARDS))
    add_device_args(b)
    engine_args(b)
    shape(b)
    b.add_argument("--baud", type=int, default=None, help="UART baud (default 1000000)")
    b.add_argument("--allow-timing-fail", action="store_true",
                   help="report, rather than fail on, a missed clock constraint")
    seqg = b.add_mutually_exclusive_group()
    seqg.add_argument("--sequencer", dest="sequencer", action="store_true", default=None,
                      help="include the sample memory and on-chip sequencer (`synemu run "
                           "--mode resident|stream`; default on ECP5 boards)")
    seqg.add_argument("--host-only", dest="sequencer", action="store_false",
                      help="no sample memory or sequencer: `synemu run --mode host` only "
                           "(default on the iCE40UP5K, where the sequencer does not fit yet)")
    add_common(b, "build")
    b.set_defaults(func=cmd_build)

    f = sub.add_parser("flash", help="program a built bitstream (iceprog/openFPGALoader/dfu-util)")
    f.add_argument("--board", required=True, choices=sorted(BOARDS))
    f.add_argument("--bitstream", default=None)
    add_common(f, "build")
    f.set_defaults(func=cmd_flash)

    r = sub.add_parser("run", help="on-chip training over the UART link (board or simulation)")
    r.add_argument("--port", default=None, help="serial port of the board (omit: simulate)")
    r.add_argument("--board", default="icebreaker", choices=sorted(BOARDS))
    r.add_argument("--baud", type=int, default=None)
    r.add_argument("--sim", default="verilator", choices=["verilator", "amaranth", "model"])
    r.add_argument("--driver", default="native", choices=["native", "cocotb"],
                   help="Verilator driver of --sim verilator: native (compiled, in-process; "
                        "default) or cocotb (a simulator process)")
    add_device_args(r)
    r.add_argument("--dataset", default="digits")
    r.add_argument("--epochs", type=positive_int, default=None)
    r.add_argument("--lanes", type=positive_int, default=None)
    r.add_argument("--limit", type=positive_int, default=None, help="use only the first N samples")
    r.add_argument("--chunk", type=positive_int, default=16,
                   help="samples per host batch (host mode)")
    r.add_argument("--mode", default="auto", choices=["auto", "resident", "stream", "host"],
                   help="resident: data in the board's sample memory, its sequencer runs the "
                        "epochs; stream: samples streamed through ring buffers; host: the host "
                        "sends every command; auto (default): resident if the data fits, "
                        "else stream")
    r.add_argument("--order", default="lfsr", choices=["lfsr", "host"],
                   help="resident sample order: the on-chip LFSR permutation (default) or a "
                        "host permutation written each epoch")
    r.add_argument("--ticks", type=int, default=0,
                   help="TICK count after every training sample (emulated device time)")
    r.add_argument("--window", type=positive_int, default=8,
                   help="frames in flight on the windowed link (1..64)")
    r.add_argument("--fast-uart", action="store_true",
                   help="simulation only: UART divisor 2 at a nominal clock instead of the "
                        "board's clock and baud (faster to simulate)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--check", action="store_true",
                   help="run the golden model alongside and compare every prediction and "
                        "the final weights")
    add_common(r, "runs")
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("capacity", help="largest array that fits a board, with Fmax")
    c.add_argument("--board", required=True, choices=sorted(BOARDS))
    add_device_args(c)
    engine_args(c)
    c.add_argument("--lanes", type=positive_int, default=4)
    c.add_argument("--sizes", type=positive_int, nargs="+", default=[16, 32, 64],
                   help="square array sizes to try (one build each: a campaign task)")
    add_common(c, "build")
    add_campaign_args(c)
    c.set_defaults(func=cmd_capacity)
