"""Boards that train on their own: the on-chip sequencer in cycle-accurate Verilator
simulation of the exact board top-levels (board clock from the PLL, UART at the board's
divisor), as ``synemu run --sim verilator --board B --mode M --check`` runs them.

Rows per run (``<board>_<device>_<mode>_...``; units in the names):

* ``board_samples_per_s``: training samples per second of *board* time, from the board's
  own cycle counters (resident: the cycles the LEARN jobs ran; stream: the whole run, every
  sample); ``engine_bound_samples_per_s``: the same samples over the cycles the engine was
  busy; ``efficiency`` = their ratio; stream also ``wire_bound_samples_per_s`` and
  ``of_min_bound`` = board rate / min(engine bound, wire bound);
* ``golden_samples_per_s``: the golden model (NumPy, one core) training the same samples in
  this run, and ``board_over_golden``;
* ``identical_to_golden``: every prediction, the counters and the final state equal.

``ulx3s_85f_mtj_stream_*``: the full-size STDP network (400 x 784) streamed over the
ULX3S-85F's 3 Mbaud link, identical to the golden network, against the golden model's
rate in the same run; ``icebreaker_mtj_stream_*``: the iCEBreaker's 100 x 196 network on
mnist5k-14 (24 MHz, 3 Mbaud), and ``build_icebreaker_mtj_snn_*`` its top-level built.

``build_*``: the full-size board top-levels these rows simulate, built with the pinned
YoWASP tools (digits array 10 x 66 at 2 lanes, 10 x 68 at 4, ideal 8-bit): logic cells
(LUT) used, Fmax, whether the design clock is met; the iCEBreaker's sequencer top at its
``sequencer_lanes`` and at 4 lanes (which does not fit), its host-only top at 4 lanes,
and the ULX3S-85F's.

``link_faults_*``: the windowed link in stream mode behind the fault injector
(1e-3 damage per byte both ways: flips, drops, duplicated bytes, plus duplicated frames):
frames acknowledged, go-backs, final state identical to golden.
"""

from __future__ import annotations

import tempfile
import time


def _run(board, device, mode, *, preset=None, limit=None, epochs=None, ticks=0, baud=None,
         extra=()):
    from synemu.cli.common import run_json
    out = tempfile.mkdtemp(prefix="synemu-bench-seq-")
    argv = ["run", "--sim", "verilator", "--board", board, "--device", device, "--mode", mode,
            "--check", "--json", "--out", out, "--ticks", str(ticks), *extra]
    if preset:
        argv += ["--preset", preset]
    if limit:
        argv += ["--limit", str(limit)]
    if epochs:
        argv += ["--epochs", str(epochs)]
    if baud:
        argv += ["--baud", str(baud)]
    rc, res = run_json(argv)
    if rc != 0:
        raise RuntimeError(f"synemu {' '.join(argv)} failed: {res}")
    return res


def _golden_rate(device, preset, limit, epochs, ticks, lanes):
    """Golden-model training rate of the same recipe and samples (LFSR order jobs)."""
    from dataclasses import replace

    import numpy as np

    from synemu.runtime.datasets import load_dataset
    from synemu.runtime.train import prepare_inputs
    from synemu.spec.engine import EngineConfig, GoldenEngine
    from synemu.spec.registry import get_plugin, make_device
    from synemu.spec.sequencer import GoldenSequencer, JobFlag, RecordLayout, SeqJob
    ds = load_dataset("digits", seed=0)
    dev = make_device(device, preset=preset)
    rec = get_plugin(device).recipe(ds.name, dev)
    rec = replace(rec, epochs=epochs or rec.epochs, lanes=lanes)
    x = prepare_inputs(ds.x_train, rec)[:limit]
    y = ds.y_train[:limit]
    cfg = EngineConfig(device=dev, rows=ds.n_classes, cols=x.shape[1], lanes=rec.lanes,
                       seed=1, **rec.engine_kwargs())
    g = GoldenSequencer(GoldenEngine(cfg), 65536)
    g.write(0, RecordLayout(cfg).pack(x, y).ravel())
    t0 = time.perf_counter()
    for e in range(rec.epochs):
        job = SeqJob(JobFlag.LEARN | JobFlag.LFSR, 0, len(x), ticks=ticks, lfsr_seed=1 + e)
        g.accept(job)
        g.run(job)
    return rec.epochs * len(x) / (time.perf_counter() - t0), np.int64(0)


