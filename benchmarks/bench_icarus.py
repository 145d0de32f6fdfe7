"""The second simulator (Icarus Verilog, issue #16): the full cross-simulator matrix and the
speed of Icarus against Verilator on the same cocotb testbench.

Rows (units in the names):

* ``configs`` / ``commands_per_config`` / ``icarus_commands`` / ``icarus_mismatches`` /
  ``icarus_seconds`` / ``icarus_commands_per_s``: every config of ``tests/test_icarus.py``'s
  matrix (every device and option set), ``seeds`` random streams of ``ops`` commands each
  in one Icarus simulation per config, in lockstep with the golden model (every state
  register after every command; target: 0 mismatches); ``mismatches_by_config``;
* ``cycles_equal_verilator``: for the configs of ``tests/test_native.py`` the matrix streams
  also run on Verilator (native driver): identical commands, compared words and cycle counts
  per stream (asserted);
* ``verilator_cocotb_ms_per_command`` / ``icarus_ms_per_command`` /
  ``icarus_over_verilator_time``: the same cocotb engine testbench, the same commands, one
  session per simulator after its build (best of 3 streams of ``ops`` commands; the machine
  is shared and noisy, noise only slows a run down); ``..._by_config`` per config.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: the configs of tests/test_native.py (their Verilator builds are the suite's)
RATIO_CONFIGS = ("ideal", "probe", "femfet-6bit-periodic", "fn-tiny", "mtj")


def _matrix_module():
    spec = importlib.util.spec_from_file_location("_synemu_test_icarus",
                                                  HERE.parent / "tests" / "test_icarus.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _ms_per_command(cfg, streams, simulator: str) -> float:
    """Best ms per command of ``streams`` through one cocotb session (warm, after build)."""
    from synemu.sim.lockstep import run_lockstep
    from synemu.sim.remote import SessionDriver, VerilatorSession
    from synemu.spec.engine import GoldenEngine
    best = float("inf")
    with VerilatorSession(cfg, simulator=simulator) as s:
        drv, golden = SessionDriver(s), GoldenEngine(cfg)
        for cmds in streams:
            t0 = time.perf_counter()
            rep = asyncio.run(run_lockstep(drv, cfg, cmds, golden=golden))
            best = min(best, (time.perf_counter() - t0) / len(cmds))
            assert rep.ok, rep.mismatches[0]
    return best * 1e3


def run(quick: bool = False) -> dict:
    from synemu.sim import icarus
    from synemu.sim.lockstep import cocotb_lockstep, verilator_lockstep
    icarus.require()
    t = _matrix_module()
    seeds, ops = ((0, 1), 300) if quick else ((0, 1, 2, 3), 1500)
    rows: dict = {"iverilog": icarus.iverilog_version(), "configs": 0,
                  "commands_per_config": len(seeds) * ops}
    total = mism = 0
    secs = 0.0
    by_config, cycles_equal = {}, {}
    for name in t.matrix():
        cfg, streams = t.streams_of(name, ops, seeds)
        icarus.engine_build(cfg)                # build (or find) outside the timed part
        t0 = time.perf_counter()
        reps = cocotb_lockstep(cfg, streams, simulator="icarus")
        secs += time.perf_counter() - t0
        bad = sum(not r.ok for r in reps)
        total += sum(r.commands for r in reps)
        mism += bad
        by_config[name] = bad
        rows["configs"] += 1
        if name in RATIO_CONFIGS:
            ver = verilator_lockstep(cfg, streams, driver="native")
            cycles_equal[name] = ([(r.commands, r.compared_words, r.cycles) for r in ver]
                                  == [(r.commands, r.compared_words, r.cycles) for r in reps])
        print(f"  {name}: {sum(r.commands for r in reps)} commands, {bad} mismatching "
              f"streams, {reps[-1].cycles} cycles", flush=True)
    rows.update(icarus_commands=total, icarus_mismatches=mism, icarus_seconds=secs,
                icarus_commands_per_s=total / secs, mismatches_by_config=by_config,
                cycles_equal_verilator=all(cycles_equal.values()),
                cycles_equal_verilator_configs=sorted(cycles_equal))
    assert mism == 0, by_config
    assert all(cycles_equal.values()), cycles_equal

    # -- the same cocotb testbench on both simulators: time per command ----------------------
    ratio, vms, ims = {}, [], []
    n = 300 if quick else 1000
    for name in RATIO_CONFIGS:
        cfg, streams = t.streams_of(name, n, (10, 11, 12))
        v = _ms_per_command(cfg, streams, "verilator")
        i = _ms_per_command(cfg, streams, "icarus")
        vms.append(v)
        ims.append(i)
        ratio[name] = i / v
        print(f"  {name}: verilator {v:.3f} ms/command, icarus {i:.3f} ms/command", flush=True)
    rows["verilator_cocotb_ms_per_command"] = sum(vms) / len(vms)
    rows["icarus_ms_per_command"] = sum(ims) / len(ims)
    rows["icarus_over_verilator_time"] = rows["icarus_ms_per_command"] / rows[
        "verilator_cocotb_ms_per_command"]
    rows["icarus_over_verilator_time_by_config"] = ratio
    return rows


if __name__ == "__main__":
    import json
    import sys
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2, default=str))
