"""Speed of the simulated board: the exact serial top-level (``SimHarness`` = LinkTop + a
host-side UART) in Verilator, trained over the host link exactly as
``synemu run --sim verilator --driver D --limit N --check`` does (digits, the ideal
device, golden model alongside, every prediction and the final weights compared). Both
drivers are measured in this run (the machine is shared and noisy; compare the ratio).

Rows (units in the names):

* ``board_sim_native_cycles_per_s``: simulated board clocks per wall second with the
  compiled driver (``--driver native``; target >= 1e6), training ``native_samples``
  samples (full: ``--limit 200``, 10 epochs; quick: ``--limit 50``, 1 epoch);
* ``board_sim_native_samples_per_s``: training samples per wall second (the ``samples_per_s``
  of ``synemu run``), ``board_sim_native_seconds`` the wall time of the training;
* ``board_sim_cocotb_cycles_per_s`` / ``_samples_per_s``: the same with ``--driver cocotb``
  on a smaller workload (``--limit 20``, 1 epoch; quick: 8);
* ``board_sim_native_over_cocotb``: ratio of the simulated clock rates;
* ``board_sim_bare_cycles_per_s`` / ``board_sim_native_over_bare``: the same Verilated
  harness clocked by a bare C++ loop (no UART traffic, no driver work), and the share of
  that rate the native link keeps while training;
* ``board_sim_*_identical_to_golden``: ``--check``'s verdict (must be true).

``board_cycles`` are the board's own clock counter (COUNTERS frame) between the first and
last COUNTERS request of the run, over the ``seconds`` that ``synemu run`` reports.
"""

from __future__ import annotations

import json
import tempfile
import time


def _synemu_run(driver: str, limit: int, epochs: int | None) -> dict:
    """``synemu run --sim verilator --driver D --limit N --check --json`` -> its JSON."""
    from synemu.cli.common import run_json
    out = tempfile.mkdtemp(prefix=f"synemu-bench-board-sim-{driver}-")
    argv = ["run", "--sim", "verilator", "--driver", driver, "--mode", "host", "--fast-uart",
            "--limit", str(limit),
            "--check", "--json", "--out", out]
    if epochs:
        argv += ["--epochs", str(epochs)]
    rc, res = run_json(argv)
    if rc != 0 or not res.get("ok"):
        raise RuntimeError(f"synemu {' '.join(argv)} failed (exit {rc}): {res}")
    return res


def _bare_rate(n: int) -> float:
    """Bare clock rate of the native harness build used by ``synemu run`` (digits config)."""
    from synemu.boards.backend import NativeLink
    from synemu.link.protocol import LinkSpec
    from synemu.runtime.datasets import load_dataset
    from synemu.runtime.train import prepare_inputs, recipe_for
    from synemu.spec.registry import make_device
    from synemu.spec.engine import EngineConfig
    ds = load_dataset("digits", seed=0)
    r = recipe_for("ideal", "digits")
    cols = prepare_inputs(ds.x_train[:1], r).shape[1]
    cfg = EngineConfig(device=make_device("ideal"), rows=ds.n_classes, cols=cols, lanes=r.lanes,
                       seed=1, **r.engine_kwargs())      # as cmd_run (seed = --seed + 1)
    with NativeLink(LinkSpec(cfg)) as t:
        t0 = time.perf_counter()
        t.model.clock(n)
        return n / (time.perf_counter() - t0)


def run(quick: bool = False) -> dict:
    rows = {}
    _synemu_run("native", 2, 1)                    # build (or find) both designs first
    _synemu_run("cocotb", 2, 1)
    nat = _synemu_run("native", 50 if quick else 200, 1 if quick else None)
    coc = _synemu_run("cocotb", 8 if quick else 20, 1)
    bare = _bare_rate(2_000_000 if quick else 10_000_000)
    for name, r in (("native", nat), ("cocotb", coc)):
        rows[f"board_sim_{name}_cycles_per_s"] = r["board_cycles_per_s"]
        rows[f"board_sim_{name}_samples_per_s"] = r["samples_per_s"]
        rows[f"board_sim_{name}_samples"] = r["samples"]
        rows[f"board_sim_{name}_seconds"] = r["seconds"]
        rows[f"board_sim_{name}_board_cycles"] = r["board_cycles"]
        rows[f"board_sim_{name}_identical_to_golden"] = r["identical_to_golden"]
    rows["board_sim_native_over_cocotb"] = (rows["board_sim_native_cycles_per_s"]
                                            / rows["board_sim_cocotb_cycles_per_s"])
    rows["board_sim_bare_cycles_per_s"] = bare
    rows["board_sim_native_over_bare"] = rows["board_sim_native_cycles_per_s"] / bare
    rows["board_sim_native_test_accuracy"] = nat["test_accuracy"]
    rows["board_sim_native_link_retries"] = nat["link"]["retries"]
    return rows


if __name__ == "__main__":
    import sys
    print(json.dumps(run(quick="--quick" in sys.argv[1:]), indent=1))