def run(quick: bool = False) -> dict:
    rows = {}
    limit = 300 if quick else None
    epochs = 1 if quick else 3
    cases = [("icebreaker", "ideal", None, "resident", 0),
             ("icebreaker", "femfet", "6bit", "resident", 0),
             ("icebreaker", "fn", "ice40", "resident", 1000),
             ("ulx3s-85f", "ideal", None, "stream", 0)]
    for board, device, preset, mode, ticks in cases:
        r = _run(board, device, mode, preset=preset, limit=limit, epochs=epochs, ticks=ticks)
        key = f"{board.replace('-', '_')}_{device}{'_' + preset if preset else ''}_{mode}"
        b, e = r["board_samples_per_s"], r["engine_bound_samples_per_s"]
        rows[f"{key}_board_samples_per_s"] = round(b)
        rows[f"{key}_engine_bound_samples_per_s"] = round(e)
        rows[f"{key}_efficiency"] = round(b / e, 4)
        rows[f"{key}_clock_mhz"] = r["board_clk_hz"] / 1e6
        rows[f"{key}_lanes"] = r["engine"]["lanes"]
        rows[f"{key}_identical_to_golden"] = r["identical_to_golden"]
        rows[f"{key}_samples"] = r["samples"]
        if mode == "stream":
            w = r["wire_bound_samples_per_s"]
            rows[f"{key}_wire_bound_samples_per_s"] = round(w)
            rows[f"{key}_of_min_bound"] = round(b / min(w, e), 4)
            rows[f"{key}_link_utilisation"] = round(r["link_utilisation"], 4)
            rows[f"{key}_baud"] = r["baud"]
        else:
            gr, _ = _golden_rate(device, preset, limit, epochs, ticks, r["engine"]["lanes"])
            rows[f"{key}_golden_samples_per_s"] = round(gr)
            rows[f"{key}_board_over_golden"] = round(b / gr, 2)
    rows.update(_builds(quick))
    rows.update(_snn(50 if quick else 200))
    rows.update(_snn(50 if quick else 200, "icebreaker"))
    if not quick:
        rows.update(_snn_build())
    rows.update(_faults(2_000 if quick else 10_000))
    return rows


def _snn(limit: int, board: str = "ulx3s-85f") -> dict:
    """A board's STDP network (:data:`~synemu.devices.mtj.board.SNN_BOARDS`: 400 x 784 on
    the ULX3S-85F, 100 x 196 on the iCEBreaker), streamed: ``limit`` samples of its dataset
    per epoch over the recipe's epochs, every STEP response and both evaluation passes
    checked against the golden network; the golden rate is measured in the same run."""
    from synemu.cli.common import run_json
    from synemu.devices.mtj.board import SNN_BOARDS
    dataset = SNN_BOARDS[board]["dataset"]
    out = tempfile.mkdtemp(prefix="synemu-bench-snn-")
    argv = ["run", "--sim", "verilator", "--board", board, "--device", "mtj",
            "--mode", "stream", "--dataset", dataset, "--limit", str(limit), "--check",
            "--json", "--out", out]
    rc, r = run_json(argv)
    if rc != 0:
        raise RuntimeError(f"synemu {' '.join(argv)} failed: {r}")
    k = f"{board.replace('-', '_')}_mtj_stream"
    b, e, w = (r["board_samples_per_s"], r["engine_bound_samples_per_s"],
               r["wire_bound_samples_per_s"])
    return {f"{k}_neurons": r["n_neurons"], f"{k}_inputs": r["n_inputs"],
            f"{k}_samples": r["samples"], f"{k}_clock_mhz": round(r["board_clk_hz"] / 1e6, 4),
            f"{k}_baud": r["baud"], f"{k}_board_samples_per_s": round(b),
            f"{k}_engine_bound_samples_per_s": round(e),
            f"{k}_wire_bound_samples_per_s": round(w),
            f"{k}_of_min_bound": round(b / min(e, w), 4),
            f"{k}_link_utilisation": round(r["link_utilisation"], 4),
            f"{k}_golden_samples_per_s": round(r["golden_samples_per_s"]),
            f"{k}_board_over_golden": round(r["board_over_golden"], 2),
            f"{k}_identical_to_golden": r["identical_to_golden"],
            f"{k}_test_accuracy": r["test_accuracy"]}


