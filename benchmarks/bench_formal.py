"""Formal checks (issue #16): the benchmark's set of :func:`synemu.sim.formal.checks` (every
LFSR width 3..64, the FN rule closure on the ``ice40`` preset, deeper engine
BMCs) plus a depth sweep of the bounded FN engine check.

Rows (units in the names):

* ``checks`` / ``passed``: checks run and passed (target: all);
* ``<check>_status`` / ``<check>_seconds`` / ``<check>_depth`` / ``<check>_mode``: per check,
  sby wall time (s), depth (clocks), ``prove`` (k-induction) or ``bmc``;
* ``engine_fn_bmc_seconds_by_depth``: the FN engine BMC (2x2, 1 lane) at increasing depths
  (clocks -> s), to show how the bounded check scales;
* ``total_seconds``.

``quick`` runs the suite's set and the sweep to depth 12 only (the full set ~15 min).
"""

from __future__ import annotations

import time


def run(quick: bool = False) -> dict:
    from synemu.gateware.formal import EngineRangeCheck
    from synemu.sim.formal import checks, fn_formal_device, run_formal, tiny_engine
    t0 = time.perf_counter()
    rows: dict = {"checks": 0, "passed": 0}
    for c in checks(deep=not quick):
        res = c.run()
        key = c.name.replace("-", "_")
        rows["checks"] += 1
        rows["passed"] += res.ok
        rows.update({f"{key}_status": res.status, f"{key}_mode": res.mode,
                     f"{key}_depth": res.depth, f"{key}_complete": c.complete,
                     f"{key}_seconds": round(res.seconds, 2)})
        print(f"   {c.name}: {res.status} ({res.mode}, depth {res.depth}, {res.seconds:.1f} s)",
              flush=True)
    sweep = {}
    cfg = tiny_engine(fn_formal_device(), lanes=1)
    for depth in ((8, 12) if quick else (8, 12, 16)):
        res = run_formal(EngineRangeCheck(cfg), name=f"fn-sweep-{depth}", mode="bmc",
                         depth=depth)
        assert res.ok, res.log_tail
        sweep[depth] = round(res.seconds, 2)
        print(f"   engine fn bmc depth {depth}: {res.seconds:.1f} s", flush=True)
    rows["engine_fn_bmc_seconds_by_depth"] = sweep
    rows["total_seconds"] = round(time.perf_counter() - t0, 1)
    assert rows["passed"] == rows["checks"], rows
    return rows
