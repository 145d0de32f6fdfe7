"""Gate-level checks of what the boards get (issue #16, part 2): per family x device the
engine's yosys netlist with the vendor cell models in lockstep with golden, and the board
top-levels (iCE40 bitstream, iCE40 and ECP5 netlists) through the UART link.

Rows (units in the names):

* ``engine_<family>_<device>``: dict with ``commands`` checked (``seeds`` random streams of
  ``ops`` commands, every state register compared after every command, Icarus + cocotb),
  ``mismatches`` (streams), ``cells`` (the netlist's DSP / block-RAM cells), ``synth_s``
  (yosys), ``commands_per_s`` / ``cycles_per_s`` (simulation incl. the Icarus compile), or
  ``limitation`` (the named reason the netlist is not simulated);
* ``board_<board>_<source>``: the board top (``bitstream``: the flashed ``.bin`` via
  iceunpack + icebox_vlog; ``netlist``: yosys's netlist) of a tiny design through the UART
  at the board divisor, Verilator native driver: ``commands``, ``mismatches``,
  ``compared_words`` (every synapse read back over the link every ``ops // 4`` commands),
  ``cycles``, ``cycles_per_s``, ``build_s`` (board build + Verilator), ``cells``;
  ``board_icebreaker_bitstream_dsp``: a design whose products are in ``SB_MAC16`` DSPs
  (icebox_vlog drops them; they are decoded from their configuration bits);
* ``bitstream_equals_golden_commands``: the commands on which the iCEBreaker bitstreams
  equal the golden model (the README figure);
* ``bitstream_without_dsp_model_refused``: with the DSP model off, that bitstream is
  refused with the DSPs named (never simulated with DSPs reading 0).
"""

from __future__ import annotations

import time


def _engine_configs():
    from synemu.devices.femfet.test_femfet import engine_config as femfet_config
    from synemu.devices.fn.test_fn import fn_commands, tiny_config
    from synemu.devices.mtj.test_mtj import LOCKSTEP
    from synemu.sim.lockstep import random_commands
    from synemu.spec.engine import EngineConfig
    from synemu.spec.registry import make_device
    rc = random_commands
    return {
        "ideal": (EngineConfig(device=make_device("ideal"), rows=2, cols=4, lanes=2), rc),
        "femfet": (femfet_config("6bit-carry", rows=2, cols=4, lanes=2), rc),
        "mtj": (EngineConfig(seed=4, rounding="stochastic", eta=3, **LOCKSTEP[0]), rc),
        "fn": (tiny_config(), fn_commands),
    }


def run(quick: bool = False) -> dict:
    from synemu.sim import icarus
    from synemu.sim import netlist as N
    icarus.require()
    seeds, ops = ((0, 1), 100) if quick else ((0, 1), 500)
    rows: dict = {"seeds": len(seeds), "ops": ops}
    for family in N.FAMILIES:
        for name, (cfg, stream) in _engine_configs().items():
            key = f"engine_{family}_{name}"
            try:
                nl = N.engine_netlist(cfg, family)
            except N.NetlistError as e:
                rows[key] = {"limitation": str(e).split(";")[0]}
                print(f"  {key}: {rows[key]['limitation'][:160]}", flush=True)
                continue
            streams = [stream(cfg, s, ops) for s in seeds]
            t0 = time.perf_counter()
            reps = N.netlist_lockstep(cfg, streams, family)
            secs = time.perf_counter() - t0
            cells = {k: v for k, v in nl.cells.items()
                     if k in ("SB_MAC16", "SB_RAM40_4K", "MULT18X18D", "DP16KD",
                              "TRELLIS_DPR16X4")}
            rows[key] = {"commands": sum(r.commands for r in reps),
                         "mismatches": sum(not r.ok for r in reps), "cells": cells,
                         "synth_s": nl.seconds, "commands_per_s": round(
                             sum(r.commands for r in reps) / secs, 1),
                         "cycles_per_s": round(reps[-1].cycles / secs)}
            print(f"  {key}: {rows[key]}", flush=True)
            assert rows[key]["mismatches"] == 0, reps
    rows.update(_boards(seeds, ops))
    return rows


def _board_row(board, source, cfg, seeds, ops) -> dict:
    from synemu.boards.bitstream import board_build, board_lockstep
    from synemu.sim.lockstep import random_commands
    t0 = time.perf_counter()
    rep = board_build(board, cfg)
    streams = [random_commands(cfg, s, ops) for s in seeds]
    reps, info = board_lockstep(board, cfg, streams, source=source, report=rep,
                                snapshot_every=max(1, ops // 4))
    return {"commands": sum(r.commands for r in reps),
            "mismatches": sum(not r.ok for r in reps),
            "compared_words": sum(r.compared_words for r in reps),
            "cycles": info["cycles"], "clock_mhz": info["clock_mhz"],
            "uart_divisor": info["uart_divisor"],
            "cycles_per_s": round(info["cycles"] / max(info["sim_seconds"], 1e-9)),
            "build_s": round(time.perf_counter() - t0 - info["sim_seconds"], 1),
            "cells": {k: v for k, v in info["cells"].items()
                      if k.startswith(("SB_RAM", "SB_MAC", "SB_PLL", "DP16", "MULT", "EHXPLL"))}}


def _boards(seeds, ops) -> dict:
    from synemu.boards.bitstream import BitstreamError, board_build, board_lockstep
    from synemu.sim.lockstep import random_commands
    from synemu.spec.engine import EngineConfig
    from synemu.spec.registry import make_device
    rows = {}
    tiny = EngineConfig(device=make_device("ideal", weight_bits=4, pulse_bits=3), rows=2,
                        cols=4, lanes=2, x_width=2, t_pos=60, t_neg=-60)
    ideal8 = EngineConfig(device=make_device("ideal"), rows=2, cols=4, lanes=2)
    for key, board, source, cfg in (("board_icebreaker_bitstream", "icebreaker", "bitstream", tiny),
                                    ("board_icebreaker_bitstream_dsp", "icebreaker", "bitstream",
                                     ideal8),
                                    ("board_icebreaker_netlist", "icebreaker", "netlist", tiny),
                                    ("board_ulx3s-85f_netlist", "ulx3s-85f", "netlist", ideal8)):
        rows[key] = _board_row(board, source, cfg, seeds, ops)
        print(f"  {key}: {rows[key]}", flush=True)
        assert rows[key]["mismatches"] == 0, rows[key]
    rows["bitstream_equals_golden_commands"] = (rows["board_icebreaker_bitstream"]["commands"]
                                                + rows["board_icebreaker_bitstream_dsp"]["commands"])
    rep = board_build("icebreaker", ideal8)
    try:
        board_lockstep("icebreaker", ideal8, [random_commands(ideal8, 0, 10)],
                       source="bitstream", report=rep, dsp_model=False)
        rows["bitstream_without_dsp_model_refused"] = False
    except BitstreamError as e:
        rows["bitstream_without_dsp_model_refused"] = str(e).split(";")[0]
    print(f"  bitstream_without_dsp_model_refused: "
          f"{rows['bitstream_without_dsp_model_refused']}", flush=True)
    return rows


if __name__ == "__main__":
    import json
    import sys
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2, default=str))