def _snn_build() -> dict:
    """The iCEBreaker's STDP network top-level (100 x 196, protected link, sample memory)
    built with the pinned YoWASP tools at its design clock."""
    from synemu.devices.mtj.board import build_snn_board
    out = tempfile.mkdtemp(prefix="synemu-bench-snn-build-")
    rep = build_snn_board("icebreaker", out)
    k = "build_icebreaker_mtj_snn"
    res = rep["resources"]
    fmax = [v for n, v in rep["fmax_mhz"].items() if n.endswith("cd_sync.clk")]
    return {f"{k}_neurons": rep["n_neurons"], f"{k}_inputs": rep["n_inputs"],
            f"{k}_lut_used": res["LUT"]["used"], f"{k}_lut_available": res["LUT"]["available"],
            f"{k}_bram_used": res["BRAM"]["used"], f"{k}_dsp_used": res["DSP"]["used"],
            f"{k}_fmax_mhz": min(fmax) if fmax else None, f"{k}_clock_mhz": rep["clock_mhz"],
            f"{k}_timing_met": rep["timing_met"]}


def _builds(quick: bool) -> dict:
    """Full-size builds of the board top-levels the rows above simulate."""
    from synemu.boards.build import BuildFailed, build_board
    from synemu.boards.platforms import get_board
    from synemu.spec.engine import EngineConfig
    from synemu.spec.registry import make_device
    ice = get_board("icebreaker").sequencer_lanes
    cases = [("icebreaker", ice, True)]
    if not quick:
        cases += [("icebreaker", 4, True), ("icebreaker", 4, False), ("ulx3s-85f", 4, True)]
    rows = {}
    for board, lanes, seq in cases:
        key = f"build_{board.replace('-', '_')}_{'sequencer' if seq else 'host'}_P{lanes}"
        cols = -(-65 // lanes) * lanes            # digits: 64 pixels + bias, as the runs pad
        cfg = EngineConfig(device=make_device("ideal"), rows=10, cols=cols, lanes=lanes, seed=1)
        out = tempfile.mkdtemp(prefix="synemu-bench-seq-build-")
        try:
            rep = build_board(board, cfg, out, keep_going=True, sequencer=seq)
        except BuildFailed as e:
            rows[f"{key}_fits"] = False
            rows[f"{key}_error"] = str(e).split(" (logs")[0]
            continue
        rows[f"{key}_fits"] = True
        rows[f"{key}_lut_used"] = rep["resources"]["LUT"]["used"]
        rows[f"{key}_lut_available"] = rep["resources"]["LUT"]["available"]
        rows[f"{key}_fmax_mhz"] = min(rep["fmax_mhz"].values())
        rows[f"{key}_clock_mhz"] = rep["clock_mhz"]
        rows[f"{key}_timing_met"] = rep["timing_met"]
    return rows


def _faults(frames: int) -> dict:
    """Stream training through the fault injector until ``frames`` frames were sent."""
    from dataclasses import replace

    from synemu.boards.backend import BoardBackend
    from synemu.link.protocol import LinkSpec
    from synemu.runtime.datasets import load_dataset
    from synemu.runtime.resident import train_sequenced
    from synemu.spec.engine import EngineConfig
    from synemu.spec.recipe import Recipe
    from synemu.spec.registry import make_device
    rec = Recipe(epochs=1)
    ds = load_dataset("digits", seed=0)
    cfg = EngineConfig(device=make_device("ideal"), rows=10, cols=68, lanes=4, seed=1,
                       **rec.engine_kwargs())
    spec = LinkSpec(cfg, smem_words=8192)
    t0 = time.perf_counter()
    epochs = -(-frames // 255)          # about 255 frames per digits epoch
    with BoardBackend(cfg, spec=spec, faults=dict(rate=1e-3, frame_rate=1e-3, seed=7)) as b:
        r = train_sequenced(b, ds, replace(rec, epochs=epochs), mode="stream", check=True,
                            show_progress=False)
        ok, sent, go_backs = r["identical_to_golden"], b.host.stats.frames, b.host.stats.go_backs
        counts = dict(b.transport.counts)
    return {"link_faults_frames": sent, "link_faults_go_backs": go_backs,
            "link_faults_injected": sum(counts[k] for k in ("flip", "drop", "dup", "frame_dup")),
            "link_faults_identical_to_golden": bool(ok),
            "link_faults_seconds": round(time.perf_counter() - t0, 1)}
